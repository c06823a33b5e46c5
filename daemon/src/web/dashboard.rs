//! The dashboard's own API: the home's layout (floors and areas), a command
//! to one device, paged history (turns searched by meaning too, with
//! `[store] semantic_search`) and `POST /api/listen` (a WAV upload
//! decoded like `hubd transcribe`, transcribed by the shared Whisper worker
//! and handled as a spoken request).

use std::path::Path;
use std::time::Instant;

use warp::http::StatusCode;
use warp::{Rejection, Reply};

use super::Api;
use super::errors::ApiError;
use super::handlers::command_once;
use super::models::{CommandRequest, DeviceCommandRequest, HistoryQuery, Layout, ListenReply};
use crate::pipeline::{Modality, Origin};
use crate::search::{EmbedError, SearchError};
use crate::store::{CommandStatus, EventKind};

/// Largest WAV accepted by `POST /api/listen` (30 s of 48 kHz stereo 16-bit is 5.8 MB).
pub const MAX_WAV_BYTES: u64 = 8 * 1024 * 1024;
/// Longest recording `POST /api/listen` transcribes (a command, not a recording).
pub const MAX_LISTEN_SECONDS: f64 = 30.0;

fn internal(e: impl std::fmt::Debug) -> Rejection {
    ApiError::Internal(format!("{e:?}")).rejection()
}

/// `GET /api/layout`: floors and areas, in configuration order.
#[utoipa::path(get, path = "/api/layout", tag = "devices",
    responses((status = 200, description = "Floors and areas", body = Layout)))]
pub async fn layout(api: Api) -> Result<impl Reply, Rejection> {
    let reg = api.registry.get();
    Ok(warp::reply::json(&Layout { floors: reg.floors.clone(), areas: reg.areas.clone() }))
}

/// `POST /api/devices/<id>/command`: as `POST /api/commands` with the id in the path.
#[utoipa::path(post, path = "/api/devices/{id}/command", tag = "devices", request_body = DeviceCommandRequest,
    params(("id" = String, Path, description = "Device (entity) id, e.g. light.kitchen")),
    responses((status = 202, description = "Enqueued, each command's status after `wait_ms`", body = super::models::EnqueuedDto)))]
pub async fn device_command(
    device_id: String,
    req: DeviceCommandRequest,
    api: Api,
) -> Result<warp::reply::Response, Rejection> {
    let req = CommandRequest { device_id, action: req.action, wait_ms: req.wait_ms };
    let (status, body) = command_once(req, api).await?;
    Ok(warp::reply::with_status(warp::reply::json(&body), status).into_response())
}

fn page_limit(q: &HistoryQuery) -> u32 {
    q.limit.unwrap_or(50).clamp(1, 500)
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `GET /api/history/turns?q=&before=&limit=`
#[utoipa::path(get, path = "/api/history/turns", tag = "history", params(HistoryQuery),
    responses((status = 200, description = "Dialogue turns, newest first. With `q`: those containing it; with `[store] \
semantic_search` also those close in meaning, best first (literal matches first), each with `match` (`text` or \
`meaning`) and `score` (cosine similarity), not paged", body = [crate::search::ScoredTurn])))]
pub async fn history_turns(q: HistoryQuery, api: Api) -> Result<impl Reply, Rejection> {
    let text = nonempty(&q.q);
    if text.is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::BadRequest("`q` is longer than 200 characters".into()).rejection());
    }
    if let (Some(text), Some(embed)) = (text, &api.embed) {
        if q.before.is_some() {
            let msg = "`before` pages the history by id; a search by meaning returns its best `limit` turns at once";
            return Err(ApiError::BadRequest(msg.into()).rejection());
        }
        match crate::search::find(&api.store, embed, text, page_limit(&q)).await {
            Ok(rows) => return Ok(warp::reply::json(&rows)),
            // No encoder (it did not load): the words-only search below.
            Err(SearchError::Embed(EmbedError::Unavailable(e))) => {
                tracing::debug!(error = %e, "history search by words")
            }
            Err(e) => return Err(internal(e)),
        }
    }
    let rows = api.store.turns_page(text, q.before, page_limit(&q)).await.map_err(internal)?;
    Ok(warp::reply::json(&rows))
}

