//! Routes of the dashboard: its embedded files (no auth: they hold no
//! data) and its API ([`super::dashboard`], [`super::openapi_doc`]).

use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, header};
use warp::{Filter, Rejection, Reply};

use super::errors::ApiError;
use super::filters::{BodyLimits, get_or_head, json_body, not_allowed, read_body};
use super::{Api, models};

/// A WAV body (`Content-Type: audio/wav`, `audio/x-wav`, `audio/wave` or
/// `application/octet-stream`) of at most [`dashboard::MAX_WAV_BYTES`].
fn wav_body(limits: BodyLimits) -> impl Filter<Extract = (Vec<u8>,), Error = Rejection> + Clone {
    let limits = BodyLimits { max: super::dashboard::MAX_WAV_BYTES, ..limits };
    warp::header::headers_cloned()
        .and_then(|h: HeaderMap| async move {
            let mime = h
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(|m| m.trim().to_ascii_lowercase());
            match mime.as_deref() {
                Some("audio/wav" | "audio/x-wav" | "audio/wave" | "application/octet-stream") => Ok(()),
                _ => Err(ApiError::MediaType("expected `Content-Type: audio/wav`").rejection()),
            }
        })
        .untuple_one()
        .and(warp::body::content_length_limit(limits.max))
        .and(warp::body::stream())
        .and_then(move |s| read_body(s, limits))
}

/// The dashboard: its files (no auth: they hold no data) and its API.
pub(super) fn routes<A>(
    with_api: impl Fn() -> BoxedFilter<(Api,)>,
    authorized: A,
    body: BodyLimits,
) -> BoxedFilter<(warp::reply::Response,)>
where
    A: Fn() -> BoxedFilter<()>,
{
    use super::{assets, dashboard};
    let inm = || warp::header::optional::<String>("if-none-match");
    let index = warp::path::end().and(
        get_or_head()
            .and(inm())
            .and_then(|inm| assets::serve("index.html".into(), inm))
            .or(not_allowed("GET, HEAD"))
            .unify(),
    );
    let files = warp::path!("assets" / String)
        .and(get_or_head())
        .and(inm())
        .and_then(assets::serve)
        .or(warp::path!("assets" / String).and(not_allowed("GET, HEAD")).map(|_: String, r| r))
        .unify();
    let layout = warp::path!("api" / "layout").and(authorized()).and(
        get_or_head()
            .and(with_api())
            .and_then(dashboard::layout)
            .map(Reply::into_response)
            .or(not_allowed("GET, HEAD"))
            .unify(),
    );
    let device_command = warp::path!("api" / "devices" / String / "command")
        .and(authorized())
        .and(warp::post())
        .and(json_body::<models::DeviceCommandRequest>(body))
        .and(with_api())
        .and_then(dashboard::device_command)
        .or(warp::path!("api" / "devices" / String / "command").and(not_allowed("POST")).map(|_: String, r| r))
        .unify();
    let history =
        |kind: &'static str| warp::path("api").and(warp::path("history")).and(warp::path(kind)).and(warp::path::end());
    let query = || warp::query::<models::HistoryQuery>();
    let turns = history("turns").and(authorized()).and(
        get_or_head()
            .and(query())
            .and(with_api())
            .and_then(dashboard::history_turns)
            .map(Reply::into_response)
            .or(not_allowed("GET, HEAD"))
            .unify(),
    );
    let commands = history("commands").and(authorized()).and(
        get_or_head()
            .and(query())
            .and(with_api())
            .and_then(dashboard::history_commands)
            .map(Reply::into_response)
            .or(not_allowed("GET, HEAD"))
            .unify(),
    );
    let events = history("events").and(authorized()).and(
        get_or_head()
            .and(query())
            .and(with_api())
            .and_then(dashboard::history_events)
            .map(Reply::into_response)
            .or(not_allowed("GET, HEAD"))
            .unify(),
    );
    let openapi = warp::path!("api" / "openapi.json")
        .and(get_or_head().and_then(super::openapi_doc::openapi_json).or(not_allowed("GET, HEAD")).unify());
    let listen = warp::path!("api" / "listen").and(authorized()).and(
        warp::post().and(wav_body(body)).and(with_api()).and_then(dashboard::listen).or(not_allowed("POST")).unify(),
    );
    index
        .or(files)
        .unify()
        .or(layout)
        .unify()
        .or(device_command)
        .unify()
        .or(turns)
        .unify()
        .or(commands)
        .unify()
        .or(events)
        .unify()
        .or(listen)
        .unify()
        .or(openapi)
        .unify()
        .boxed()
}
