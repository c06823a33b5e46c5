//! The text pipeline: understand -> plan -> outbox -> wait for acks (bounded)
//! -> dialogue turns (user + assistant) -> spoken-style reply.
//!
//! [`Pipeline`] is a cheap, cloneable handle used by `hubd say`, the local
//! API and (with modality `voice`) the voice pipeline. Understanding tries the
//! Home Assistant sentence templates first and falls back to the registry
//! grammar ([`Nlu`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use firmware_bridge::DeviceState;
use hub_skills::intent::NluContext;
use hub_skills::templates::TemplateNlu;
use hub_skills::{Assistant, Registry, ReplyStyle, Understanding};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::events::{EventBus, HubEvent, PipelineStage};
use crate::outbox::{Outbox, OutboxError};
use crate::store::{self, CommandStatus, Store};

/// Where a request came from (the store's type: one modality type).
pub use crate::store::Modality;

#[derive(Debug, Clone)]
pub struct Origin {
    pub modality: Modality,
    /// Area the request comes from (resolves "turn on the light").
    pub area: Option<String>,
    /// Dialogue session id; `None` = a fresh one per request.
    pub session: Option<String>,
    /// What the voice branch knows about a spoken request.
    pub voice: Option<VoiceOrigin>,
}

/// A spoken request's audio side, stored with its dialogue turn.
#[derive(Debug, Clone)]
pub struct VoiceOrigin {
    /// When speech ended (the VAD's last speech frame).
    pub speech_end: Instant,
    /// Stage timings so far, ms from the end of speech (`endpoint_ms`,
    /// `asr_ms`, `transcript_ms`); `enqueue_ms` is added here.
    pub timings: serde_json::Map<String, serde_json::Value>,
    /// The kept recording, when `[audio] keep_recordings = true`.
    pub audio_path: Option<String>,
}

