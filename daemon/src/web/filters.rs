//! Routes and what every request passes first:
//! - the `Host` must name this server (the bind address, `localhost`,
//!   `127.0.0.1`, `[::1]` or `[web] allowed_hosts`), which stops DNS
//!   rebinding: 421 otherwise;
//! - an `Origin` of another site is refused unless in `[web] allowed_origins`
//!   (403);
//! - state-changing requests (every POST) need the bearer token or the
//!   dashboard's session cookie, also on loopback, unless `[web]
//!   loopback_without_token` opts out; reads from loopback are served
//!   without; other clients need the token for everything;
//! - `POST /api/login` exchanges the token for the session cookie; the
//!   dashboard's files, `/api/openapi.json` and `/healthz` need neither;
//! - every route but `/healthz` takes a token from the client's rate-limit
//!   bucket (429 with `Retry-After` when empty; loopback exempt by default);
//! - POST bodies must be `Content-Type: application/json`, within
//!   `max_body_bytes` (`POST /api/listen`: `audio/wav`, at most 8 MiB), and
//!   arrive within the body deadline (408);
//! - a path asked with a method it does not serve gets a 405 with `Allow`;
//!   `HEAD` is served wherever `GET` is.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use warp::http::{HeaderMap, Method, header};
use warp::{Filter, Rejection, Reply};

use super::errors::{ApiError, method_not_allowed, recover};
use super::ratelimit::RateLimiter;
use super::server::ClientAddr;
use super::{Api, AuthPolicy, SESSION_COOKIE, ServerLimits, handlers, models};

/// How request bodies are read.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimits {
    pub(super) max: u64,
    pub(super) deadline: Duration,
}