/// `GET /api/history/commands?device=&status=&before=&limit=`
#[utoipa::path(get, path = "/api/history/commands", tag = "history", params(HistoryQuery),
    responses((status = 200, description = "Outbox rows, newest first (`device`, `status` filters)", body = [super::models::CommandDto])))]
pub async fn history_commands(q: HistoryQuery, api: Api) -> Result<impl Reply, Rejection> {
    let status = match nonempty(&q.status) {
        None => None,
        Some(s) => Some(s.parse::<CommandStatus>().map_err(|e| ApiError::BadRequest(e).rejection())?),
    };
    let rows =
        api.store.commands_page(nonempty(&q.device), status, q.before, page_limit(&q)).await.map_err(internal)?;
    let out: Vec<super::models::CommandDto> = rows.iter().map(super::models::CommandDto::from).collect();
    Ok(warp::reply::json(&out))
}

/// `GET /api/history/events?kind=&before=&limit=`
#[utoipa::path(get, path = "/api/history/events", tag = "history", params(HistoryQuery),
    responses((status = 200, description = "Stored events, newest first (`kind` filter)", body = [Object])))]
pub async fn history_events(q: HistoryQuery, api: Api) -> Result<impl Reply, Rejection> {
    let kind = match nonempty(&q.kind) {
        None => None,
        Some(s) => Some(s.parse::<EventKind>().map_err(|e| ApiError::BadRequest(e).rejection())?),
    };
    let rows = api.store.events_page(kind, q.before, page_limit(&q)).await.map_err(internal)?;
    Ok(warp::reply::json(&rows))
}

/// `POST /api/listen`: a WAV body (any rate and channel count `hubd
/// transcribe` accepts) -> transcript -> the text pipeline, as a voice turn.
#[utoipa::path(post, path = "/api/listen", tag = "dialogue",
    request_body(content = String, content_type = "audio/wav", description = "A WAV file: PCM or float, mono or stereo, 4 to 384 kHz, at most 30 s and 8 MiB"),
    responses((status = 200, description = "The transcript and what the pipeline did with it", body = ListenReply)))]
pub async fn listen(wav: Vec<u8>, api: Api) -> Result<warp::reply::Response, Rejection> {
    let t0 = Instant::now();
    let audio = tokio::task::spawn_blocking(move || {
        crate::wav::read_wav_bytes(&wav, Path::new("upload.wav"), MAX_LISTEN_SECONDS)
    })
    .await
    .map_err(internal)?
    .map_err(|e| ApiError::BadRequest(e.to_string()).rejection())?;
    if audio.samples.is_empty() {
        return Err(ApiError::BadRequest("upload.wav: contains no audio samples".into()).rejection());
    }
    let asr = api.asr.get().await.map_err(|e| ApiError::Unavailable(format!("speech recognition: {e}")).rejection())?;
    let duration_s = audio.duration_s;
    let t = match asr.try_transcribe(audio.samples, None).await {
        Ok(t) => t,
        Err(hub_model::whisper::WhisperError::Busy { .. }) => {
            return Err(ApiError::Busy("the speech recogniser is busy".into()).rejection());
        }
        Err(e) => return Err(internal(e)),
    };
    let asr_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let text = t.text.trim().to_string();
    let outcome = if text.is_empty() {
        None
    } else {
        let origin = Origin { modality: Modality::Voice, area: None, session: Some("dashboard".into()), voice: None };
        let pipeline = api.pipeline.clone();
        let spoken = text.clone();
        let run = api.tracker.spawn(async move { pipeline.handle_text(&spoken, origin, false).await });
        Some(run.await.map_err(internal)?.map_err(internal)?)
    };
    let body = ListenReply { transcript: text, duration_s, asr_ms, warnings: audio.warnings, outcome };
    Ok(warp::reply::with_status(warp::reply::json(&body), StatusCode::OK).into_response())
}