impl Origin {
    pub fn text() -> Origin {
        Origin { modality: Modality::Text, area: None, session: None, voice: None }
    }
}

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("{0}")]
    Outbox(#[from] OutboxError),
    #[error("could not store the dialogue turn")]
    Store(#[source] store::StoreError),
    #[error("empty request text")]
    Empty,
}

/// Loads the language files (intents JSON, number words, custom sentences)
/// and builds the [`Assistant`] that understands, plans and replies.
pub struct Nlu {
    assistant: Assistant,
}

impl Nlu {
    pub fn new(registry: Arc<Registry>, templates: Option<TemplateNlu>) -> Nlu {
        Nlu { assistant: Assistant::new(registry, templates, ReplyStyle::Detailed) }
    }

    /// `[nlu] responses = "language"`: spoken replies from the language
    /// data's `responses.intents`, as Home Assistant gives them.
    pub fn with_language_responses(mut self, on: bool) -> Nlu {
        self.assistant = self.assistant.with_replies(if on { ReplyStyle::Language } else { ReplyStyle::Detailed });
        self
    }

    /// The facade the pipeline calls per request.
    pub fn assistant(&self) -> &Assistant {
        &self.assistant
    }

    /// Load the templates of `language` from the `home-assistant-intents`
    /// package (found through the venv or `weights_dir`) plus custom sentence
    /// files. Any failure is logged and leaves the grammar alone in charge.
    pub fn load(
        registry: Arc<Registry>,
        language: &str,
        weights_dir: Option<&std::path::Path>,
        custom: &[std::path::PathBuf],
    ) -> Nlu {
        // `zh-cn` -> `zh-CN.json`: the package names files by BCP 47 case.
        let rel = format!("home_assistant_intents/data/{}", hub_skills::templates::language_file_name(language));
        let path = match weights_dir {
            Some(d) => Some(d.join(&rel)),
            None => hub_model::weights::package_path(&rel),
        };
        let templates = match path {
            None => {
                tracing::warn!(file = %rel, "home-assistant-intents data not found; using the grammar only");
                None
            }
            Some(p) => match std::fs::read_to_string(&p) {
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "cannot read intents data; using the grammar only");
                    None
                }
                Ok(json) => match TemplateNlu::from_language_json(&json, &registry) {
                    Err(e) => {
                        tracing::warn!(path = %p.display(), error = %e, "bad intents data; using the grammar only");
                        None
                    }
                    Ok(mut t) => {
                        load_number_words(&mut t, language, weights_dir);
                        for c in custom {
                            match std::fs::read_to_string(c) {
                                Ok(y) => {
                                    if let Err(e) = t.add_custom_yaml(&c.display().to_string(), &y) {
                                        tracing::warn!(path = %c.display(), error = %e, "skipping custom sentences");
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!(path = %c.display(), error = %e, "cannot read custom sentences")
                                }
                            }
                        }
                        Some(t)
                    }
                },
            },
        };
        Nlu::new(registry, templates)
    }

    /// The NLU `[nlu]` asks for: the language's templates (from the venv
    /// or `[model] weights_dir`), custom sentences and reply style.
    /// [`Nlu::from_config`], or the grammar alone when `templates` is off.
    pub fn for_options(cfg: &crate::config::Config, registry: Arc<Registry>, templates: bool) -> Nlu {
        if templates { Nlu::from_config(cfg, registry) } else { Nlu::new(registry, None) }
    }

    pub fn from_config(cfg: &crate::config::Config, registry: Arc<Registry>) -> Nlu {
        Nlu::load(
            registry,
            &cfg.nlu.language,
            cfg.model.weights_dir.as_deref().map(|p| cfg.resolve_path(p)).as_deref(),
            &cfg.nlu.custom_sentences.iter().map(|p| cfg.resolve_path(p)).collect::<Vec<_>>(),
        )
        .with_language_responses(cfg.nlu.responses == crate::config::ResponseStyle::Language)
    }

    /// A dry run without a daemon: understand and plan against unknown
    /// device states; nothing is sent or stored. Same outcome shape as
    /// [`Pipeline::handle_text`] with `dry_run`.
    pub fn dry_run(&self, text: &str, area: Option<&str>, session: Option<String>) -> Result<Outcome, PipelineError> {
        let t0 = Instant::now();
        let mut planned = self.plan(text, area, session.unwrap_or_else(new_session), true, &|_: &str| None)?;
        planned.outcome.total_ms = t0.elapsed().as_secs_f64() * 1000.0;
        Ok(planned.outcome)
    }

    /// Understand and plan `text` (no I/O, nothing sent): the outcome so far,
    /// the understanding, and the commands to send (none for a dry run, whose
    /// outcome lists them as `pending`).
    pub fn plan(
        &self,
        text: &str,
        area: Option<&str>,
        session: String,
        dry_run: bool,
        state: &dyn Fn(&str) -> Option<DeviceState>,
    ) -> Result<Planned, PipelineError> {
        let u = self.understand(text.trim(), area);
        self.plan_understood(text, u, session, dry_run, state)
    }

    /// [`Nlu::plan`] for an understanding found elsewhere (the LLM's tool
    /// call), or none.
    pub fn plan_understood(
        &self,
        text: &str,
        u: Option<Understanding>,
        session: String,
        dry_run: bool,
        state: &dyn Fn(&str) -> Option<DeviceState>,
    ) -> Result<Planned, PipelineError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PipelineError::Empty);
        }
        let mut out = Outcome {
            text: text.to_string(),
            intent: None,
            slots: serde_json::Map::new(),
            entities: Vec::new(),
            confidence: None,
            source: None,
            reply: String::new(),
            answer: None,
            commands: Vec::new(),
            error: None,
            session,
            dry_run,
            enqueue_us: 0,
            total_ms: 0.0,
            turn_ids: Vec::new(),
        };
        let (mut commands, mut op) = (Vec::new(), None);
        match &u {
            None => {
                out.reply = "Sorry, I didn't understand that.".into();
                out.error = Some(format!("no intent matched `{text}`"));
            }
            Some(u) => {
                out.intent = Some(u.intent.to_string());
                out.slots = u.slots.to_map().into_iter().collect();
                out.entities = u.entities.clone();
                out.confidence = Some(u.confidence);
                out.source = Some(u.source);
                match self.assistant().plan(u, state) {
                    Err(e) => {
                        out.reply = e.reply();
                        out.error = Some(e.to_string());
                    }
                    Ok(plan) => {
                        if plan.commands.is_empty() && hub_skills::Assistant::speaks_without_commands(u, &plan) {
                            out.reply = self.assistant().answer_reply(u, &plan, state).unwrap_or(plan.reply);
                        } else {
                            out.reply = plan.reply;
                        }
                        out.answer = plan.answer;
                        if dry_run {
                            out.commands = plan
                                .commands
                                .iter()
                                .map(|c| CommandOutcome {
                                    id: 0,
                                    device_id: c.device_id.clone(),
                                    topic: String::new(),
                                    status: CommandStatus::Pending,
                                })
                                .collect();
                        } else {
                            commands = plan.commands;
                            op = plan.op;
                        }
                    }
                }
            }
        }
        Ok(Planned { outcome: out, understanding: u, commands, op })
    }

    pub fn registry(&self) -> &Registry {
        self.assistant.registry()
    }

    /// The sentence templates in use, if the language data loaded.
    pub fn templates(&self) -> Option<&TemplateNlu> {
        self.assistant.templates()
    }

    /// The numbers and colours `text` says, whether it is a question, and
    /// the devices, areas and floors it mentions ([`hub_skills::tools::said_in`]):
    /// the LLM's call may use those values and, when any is mentioned, those
    /// targets, and no others; `None` (anything) for a language other than
    /// English, whose words it does not read.
    pub fn said(&self, text: &str) -> Option<hub_skills::tools::Said> {
        let english = self.templates().is_none_or(|t| hub_skills::templates::is_english(t.language()));
        english.then(|| hub_skills::tools::said_in(self.registry(), text))
    }

    /// [`Assistant::understand`] with the request's area as context.
    pub fn understand(&self, text: &str, area: Option<&str>) -> Option<Understanding> {
        self.assistant.understand(text, &NluContext { area: area.map(str::to_string) })
    }
}

