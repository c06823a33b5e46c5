//! Camera routes (reads, behind the same authorisation as `/api/status`):
//! - `GET /api/cameras`: every camera's state (`id`, `name`, `available`,
//!   `motion`, `fps`, `last_frame_at`, `detect`, and counters);
//! - `GET /api/<camera>/latest.jpg`: the newest JPEG as the camera sent it;
//! - `GET /api/cameras/events?camera=&label=&limit=&before=`: stored Frigate
//!   event objects, newest first;
//! - `GET /api/events/<id>/snapshot.jpg` (`?bbox=1`: with the box drawn).
//!
//! Camera ids are checked to be slugs and event ids to be Frigate ids
//! (digits, `.`, `-`, lowercase letters) before any lookup, and snapshot
//! files are named from the stored event, never from the request path.

use std::convert::Infallible;

use warp::http::{StatusCode, header};
use warp::{Filter, Rejection, Reply};

use serde::Deserialize;

use super::Api;
use super::errors::ApiError;
use crate::camera::Board;
use crate::camera::detect::snapshot_path;
use crate::store::CameraEventQuery;

/// Query of `GET /api/cameras/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EventsQuery {
    /// Only this camera's events.
    camera: Option<String>,
    /// Only this label's (`person`, `face`, ...).
    label: Option<String>,
    /// At most this many (default 50).
    limit: Option<u32>,
    /// Events that started before this Unix time in seconds (paging).
    before: Option<f64>,
}

/// Query of `GET /api/events/<id>/snapshot.jpg`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SnapshotQuery {
    /// 1: the snapshot with the object's box drawn.
    bbox: Option<u8>,
}

fn is_event_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.contains("..")
        && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'.' || b == b'-')
}

/// A camera id as config allows it: lowercase letters, digits and `_`.
pub(super) fn is_slug(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub fn routes<A, W>(authorized: A, with_api: W) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone
where
    A: Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
    W: Filter<Extract = (Api,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let get = || warp::get().or(warp::head()).unify();
    let list = warp::path!("api" / "cameras").and(authorized.clone()).and(get()).and_then(cameras);
    let events = warp::path!("api" / "cameras" / "events")
        .and(authorized.clone())
        .and(get())
        .and(warp::query::<EventsQuery>())
        .and(with_api.clone())
        .and_then(events);
    let snapshot = warp::path!("api" / "events" / String / "snapshot.jpg")
        .and(authorized.clone())
        .and(get())
        .and(warp::query::<SnapshotQuery>())
        .and(with_api)
        .and_then(snapshot);
    let latest = warp::path!("api" / String / "latest.jpg").and(authorized).and(get()).and_then(latest);
    list.or(events).or(snapshot).or(latest)
}

#[utoipa::path(get, path = "/api/cameras/events", tag = "cameras", params(EventsQuery),
    responses((status = 200, description = "Stored Frigate-shaped events, newest first (`id`, `camera`, `label`, `top_score`, `box`, `entered_zones`, `start_time`, `end_time`, `has_snapshot`, ...)", body = [Object])))]
pub(super) async fn events(q: EventsQuery, api: Api) -> Result<impl Reply, Rejection> {
    let bad = |s: &Option<String>| s.as_ref().is_some_and(|v| v.len() > 64);
    if bad(&q.camera) || bad(&q.label) {
        return Err(ApiError::BadRequest("`camera`/`label` too long".into()).rejection());
    }
    let query = CameraEventQuery { camera: q.camera, label: q.label, before: q.before, limit: q.limit.unwrap_or(50) };
    match api.store.camera_events(&query).await {
        Ok(list) => Ok(warp::reply::json(&list)),
        Err(e) => {
            tracing::warn!(error = %e, "camera events query failed");
            Err(ApiError::Internal("camera events are not readable".into()).rejection())
        }
    }
}

#[utoipa::path(get, path = "/api/events/{id}/snapshot.jpg", tag = "cameras",
    params(("id" = String, Path, description = "Camera event id"), SnapshotQuery),
    responses((status = 200, description = "The event's best snapshot (image/jpeg)"), (status = 404, description = "No snapshot for this event")))]
pub(super) async fn snapshot(id: String, q: SnapshotQuery, api: Api) -> Result<warp::reply::Response, Rejection> {
    let not_found = || ApiError::NotFound("no snapshot for this event".into()).rejection();
    if !is_event_id(&id) {
        return Err(not_found());
    }
    let Some(ev) = api.store.camera_event(&id).await.ok().flatten() else { return Err(not_found()) };
    let (Some(camera), Some(dir)) = (ev["camera"].as_str().filter(|c| is_slug(c)), Board::global().snapshot_dir())
    else {
        return Err(not_found());
    };
    let path = snapshot_path(&dir, camera, &id, q.bbox == Some(1));
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(jpeg_response(bytes)),
        Err(_) => Err(not_found()),
    }
}

fn jpeg_response(bytes: Vec<u8>) -> warp::reply::Response {
    let mut r = warp::reply::Response::new(bytes.into());
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("image/jpeg"));
    r.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    r
}

#[utoipa::path(get, path = "/api/cameras", tag = "cameras",
    responses((status = 200, description = "Every camera: availability, motion, frame rate and counters", body = [crate::camera::CameraStatus])))]
pub(super) async fn cameras() -> Result<impl Reply, Infallible> {
    Ok(warp::reply::json(&Board::global().list()))
}

#[utoipa::path(get, path = "/api/{camera}/latest.jpg", tag = "cameras",
    params(("camera" = String, Path, description = "Camera id")),
    responses((status = 200, description = "The camera's newest frame (image/jpeg)"), (status = 404, description = "No such camera, or no frame yet")))]
pub(super) async fn latest(camera: String) -> Result<warp::reply::Response, Rejection> {
    if !is_slug(&camera) {
        return Err(ApiError::NotFound("no such camera".into()).rejection());
    }
    let Some(c) = Board::global().get(&camera) else {
        return Err(ApiError::NotFound(format!("no camera `{camera}`")).rejection());
    };
    let Some(jpeg) = c.latest else {
        return Err(ApiError::NotFound(format!("camera `{camera}` has no frame yet")).rejection());
    };
    Ok(jpeg_response((*jpeg).clone()))
}
