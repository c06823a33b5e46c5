//! Request handlers: DTO in, JSON out, or an [`ApiError`] rejection.

use std::time::Duration;

use hub_skills::SkillError;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use super::Api;
use super::errors::ApiError;
use super::models::{
    CommandDto, CommandRequest, DeviceDto, DeviceQuery, EnqueuedCommand, EnqueuedDto, EventCounters, FoundDevice,
    Health, ListQuery, OutboxCounters, SayRequest, StatusDto, UnderstandRequest,
};
use crate::outbox::OutboxError;
use crate::pipeline::{Modality, Origin, PipelineError};
use crate::store::CommandStatus;

/// Longest text accepted by `say`/`understand` (characters).
const MAX_TEXT: usize = 2000;
/// Longest `session` id accepted (characters).
const MAX_SESSION: usize = 128;

/// A control character other than tab and line breaks (NUL, escape, ...).
fn has_control(t: &str) -> bool {
    t.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

fn check_text(t: &str) -> Result<(), Rejection> {
    if t.trim().is_empty() {
        return Err(ApiError::BadRequest("`text` is empty".into()).rejection());
    }
    if t.chars().count() > MAX_TEXT {
        return Err(ApiError::BadRequest(format!("`text` is longer than {MAX_TEXT} characters")).rejection());
    }
    if has_control(t) {
        return Err(ApiError::BadRequest("`text` contains control characters".into()).rejection());
    }
    Ok(())
}

fn check_session(s: &Option<String>) -> Result<(), Rejection> {
    if let Some(s) = s
        && (s.is_empty() || s.chars().count() > MAX_SESSION || s.chars().any(char::is_control))
    {
        return Err(ApiError::BadRequest(format!(
            "`session` must be 1 to {MAX_SESSION} characters without control characters"
        ))
        .rejection());
    }
    Ok(())
}

/// Run `f` once per `Idempotency-Key` on `route`: a repeated key gets the
/// first outcome (status and body) without running again.
async fn once<F, Fut>(api: &Api, route: &str, key: Option<String>, f: F) -> Result<warp::reply::Response, Rejection>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, serde_json::Value), Rejection>>,
{
    use super::idempotency::{Claim, Outcome};
    let reply = |status: StatusCode, body: &serde_json::Value| {
        warp::reply::with_status(warp::reply::json(body), status).into_response()
    };
    let Some(key) = key else {
        let (status, body) = f().await?;
        return Ok(reply(status, &body));
    };
    match api.idempotency.claim(route, &key).await {
        Claim::Replay(o) => {
            let status = StatusCode::from_u16(o.status).unwrap_or(StatusCode::OK);
            let mut r = reply(status, &o.body);
            r.headers_mut().insert("idempotent-replayed", warp::http::HeaderValue::from_static("true"));
            Ok(r)
        }
        Claim::First(pending) => {
            // An error drops `pending`, which frees the key for a retry.
            let (status, body) = f().await?;
            pending.finish(Outcome { status: status.as_u16(), body: body.clone() });
            Ok(reply(status, &body))
        }
    }
}

fn check_area(api: &Api, area: &Option<String>) -> Result<(), Rejection> {
    if let Some(a) = area
        && api.registry.get().area(a).is_none()
    {
        return Err(ApiError::BadRequest(format!("unknown area `{a}`")).rejection());
    }
    Ok(())
}