/// Number words for range lists ("fifty percent"): `number-words/<lang>.json`
/// under `weights_dir`, else the table `scripts/setup` derived into the venv.
/// Missing tables leave digits only, with a warning.
fn load_number_words(t: &mut TemplateNlu, language: &str, weights_dir: Option<&std::path::Path>) {
    let file = hub_skills::templates::language_file_name(language);
    let rel = format!("number-words/{file}");
    let path = match weights_dir {
        Some(d) => Some(d.join(&rel)).filter(|p| p.exists()),
        None => None,
    }
    .or_else(|| hub_model::weights::venv_data_path(&rel));
    let Some(path) = path else {
        tracing::warn!(file = %rel, "no number-word table; range lists match digits only (run scripts/setup)");
        return;
    };
    match std::fs::read_to_string(&path) {
        Ok(json) => match t.set_number_words(&json) {
            Ok(()) => tracing::debug!(path = %path.display(), "number words loaded"),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "bad number-word table; digits only"),
        },
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read number-word table; digits only"),
    }
}

/// One command row of an outcome.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommandOutcome {
    pub id: i64,
    pub device_id: String,
    pub topic: String,
    /// Final status, or `pending` if the wait bound passed (or a dry run).
    pub status: CommandStatus,
}

/// What [`Nlu::plan`] decided.
pub struct Planned {
    pub outcome: Outcome,
    pub understanding: Option<Understanding>,
    /// Commands to enqueue (empty for a dry run).
    pub commands: Vec<firmware_bridge::DeviceCommand>,
    /// Work for the running hub: a timer or list operation (none for a dry run).
    pub op: Option<hub_skills::HubOp>,
}

/// Result of one request (also what `POST /api/say` answers, read back by
/// `hubd say`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub text: String,
    pub intent: Option<String>,
    #[schema(value_type = Object)]
    pub slots: serde_json::Map<String, serde_json::Value>,
    pub entities: Vec<String>,
    pub confidence: Option<f32>,
    /// template, grammar, model or llm.
    #[schema(value_type = Option<String>)]
    pub source: Option<hub_skills::Source>,
    pub reply: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub answer: Option<serde_json::Value>,
    pub commands: Vec<CommandOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub session: String,
    pub dry_run: bool,
    /// Microseconds from request to every command committed in the outbox.
    pub enqueue_us: u64,
    pub total_ms: f64,
    /// The stored dialogue turns (the request's, the reply's), for what is
    /// known only later (when a spoken reply started).
    #[serde(skip)]
    pub turn_ids: Vec<i64>,
}

