//! Assembling the running daemon: store, (embedded) broker, MQTT link,
//! outbox, NLU, pipeline and, optionally, the local API. Used by `hubd run`,
//! the in-process path of `hubd say`, and the benchmarks.
//!
//! One shutdown signal (a `watch` channel) reaches every task; [`Runtime::shutdown`]
//! raises it and joins the tasks before a deadline (mini-redis style).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hub_skills::Registry;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::broker::{self, BrokerError, EmbeddedBroker};
use crate::config::{BrokerTarget, Config, ConfigError};
use crate::mqtt::{self, MqttLink, MqttSettings};
use crate::outbox::{self, OutboxError, OutboxSettings};
use crate::pipeline::{Nlu, Pipeline};
use crate::store::{Store, StoreError};
use crate::web::{self, Api, AuthPolicy, WebError};

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("cannot start the outbox: {0}")]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Web(#[from] WebError),
}

/// What to start besides the core.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Serve the local API on `[web] bind`.
    pub web: bool,
    /// Override `[web] bind` (tests/benchmarks use port 0).
    pub web_bind: Option<SocketAddr>,
    /// MQTT client id suffix (so `hubd say` in-process does not kick the daemon off the broker).
    pub client_id: Option<String>,
    /// Load Home Assistant sentence templates (off = grammar only).
    pub templates: bool,
    /// How long `say` waits for device echoes.
    pub ack_wait: Duration,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions { web: true, web_bind: None, client_id: None, templates: true, ack_wait: Duration::from_secs(5) }
    }
}

/// The running core.
pub struct Runtime {
    pub pipeline: Pipeline,
    pub link: MqttLink,
    pub registry: Arc<Registry>,
    pub broker: Option<EmbeddedBroker>,
    /// Where the broker is (host, port).
    pub broker_addr: (String, u16),
    pub web_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

/// Outbox settings from `[mqtt]`.
pub fn outbox_settings(cfg: &Config) -> OutboxSettings {
    OutboxSettings {
        ack_timeout: cfg.mqtt.command_timeout(),
        max_attempts: cfg.mqtt.max_attempts.max(1),
        expire_after: cfg.mqtt.expire_after(),
        ..OutboxSettings::default()
    }
}

impl Runtime {
    pub async fn start(cfg: &Config, opts: StartOptions) -> Result<Runtime, RuntimeError> {
        let registry = Arc::new(cfg.registry()?);
        let store = Store::open(cfg.store_path()).await?;
        let (broker, host, port) = match cfg.mqtt.broker() {
            BrokerTarget::External { host, port } => (None, host, port),
            BrokerTarget::Embedded { port } => {
                let b = tokio::task::spawn_blocking(move || broker::start(port))
                    .await
                    .map_err(|e| BrokerError::Config(format!("broker start task failed: {e}")))??;
                let p = b.addr.port();
                (Some(b), "127.0.0.1".to_string(), p)
            }
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let client_id = opts.client_id.clone().unwrap_or_else(|| cfg.mqtt.client_id.clone());
        let mut ms = MqttSettings::new(host.clone(), port, client_id);
        ms.keep_alive = cfg.mqtt.keepalive().max(Duration::from_secs(2));
        ms.username = cfg.mqtt.username.clone();
        ms.password = cfg.mqtt.password.clone();
        let topics = outbox::state_topics(&registry);
        let (ev_tx, ev_rx) = mpsc::channel(4096);
        let (link, link_task) = mqtt::spawn(ms, topics, ev_tx, shutdown_rx.clone());
        let mut tasks = vec![("mqtt", link_task)];
        let (ob, ob_task) =
            outbox::spawn(store.clone(), link.clone(), ev_rx, &registry, outbox_settings(cfg), shutdown_rx.clone())
                .await?;
        tasks.push(("outbox", ob_task));
        let nlu = if opts.templates {
            Nlu::load(
                registry.clone(),
                &cfg.nlu.language,
                cfg.model.weights_dir.as_deref().map(|p| cfg.resolve_path(p)).as_deref(),
                &cfg.nlu.custom_sentences.iter().map(|p| cfg.resolve_path(p)).collect::<Vec<_>>(),
            )
            .with_language_responses(cfg.nlu.responses == crate::config::ResponseStyle::Language)
        } else {
            Nlu::new(registry.clone(), None)
        };
        let pipeline = Pipeline::new(nlu, ob, store, opts.ack_wait);
        let mut web_addr = None;
        if opts.web {
            let llm = crate::llm::LlmService::new(
                crate::llm::engine_spec(Some(&cfg), None, None),
                hub_model::threads::available() as i32,
            );
            let api = Api::new(pipeline.clone(), registry.clone(), llm);
            // Without `[web] token` a random one is made here; `auth.token()`
            // is what the runtime file hands to the CLI.
            let auth = AuthPolicy::from_config(&cfg.web);
            let bind = opts.web_bind.unwrap_or(cfg.web.bind);
            let limits = web::ServerLimits::from_config(&cfg.web);
            let (addr, t) = web::serve(bind, api, auth, limits, shutdown_rx.clone()).await?;
            web_addr = Some(addr);
            tasks.push(("web", t));
        }
        Ok(Runtime { pipeline, link, registry, broker, broker_addr: (host, port), web_addr, shutdown, tasks })
    }

    /// A receiver of the shutdown signal for extra tasks (e.g. the simulator).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Track an extra task so shutdown joins it.
    pub fn add_task(&mut self, name: &'static str, task: JoinHandle<()>) {
        self.tasks.push((name, task));
    }

    /// Signal every task and join them before `deadline`; tasks still
    /// running then are aborted and named in the log.
    pub async fn shutdown(self, deadline: Duration) {
        let _ = self.shutdown.send(true);
        let until = tokio::time::Instant::now() + deadline;
        for (name, mut t) in self.tasks {
            match tokio::time::timeout_at(until, &mut t).await {
                Ok(_) => tracing::debug!(task = name, "task finished"),
                Err(_) => {
                    tracing::warn!(task = name, "task did not stop before the shutdown deadline; aborting it");
                    t.abort();
                }
            }
        }
    }
}
