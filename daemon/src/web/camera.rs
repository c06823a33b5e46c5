//! Camera routes (reads, behind the same authorisation as `/api/status`):
//! - `GET /api/cameras`: every camera's state (`id`, `name`, `available`,
//!   `motion`, `fps`, `last_frame_at`, `detect`, and counters);
//! - `GET /api/<camera>/latest.jpg`: the newest JPEG as the camera sent it.
//!
//! Camera ids are checked to be slugs before any lookup.

use std::convert::Infallible;

use warp::http::{StatusCode, header};
use warp::{Filter, Rejection, Reply};

use super::errors::ApiError;
use crate::camera::Board;

/// A camera id as config allows it: lowercase letters, digits and `_`.
fn is_slug(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub fn routes<A>(authorized: A) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone
where
    A: Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
{
    let get = || warp::get().or(warp::head()).unify();
    let list = warp::path!("api" / "cameras").and(authorized.clone()).and(get()).and_then(cameras);
    let latest = warp::path!("api" / String / "latest.jpg").and(authorized).and(get()).and_then(latest);
    list.or(latest)
}

async fn cameras() -> Result<impl Reply, Infallible> {
    Ok(warp::reply::json(&Board::global().list()))
}

async fn latest(camera: String) -> Result<warp::reply::Response, Rejection> {
    if !is_slug(&camera) {
        return Err(ApiError::NotFound("no such camera".into()).rejection());
    }
    let Some(c) = Board::global().get(&camera) else {
        return Err(ApiError::NotFound(format!("no camera `{camera}`")).rejection());
    };
    let Some(jpeg) = c.latest else {
        return Err(ApiError::NotFound(format!("camera `{camera}` has no frame yet")).rejection());
    };
    let mut r = warp::reply::Response::new((*jpeg).clone().into());
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("image/jpeg"));
    r.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(r)
}