pub fn routes(
    api: Api,
    auth: Arc<AuthPolicy>,
    bound: SocketAddr,
    limits: ServerLimits,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let body = BodyLimits { max: limits.max_body, deadline: limits.body_timeout };
    let with_api = move || {
        let api = api.clone();
        warp::any().map(move || api.clone())
    };
    let auth_for_login = auth.clone();
    let authorized = {
        let auth = auth.clone();
        move || authorized(auth.clone())
    };

    let health = warp::path!("healthz")
        .and(get_or_head().and(with_api()).and_then(handlers::health).or(not_allowed("GET, HEAD")));
    let say = warp::path!("api" / "say").and(authorized()).and(
        warp::post()
            .and(idempotency_key())
            .and(json_body::<models::SayRequest>(body))
            .and(with_api())
            .and_then(handlers::say)
            .or(not_allowed("POST")),
    );
    let understand = warp::path!("api" / "understand").and(authorized()).and(
        warp::post()
            .and(json_body::<models::UnderstandRequest>(body))
            .and(with_api())
            .and_then(handlers::understand)
            .or(not_allowed("POST")),
    );
    let devices = warp::path!("api" / "devices").and(authorized()).and(
        get_or_head()
            .and(warp::query::<models::DeviceQuery>())
            .and(with_api())
            .and_then(handlers::devices)
            .or(not_allowed("GET, HEAD")),
    );
    let commands = warp::path!("api" / "commands").and(authorized()).and(
        get_or_head()
            .and(warp::query::<models::ListQuery>())
            .and(with_api())
            .and_then(handlers::commands)
            .or(warp::post()
                .and(idempotency_key())
                .and(json_body::<models::CommandRequest>(body))
                .and(with_api())
                .and_then(handlers::command))
            .or(not_allowed("GET, HEAD, POST")),
    );
    let status = warp::path!("api" / "status")
        .and(authorized())
        .and(get_or_head().and(with_api()).and_then(handlers::status).or(not_allowed("GET, HEAD")));
    let metrics = warp::path!("metrics")
        .and(authorized())
        .and(get_or_head().and(with_api()).and_then(handlers::metrics).or(not_allowed("GET, HEAD")));
    let chat = warp::path!("v1" / "chat" / "completions").and(authorized()).and(
        warp::post()
            .and(json_body::<super::openai::ChatCompletionRequest>(body))
            .and(with_api())
            .and_then(super::openai::chat_completions)
            .or(not_allowed("POST")),
    );
    let speech = warp::path!("v1" / "audio" / "speech").and(authorized()).and(
        warp::post()
            .and(json_body::<super::speech::SpeechRequest>(body))
            .and(with_api())
            .and_then(super::speech::speech)
            .or(not_allowed("POST")),
    );
    let models = warp::path!("v1" / "models")
        .and(authorized())
        .and(get_or_head().and(with_api()).and_then(super::openai::models).or(not_allowed("GET, HEAD")));
    let events = warp::path!("api" / "events").and(authorized()).and(
        get_or_head()
            .and(warp::header::optional::<String>("last-event-id"))
            .and(with_api())
            .and_then(super::events::stream)
            .or(not_allowed("GET, HEAD")),
    );
    let automations = super::automations::routes(with_api.clone(), authorized.clone(), body);
    let timers = warp::path!("api" / "timers")
        .and(authorized())
        .and(get_or_head().and(with_api()).and_then(handlers::timers).or(not_allowed("GET, HEAD")));
    let lists = warp::path!("api" / "lists").and(authorized()).and(
        get_or_head()
            .and(warp::query::<handlers::ListsQuery>())
            .and(with_api())
            .and_then(handlers::lists)
            .or(not_allowed("GET, HEAD")),
    );
    let login = warp::path!("api" / "login").and(
        warp::post()
            .and(json_body::<models::LoginRequest>(body))
            .and(warp::ext::optional::<ClientAddr>().map(|c: Option<ClientAddr>| c.map(|c| c.0)))
            .and(warp::any().map(move || auth_for_login.clone()))
            .and_then(super::session::login)
            .or(not_allowed("POST")),
    );
    let logout =
        warp::path!("api" / "logout").and(warp::post().and_then(super::session::logout).or(not_allowed("POST")));
    let dashboard = super::dashboard_routes::routes(|| with_api().boxed(), || authorized().boxed(), body);
    let ask_camera = warp::path!("api" / "cameras" / String / "ask")
        .and(authorized())
        .and(warp::post())
        .and(json_body::<super::camera_ask::AskRequest>(body))
        .and(with_api())
        .and_then(super::camera_ask::ask);
    let api_routes = dashboard
        .or(ask_camera)
        .or(login)
        .or(logout)
        .or(automations)
        .or(timers)
        .or(lists)
        .or(super::camera::routes(authorized(), with_api()))
        .or(events)
        .or(say)
        .or(understand)
        .or(devices)
        .or(commands)
        .or(status)
        .or(metrics)
        .or(chat)
        .or(speech)
        .or(models);
    let limiter = limits.rate_limit.map(|(per_s, burst)| Arc::new(RateLimiter::new(per_s, burst)));
    guard(auth, bound)
        .and(health.or(rate_limited(limiter, limits.rate_limit_loopback).and(api_routes)))
        .recover(recover)
        .with(warp::reply::with::headers(super::session::security_headers()))
}

pub(super) fn get_or_head() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::get().or(warp::head()).unify()
}

/// Answers a method the path does not serve with 405 and `Allow`; for a
/// served method it steps aside (not found), so the route's own rejection
/// (bad body, ...) is the one reported.
pub(super) fn not_allowed(
    allow: &'static str,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::method().and_then(move |m: Method| async move {
        if allow.split(", ").any(|a| a == m.as_str()) {
            Err(warp::reject::not_found())
        } else {
            Ok(method_not_allowed(allow))
        }
    })
}

