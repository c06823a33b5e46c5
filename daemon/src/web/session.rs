//! The dashboard's login: `POST /api/login` with the bearer token as JSON
//! sets the `hubd_session` cookie (HttpOnly, SameSite=Strict), `POST
//! /api/logout` clears it; and the security headers every response carries.
//!
//! The session value is random per start-up (see [`AuthPolicy`]): a restart
//! logs every browser out. Logout clears the browser's cookie; the value
//! itself stays valid until the daemon restarts.

use std::net::SocketAddr;
use std::sync::Arc;

use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::{Rejection, Reply};

use super::errors::ApiError;
use super::filters::{constant_time_eq, is_loopback};
use super::models::LoginRequest;
use super::{AuthPolicy, SESSION_COOKIE};

/// Content Security Policy: everything from this server, no inline script
/// or style, no framing, no plugins.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Headers added to every response (API, assets and errors alike).
pub fn security_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("microphone=(self), camera=(), geolocation=()"));
    h
}

/// `POST /api/login`: the right token sets the session cookie (204).
#[utoipa::path(post, path = "/api/login", tag = "session", request_body = LoginRequest, security(()),
    responses((status = 204, description = "Sets the HttpOnly, SameSite=Strict `hubd_session` cookie")))]
pub async fn login(
    req: LoginRequest,
    client: Option<SocketAddr>,
    auth: Arc<AuthPolicy>,
) -> Result<warp::reply::Response, Rejection> {
    let loopback = client.is_some_and(|a| is_loopback(a.ip()));
    if !loopback && !auth.serves_remote() {
        return Err(ApiError::Forbidden(
            "no [web] token is configured; only clients on this machine are served".into(),
        )
        .rejection());
    }
    if !constant_time_eq(req.token.trim().as_bytes(), auth.token().as_bytes()) {
        return Err(ApiError::Unauthorized.rejection());
    }
    let mut r = warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response();
    let cookie = HeaderValue::from_str(&auth.session_cookie())
        .map_err(|e| ApiError::Internal(format!("session cookie: {e}")).rejection())?;
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `POST /api/logout`: clears the browser's session cookie (204).
#[utoipa::path(post, path = "/api/logout", tag = "session", security(()),
    responses((status = 204, description = "Clears the session cookie")))]
pub async fn logout() -> Result<warp::reply::Response, Rejection> {
    let mut r = warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response();
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let v = HeaderValue::from_str(&clear).map_err(|e| ApiError::Internal(format!("cookie: {e}")).rejection())?;
    r.headers_mut().insert(header::SET_COOKIE, v);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_no_inline_code_and_no_framing() {
        assert!(!CSP.contains("unsafe-inline") && !CSP.contains("unsafe-eval"), "{CSP}");
        assert!(CSP.contains("default-src 'self'") && CSP.contains("frame-ancestors 'none'"), "{CSP}");
        let h = security_headers();
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY");
        assert!(h.get("referrer-policy").is_some());
    }
}
