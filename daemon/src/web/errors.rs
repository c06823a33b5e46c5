//! One `recover` for every rejection: a JSON body `{"error":{"code","message"}}`
//! with a matching status. Internal errors (store, outbox) are logged here and
//! reported only as `internal error`: database texts never reach clients.

use std::convert::Infallible;

use warp::http::StatusCode;
use warp::{Rejection, Reply};

use super::models::{ErrorBody, ErrorDetail};

/// Rejections raised by our filters and handlers.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    Forbidden(String),
    /// The `Host` header names a server this is not (DNS rebinding): 421.
    MisdirectedHost(String),
    BadRequest(String),
    /// A 400 with its own code, e.g. OpenAI's `context_length_exceeded`.
    Invalid {
        code: &'static str,
        message: String,
    },
    NotFound(String),
    /// The body did not arrive within the body-read deadline: 408.
    BodyTimeout,
    /// A POST body that is not `Content-Type: application/json`: 415.
    UnsupportedMediaType,
    /// A body of another media type than the route takes: 415.
    MediaType(&'static str),
    /// A body over `max_body_bytes`: 413.
    PayloadTooLarge,
    /// Logged with its detail, sent as a generic message.
    Internal(String),
    Unavailable(String),
    /// Over the client's rate limit: 429 with `Retry-After` (seconds).
    RateLimited(u64),
    /// A full queue: 503 with `Retry-After`.
    Busy(String),
    /// The database's disk is full, nothing was stored: 507.
    InsufficientStorage(String),
}

/// Seconds a busy client is asked to wait (`Retry-After`).
pub const RETRY_AFTER_S: u32 = 2;

impl warp::reject::Reject for ApiError {}

impl ApiError {
    pub fn rejection(self) -> Rejection {
        warp::reject::custom(self)
    }
}

fn body(status: StatusCode, code: &'static str, message: String) -> warp::reply::Response {
    let json = warp::reply::json(&ErrorBody { error: ErrorDetail { code, message } });
    warp::reply::with_status(json, status).into_response()
}

/// `405 Method Not Allowed` with the `Allow` header listing what the path serves.
pub fn method_not_allowed(allow: &'static str) -> warp::reply::Response {
    let mut r = body(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("this path serves {allow}"));
    r.headers_mut().insert(warp::http::header::ALLOW, warp::http::HeaderValue::from_static(allow));
    r
}

pub async fn recover(err: Rejection) -> Result<warp::reply::Response, Infallible> {
    if err.is_not_found() {
        return Ok(body(StatusCode::NOT_FOUND, "not_found", "no such endpoint".into()));
    }
    if let Some(e) = err.find::<ApiError>() {
        return Ok(match e {
            ApiError::Unauthorized => {
                let mut r = body(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong bearer token".into());
                r.headers_mut()
                    .insert(warp::http::header::WWW_AUTHENTICATE, warp::http::HeaderValue::from_static("Bearer"));
                r
            }
            ApiError::Forbidden(why) => body(StatusCode::FORBIDDEN, "forbidden", why.clone()),
            ApiError::MisdirectedHost(m) => body(StatusCode::MISDIRECTED_REQUEST, "misdirected_request", m.clone()),
            ApiError::BadRequest(m) => body(StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            ApiError::Invalid { code, message } => body(StatusCode::BAD_REQUEST, code, message.clone()),
            ApiError::NotFound(m) => body(StatusCode::NOT_FOUND, "not_found", m.clone()),
            ApiError::BodyTimeout => {
                body(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request body did not arrive in time".into())
            }
            ApiError::UnsupportedMediaType => body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected `Content-Type: application/json`".into(),
            ),
            ApiError::MediaType(m) => body(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", (*m).into()),
            ApiError::PayloadTooLarge => {
                body(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "request body too large".into())
            }
            ApiError::Unavailable(m) => body(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m.clone()),
            ApiError::RateLimited(secs) => {
                let mut r = body(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many requests from this client; retry in {secs} s"),
                );
                r.headers_mut().insert(warp::http::header::RETRY_AFTER, warp::http::HeaderValue::from(*secs));
                r
            }
            ApiError::Busy(m) => {
                let mut r = body(StatusCode::SERVICE_UNAVAILABLE, "busy", m.clone());
                r.headers_mut().insert(warp::http::header::RETRY_AFTER, warp::http::HeaderValue::from(RETRY_AFTER_S));
                r
            }
            ApiError::InsufficientStorage(m) => {
                body(StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage", m.clone())
            }
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error in API handler");
                body(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into())
            }
        });
    }
    if let Some(e) = err.find::<warp::filters::body::BodyDeserializeError>() {
        return Ok(body(StatusCode::BAD_REQUEST, "bad_request", format!("invalid JSON body: {e}")));
    }
    if err.find::<warp::reject::PayloadTooLarge>().is_some() {
        return Ok(body(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "request body too large".into()));
    }
    if err.find::<warp::reject::LengthRequired>().is_some() {
        return Ok(body(StatusCode::LENGTH_REQUIRED, "length_required", "Content-Length required".into()));
    }
    if err.find::<warp::reject::UnsupportedMediaType>().is_some() {
        return Ok(body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected application/json".into(),
        ));
    }
    if let Some(e) = err.find::<warp::reject::InvalidQuery>() {
        return Ok(body(StatusCode::BAD_REQUEST, "bad_request", format!("invalid query: {e}")));
    }
    if err.find::<warp::reject::MethodNotAllowed>().is_some() {
        return Ok(body(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed".into()));
    }
    if err.find::<warp::reject::MissingHeader>().is_some() || err.find::<warp::reject::InvalidHeader>().is_some() {
        return Ok(body(StatusCode::BAD_REQUEST, "bad_request", "a request header is missing or malformed".into()));
    }
    tracing::warn!(rejection = ?err, "unhandled rejection");
    Ok(body(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into()))
}
