//! `POST /api/cameras/<id>/ask` with `{"question": "...", "max_tokens": 64}`:
//! the camera's newest frame and the question go to GLM-4.1V
//! ([`crate::vlm::VlmService`]); the answer comes back with what the model
//! saw (`image_tokens`, `grid`, the fusion gate's `image_gate` and
//! whether the frame was used) and produced (`tokens`). `hubd ask-camera`
//! calls it.
//!
//! Errors: 503 `unavailable` when no `[model] vlm_path` is configured (the
//! message names the key) or the model cannot load; 404 for an unknown
//! camera or one without a frame yet; 503 `busy` when questions queue up.

use serde::{Deserialize, Serialize};
use warp::Rejection;

use super::Api;
use super::camera::is_slug;
use super::errors::ApiError;
use crate::camera::Board;
use crate::camera::decode::decode_rgb;
use crate::vlm::VlmError;

/// Longest question, in characters.
const MAX_QUESTION: usize = 2000;
/// Default and largest `max_tokens`.
const DEFAULT_TOKENS: u32 = 256;
const MAX_TOKENS: u32 = 2048;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    pub question: String,
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AskResponse {
    pub camera: String,
    pub question: String,
    pub answer: String,
    /// When the frame arrived (Unix ms).
    pub frame_at: Option<i64>,
    pub frame_width: usize,
    pub frame_height: usize,
    /// `<|image|>` tokens the vision tower filled, and its patch grid `[t, h, w]`.
    pub image_tokens: usize,
    pub grid: [i64; 3],
    /// The learned fusion gate's value for the frame (`null`: no gate trained).
    pub image_gate: Option<f64>,
    /// Whether the frame went into the prompt (a closed gate leaves it out).
    pub image_used: bool,
    pub prompt_tokens: usize,
    /// Generated token ids.
    pub tokens: Vec<i64>,
    pub seconds: f64,
}

fn vlm_rejection(e: VlmError) -> Rejection {
    match e {
        VlmError::Busy => ApiError::Busy(e.to_string()),
        other => ApiError::Unavailable(other.to_string()),
    }
    .rejection()
}

#[utoipa::path(post, path = "/api/cameras/{camera}/ask", tag = "cameras", request_body = AskRequest,
    params(("camera" = String, Path, description = "Camera id")),
    responses((status = 200, description = "The answer, with what the model saw and produced", body = AskResponse),
        (status = 404, description = "No such camera, or no frame yet"),
        (status = 503, description = "No `[model] vlm_path` configured (the message names it), the model cannot load, or it is busy")))]
pub async fn ask(camera: String, req: AskRequest, api: Api) -> Result<warp::reply::Response, Rejection> {
    if api.vlm.path().is_none() {
        return Err(vlm_rejection(VlmError::NotConfigured));
    }
    let question = req.question.trim().to_string();
    if question.is_empty() || question.chars().count() > MAX_QUESTION {
        return Err(ApiError::BadRequest(format!("`question` must have 1 to {MAX_QUESTION} characters")).rejection());
    }
    let max_new = req.max_tokens.unwrap_or(DEFAULT_TOKENS).clamp(1, MAX_TOKENS) as usize;
    if !is_slug(&camera) {
        return Err(ApiError::NotFound("no such camera".into()).rejection());
    }
    let Some(cam) = Board::global().get(&camera) else {
        return Err(ApiError::NotFound(format!("no camera `{camera}`")).rejection());
    };
    let Some(jpeg) = cam.latest else {
        return Err(ApiError::NotFound(format!("camera `{camera}` has no frame yet")).rejection());
    };
    let decoded = tokio::task::spawn_blocking(move || decode_rgb(&jpeg)).await;
    let (rgb, w, h) = match decoded {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return Err(ApiError::Unavailable(format!("camera `{camera}`'s frame: {e}")).rejection()),
        Err(e) => return Err(ApiError::Internal(format!("decoder thread: {e}")).rejection()),
    };
    let t0 = std::time::Instant::now();
    let a = api.vlm.ask(rgb, w, h, question.clone(), max_new).await.map_err(vlm_rejection)?;
    let out = AskResponse {
        camera,
        question,
        answer: a.text,
        frame_at: cam.last_frame_at,
        frame_width: w,
        frame_height: h,
        image_tokens: a.image_tokens,
        grid: a.grid,
        image_gate: a.image_gate,
        image_used: a.image_used,
        prompt_tokens: a.prompt_tokens,
        tokens: a.tokens,
        seconds: t0.elapsed().as_secs_f64(),
    };
    Ok(warp::reply::Reply::into_response(warp::reply::json(&out)))
}