struct Inner {
    /// Replaced as a whole on `hubd reload` (a new registry means new lists).
    nlu: std::sync::RwLock<Arc<Nlu>>,
    outbox: Outbox,
    store: Store,
    bus: EventBus,
    ack_wait: Duration,
    /// Sentence triggers of automation rules, asked before the NLU (as Home
    /// Assistant does with its sentence triggers).
    automations: std::sync::OnceLock<crate::automation::Automations>,
    /// The LLM's tool calls, asked after the NLU (`[nlu] llm_fallback`).
    tools: std::sync::OnceLock<crate::llm_tools::ToolCaller>,
    /// The intent and slot heads, asked after the templates and before the
    /// LLM (`[nlu] heads`).
    heads: std::sync::OnceLock<crate::heads::HeadsService>,
    /// The timer task, which answers the timer intents.
    timers: std::sync::OnceLock<crate::timers::TimerService>,
    /// The home's clock (`[home] timezone`), for "what time is it".
    clock: std::sync::OnceLock<crate::automation::Clock>,
    /// The loudspeaker (`[audio] output`), for broadcasts.
    speaker: std::sync::OnceLock<crate::speech::Speaker>,
}

/// Cloneable handle to the text pipeline.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn new_session() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("s{}-{}-{}", now_ms(), std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

impl Pipeline {
    /// `ack_wait` bounds how long a request waits for device echoes.
    pub fn new(nlu: Nlu, outbox: Outbox, store: Store, bus: EventBus, ack_wait: Duration) -> Pipeline {
        let automations = std::sync::OnceLock::new();
        let nlu = std::sync::RwLock::new(Arc::new(nlu));
        let (tools, heads, timers, clock, speaker) = Default::default();
        let inner = Inner { nlu, outbox, store, bus, ack_wait, automations, tools, heads, timers, clock, speaker };
        Pipeline { inner: Arc::new(inner) }
    }

    /// Let the timer task answer the timer intents.
    pub fn set_timers(&self, t: crate::timers::TimerService) {
        let _ = self.inner.timers.set(t);
    }

    /// Say broadcasts on this loudspeaker.
    pub fn set_speaker(&self, s: crate::speech::Speaker) {
        let _ = self.inner.speaker.set(s);
    }

    /// Tell the time in the home's time zone (`[home] timezone`).
    pub fn set_clock(&self, c: crate::automation::Clock) {
        let _ = self.inner.clock.set(c);
    }

    /// The home's clock; the system's time zone until one is set.
    fn clock(&self) -> crate::automation::Clock {
        self.inner.clock.get().cloned().unwrap_or_else(crate::automation::Clock::local)
    }

    pub fn timers(&self) -> Option<&crate::timers::TimerService> {
        self.inner.timers.get()
    }

    /// Let automation rules' sentence triggers answer first.
    pub fn set_automations(&self, a: crate::automation::Automations) {
        let _ = self.inner.automations.set(a);
    }

    /// Put what the NLU does not understand to the LLM's tools.
    pub fn set_tools(&self, t: crate::llm_tools::ToolCaller) {
        let _ = self.inner.tools.set(t);
    }

    /// Ask the heads after the templates; they train now if they were not
    /// trained on this registry.
    pub fn set_heads(&self, h: crate::heads::HeadsService) {
        h.refresh(self.nlu());
        let _ = self.inner.heads.set(h);
    }

    pub fn heads(&self) -> Option<&crate::heads::HeadsService> {
        self.inner.heads.get()
    }

    /// The heads' stage for `text` ([`crate::heads::Reading::answer`]):
    /// their understanding when they are confident and the registry check
    /// accepts it (`Err` when it refuses), whether they are sure the text
    /// is not about the home, and the intents the LLM may choose from.
    async fn heads_stage(&self, text: &str, nlu: &Nlu) -> crate::heads::Answer {
        let Some(h) = self.inner.heads.get() else { return crate::heads::Answer::declined() };
        let t = Instant::now();
        let reading = h.read(text).await;
        crate::latency::Latencies::global().record(crate::latency::HEADS, t.elapsed().as_secs_f64() * 1000.0);
        let reading = match reading {
            Ok(Some(r)) => r.in_home(nlu.registry()),
            Ok(None) => {
                h.count(false);
                return crate::heads::Answer::declined();
            }
            Err(e) => {
                tracing::warn!(error = %e, "the heads failed on a request");
                h.count(false);
                return crate::heads::Answer::declined();
            }
        };
        let answer = reading.answer(text, nlu.registry());
        h.count(matches!(answer.understood, Ok(Some(_))));
        tracing::debug!(intent = %reading.intent, confidence = reading.confidence, slots = ?reading.slots, ok = answer.understood.is_ok(), "heads");
        answer
    }

