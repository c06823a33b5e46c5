//! The local web API (warp), used by `hubd say` when a daemon is up, the
//! OpenAI-compatible chat API ([`openai`]) and the dashboard: its files
//! embedded in the binary ([`assets`]), its API ([`dashboard`]), the login
//! that issues the session cookie ([`session`], also the security headers),
//! the per-client rate limit ([`ratelimit`]) and the OpenAPI document
//! generated from the handlers and models ([`openapi_doc`]).
//!
//! Layout follows warp's `todos` example: [`filters`] (routing, the Host,
//! Origin and auth checks, body limits), [`handlers`] (async fns returning
//! replies or rejections), [`models`] (request/response DTOs) and [`errors`]
//! (the one `recover` that maps every rejection to a JSON error; store error
//! texts never leave the process). `server` runs the routes on hyper with a
//! connection cap and header, idle and write timeouts; [`idempotency`]
//! replays the first outcome of a retried `Idempotency-Key`.

pub mod assets;
pub mod automations;
pub mod camera;
pub mod camera_ask;
pub mod dashboard;
mod dashboard_routes;
pub mod errors;
pub mod events;
pub mod filters;
pub mod handlers;
pub mod idempotency;
pub mod models;
pub mod openai;
pub mod openapi_doc;
pub mod ratelimit;
mod server;
pub mod session;
pub mod speech;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::WebConfig;
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
    pub registry: crate::reload::SharedRegistry,
    /// `POST /api/reload`.
    pub reloader: crate::reload::Reloader,
    /// When the daemon started (uptime in `/api/status` and `/metrics`).
    pub started: std::time::Instant,
    /// The language model behind `/v1/chat/completions` (loaded on first use).
    pub llm: crate::llm::LlmService,
    /// The tool calls' model (the text branch's counters).
    pub tools_llm: crate::llm::LlmService,
    /// Whisper, shared with the microphone (`POST /api/listen`; loaded on first use).
    pub asr: crate::services::AsrService,
    pub vlm: crate::vlm::VlmService,
    /// `[tts]`, behind `/v1/audio/speech`.
    pub tts: crate::tts::TtsService,
    /// The model branches as configured (`ModelServices::branches`).
    pub models: Arc<Vec<crate::services::Branch>>,
    /// The hub's event bus (`GET /api/events`, metrics).
    pub bus: crate::events::EventBus,
    /// Short tasks a handler leaves behind (SQLite writes after a response);
    /// the runtime waits for them at shutdown.
    pub tracker: tokio_util::task::TaskTracker,
    /// Raised when the daemon stops (ends long-lived streams).
    pub stop: watch::Receiver<bool>,
    /// First outcomes of `POST /api/say` and `POST /api/commands` by `Idempotency-Key`.
    pub idempotency: Arc<idempotency::Idempotency>,
    /// The automation rules (list, runs, enable/disable, trigger, reload).
    pub automations: crate::automation::Automations,
    /// The sentence encoder of the history search by meaning
    /// (`[store] semantic_search`); `None`: the search matches words only.
    pub embed: Option<crate::search::EmbedService>,
}

/// Who may call the API, from `[web]`: the bearer token (configured, or
/// made at start-up), the dashboard's session cookie, and the `Host` and
/// `Origin` values served.
#[derive(Clone)]
pub struct AuthPolicy {
    token: String,
    /// No `[web] token` is configured: loopback clients may read without one.
    generated: bool,
    /// Clients on other machines are served (with the token or the cookie):
    /// the token is configured, or stored in the data directory where its
    /// owner can read it. A token made for one start-up only serves loopback.
    remote: bool,
    /// Loopback clients may POST without the token or cookie (explicit opt-in).
    pub loopback_without_token: bool,
    /// Value of the dashboard's `hubd_session` cookie (random per start-up).
    session: String,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
}

impl std::fmt::Debug for AuthPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthPolicy")
            .field("generated", &self.generated)
            .field("remote", &self.remote)
            .field("loopback_without_token", &self.loopback_without_token)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_origins", &self.allowed_origins)
            .finish_non_exhaustive()
    }
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hubd_session";

fn random_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The generated token's file in the data directory (mode 0600).
pub const TOKEN_FILE: &str = "web-token";