fn idempotency_key() -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone {
    warp::header::headers_cloned().and_then(|h: HeaderMap| async move {
        match h.get("idempotency-key") {
            None => Ok(None),
            Some(v) => match v.to_str() {
                Ok(k) if super::idempotency::valid_key(k) => Ok(Some(k.to_string())),
                _ => Err(ApiError::BadRequest(format!(
                    "`Idempotency-Key` must be 1 to {} visible ASCII characters",
                    super::idempotency::MAX_KEY_LEN
                ))
                .rejection()),
            },
        }
    })
}

/// A JSON body: `Content-Type: application/json`, at most `max` bytes,
/// all of it within the deadline.
pub(super) fn json_body<T: serde::de::DeserializeOwned + Send>(
    limits: BodyLimits,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and_then(|h: HeaderMap| async move {
            if is_json(&h) { Ok(()) } else { Err(ApiError::UnsupportedMediaType.rejection()) }
        })
        .untuple_one()
        .and(warp::body::content_length_limit(limits.max))
        .and(warp::body::stream())
        .and_then(move |s| read_json::<T, _, _>(s, limits))
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

async fn read_json<T, S, B>(stream: S, limits: BodyLimits) -> Result<T, Rejection>
where
    T: serde::de::DeserializeOwned,
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let bytes = read_body(stream, limits).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")).rejection())
}

/// The whole body, at most `limits.max` bytes, within the deadline.
pub(super) async fn read_body<S, B>(stream: S, limits: BodyLimits) -> Result<Vec<u8>, Rejection>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let collect = async move {
        let mut out: Vec<u8> = Vec::new();
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let mut chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
            if (out.len() + chunk.remaining()) as u64 > limits.max {
                return Err(ApiError::PayloadTooLarge);
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                let n = part.len();
                out.extend_from_slice(part);
                chunk.advance(n);
            }
        }
        Ok(out)
    };
    tokio::time::timeout(limits.deadline, collect)
        .await
        .map_err(|_| ApiError::BodyTimeout.rejection())?
        .map_err(ApiError::rejection)
}

/// `Host` and `Origin` checks for every request.
fn guard(auth: Arc<AuthPolicy>, bound: SocketAddr) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and_then(move |h: HeaderMap| {
            let auth = auth.clone();
            async move { check_host_and_origin(&auth, bound, &h).map_err(ApiError::rejection) }
        })
        .untuple_one()
}

/// One token from the client's bucket, or 429 (everything but `/healthz`).
fn rate_limited(
    limiter: Option<Arc<RateLimiter>>,
    loopback_too: bool,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::ext::optional::<ClientAddr>()
        .and_then(move |client: Option<ClientAddr>| {
            let limiter = limiter.clone();
            async move {
                let (Some(limiter), Some(ClientAddr(addr))) = (limiter, client) else { return Ok(()) };
                if is_loopback(addr.ip()) && !loopback_too {
                    return Ok(());
                }
                limiter
                    .check(addr.ip(), std::time::Instant::now())
                    .map_err(|wait| ApiError::RateLimited(super::ratelimit::retry_after_secs(wait)).rejection())
            }
        })
        .untuple_one()
}

/// Token, cookie or loopback, by method.
fn authorized(auth: Arc<AuthPolicy>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::header::headers_cloned())
        .and_then(move |m: Method, client: Option<ClientAddr>, h: HeaderMap| {
            let auth = auth.clone();
            async move { check_auth(&auth, &m, client.map(|c| c.0), &h).map_err(ApiError::rejection) }
        })
        .untuple_one()
}

