//! The local web API (warp), used by `hubd say` when a daemon is up, and
//! the OpenAI-compatible chat API ([`openai`]). Later: the dashboard.
//!
//! Layout follows warp's `todos` example: [`filters`] (routing, auth, body
//! limits), [`handlers`] (async fns returning replies or rejections),
//! [`models`] (request/response DTOs) and [`errors`] (the one `recover`
//! that maps every rejection to a JSON error; store error texts never leave
//! the process).

pub mod errors;
pub mod events;
pub mod filters;
pub mod handlers;
pub mod models;
pub mod openai;

use std::net::SocketAddr;
use std::sync::Arc;

use hub_skills::Registry;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::pipeline::Pipeline;

/// What the handlers need (cheap to clone).
#[derive(Clone)]
pub struct Api {
    /// Understanding and acting on requests (say, understand).
    pub pipeline: Pipeline,
    /// The command outbox (direct commands, device states, counters).
    pub outbox: crate::outbox::Outbox,
    /// The database (history, command lists).
    pub store: crate::store::Store,
    pub registry: Arc<Registry>,
    /// When the daemon started (uptime in `/api/status` and `/metrics`).
    pub started: std::time::Instant,
    /// The language model behind `/v1/chat/completions` (loaded on first use).
    pub llm: crate::llm::LlmService,
    /// The hub's event bus (`GET /api/events`, metrics).
    pub bus: crate::events::EventBus,
    /// Short tasks a handler leaves behind (SQLite writes after a response);
    /// the runtime waits for them at shutdown.
    pub tracker: tokio_util::task::TaskTracker,
    /// Raised when the daemon stops (ends long-lived streams).
    pub stop: watch::Receiver<bool>,
}

/// Auth policy from `[web]`.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    pub token: Option<String>,
    pub loopback_without_token: bool,
}

#[derive(Debug, Error)]
pub enum WebError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Bind `addr` and serve until `shutdown` turns true. Returns the bound
/// address (useful with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    api: Api,
    auth: AuthPolicy,
    max_body: u64,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), WebError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| WebError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| WebError::Bind { addr, source })?;
    let routes = filters::routes(api, Arc::new(auth), max_body);
    let server = warp::serve(routes).incoming(listener).graceful(async move {
        let _ = shutdown.wait_for(|s| *s).await;
    });
    let task = tokio::spawn(async move {
        server.run().await;
        tracing::info!("web server stopped");
    });
    tracing::info!(addr = %bound, "local API listening");
    Ok((bound, task))
}