    /// The hub's event bus.
    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    /// Store dialogue turns and announce each on the bus.
    pub async fn remember_turns(&self, turns: &[store::NewTurn]) -> Result<Vec<i64>, store::StoreError> {
        let ids = self.inner.store.insert_turns(turns).await?;
        for (id, t) in ids.iter().zip(turns) {
            self.inner.bus.publish(HubEvent::DialogueTurn {
                turn_id: *id,
                session: t.session.clone(),
                role: t.role,
                modality: t.modality,
                text: t.text.clone(),
            });
        }
        Ok(ids)
    }

    /// The understanding in use (a snapshot: a reload swaps in a new one).
    pub fn nlu(&self) -> Arc<Nlu> {
        self.inner.nlu.read().map(|n| n.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Use a new understanding (`hubd reload`: devices, areas or floors changed).
    pub fn set_nlu(&self, nlu: Nlu) {
        let nlu = Arc::new(nlu);
        match self.inner.nlu.write() {
            Ok(mut n) => *n = nlu.clone(),
            Err(p) => *p.into_inner() = nlu.clone(),
        }
        // A new registry: the heads retrain in the background.
        if let Some(h) = self.inner.heads.get() {
            h.refresh(nlu);
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.inner.outbox
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Understand and act; with `dry_run` nothing is sent or stored.
    pub async fn handle_text(&self, text: &str, origin: Origin, dry_run: bool) -> Result<Outcome, PipelineError> {
        self.handle(text, origin, dry_run, None).await
    }

    /// [`Pipeline::handle_text`] (not a dry run) whose commands and turns
    /// carry `correlation`: a finished timer's sentence, which is looked up
    /// by it after a restart.
    pub async fn handle_text_correlated(
        &self,
        text: &str,
        origin: Origin,
        correlation: Option<String>,
    ) -> Result<Outcome, PipelineError> {
        self.handle(text, origin, false, correlation).await
    }

    async fn handle(
        &self,
        text: &str,
        origin: Origin,
        dry_run: bool,
        correlation: Option<String>,
    ) -> Result<Outcome, PipelineError> {
        let t0 = Instant::now();
        let text = text.trim();
        let gate = crate::text_gate::TextGate::global();
        if text.is_empty() {
            crate::text_gate::TextGate::inc(&gate.empty);
            return Err(PipelineError::Empty);
        }
        let session = origin.session.clone().unwrap_or_else(new_session);
        let correlation = correlation.unwrap_or_else(|| format!("c{}", new_session()));
        let states = self.inner.outbox.states();
        let lookup = |id: &str| -> Option<DeviceState> { states.read().ok().and_then(|m| m.get(id).cloned()) };
        let nlu = self.nlu();
        let sentence = match (self.inner.automations.get(), dry_run) {
            (Some(a), false) => a.sentence(text).await,
            _ => None,
        };
        let Planned { outcome: mut out, understanding: u, commands, op } = match sentence {
            Some(s) => sentence_outcome(text, s, session.clone()),
            None => {
                let mut u = nlu.understand(text, origin.area.as_deref());
                let by_templates = u.is_some();
                let (mut refused, mut not_home, mut shortlist) = (None, false, Vec::new());
                if u.is_none() {
                    let a = self.heads_stage(text, &nlu).await;
                    (not_home, shortlist) = (a.not_home, a.llm_intents);
                    match a.understood {
                        Ok(h) => u = h,
                        Err(e) => refused = Some(e),
                    }
                }
                let heads = self.inner.heads.get().map(|_| !by_templates && (u.is_some() || not_home));
                if !dry_run {
                    gate.record(by_templates, heads, self.inner.tools.get().is_some());
                }
                // Text the heads are sure is not about the home is not put
                // to the LLM: it could only answer with one of the tools.
                match (u, self.inner.tools.get().filter(|_| !not_home)) {
                    (None, Some(tools)) => {
                        let t = Instant::now();
                        let called =
                            tools.understand_among(text, nlu.registry(), &shortlist, nlu.said(text).as_ref()).await;
                        crate::latency::Latencies::global()
                            .record(crate::latency::LLM_TOOLS, t.elapsed().as_secs_f64() * 1000.0);
                        match called {
                            Ok(u) => nlu.plan_understood(text, u, session.clone(), dry_run, &lookup)?,
                            Err(e) => {
                                tracing::info!(error = %e, "LLM tool call refused");
                                let mut p = nlu.plan_understood(text, None, session.clone(), dry_run, &lookup)?;
                                p.outcome.reply = format!("Sorry, I can't do that: {e}.");
                                p.outcome.error = Some(e.to_string());
                                p
                            }
                        }
                    }
                    (u, _) => {
                        let mut p = nlu.plan_understood(text, u, session.clone(), dry_run, &lookup)?;
                        if let (Some(e), None) = (refused, &p.understanding) {
                            p.outcome.reply = format!("Sorry, I can't do that: {e}.");
                            p.outcome.error = Some(e);
                        }
                        p
                    }
                }
            }
        };
        // From the end of speech (voice) or the request (text).
        let base_ms =
            origin.voice.as_ref().map_or(0.0, |v| t0.saturating_duration_since(v.speech_end).as_secs_f64() * 1e3);
        let stage = |stage, data| {
            if !dry_run {
                let ms = base_ms + t0.elapsed().as_secs_f64() * 1e3;
                let session = session.clone();
                self.inner.bus.publish(HubEvent::Pipeline { session, stage, ms, data });
            }
        };
        let data = serde_json::json!({ "intent": out.intent, "source": out.source, "confidence": out.confidence });
        stage(PipelineStage::Intent, data);
        // The slots the language's response reads beyond the request's own.
        let mut extra = None;
        match op {
            Some(hub_skills::HubOp::Timer(op)) => {
                self.apply_timer(op, origin.area.as_deref(), &mut out).await;
                if let (Some(u), Some(answer)) = (&u, &out.answer) {
                    extra = Some(hub_skills::timers::response_slots(&u.intent, answer));
                }
            }
            Some(hub_skills::HubOp::List(op)) => {
                self.apply_list(op, &mut out).await;
                extra = Some(serde_json::Map::new());
            }
            Some(hub_skills::HubOp::Clock(q)) => {
                let now = self.clock().now();
                out.reply = q.reply(&now);
                extra = Some(q.response_slots(&now));
            }
            Some(hub_skills::HubOp::Broadcast(message)) => match self.inner.speaker.get() {
                Some(s) => {
                    s.announce(message, "broadcast");
                    extra = Some(serde_json::Map::new());
                }
                None => {
                    out.reply = "Sorry, this hub has no loudspeaker to broadcast on.".into();
                    out.error = Some("no audio output: [audio] output is none or audio is off".into());
                }
            },
            Some(hub_skills::HubOp::Script(id)) => match self.inner.automations.get() {
                Some(a) if !dry_run => {
                    if let Err(e) = a.trigger(&id, true).await {
                        out.reply = format!("Sorry, {id} did not start: {e}.");
                        out.error = Some(e.to_string());
                    }
                }
                Some(_) => {}
                None => {
                    out.reply = "Sorry, scripts need the automation engine, which is not running.".into();
                    out.error = Some("automations are not running".into());
                }
            },
            None => {}
        }
        if let (Some(u), Some(extra), None) = (&u, extra, &out.error)
            && let Some(r) = nlu.assistant().language_reply_with(u, extra)
        {
            out.reply = r;
        }
        if let (Some(u), false) = (&u, commands.is_empty()) {
            let subject = commands.first().map(|c: &firmware_bridge::DeviceCommand| c.device_id.clone());
            let rows = self.inner.outbox.enqueue_correlated(commands, Some(correlation.clone())).await?;
            out.enqueue_us = t0.elapsed().as_micros() as u64;
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            stage(PipelineStage::Commands, serde_json::json!({ "ids": ids }));
            let deadline = tokio::time::Instant::now() + self.inner.ack_wait;
            let mut failed = Vec::new();
            for r in rows {
                let (id, device_id, topic) = (r.id, r.device_id.clone(), r.topic.clone());
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let status = r.wait(left).await;
                if status != CommandStatus::Acked && !failed.contains(&device_id) {
                    failed.push(device_id.clone());
                }
                out.commands.push(CommandOutcome { id, device_id, topic, status });
            }
            if failed.is_empty() {
                let found = hub_skills::Assistant::with_found_media(u, out.answer.as_ref());
                let u = found.as_ref().unwrap_or(u);
                if let Some(r) = nlu.assistant().language_reply(u, subject.as_deref(), &lookup) {
                    out.reply = r;
                }
            } else {
                out.reply =
                    format!("{} (but {} did not confirm yet)", out.reply.trim_end_matches('.'), failed.join(", "));
            }
        }
        stage(PipelineStage::Reply, serde_json::json!({ "text": out.reply, "error": out.error }));
        out.total_ms = t0.elapsed().as_secs_f64() * 1000.0;
        if !dry_run {
            let modality = origin.modality;
            match modality {
                Modality::Text | Modality::Api => {
                    crate::latency::Latencies::global().record(crate::latency::TEXT, out.total_ms)
                }
                Modality::Voice => crate::latency::Latencies::global().record(crate::latency::VOICE, out.total_ms),
            }
            let understanding = u.as_ref().and_then(|u| serde_json::to_value(u).ok());
            let mut user = store::NewTurn::new(session.clone(), store::Role::User, modality, text);
            if let Some(v) = &origin.voice {
                let mut t = v.timings.clone();
                if out.enqueue_us > 0 {
                    let since_end = t0.saturating_duration_since(v.speech_end).as_secs_f64() * 1000.0;
                    let ms = since_end + out.enqueue_us as f64 / 1000.0;
                    crate::latency::Latencies::global().record(crate::latency::VOICE_ENQUEUE, ms);
                    t.insert("enqueue_ms".into(), serde_json::json!((ms * 10.0).round() / 10.0));
                }
                user.timings = Some(serde_json::Value::Object(t));
                user.audio_path = v.audio_path.clone();
            }
            user.intent = understanding.clone();
            user.area = origin.area.clone();
            user.correlation = Some(correlation.clone());
            let mut assistant =
                store::NewTurn::new(session, store::Role::Assistant, store::Modality::Text, out.reply.clone());
            assistant.intent = understanding;
            assistant.area = origin.area.clone();
            assistant.correlation = Some(correlation);
            assistant.timings = Some(serde_json::json!({
                "enqueue_us": out.enqueue_us,
                "total_ms": out.total_ms,
            }));
            out.turn_ids = self.remember_turns(&[user, assistant]).await.map_err(PipelineError::Store)?;
        }
        Ok(out)
    }
}

impl Pipeline {
    /// Hand a timer intent to the timer task; its reply replaces the plan's.
    async fn apply_timer(&self, op: hub_skills::timers::TimerOp, area: Option<&str>, out: &mut Outcome) {
        let Some(timers) = self.inner.timers.get() else {
            out.reply = "Sorry, timers need the running hub.".into();
            out.error = Some("no timer task in this process".into());
            return;
        };
        match timers.apply(op.heard_in(area)).await {
            Ok(a) => {
                out.reply = a.reply;
                out.answer = Some(a.answer);
            }
            Err(e) => {
                out.reply = e.reply();
                out.error = Some(e.to_string());
            }
        }
    }

    /// Add, check off or remove a list item in SQLite.
    async fn apply_list(&self, op: hub_skills::lists::ListOp, out: &mut Outcome) {
        use hub_skills::lists::ListOp;
        let store = &self.inner.store;
        let done = match &op {
            ListOp::Add { list, item } => store.add_list_item(list, item).await.map(|_| true),
            ListOp::Complete { list, item } => store.complete_list_item(list, item).await,
            ListOp::Remove { list, item } => store.remove_list_item(list, item).await,
        };
        match done {
            Ok(true) => {
                out.reply = op.reply();
                out.answer = Some(serde_json::json!({ "list": op.list(), "item": op.item() }));
            }
            Ok(false) => {
                out.reply = op.not_found_reply();
                out.error = Some(format!("no item `{}` on the list `{}`", op.item(), op.list()));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot change a list");
                out.reply = "Sorry, I can't change the list right now.".into();
                out.error = Some(format!("cannot change the list: {e}"));
            }
        }
    }
}

/// The outcome of a sentence that an automation rule's sentence trigger
/// answered: the rule ran (its commands went through the outbox with its
/// run), the reply is the rule's.
fn sentence_outcome(text: &str, s: crate::automation::SentenceReply, session: String) -> Planned {
    let mut slots = serde_json::Map::new();
    slots.insert("automation".into(), serde_json::Value::String(s.automation_id));
    let outcome = Outcome {
        text: text.to_string(),
        intent: Some("automation_sentence".into()),
        slots,
        entities: Vec::new(),
        confidence: Some(1.0),
        source: None,
        reply: s.reply,
        answer: None,
        commands: Vec::new(),
        error: None,
        session,
        dry_run: false,
        enqueue_us: 0,
        total_ms: 0.0,
        turn_ids: Vec::new(),
    };
    Planned { outcome, understanding: None, commands: Vec::new(), op: None }
}

/// `POST /api/understand` and `hubd understand`: the understanding of a
/// sentence, nothing done. Without a match only `text`, `intent` (null) and
/// `error` are present.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnderstandingDto {
    pub text: String,
    /// A Home Assistant intent name (`HassTurnOn`), null when nothing matched.
    #[schema(value_type = Option<String>)]
    pub intent: Option<hub_skills::Intent>,
    /// Slot values by name (`name`, `area`, `brightness`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub slots: Option<hub_skills::Slots>,
    /// Entity ids the request targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// template, grammar, model or llm.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub source: Option<hub_skills::Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl UnderstandingDto {
    pub fn new(text: &str, u: Option<&Understanding>) -> UnderstandingDto {
        match u {
            Some(u) => UnderstandingDto {
                text: text.to_string(),
                intent: Some(u.intent.clone()),
                slots: Some(u.slots.clone()),
                entities: Some(u.entities.clone()),
                confidence: Some(u.confidence),
                source: Some(u.source),
                error: None,
            },
            None => UnderstandingDto {
                text: text.to_string(),
                intent: None,
                slots: None,
                entities: None,
                confidence: None,
                source: None,
                error: Some(format!("no intent matched `{text}`")),
            },
        }
    }
}

/// JSON for `hubd understand` (the shape of [`UnderstandingDto`]).
pub fn understanding_json(text: &str, u: Option<&Understanding>) -> serde_json::Value {
    serde_json::to_value(UnderstandingDto::new(text, u)).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> (Arc<Registry>, Nlu) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml");
        let cfg = crate::config::Config::load(&path).expect("example config");
        let reg = Arc::new(cfg.registry().expect("registry"));
        (reg.clone(), Nlu::load(reg, "en", None, &[]))
    }

    /// Replies come from the language's response templates when asked, and
    /// only for template matches.
    #[test]
    fn language_replies_from_response_templates() {
        let (_reg, nlu) = demo();
        if nlu.templates().is_none() {
            panic!("home-assistant-intents not installed: run scripts/setup");
        }
        let states = |_: &str| -> Option<DeviceState> { None };
        let u = nlu.understand("turn on the kitchen light", None).expect("understood");
        assert_eq!(nlu.assistant().language_reply(&u, None, &states), None, "off unless configured");
        let nlu = nlu.with_language_responses(true);
        assert_eq!(nlu.assistant().language_reply(&u, None, &states).as_deref(), Some("Turned on the light"));
        let u = nlu.understand("turn off the office fan", None).expect("understood");
        assert_eq!(nlu.assistant().language_reply(&u, None, &states).as_deref(), Some("Turned off the fan"));
        let u = nlu.understand("set the kitchen light brightness to fifty percent", None).expect("understood");
        assert_eq!(u.slots.brightness.as_ref().and_then(|v| v.as_f64()), Some(50.0), "number words: {u:?}");
        assert_eq!(nlu.assistant().language_reply(&u, None, &states).as_deref(), Some("Brightness set"));
    }
}