pub(super) fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Split `host[:port]` (`[v6]:port` for IPv6). `None`: malformed.
fn split_host_port(host: &str) -> Option<(&str, Option<u16>)> {
    if host.starts_with('[') {
        let end = host.find(']')?;
        let (name, rest) = host.split_at(end + 1);
        return match rest {
            "" => Some((name, None)),
            r => Some((name, Some(r.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => Some((name, Some(port.parse().ok()?))),
        Some(_) => None,
        None => Some((host, None)),
    }
}

fn host_allowed(auth: &AuthPolicy, bound: SocketAddr, host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    if auth.allowed_hosts.contains(&host) {
        return true;
    }
    let Some((name, port)) = split_host_port(&host) else { return false };
    if port.is_some_and(|p| p != bound.port()) {
        return false;
    }
    if name == "localhost" || auth.allowed_hosts.iter().any(|a| a == name) {
        return true;
    }
    // Only address literals beyond that: a DNS-rebinding page always
    // arrives under its own name.
    match name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => is_loopback(ip) || ip == bound.ip() || bound.ip().is_unspecified(),
        Err(_) => false,
    }
}

/// The `Host` names this server; an `Origin`, if any, is this server or allow-listed.
pub(crate) fn check_host_and_origin(auth: &AuthPolicy, bound: SocketAddr, h: &HeaderMap) -> Result<(), ApiError> {
    let host = match h.get(header::HOST) {
        None => None,
        Some(v) => {
            let host = v.to_str().ok().filter(|host| host_allowed(auth, bound, host));
            if host.is_none() {
                let shown = String::from_utf8_lossy(v.as_bytes()).chars().take(100).collect::<String>();
                return Err(ApiError::MisdirectedHost(format!(
                    "this server does not answer to `Host: {shown}` (add the name to [web] allowed_hosts)"
                )));
            }
            host
        }
    };
    if let Some(origin) = h.get(header::ORIGIN) {
        let o = String::from_utf8_lossy(origin.as_bytes()).trim_end_matches('/').to_ascii_lowercase();
        let same = host.is_some_and(|host| {
            let host = host.trim().to_ascii_lowercase();
            o == format!("http://{host}") || o == format!("https://{host}")
        });
        if !same && !auth.allowed_origins.contains(&o) {
            let shown: String = o.chars().take(100).collect();
            return Err(ApiError::Forbidden(format!(
                "cross-origin requests from `{shown}` are not served (add it to [web] allowed_origins)"
            )));
        }
    }
    Ok(())
}

/// The bearer token from `Authorization` (scheme in any case), if well formed.
fn bearer(h: &HeaderMap) -> Option<&[u8]> {
    let v = h.get(header::AUTHORIZATION)?.as_bytes();
    let v = v.trim_ascii();
    let split = v.iter().position(|b| b.is_ascii_whitespace())?;
    let (scheme, token) = v.split_at(split);
    scheme.eq_ignore_ascii_case(b"bearer").then(|| token.trim_ascii())
}

fn session_cookie(h: &HeaderMap) -> Option<&[u8]> {
    h.get_all(header::COOKIE).iter().flat_map(|v| v.as_bytes().split(|b| *b == b';')).find_map(|c| {
        let c = c.trim_ascii();
        c.strip_prefix(SESSION_COOKIE.as_bytes()).and_then(|rest| rest.strip_prefix(b"="))
    })
}

/// Who may do what: see the module doc.
pub(crate) fn check_auth(
    auth: &AuthPolicy,
    method: &Method,
    client: Option<SocketAddr>,
    h: &HeaderMap,
) -> Result<(), ApiError> {
    let loopback = client.is_some_and(|a| is_loopback(a.ip()));
    if !loopback && !auth.serves_remote() {
        return Err(ApiError::Forbidden(
            "no [web] token is configured; only clients on this machine are served".into(),
        ));
    }
    let read = *method == Method::GET || *method == Method::HEAD;
    if loopback && (auth.loopback_without_token || (read && auth.token_generated())) {
        return Ok(());
    }
    let token_ok = bearer(h).is_some_and(|t| constant_time_eq(t, auth.token().as_bytes()));
    let cookie_ok = session_cookie(h).is_some_and(|c| constant_time_eq(c, auth.session.as_bytes()));
    if token_ok || cookie_ok { Ok(()) } else { Err(ApiError::Unauthorized) }
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use warp::http::HeaderValue;

    use super::*;
    use crate::config::WebConfig;

    fn policy(token: Option<&str>, loopback_without_token: bool) -> AuthPolicy {
        AuthPolicy::from_config(&WebConfig {
            token: token.map(String::from),
            loopback_without_token,
            allowed_hosts: vec!["hub.lan".into(), "proxy.example:443".into()],
            allowed_origins: vec!["http://hub.lan:8080".into()],
            ..WebConfig::default()
        })
    }

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    const BOUND: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
    const LOOPBACK: Option<SocketAddr> = Some(SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 50_000));
    const REMOTE: Option<SocketAddr> = Some(SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 9)), 5));

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn hosts_other_than_this_server_are_misdirected() {
        let p = policy(None, false);
        for ok in
            ["127.0.0.1", "127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "hub.lan", "hub.lan:8080"]
        {
            assert!(check_host_and_origin(&p, BOUND, &headers(&[("host", ok.as_bytes())])).is_ok(), "{ok}");
        }
        assert!(check_host_and_origin(&p, BOUND, &headers(&[("host", b"proxy.example:443")])).is_ok());
        for bad in [
            "attacker.example",
            "attacker.example:8080",
            "127.0.0.1:9999",
            "hub.lan:9999",
            "10.0.0.1",
            "127.0.0.1:x",
            "",
        ] {
            let e = check_host_and_origin(&p, BOUND, &headers(&[("host", bad.as_bytes())]));
            assert!(matches!(e, Err(ApiError::MisdirectedHost(_))), "{bad}");
        }
        assert!(check_host_and_origin(&p, BOUND, &headers(&[("host", b"\xff\xfe")])).is_err());
        // A wildcard bind serves any address literal, still no foreign name.
        let any = SocketAddr::from(([0, 0, 0, 0], 8080));
        assert!(check_host_and_origin(&p, any, &headers(&[("host", b"192.168.1.5:8080")])).is_ok());
        assert!(check_host_and_origin(&p, any, &headers(&[("host", b"evil.example:8080")])).is_err());
    }

    #[test]
    fn cross_origin_requests_need_the_allow_list() {
        let p = policy(None, false);
        let check = |host: &'static str, origin: &'static str| {
            check_host_and_origin(&p, BOUND, &headers(&[("host", host.as_bytes()), ("origin", origin.as_bytes())]))
        };
        assert!(check("127.0.0.1:8080", "http://127.0.0.1:8080").is_ok());
        assert!(check("hub.lan:8080", "http://hub.lan:8080").is_ok());
        assert!(check("127.0.0.1:8080", "http://hub.lan:8080").is_ok()); // allow-listed
        for bad in ["http://attacker.example", "null", "http://127.0.0.1:9999", "https://hub.lan"] {
            assert!(matches!(check("127.0.0.1:8080", bad), Err(ApiError::Forbidden(_))), "{bad}");
        }
    }

    #[test]
    fn posts_need_the_token_or_cookie_even_on_loopback() {
        let p = policy(None, false);
        let none = HeaderMap::new();
        // Reads from loopback are free; writes are not.
        assert!(check_auth(&p, &Method::GET, LOOPBACK, &none).is_ok());
        assert!(check_auth(&p, &Method::HEAD, LOOPBACK, &none).is_ok());
        assert!(matches!(check_auth(&p, &Method::POST, LOOPBACK, &none), Err(ApiError::Unauthorized)));
        // The generated token, with the scheme in any case.
        assert_eq!(p.token().len(), 48);
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let h = headers(&[("authorization", format!("{scheme}  {}", p.token()).as_bytes())]);
            assert!(check_auth(&p, &Method::POST, LOOPBACK, &h).is_ok(), "{scheme}");
        }
        let wrong = headers(&[("authorization", b"Bearer nope")]);
        assert!(matches!(check_auth(&p, &Method::POST, LOOPBACK, &wrong), Err(ApiError::Unauthorized)));
        // Not UTF-8: a plain 401, not an internal error.
        let binary = headers(&[("authorization", b"Bearer \xff\xfe\xfd")]);
        assert!(matches!(check_auth(&p, &Method::POST, LOOPBACK, &binary), Err(ApiError::Unauthorized)));
        // The dashboard's session cookie.
        let cookie = p.session_cookie();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let pair = cookie.split(';').next().unwrap().to_string();
        let h = headers(&[("cookie", format!("theme=dark; {pair}").as_bytes())]);
        assert!(check_auth(&p, &Method::POST, LOOPBACK, &h).is_ok());
        let h = headers(&[("cookie", format!("{SESSION_COOKIE}=forged").as_bytes())]);
        assert!(check_auth(&p, &Method::POST, LOOPBACK, &h).is_err());
        // A token made for this start-up only (none configured or stored): only this machine is served.
        let h = headers(&[("authorization", format!("Bearer {}", p.token()).as_bytes())]);
        assert!(matches!(check_auth(&p, &Method::GET, REMOTE, &h), Err(ApiError::Forbidden(_))));
    }

    #[test]
    fn a_stored_token_is_made_once_kept_private_and_serves_other_machines() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let web = WebConfig::default();
        let (p, first) = AuthPolicy::with_stored_token(&web, &data).unwrap();
        assert!(first && p.token().len() == 48 && p.serves_remote());
        let file = data.join(super::super::TOKEN_FILE);
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), p.token());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let (again, first) = AuthPolicy::with_stored_token(&web, &data).unwrap();
        assert!(!first && again.token() == p.token(), "the next start keeps it");
        // Another machine with the token is served; without it, not; this machine may still read.
        let good = headers(&[("authorization", format!("Bearer {}", p.token()).as_bytes())]);
        assert!(check_auth(&again, &Method::POST, REMOTE, &good).is_ok());
        assert!(matches!(check_auth(&again, &Method::GET, REMOTE, &HeaderMap::new()), Err(ApiError::Unauthorized)));
        assert!(check_auth(&again, &Method::GET, LOOPBACK, &HeaderMap::new()).is_ok());
        // A configured token wins and nothing is written.
        let other = tempfile::tempdir().unwrap();
        let conf = WebConfig { token: Some("s3cret-token-long".into()), ..WebConfig::default() };
        let (c, first) = AuthPolicy::with_stored_token(&conf, other.path()).unwrap();
        assert!(!first && c.token() == "s3cret-token-long");
        assert!(!other.path().join(super::super::TOKEN_FILE).exists());
        // An unreadable data directory is an error, not a silent new token.
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir(&file).unwrap();
        assert!(AuthPolicy::with_stored_token(&web, &data).is_err());
    }

    #[test]
    fn configured_token_and_the_explicit_loopback_opt_out() {
        let p = policy(Some("s3cret-token"), false);
        let none = HeaderMap::new();
        let good = headers(&[("authorization", b"Bearer s3cret-token")]);
        assert!(check_auth(&p, &Method::GET, REMOTE, &good).is_ok());
        assert!(matches!(check_auth(&p, &Method::GET, REMOTE, &none), Err(ApiError::Unauthorized)));
        assert!(matches!(check_auth(&p, &Method::GET, LOOPBACK, &none), Err(ApiError::Unauthorized)));
        let open = policy(Some("s3cret-token"), true);
        assert!(check_auth(&open, &Method::POST, LOOPBACK, &none).is_ok());
        assert!(check_auth(&open, &Method::POST, REMOTE, &none).is_err());
        assert!(!WebConfig::default().loopback_without_token);
    }

    #[test]
    fn only_json_bodies() {
        assert!(is_json(&headers(&[("content-type", b"application/json")])));
        assert!(is_json(&headers(&[("content-type", b"Application/JSON; charset=utf-8")])));
        assert!(!is_json(&headers(&[("content-type", b"text/plain")])));
        assert!(!is_json(&HeaderMap::new()));
    }
}
