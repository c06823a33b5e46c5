//! The running daemon: [`Runtime::start`] builds every subsystem from the
//! config, hands each the handles it needs, and [`Runtime::shutdown`] stops
//! and joins them all. Used by `hubd run`, the in-process path of `hubd say`,
//! the benchmarks and the tests.
//!
//! Subsystems: store, MQTT link (with the embedded broker when `[mqtt]` names
//! none), outbox, pipeline, web, voice, the demo simulator, retention; model
//! workers are [`ModelServices`], loaded once and shared by handle. Every
//! subsystem talks through the [`EventBus`].
//!
//! Shutdown runs in stages, each with its own `watch` signal, so nothing is
//! lost on the way down: producers first (web, voice), then the outbox drains
//! its open commands while the link and the (simulated) devices are still up,
//! then the core (MQTT link, simulator, housekeeping), then the model
//! threads are joined. Tasks still running at the deadline are aborted and
//! named in the log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::automation::{self, AutomationError, Automations};
use crate::broker::{self, BrokerError, EmbeddedBroker};
use crate::config::{BrokerTarget, Config, ConfigError};
use crate::events::EventBus;
use crate::mqtt::{self, MqttLink, MqttSettings};
use crate::outbox::{self, OutboxDeps, OutboxError, OutboxSettings};
use crate::pipeline::{Nlu, Pipeline};
use crate::reload::{Reloader, SharedRegistry};
use crate::services::ModelServices;
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
    #[error("cannot start automations: {0}")]
    Automation(#[from] AutomationError),
    #[error(transparent)]
    Tls(#[from] crate::mqtt_tls::TlsError),
    #[error(transparent)]
    Wyoming(#[from] crate::wyoming::WyomingError),
}

/// What to start besides the core (store, link, outbox, pipeline).
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
    /// Start the voice branch when `[audio] enabled` (microphone, VAD, Whisper).
    pub voice: bool,
    /// Run the demo-home simulator in-process (virtual devices on the broker).
    pub demo: bool,
    /// Start the cameras when `[camera] enabled` (capture, motion).
    pub camera: bool,
    /// MQTT discovery both ways (`[mqtt] discovery`, `[mqtt] import`): the
    /// daemon's, not a one-shot in-process client's.
    pub discovery: bool,
    /// The Wyoming server when `[wyoming] enabled`.
    pub wyoming: bool,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            web: true,
            web_bind: None,
            client_id: None,
            templates: true,
            ack_wait: Duration::from_secs(5),
            voice: false,
            demo: false,
            camera: false,
            discovery: false,
            wyoming: false,
        }
    }
}

/// When a subsystem stops, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Takes requests and makes commands: web, voice, automations, later cameras, wyoming.
    Producer,
    /// Drains open commands.
    Outbox,
    /// Needed until the outbox is done: the MQTT link, the simulator, housekeeping.
    Core,
}

const STAGES: [Stage; 3] = [Stage::Producer, Stage::Outbox, Stage::Core];