impl AuthPolicy {
    /// The policy `[web]` describes; without a `token`, a random one is made
    /// for this start-up only (loopback clients only).
    pub fn from_config(web: &WebConfig) -> Self {
        let configured = web.token.as_deref().map(str::trim).filter(|t| !t.is_empty());
        AuthPolicy {
            token: configured.map_or_else(random_secret, str::to_string),
            generated: configured.is_none(),
            remote: configured.is_some(),
            loopback_without_token: web.loopback_without_token,
            session: random_secret(),
            allowed_hosts: web.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            allowed_origins: web.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect(),
        }
    }

    /// As [`from_config`](Self::from_config), but without `[web] token` the
    /// token is the one in `<data_dir>/web-token`, made (mode 0600) on the
    /// first start. Returns the policy and whether the token is new (the
    /// banner shows a new token once).
    pub fn with_stored_token(web: &WebConfig, data_dir: &std::path::Path) -> std::io::Result<(Self, bool)> {
        let mut p = Self::from_config(web);
        if !p.generated {
            return Ok((p, false));
        }
        let path = data_dir.join(TOKEN_FILE);
        let stored = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t.trim().to_string()).filter(|t| t.len() >= 16),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let first = stored.is_none();
        p.token = match stored {
            Some(t) => t,
            None => {
                use std::io::Write;
                crate::private_fs::create_dir(data_dir, false)?;
                let mut f = crate::private_fs::create_file(&path)?;
                writeln!(f, "{}", p.token)?;
                f.sync_all()?;
                p.token.clone()
            }
        };
        p.remote = true;
        Ok((p, first))
    }

    /// Whether clients on other machines are served.
    pub fn serves_remote(&self) -> bool {
        self.remote
    }

    /// The bearer token clients send (`Authorization: Bearer <token>`); the
    /// daemon writes it to its runtime file for the CLI on this machine.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether the token was made at start-up rather than configured.
    pub fn token_generated(&self) -> bool {
        self.generated
    }

    /// `Set-Cookie` value that lets the dashboard's own pages POST:
    /// HttpOnly (scripts cannot read it) and SameSite=Strict (other sites'
    /// requests do not carry it).
    pub fn session_cookie(&self) -> String {
        format!("{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", self.session)
    }
}

/// Limits of the HTTP server, from `[web]`.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub max_body: u64,
    /// Headers of a request, and the idle time before the next one on a kept-alive connection.
    pub header_timeout: Duration,
    /// A whole request body, from the end of its headers.
    pub body_timeout: Duration,
    /// A response write that makes no progress for this long closes the connection.
    pub write_timeout: Duration,
    pub max_connections: usize,
    /// Per-client token bucket (requests a second, burst), if on.
    pub rate_limit: Option<(f64, u32)>,
    /// Whether loopback clients are rate-limited too.
    pub rate_limit_loopback: bool,
}

impl ServerLimits {
    pub fn from_config(web: &WebConfig) -> Self {
        ServerLimits {
            max_body: web.max_body_bytes,
            header_timeout: Duration::from_millis(web.header_timeout_ms.max(1)),
            body_timeout: Duration::from_millis(web.body_timeout_ms.max(1)),
            write_timeout: Duration::from_secs(30),
            max_connections: usize::try_from(web.max_connections.max(1)).unwrap_or(usize::MAX),
            rate_limit: (web.rate_limit_per_s > 0.0).then_some((web.rate_limit_per_s, web.rate_limit_burst.max(1))),
            rate_limit_loopback: web.rate_limit_loopback,
        }
    }
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

/// Kernel send buffer of each connection (Linux doubles it). Fixed instead
/// of autotuned (up to 4 MiB): a client that stops reading then holds at
/// most this much, and a stalled stream is noticed within seconds.
const SEND_BUFFER: u32 = 16 * 1024;

/// A listening socket whose accepted connections inherit [`SEND_BUFFER`].
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Bind `addr` and serve until `shutdown` turns true. Returns the bound
/// address (useful with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    api: Api,
    auth: AuthPolicy,
    limits: ServerLimits,
    shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), WebError> {
    let listener = listen(addr).map_err(|source| WebError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| WebError::Bind { addr, source })?;
    let routes = filters::routes(api, Arc::new(auth), bound, limits.clone());
    let task = tokio::spawn(async move {
        server::run(listener, routes, limits, shutdown).await;
        tracing::info!("web server stopped");
    });
    tracing::info!(addr = %bound, "local API listening");
    Ok((bound, task))
}
