//! `GET /api/events`: the hub's event bus as Server-Sent Events.
//!
//! One SSE event per [`crate::events::HubEvent`]: `id:` is the bus sequence
//! number, `event:` the type (`state_changed`, `command_status`,
//! `dialogue_turn`, `audio_gate`), `data:` the JSON envelope. A client that
//! reconnects with `Last-Event-ID` first gets the retained events after that
//! id (the bus keeps the last 1,024), then live ones. A client too slow to
//! keep up loses the oldest events (counted in `hubd_events_lagged_total`);
//! it never slows the outbox. Streams end when the daemon stops.

use futures_util::stream;
use warp::sse::Event;
use warp::{Rejection, Reply};

use super::Api;
use super::errors::ApiError;

#[utoipa::path(get, path = "/api/events", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Server-Sent Events: state_changed, command_status, dialogue_turn, audio_gate, ...", body = String, content_type = "text/event-stream")))]
pub async fn stream(last_event_id: Option<String>, api: Api) -> Result<impl Reply, Rejection> {
    let last = match last_event_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!("`Last-Event-ID` must be an event id (a number), got `{v}`")).rejection()
        })?),
    };
    let sub = api.bus.subscribe_from(last);
    let stop = api.stop.clone();
    let events = stream::unfold((sub, stop), |(mut sub, mut stop)| async move {
        let env = tokio::select! {
            e = sub.recv() => e?,
            _ = stop.wait_for(|s| *s) => return None,
        };
        let ev = Event::default().id(env.id.to_string()).event(env.event.kind()).json_data(&*env);
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => Event::default().event("error").data(format!("cannot encode event {}: {e}", env.id)),
        };
        Some((Ok::<_, std::convert::Infallible>(ev), (sub, stop)))
    });
    Ok(warp::sse::reply(warp::sse::keep_alive().stream(events)))
}