#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "The daemon is up", body = Health)))]
pub async fn health(api: Api) -> Result<impl Reply, Rejection> {
    Ok(warp::reply::json(&Health {
        status: "ok",
        mqtt_connected: api.outbox.link_connected(),
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /api/status`: what `hubd status` prints. Audio counters show the
/// gating at work: frames seen, speech frames, utterances decoded.
#[utoipa::path(get, path = "/api/status", tag = "system",
    responses((status = 200, description = "Version, uptime, MQTT link, outbox, event bus, model branches, latency", body = StatusDto)))]
pub async fn status(api: Api) -> Result<impl Reply, Rejection> {
    Ok(warp::reply::json(&status_dto(&api)))
}

pub fn status_dto(api: &Api) -> StatusDto {
    use std::sync::atomic::Ordering::Relaxed;
    let ob = &api.outbox;
    let st = ob.stats();
    let audio = crate::audio::AudioMetrics::global().snapshot();
    StatusDto {
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: api.started.elapsed().as_secs(),
        mqtt_connected: ob.link_connected(),
        devices: api.registry.get().devices.len(),
        outbox: OutboxCounters {
            enqueued: st.enqueued.load(Relaxed),
            published: st.published.load(Relaxed),
            sent: st.sent.load(Relaxed),
            acked: st.acked.load(Relaxed),
            failed: st.failed.load(Relaxed),
            expired: st.expired.load(Relaxed),
            superseded: st.superseded.load(Relaxed),
            bad_state_payloads: st.bad_state_payloads.load(Relaxed),
        },
        events: EventCounters {
            published: api.bus.published(),
            lagged: api.bus.lagged(),
            subscribers: api.bus.subscribers(),
        },
        models: branches(api, &audio),
        heads: api.pipeline.heads().map(|h| h.status()),
        audio,
        llm: api.llm.counters(),
        cameras: crate::camera::Board::global().list(),
        latency: crate::latency::Latencies::global().snapshot(),
    }
}

/// The configured model branches with their live gate counters: how often
/// each branch's pre-gate let it run and how often it was skipped.
fn branches(api: &Api, audio: &crate::audio::AudioMetricsSnapshot) -> Vec<crate::services::Branch> {
    use std::sync::atomic::Ordering::Relaxed;
    let board = crate::camera::Board::global();
    let llm = api.tools_llm.counters();
    let mut list = api.models.as_ref().clone();
    for b in &mut list {
        b.counters = match b.branch {
            "text" => {
                let g = crate::text_gate::TextGate::global().snapshot();
                serde_json::json!({
                    "loaded": llm.loaded, "requests": llm.completed + llm.failed,
                    "run": g.requests, "skip": g.empty, "templates": g.templates,
                    "heads_run": g.heads_run, "heads_skip": g.heads_skip,
                    "llm_run": g.llm_run, "llm_skip": g.llm_skip,
                })
            }
            "audio" => serde_json::json!({
                "frames": audio.frames, "speech_frames": audio.speech_frames,
                "utterances": audio.utterances, "decoded": audio.utterances_decoded,
            }),
            "vision" => serde_json::json!({"run": board.gate_run.load(Relaxed), "skip": board.gate_skip.load(Relaxed)}),
            "vision-language" => {
                let (open, closed, ungated) = api.vlm.counters().snapshot();
                serde_json::json!({"fusion_open": open, "fusion_closed": closed, "ungated": ungated})
            }
            _ => serde_json::Value::Null,
        };
    }
    list
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(api: Api) -> Result<impl Reply, Rejection> {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::new();
    let ob = &api.outbox;
    let st = ob.stats();
    let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    gauge(&mut out, "hubd_uptime_seconds", "seconds since the daemon started", api.started.elapsed().as_secs());
    gauge(&mut out, "hubd_mqtt_connected", "1 while the MQTT link is up", u64::from(ob.link_connected()));
    let counters = [
        ("hubd_outbox_enqueued_total", "commands committed to the outbox", st.enqueued.load(Relaxed)),
        ("hubd_outbox_published_total", "MQTT publishes of outbox rows", st.published.load(Relaxed)),
        ("hubd_outbox_sent_total", "outbox rows PUBACKed by the broker", st.sent.load(Relaxed)),
        ("hubd_outbox_acked_total", "commands confirmed by the device's state", st.acked.load(Relaxed)),
        ("hubd_outbox_failed_total", "commands failed", st.failed.load(Relaxed)),
        ("hubd_outbox_expired_total", "commands expired unconfirmed", st.expired.load(Relaxed)),
        (
            "hubd_outbox_superseded_total",
            "commands made stale by a newer one to the same device attribute",
            st.superseded.load(Relaxed),
        ),
        ("hubd_events_published_total", "events published on the hub's event bus", api.bus.published()),
        ("hubd_events_lagged_total", "events lost by slow event-bus subscribers", api.bus.lagged()),
        (
            "hubd_mqtt_bad_state_payloads_total",
            "state messages that could not be parsed",
            st.bad_state_payloads.load(Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    }
    let llm = api.llm.counters();
    gauge(&mut out, "hubd_llm_loaded", "1 once the language model is loaded", u64::from(llm.loaded));
    let _ =
        writeln!(out, "# HELP hubd_llm_requests_total chat requests by result\n# TYPE hubd_llm_requests_total counter");
    for (result, v) in [("completed", llm.completed), ("cancelled", llm.cancelled), ("failed", llm.failed)] {
        let _ = writeln!(out, "hubd_llm_requests_total{{result=\"{result}\"}} {v}");
    }
    let _ = writeln!(
        out,
        "# HELP hubd_llm_stalled_clients_total streaming clients cut off for not reading (also counted as cancelled)\n\
         # TYPE hubd_llm_stalled_clients_total counter\nhubd_llm_stalled_clients_total {}",
        llm.stalled
    );
    let _ = writeln!(
        out,
        "# HELP hubd_llm_deadline_total requests stopped at the generation deadline (also counted as completed)\n\
         # TYPE hubd_llm_deadline_total counter\nhubd_llm_deadline_total {}",
        llm.timed_out
    );
    let _ = writeln!(
        out,
        "# HELP hubd_llm_tokens_total tokens generated\n# TYPE hubd_llm_tokens_total counter\nhubd_llm_tokens_total {}",
        llm.tokens
    );
    crate::audio::AudioMetrics::global().render_prometheus(&mut out);
    crate::camera::Board::global().render_prometheus(&mut out);
    crate::text_gate::TextGate::global().render_prometheus(&mut out);
    let (open, closed, ungated) = api.vlm.counters().snapshot();
    let _ = writeln!(
        out,
        "# HELP hubd_vision_fusion_total camera pictures the learned fusion gate let into the GLM-4.1V prompt, \
         left out, or that met no gate\n# TYPE hubd_vision_fusion_total counter\n\
         hubd_vision_fusion_total{{decision=\"open\"}} {open}\nhubd_vision_fusion_total{{decision=\"closed\"}} {closed}\n\
         hubd_vision_fusion_total{{decision=\"ungated\"}} {ungated}"
    );
    Ok(warp::reply::with_header(out, "content-type", "text/plain; version=0.0.4"))
}

#[utoipa::path(post, path = "/api/say", tag = "dialogue", request_body = SayRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key replays the first outcome")),
    responses((status = 200, description = "What was understood and done", body = crate::pipeline::Outcome)))]
pub async fn say(key: Option<String>, req: SayRequest, api: Api) -> Result<impl Reply, Rejection> {
    check_text(&req.text)?;
    check_area(&api, &req.area)?;
    check_session(&req.session)?;
    let run = || say_once(req, api.clone());
    once(&api, "say", key, run).await
}

async fn say_once(req: SayRequest, api: Api) -> Result<(StatusCode, serde_json::Value), Rejection> {
    let modality = match req.modality.as_deref() {
        None | Some("text") => Modality::Text,
        Some("voice") => Modality::Voice,
        Some("api") => Modality::Api,
        Some(m) => {
            return Err(
                ApiError::BadRequest(format!("unknown modality `{m}` (expected `text`, `voice` or `api`)")).rejection()
            );
        }
    };
    let origin = Origin { modality, area: req.area, session: req.session, voice: None };
    // The request runs to its end on a tracked task even if the client hangs
    // up: once its commands are in the outbox, its dialogue turns (linked to
    // them by correlation id) are stored too, and shutdown waits for it.
    let pipeline = api.pipeline.clone();
    let run = api.tracker.spawn(async move { pipeline.handle_text(&req.text, origin, req.dry_run).await });
    let res = run.await.map_err(|e| ApiError::Internal(format!("say task: {e}")).rejection())?;
    match res {
        Ok(out) => Ok((
            StatusCode::OK,
            serde_json::to_value(&out).map_err(|e| ApiError::Internal(format!("reply: {e}")).rejection())?,
        )),
        Err(PipelineError::Empty) => Err(ApiError::BadRequest("`text` is empty".into()).rejection()),
        Err(e @ PipelineError::Outbox(OutboxError::Encode { .. })) => {
            Err(ApiError::BadRequest(e.to_string()).rejection())
        }
        Err(PipelineError::Outbox(e @ OutboxError::StoreFull { .. })) => {
            Err(ApiError::InsufficientStorage(e.to_string()).rejection())
        }
        Err(e) => Err(ApiError::Internal(format!("{e:?}")).rejection()),
    }
}

#[utoipa::path(post, path = "/api/understand", tag = "dialogue", request_body = UnderstandRequest,
    responses((status = 200, description = "The understanding (intent, slots, entities), nothing done", body = crate::pipeline::UnderstandingDto)))]
pub async fn understand(req: UnderstandRequest, api: Api) -> Result<impl Reply, Rejection> {
    check_text(&req.text)?;
    check_area(&api, &req.area)?;
    let u = api.pipeline.nlu().understand(req.text.trim(), req.area.as_deref());
    Ok(warp::reply::json(&crate::pipeline::UnderstandingDto::new(req.text.trim(), u.as_ref())))
}

fn search_failed(e: crate::search::SearchError) -> Rejection {
    ApiError::Internal(format!("device search: {e}")).rejection()
}

#[utoipa::path(get, path = "/api/devices", tag = "devices", params(DeviceQuery),
    responses((status = 200, description = "Every device with its last known state; with `q`, those about it, best \
first, each with `match` and `score`", body = [FoundDevice])))]
pub async fn devices(q: DeviceQuery, api: Api) -> Result<warp::reply::Response, Rejection> {
    let registry = api.registry.get();
    let dto = |d: &hub_skills::Device| DeviceDto {
        id: d.id.clone(),
        name: d.name.clone(),
        kind: d.kind,
        area: d.area.clone(),
        floor: registry.device_floor(d).map(|f| f.id.clone()),
        features: d.features.clone(),
        commandable: d.dialect.is_some(),
        state: api.outbox.state(&d.id),
        origin: d.origin,
        dialect: d.dialect.as_ref().map(|x| x.name().to_string()),
    };
    let Some(text) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        let out: Vec<DeviceDto> = registry.devices.iter().map(dto).collect();
        return Ok(warp::reply::json(&out).into_response());
    };
    if text.chars().count() > 200 {
        return Err(ApiError::BadRequest("`q` is longer than 200 characters".into()).rejection());
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 500) as usize;
    let found = crate::search::devices::find_devices(&api.store, api.embed.as_ref(), &registry, text, limit).await;
    let hits = match found {
        Ok(h) => h,
        // The encoder did not load: by their words only.
        Err(crate::search::SearchError::Embed(crate::search::EmbedError::Unavailable(_))) => {
            crate::search::devices::find_devices(&api.store, None, &registry, text, limit)
                .await
                .map_err(search_failed)?
        }
        Err(e) => return Err(search_failed(e)),
    };
    let out: Vec<FoundDevice> = hits
        .into_iter()
        .filter_map(|h| {
            let d = registry.device(&h.id)?;
            Some(FoundDevice { device: dto(d), score: h.score, matched: h.matched })
        })
        .collect();
    Ok(warp::reply::json(&out).into_response())
}

#[utoipa::path(get, path = "/api/commands", tag = "devices", params(ListQuery),
    responses((status = 200, description = "The newest outbox rows", body = [CommandDto])))]
pub async fn commands(q: ListQuery, api: Api) -> Result<impl Reply, Rejection> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let rows = api.store.recent_commands(limit).await.map_err(|e| ApiError::Internal(format!("{e:?}")).rejection())?;
    let out: Vec<CommandDto> = rows.iter().map(CommandDto::from).collect();
    Ok(warp::reply::json(&out))
}

#[utoipa::path(post, path = "/api/commands", tag = "devices", request_body = CommandRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key replays the first outcome")),
    responses((status = 202, description = "Enqueued, each command's status after `wait_ms`", body = EnqueuedDto)))]
pub async fn command(key: Option<String>, req: CommandRequest, api: Api) -> Result<impl Reply, Rejection> {
    let run = || command_once(req, api.clone());
    once(&api, "commands", key, run).await
}

pub(super) async fn command_once(req: CommandRequest, api: Api) -> Result<(StatusCode, serde_json::Value), Rejection> {
    // The one command builder: toggles become explicit on/off from the known state.
    let outbox = &api.outbox;
    let cmd = match hub_skills::command::build(&api.registry.get(), &req.device_id, req.action, &|id| outbox.state(id))
    {
        Ok(cmd) => cmd,
        Err(SkillError::UnknownDevice(id)) => {
            return Err(ApiError::NotFound(format!("unknown device `{id}`")).rejection());
        }
        Err(SkillError::ReadOnly(_)) => {
            return Err(ApiError::BadRequest(format!("device `{}` is read-only", req.device_id)).rejection());
        }
        Err(e) => return Err(ApiError::BadRequest(e.to_string()).rejection()),
    };
    let rows = match api.outbox.enqueue(vec![cmd]).await {
        Ok(r) => r,
        Err(e @ OutboxError::Encode { .. }) => return Err(ApiError::BadRequest(e.to_string()).rejection()),
        Err(e @ OutboxError::StoreFull { .. }) => return Err(ApiError::InsufficientStorage(e.to_string()).rejection()),
        Err(e) => return Err(ApiError::Internal(format!("{e:?}")).rejection()),
    };
    let wait = Duration::from_millis(req.wait_ms.min(60_000));
    let mut out = Vec::new();
    for r in rows {
        let (id, topic) = (r.id, r.topic.clone());
        let status = if wait.is_zero() { CommandStatus::Pending } else { r.wait(wait).await };
        out.push(EnqueuedCommand { id, topic, status });
    }
    let body = serde_json::to_value(EnqueuedDto { device_id: req.device_id, commands: out })
        .map_err(|e| ApiError::Internal(format!("enqueued reply: {e}")).rejection())?;
    Ok((StatusCode::ACCEPTED, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_session_are_bounded_and_free_of_control_characters() {
        assert!(check_text("turn on the kitchen light").is_ok());
        assert!(check_text("line one\nline two\t").is_ok());
        assert!(check_text("unlock\0 the door").is_err());
        assert!(check_text("\u{1b}[2Jhi").is_err());
        assert!(check_text(&"a".repeat(MAX_TEXT + 1)).is_err());
        assert!(check_session(&None).is_ok());
        assert!(check_session(&Some("kitchen-tablet".into())).is_ok());
        assert!(check_session(&Some("s".repeat(5_000_000))).is_err());
        assert!(check_session(&Some(String::new())).is_err());
        assert!(check_session(&Some("a\0b".into())).is_err());
    }
}

#[utoipa::path(get, path = "/api/timers", tag = "timers",
    responses((status = 200, description = "Every timer, soonest first: id, name, area, start_secs, ends_at_ms, command, seconds_left, is_active", body = [Object])))]
pub async fn timers(api: Api) -> Result<warp::reply::Response, Rejection> {
    let list = match api.pipeline.timers() {
        Some(t) => t.list().await,
        None => Vec::new(),
    };
    Ok(warp::reply::json(&list).into_response())
}

/// Query of `GET /api/lists`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListsQuery {
    /// One list by name, any case ("shopping list"); every list without it.
    pub list: Option<String>,
}

#[utoipa::path(get, path = "/api/lists", tag = "lists", params(ListsQuery),
    responses((status = 200, description = "The items of the lists (the shopping list and named to-do lists), by list then age", body = [crate::store::ListItem])))]
pub async fn lists(q: ListsQuery, api: Api) -> Result<warp::reply::Response, Rejection> {
    let items =
        api.store.list_items(q.list.as_deref()).await.map_err(|e| ApiError::Internal(e.to_string()).rejection())?;
    Ok(warp::reply::json(&items).into_response())
}
