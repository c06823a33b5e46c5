//! Request handlers: DTO in, JSON out, or an [`ApiError`] rejection.

use std::time::Duration;

use firmware_bridge::DeviceCommand;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use super::errors::ApiError;
use super::models::{CommandRequest, DeviceDto, Health, ListQuery, SayRequest, UnderstandRequest};
use super::Api;
use crate::outbox::{Final, OutboxError};
use crate::pipeline::{understanding_json, Modality, Origin, PipelineError};

/// Longest text accepted by `say`/`understand` (characters).
const MAX_TEXT: usize = 2000;

fn check_text(t: &str) -> Result<(), Rejection> {
    if t.trim().is_empty() {
        return Err(ApiError::BadRequest("`text` is empty".into()).rejection());
    }
    if t.chars().count() > MAX_TEXT {
        return Err(ApiError::BadRequest(format!("`text` is longer than {MAX_TEXT} characters")).rejection());
    }
    Ok(())
}

fn check_area(api: &Api, area: &Option<String>) -> Result<(), Rejection> {
    if let Some(a) = area {
        if api.registry.area(a).is_none() {
            return Err(ApiError::BadRequest(format!("unknown area `{a}`")).rejection());
        }
    }
    Ok(())
}

pub async fn health(api: Api) -> Result<impl Reply, Rejection> {
    Ok(warp::reply::json(&Health {
        status: "ok",
        mqtt_connected: api.pipeline.outbox().link_connected(),
        version: env!("CARGO_PKG_VERSION"),
    }))
}

pub async fn say(req: SayRequest, api: Api) -> Result<impl Reply, Rejection> {
    check_text(&req.text)?;
    check_area(&api, &req.area)?;
    let modality = match req.modality.as_deref() {
        None | Some("text") => Modality::Text,
        Some("voice") => Modality::Voice,
        Some(m) => return Err(ApiError::BadRequest(format!("unknown modality `{m}` (expected `text` or `voice`)")).rejection()),
    };
    let origin = Origin { modality, area: req.area, session: req.session };
    match api.pipeline.handle_text(&req.text, origin, req.dry_run).await {
        Ok(out) => Ok(warp::reply::json(&out)),
        Err(PipelineError::Empty) => Err(ApiError::BadRequest("`text` is empty".into()).rejection()),
        Err(e @ PipelineError::Outbox(OutboxError::Encode { .. })) => Err(ApiError::BadRequest(e.to_string()).rejection()),
        Err(e) => Err(ApiError::Internal(format!("{e:?}")).rejection()),
    }
}

pub async fn understand(req: UnderstandRequest, api: Api) -> Result<impl Reply, Rejection> {
    check_text(&req.text)?;
    check_area(&api, &req.area)?;
    let u = api.pipeline.nlu().understand(req.text.trim(), req.area.as_deref());
    Ok(warp::reply::json(&understanding_json(req.text.trim(), u.as_ref())))
}

pub async fn devices(api: Api) -> Result<impl Reply, Rejection> {
    let out: Vec<DeviceDto> = api
        .registry
        .devices
        .iter()
        .map(|d| DeviceDto {
            id: d.id.clone(),
            name: d.name.clone(),
            kind: d.kind,
            area: d.area.clone(),
            state: api.pipeline.outbox().state(&d.id),
        })
        .collect();
    Ok(warp::reply::json(&out))
}

pub async fn commands(q: ListQuery, api: Api) -> Result<impl Reply, Rejection> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let rows = api
        .pipeline
        .store()
        .recent_commands(limit)
        .await
        .map_err(|e| ApiError::Internal(format!("{e:?}")).rejection())?;
    let out: Vec<serde_json::Value> = rows.iter().map(crate::outbox::command_json).collect();
    Ok(warp::reply::json(&out))
}

pub async fn command(req: CommandRequest, api: Api) -> Result<impl Reply, Rejection> {
    let Some(dev) = api.registry.device(&req.device_id) else {
        return Err(ApiError::NotFound(format!("unknown device `{}`", req.device_id)).rejection());
    };
    let Some(dialect) = dev.dialect.clone() else {
        return Err(ApiError::BadRequest(format!("device `{}` is read-only", dev.id)).rejection());
    };
    let cmd = DeviceCommand {
        device_id: dev.id.clone(),
        kind: dev.kind,
        dialect,
        action: req.action,
        features: firmware_bridge::Features {
            dimmable: dev.features.dimmable,
            color: dev.features.color,
            color_temp: dev.features.color_temp,
            position: dev.features.position,
        },
    };
    let rows = match api.pipeline.outbox().enqueue(vec![cmd]).await {
        Ok(r) => r,
        Err(e @ OutboxError::Encode { .. }) => return Err(ApiError::BadRequest(e.to_string()).rejection()),
        Err(e) => return Err(ApiError::Internal(format!("{e:?}")).rejection()),
    };
    let wait = Duration::from_millis(req.wait_ms.min(60_000));
    let mut out = Vec::new();
    for r in rows {
        let (id, topic) = (r.id, r.topic.clone());
        let status = if wait.is_zero() {
            "pending"
        } else {
            match r.wait(wait).await {
                Some(Final::Acked) => "acked",
                Some(Final::Failed) => "failed",
                Some(Final::Expired) => "expired",
                None => "pending",
            }
        };
        out.push(serde_json::json!({"id": id, "topic": topic, "status": status}));
    }
    Ok(warp::reply::with_status(
        warp::reply::json(&serde_json::json!({"device_id": req.device_id, "commands": out})),
        StatusCode::ACCEPTED,
    ))
}