/// The running daemon.
pub struct Runtime {
    pub pipeline: Pipeline,
    pub link: MqttLink,
    /// The device registry in use (replaced by `hubd reload`).
    pub registry: SharedRegistry,
    /// Re-reads the config file (`hubd reload`, SIGHUP).
    pub reloader: Reloader,
    pub bus: EventBus,
    pub services: ModelServices,
    pub broker: Option<EmbeddedBroker>,
    /// Where the broker is (host, port).
    pub broker_addr: (String, u16),
    pub web_addr: Option<SocketAddr>,
    /// Where the Wyoming server listens, when it runs.
    pub wyoming_addr: Option<SocketAddr>,
    /// The API's bearer token (configured, or made at start-up).
    pub web_token: Option<String>,
    /// Where the web token was stored, if it was made at this start.
    pub web_token_new: Option<std::path::PathBuf>,
    /// The automation rules' task.
    pub automations: Automations,
    /// One stop signal per [`Stage`].
    stops: [watch::Sender<bool>; 3],
    tasks: Vec<(&'static str, Stage, JoinHandle<()>)>,
    /// Short-lived tasks spawned by subsystems (e.g. the OpenAI handler's
    /// SQLite writes): closed and awaited after the producers stop.
    tracker: TaskTracker,
    /// Spoken output (`[audio] output`), when on.
    pub speaker: Option<crate::speech::Speaker>,
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

/// The PEM files of `[mqtt]`, resolved against the config's directory.
fn tls_files(cfg: &Config) -> crate::mqtt_tls::TlsFiles {
    let m = &cfg.mqtt;
    crate::mqtt_tls::TlsFiles {
        ca: m.ca_file.as_ref().map(|p| cfg.resolve_path(p)),
        client: match (&m.client_cert, &m.client_key) {
            (Some(c), Some(k)) => Some((cfg.resolve_path(c), cfg.resolve_path(k))),
            _ => None,
        },
    }
}

fn stage_index(s: Stage) -> usize {
    match s {
        Stage::Producer => 0,
        Stage::Outbox => 1,
        Stage::Core => 2,
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
        let stops = STAGES.map(|_| watch::channel(false).0);
        let signal = |s: Stage| stops[stage_index(s)].subscribe();
        let bus = EventBus::default();
        let tracker = TaskTracker::new();
        let services = ModelServices::from_config(cfg);
        let client_id = opts.client_id.clone().unwrap_or_else(|| cfg.mqtt.client_id.clone());
        let mut ms = MqttSettings::new(host.clone(), port, client_id);
        ms.keep_alive = cfg.mqtt.keepalive().max(Duration::from_secs(2));
        ms.username = cfg.mqtt.username.clone();
        ms.password = cfg.mqtt.password.clone();
        ms.status_topic = cfg.mqtt.status_topic();
        if cfg.mqtt.tls() {
            ms.tls = Some(crate::mqtt_tls::transport(&tls_files(cfg))?);
        }
        let topics = outbox::state_topics(&registry);
        let (ev_tx, ev_rx) = mpsc::channel(4096);
        let (link, link_task) = mqtt::spawn(ms, topics, ev_tx, signal(Stage::Core));
        let mut tasks = vec![("mqtt", Stage::Core, link_task)];
        let deps = OutboxDeps {
            store: store.clone(),
            link: link.clone(),
            link_events: ev_rx,
            bus: bus.clone(),
            stop: signal(Stage::Outbox),
        };
        let (ob, ob_task) = outbox::spawn(deps, &registry, outbox_settings(cfg)).await?;
        tasks.push(("outbox", Stage::Outbox, ob_task));
        tasks.push(("retention", Stage::Core, crate::retention::spawn(store.clone(), cfg.into(), signal(Stage::Core))));
        if let Some(embed) = &services.embed {
            let index = crate::search::index::spawn(store.clone(), embed.clone(), &bus, signal(Stage::Core));
            tasks.push(("search-index", Stage::Core, index));
        }
        let nlu = Nlu::for_options(cfg, registry.clone(), opts.templates);
        let pipeline = Pipeline::new(nlu, ob, store, bus.clone(), opts.ack_wait);
        // --- spoken output (voice replies, timers, announcements) ---
        let speaker = if opts.voice {
            let (tts, metrics) = (services.tts.clone(), crate::audio::AudioMetrics::global());
            crate::speech::Speaker::start(cfg, tts, metrics, tracker.clone(), signal(Stage::Producer))
        } else {
            None
        };
        let speaker = speaker.map(|(s, task)| {
            tasks.push(("speaker", Stage::Producer, task));
            pipeline.set_speaker(s.clone());
            s
        });
        // --- automations ---
        let engine = cfg.compile_rules_against(&registry)?;
        let clock = automation::Clock::system(cfg.home.timezone.as_deref())
            .map_err(|e| AutomationError::Rejected(format!("[home] timezone: {e}")))?;
        pipeline.set_clock(clock.clone());
        let shared = SharedRegistry::new((*registry).clone());
        let deps = automation::Deps {
            registry: shared.clone(),
            outbox: pipeline.outbox().clone(),
            store: pipeline.store().clone(),
            bus: bus.clone(),
            link: link.clone(),
            clock,
            speaker: speaker.clone(),
            stop: signal(Stage::Producer),
        };
        let (automations, automation_task) = automation::spawn(engine, deps).await?;
        tasks.push(("automations", Stage::Producer, automation_task));
        pipeline.set_automations(automations.clone());
        // --- timers ---
        let deps = crate::timers::Deps {
            store: pipeline.store().clone(),
            bus: bus.clone(),
            link: link.clone(),
            topic_prefix: cfg.mqtt.topic_prefix.clone(),
            pipeline: pipeline.clone(),
            tracker: tracker.clone(),
            speaker: speaker.clone(),
            stop: signal(Stage::Producer),
        };
        let (timers, timer_task) = crate::timers::spawn(deps).await?;
        tasks.push(("timers", Stage::Producer, timer_task));
        pipeline.set_timers(timers);
        if let Some(h) = &services.heads {
            pipeline.set_heads(h.clone());
        }
        if cfg.nlu.llm_fallback {
            pipeline.set_tools(crate::llm_tools::ToolCaller::new(services.tools_llm.clone()));
        }
        let reloader = Reloader {
            config_file: Some(std::path::PathBuf::from(&cfg.origin)).filter(|p| p.is_file()),
            running: Arc::new(cfg.clone()),
            registry: shared.clone(),
            pipeline: pipeline.clone(),
            automations: automations.clone(),
            templates: opts.templates,
            imports: Default::default(),
        };
        let mut rt = Runtime {
            pipeline,
            link,
            registry: shared,
            reloader,
            bus,
            services,
            broker,
            broker_addr: (host, port),
            web_addr: None,
            wyoming_addr: None,
            web_token: None,
            web_token_new: None,
            automations,
            stops,
            tasks,
            tracker,
            speaker,
        };
        if opts.demo {
            rt.start_demo();
        }
        if opts.web {
            let api = Api {
                pipeline: rt.pipeline.clone(),
                outbox: rt.pipeline.outbox().clone(),
                store: rt.pipeline.store().clone(),
                registry: rt.registry.clone(),
                reloader: rt.reloader.clone(),
                started: std::time::Instant::now(),
                llm: rt.services.llm.clone(),
                tools_llm: rt.services.tools_llm.clone(),
                asr: rt.services.asr.clone(),
                vlm: rt.services.vlm.clone(),
                tts: rt.services.tts.clone(),
                models: rt.services.branches.clone(),
                bus: rt.bus.clone(),
                tracker: rt.tracker.clone(),
                stop: rt.signal(Stage::Producer),
                idempotency: Default::default(),
                automations: rt.automations.clone(),
                embed: rt.services.embed.clone(),
            };
            // Without `[web] token` the one in the data directory is used
            // (made on the first start); the runtime file hands it to the
            // CLI on this machine, the banner shows a new one once.
            let auth = match AuthPolicy::with_stored_token(&cfg.web, &cfg.store_dir()) {
                Ok((auth, first)) => {
                    rt.web_token_new = first.then(|| cfg.store_dir().join(web::TOKEN_FILE));
                    auth
                }
                Err(e) => {
                    tracing::warn!(dir = %cfg.store_dir().display(), error = %e,
                        "cannot store the web token; a new one serves this machine only until restart");
                    AuthPolicy::from_config(&cfg.web)
                }
            };
            rt.web_token = Some(auth.token().to_string());
            let bind = opts.web_bind.unwrap_or(cfg.web.bind);
            let limits = web::ServerLimits::from_config(&cfg.web);
            let (addr, t) = web::serve(bind, api, auth, limits, rt.signal(Stage::Producer)).await?;
            rt.web_addr = Some(addr);
            rt.add_task("web", Stage::Producer, t);
        }
        if opts.voice {
            let asr = rt.services.asr.clone();
            let metrics = crate::audio::AudioMetrics::global();
            let stop = rt.signal(Stage::Producer);
            let speaker = rt.speaker.clone();
            if let Some(t) = crate::audio::voice::start(cfg, rt.pipeline.clone(), asr, stop, metrics, speaker).await {
                rt.add_task("voice", Stage::Producer, t);
            }
        }
        if opts.discovery {
            rt.start_discovery(cfg);
        }
        if opts.wyoming && cfg.wyoming.enabled {
            let (p, s) = (rt.pipeline.clone(), &rt.services);
            let (asr, tts, stop) = (s.asr.clone(), s.tts.clone(), rt.signal(Stage::Producer));
            let (addr, t) = crate::wyoming::start(cfg, None, p, asr, tts, stop).await?;
            rt.wyoming_addr = Some(addr);
            rt.add_task("wyoming", Stage::Producer, t);
        }
        // --- camera ---
        if opts.camera && cfg.camera.enabled && !cfg.camera.source.is_empty() {
            let store = rt.pipeline.store().clone();
            let t = crate::camera::start(cfg, rt.link.clone(), rt.bus.clone(), store, rt.signal(Stage::Producer));
            rt.add_task("camera", Stage::Producer, t);
        }
        Ok(rt)
    }

    /// The stop signal of `stage`, for a subsystem started from outside.
    pub fn signal(&self, stage: Stage) -> watch::Receiver<bool> {
        self.stops[stage_index(stage)].subscribe()
    }

    /// Track a subsystem's task so shutdown stops it at `stage` and joins it.
    pub fn add_task(&mut self, name: &'static str, stage: Stage, task: JoinHandle<()>) {
        self.tasks.push((name, stage, task));
    }

    /// MQTT discovery: announcing to Home Assistant (`[mqtt] discovery`) and
    /// importing devices (`[mqtt] import`), both until the producers stop.
    fn start_discovery(&mut self, cfg: &Config) {
        use crate::discovery::{announce, import};
        if cfg.mqtt.discovery {
            let hub = firmware_bridge::HubDevice {
                prefix: cfg.mqtt.discovery_prefix.clone(),
                node_id: hub_skills::import::slug(&cfg.mqtt.topic_prefix),
                name: "hubd".into(),
                sw_version: env!("CARGO_PKG_VERSION").into(),
                model: "hubd smart-home hub".into(),
                availability_topic: cfg.mqtt.status_topic(),
            };
            let setup = crate::discovery::Setup {
                hub,
                topic_prefix: cfg.mqtt.topic_prefix.clone(),
                camera_prefix: cfg.camera.mqtt_prefix.clone(),
                cameras: if cfg.camera.enabled {
                    cfg.camera.source.iter().map(|c| (c.id.clone(), c.display_name().to_string())).collect()
                } else {
                    Vec::new()
                },
            };
            let deps = announce::Deps {
                link: self.link.clone(),
                bus: self.bus.clone(),
                automations: self.automations.clone(),
                pipeline: self.pipeline.clone(),
                stop: self.signal(Stage::Producer),
            };
            let t = announce::spawn(setup, deps);
            self.add_task("discovery-out", Stage::Producer, t);
        }
        if !cfg.mqtt.import.is_empty() {
            let sources = import::Sources {
                sources: cfg.mqtt.import.clone(),
                discovery_prefix: cfg.mqtt.discovery_prefix.clone(),
                own_origin: "hubd".into(),
            };
            let t = import::spawn(sources, self.link.clone(), self.reloader.clone(), self.signal(Stage::Producer));
            self.add_task("discovery-in", Stage::Producer, t);
        }
    }

    /// The demo-home simulator (`crate::simulate::run`), until the core stops.
    fn start_demo(&mut self) {
        let (host, port) = self.broker_addr.clone();
        let registry = (*self.registry.get()).clone();
        let mut stop = self.signal(Stage::Core);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = crate::simulate::run(registry, host, port, shutdown).await {
                tracing::error!(error = %e, "demo simulator stopped");
            }
        });
        self.add_task("simulator", Stage::Core, task);
    }

    /// Stop every stage in order and join its tasks, all before `deadline`;
    /// tasks still running then are aborted and named in the log.
    pub async fn shutdown(self, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        let Runtime { stops, mut tasks, tracker, services, .. } = self;
        for stage in STAGES {
            let _ = stops[stage_index(stage)].send(true);
            let (now, later): (Vec<_>, Vec<_>) = tasks.into_iter().partition(|(_, s, _)| *s == stage);
            tasks = later;
            for (name, _, mut t) in now {
                match tokio::time::timeout_at(until, &mut t).await {
                    Ok(_) => tracing::debug!(task = name, "task finished"),
                    Err(_) => {
                        tracing::warn!(task = name, "task did not stop before the shutdown deadline; aborting it");
                        t.abort();
                    }
                }
            }
            if stage == Stage::Producer {
                tracker.close();
                if tokio::time::timeout_at(until, tracker.wait()).await.is_err() {
                    tracing::warn!(tasks = tracker.len(), "request tasks still running at the shutdown deadline");
                }
            }
        }
        services.shutdown(until).await;
    }
}
