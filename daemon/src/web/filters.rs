//! Routes, auth and body limits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use warp::{Filter, Rejection, Reply};

use super::errors::{ApiError, recover};
use super::{Api, AuthPolicy, handlers, models};

pub fn routes(
    api: Api,
    auth: Arc<AuthPolicy>,
    max_body: u64,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let health = warp::path!("healthz").and(warp::get()).and(with_api(api.clone())).and_then(handlers::health);
    let say = warp::path!("api" / "say")
        .and(warp::post())
        .and(json_body::<models::SayRequest>(max_body))
        .and(with_api(api.clone()))
        .and_then(handlers::say);
    let understand = warp::path!("api" / "understand")
        .and(warp::post())
        .and(json_body::<models::UnderstandRequest>(max_body))
        .and(with_api(api.clone()))
        .and_then(handlers::understand);
    let devices =
        warp::path!("api" / "devices").and(warp::get()).and(with_api(api.clone())).and_then(handlers::devices);
    let commands = warp::path!("api" / "commands")
        .and(warp::get())
        .and(warp::query::<models::ListQuery>())
        .and(with_api(api.clone()))
        .and_then(handlers::commands);
    let command = warp::path!("api" / "commands")
        .and(warp::post())
        .and(json_body::<models::CommandRequest>(max_body))
        .and(with_api(api.clone()))
        .and_then(handlers::command);
    let status = warp::path!("api" / "status").and(warp::get()).and(with_api(api.clone())).and_then(handlers::status);
    let metrics = warp::path!("metrics").and(warp::get()).and(with_api(api.clone())).and_then(handlers::metrics);
    let chat = warp::path!("v1" / "chat" / "completions")
        .and(warp::post())
        .and(json_body::<super::openai::ChatCompletionRequest>(max_body))
        .and(with_api(api.clone()))
        .and_then(super::openai::chat_completions);
    let models =
        warp::path!("v1" / "models").and(warp::get()).and(with_api(api.clone())).and_then(super::openai::models);
    let events = warp::path!("api" / "events")
        .and(warp::get())
        .and(warp::header::optional::<String>("last-event-id"))
        .and(with_api(api.clone()))
        .and_then(super::events::stream);
    let api_routes =
        events.or(say).or(understand).or(devices).or(commands).or(command).or(status).or(metrics).or(chat).or(models);
    health.or(authorized(auth).and(api_routes)).recover(recover)
}

fn with_api(api: Api) -> impl Filter<Extract = (Api,), Error = Infallible> + Clone {
    warp::any().map(move || api.clone())
}

fn json_body<T: serde::de::DeserializeOwned + Send>(
    max: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(max).and(warp::body::json())
}

fn is_loopback(addr: Option<SocketAddr>) -> bool {
    addr.map(|a| a.ip().is_loopback()).unwrap_or(false)
}

/// Bearer token check. Loopback clients pass without a token when the policy
/// allows it; without a configured token only loopback clients are served.
fn authorized(auth: Arc<AuthPolicy>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::addr::remote()
        .and(warp::header::optional::<String>("authorization"))
        .and_then(move |remote: Option<SocketAddr>, header: Option<String>| {
            let auth = auth.clone();
            async move {
                let loopback = is_loopback(remote);
                match &auth.token {
                    None if loopback => Ok(()),
                    None => {
                        Err(ApiError::Forbidden("no API token is configured; only loopback clients are served")
                            .rejection())
                    }
                    Some(_) if loopback && auth.loopback_without_token => Ok(()),
                    Some(tok) => {
                        let given = header.as_deref().and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
                        if given.is_some_and(|g| constant_time_eq(g.as_bytes(), tok.as_bytes())) {
                            Ok(())
                        } else {
                            Err(ApiError::Unauthorized.rejection())
                        }
                    }
                }
            }
        })
        .untuple_one()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
