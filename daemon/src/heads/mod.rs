//! The multi-task heads as a stage of understanding (`[nlu] heads`): after
//! the templates, before the LLM. One pass of MiniLM, whose layers were
//! fine-tuned with the heads, gives the intent (with the domain its
//! phrasing fixes) and the slot spans; when the calibrated
//! confidence clears the threshold trained with the heads, the spans become
//! a tool call ([`hub_skills::tools::call_from_spans`]) that the registry
//! check of [`hub_skills::tools::Toolbox`] accepts or refuses, exactly as
//! an LLM's call would be. `source` is `model`.
//!
//! [`HeadsService`] is a model service: one thread owns the encoder and the
//! current heads; requests come over a bounded channel. Training runs on
//! another thread with its own encoder, at start when the checkpoint beside
//! the database is missing or was trained on another registry, and again
//! whenever a reload changes the registry; the new heads are swapped in
//! when it finishes. Until then the stage declines and the next one answers.
pub mod natural;
pub mod train;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hub_model::bert::SentenceEncoder;
use hub_model::heads::{HeadsError, HeadsOutput, MultiTaskHeads, NONE_INTENT};
use hub_skills::intent::{Intent, Source};
use hub_skills::tools::{Said, Toolbox, call_from_spans, moves_sensitive, place_reaches, values_said};
use hub_skills::{Registry, Understanding};
use tokio::sync::{mpsc, oneshot};

use crate::pipeline::Nlu;
use train::{HeadsMeta, Plan};

/// What the heads read in one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub intent: String,
    pub domain: Option<String>,
    /// Calibrated (temperature-scaled) probability of the intent.
    pub confidence: f32,
    pub threshold: f32,
    /// `(slot, the words)` in text order.
    pub slots: Vec<(String, String)>,
    /// The likeliest intents, most likely first, until they hold
    /// [`SHORTLIST_MASS`] of the probability (at most [`SHORTLIST_LEN`];
    /// never `none`): what the LLM may choose from when the heads are not
    /// sure enough to act ([`crate::llm_tools::ToolCaller::understand_among`]).
    pub shortlist: Vec<String>,
    /// The likeliest intents and the reading as each ([`Reading::in_home`]
    /// picks among them); the first is this reading's own.
    pub alternatives: Vec<Alternative>,
    /// This reading uses every number and colour the request says and, for
    /// a question, changes nothing ([`fits_said`]); the heads do not act on
    /// one that leaves a value unused ("put the lamp on green" read as
    /// "turn on the lamp") or switches what was asked about.
    pub fits_said: bool,
}

/// One intent a reading may be, with its slots read as that intent's.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    pub intent: String,
    pub domain: Option<String>,
    /// Calibrated probability.
    pub confidence: f32,
    pub slots: Vec<(String, String)>,
    /// The slots hold every slot type each training sentence of the intent
    /// had ([`MultiTaskHeads::complete`]).
    pub complete: bool,
    /// Every number and colour the request says lies in one of its slots,
    /// and a question is read as an intent that changes nothing
    /// ([`fits_said`]): "open the curtains halfway" read as "open the
    /// curtains" leaves "halfway" unused; "is the coffee machine running"
    /// read as "turn it off" does not answer it.
    pub fits_said: bool,
}

impl Alternative {
    /// Whether this home can carry it out: complete, fitting what the
    /// request says ([`fits_said`]), and, where it targets an area or floor
    /// rather than a device, something there is of the kind it acts on
    /// ([`place_reaches`]).
    pub fn fits(&self, reg: &Registry) -> bool {
        if !self.complete || !self.fits_said {
            return false;
        }
        if self.intent == NONE_INTENT {
            return true;
        }
        place_reaches(reg, &call_from_spans(reg, &self.intent, self.domain.as_deref(), &self.slots))
    }
}

/// What the heads' stage makes of one reading ([`Reading::answer`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// [`decide`]'s answer.
    pub understood: Result<Option<Understanding>, String>,
    /// [`Reading::not_home`]: the LLM is not asked.
    pub not_home: bool,
    /// The intents the LLM may choose from (every tool when empty).
    pub llm_intents: Vec<String>,
}

impl Answer {
    /// No reading (no heads, or they failed): the next stage answers, from
    /// every tool.
    pub fn declined() -> Answer {
        Answer { understood: Ok(None), not_home: false, llm_intents: Vec::new() }
    }
}

/// The weight of a reading this home cannot carry out against one it can
/// ([`Reading::in_home`]).
pub const UNFIT: f32 = 0.25;

/// The probability the heads' shortlist covers.
pub const SHORTLIST_MASS: f32 = 0.9;
/// The most intents on the shortlist.
pub const SHORTLIST_LEN: usize = 3;

/// The shortlist of `probs` over `labels` (`intent` or `intent:domain`).
pub fn shortlist(labels: &[String], probs: &[f32]) -> Vec<String> {
    let n = probs.len().min(labels.len());
    let (mut out, mut mass) = (Vec::<String>::new(), 0.0);
    for i in hub_model::heads::top_k(&probs[..n], n) {
        if mass >= SHORTLIST_MASS || out.len() == SHORTLIST_LEN {
            break;
        }
        mass += probs[i];
        let (intent, _) = train::split_label(&labels[i]);
        if intent != NONE_INTENT && !out.iter().any(|o| o == intent) {
            out.push(intent.to_string());
        }
    }
    out
}

impl Reading {
    /// The likeliest reading once the home is taken into account: an
    /// alternative this home cannot carry out ([`Alternative::fits`]) is
    /// [`UNFIT`] times as likely as the heads say (people do ask for what
    /// the house lacks, and the registry check then says so, but less
    /// often than for what it has). "hall 66" read a little more as a
    /// position than as a brightness is a brightness where the hall has a
    /// light and no cover; "the hall temperature to 23" stays a
    /// temperature. The confidence is renormalised over the weighted
    /// alternatives and the probability outside them.
    pub fn in_home(self, reg: &Registry) -> Reading {
        let weighted: Vec<f32> =
            self.alternatives.iter().map(|a| a.confidence * if a.fits(reg) { 1.0 } else { UNFIT }).collect();
        let listed: f32 = self.alternatives.iter().map(|a| a.confidence).sum();
        let total = weighted.iter().sum::<f32>() + (1.0 - listed).max(0.0);
        let best = (0..weighted.len()).fold(0, |b, k| if weighted[k] > weighted[b] { k } else { b });
        let Some(a) = self.alternatives.get(best).filter(|_| total > 0.0).cloned() else { return self };
        let confidence = (weighted[best] / total).min(1.0);
        Reading { intent: a.intent, domain: a.domain, confidence, slots: a.slots, fits_said: a.fits_said, ..self }
    }

    /// Over the threshold, about the home, and fitting what was said
    /// ([`fits_said`]: every value used; a question read as asking).
    pub fn confident(&self) -> bool {
        self.confidence >= self.threshold && self.intent != NONE_INTENT && self.fits_said
    }

    /// Over the threshold that the text is not about the home (chit-chat,
    /// general questions): the text branch's gate before the LLM, whose
    /// only output is a call to one of the home's tools.
    pub fn not_home(&self) -> bool {
        self.confidence >= self.threshold && self.intent == NONE_INTENT
    }

    /// The heads' stage for this reading of `text`, as the pipeline and the
    /// natural-set evaluation run it: the reading's call is built and
    /// checked for locks, doors and gates once, for both [`decide`] and the
    /// LLM's choice of tools.
    pub fn answer(&self, text: &str, reg: &Registry) -> Answer {
        let call = self.call(reg);
        let sensitive = moves_sensitive(reg, &call);
        Answer {
            understood: decide(self, &call, sensitive, text, reg),
            not_home: self.not_home(),
            llm_intents: self.llm_intents(sensitive),
        }
    }

    /// The intents the LLM may choose from after this reading: the
    /// shortlist, or every tool (empty) where the reading could reach a
    /// lock, door or gate (`sensitive`: its call could). Narrowed to on and
    /// off, a small model asked to "lock up the front door" picked off, and
    /// unlocked it; among every tool it is no likelier to than before the
    /// heads were there.
    fn llm_intents(&self, sensitive: bool) -> Vec<String> {
        let door_words = |w: &str| ["door", "gate", "garage"].iter().any(|d| w.to_lowercase().contains(d));
        let lockish = sensitive
            || self.domain.as_deref() == Some("lock")
            || self.slots.iter().any(|(slot, w)| slot == "device_class" && door_words(w));
        if lockish { Vec::new() } else { self.shortlist.clone() }
    }

    /// The reading as a tool call, in the registry's spelling.
    pub fn call(&self, reg: &Registry) -> serde_json::Value {
        call_from_spans(reg, &self.intent, self.domain.as_deref(), &self.slots)
    }

    /// `call` (from [`Reading::call`]) checked against the registry as an
    /// LLM's call would be: the heads' understanding.
    pub fn understanding(
        &self,
        text: &str,
        call: &serde_json::Value,
        reg: &Registry,
    ) -> Result<Option<Understanding>, hub_skills::tools::ToolError> {
        Toolbox::new(reg).understand_as(text, call, reg, Source::Model, self.confidence)
    }
}

/// `/api/status` and `hubd status`: where the heads are.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HeadsStatus {
    /// `loading`, `training`, `ready`, `failed` or `stopped`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<HeadsMeta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Requests the heads answered (over the threshold and accepted by the
    /// registry check) and declined (below it, `none`, or refused).
    pub answered: u64,
    pub declined: u64,
}

enum Msg {
    Read {
        text: String,
        reply: oneshot::Sender<Result<Option<Reading>, HeadsError>>,
    },
    /// The search's embeddings, from this thread's encoder
    /// ([`crate::search::EmbedService::sharing`]).
    Embed {
        texts: Vec<String>,
        reply: crate::search::EmbedReply,
    },
    Swap(Box<(MultiTaskHeads, HeadsMeta)>),
    Stop,
}

/// Where the encoder and the checkpoint are.
#[derive(Debug, Clone)]
pub struct HeadsPaths {
    pub encoder: PathBuf,
    /// The database's directory: `heads.safetensors` and `heads.json` go here.
    pub dir: PathBuf,
}

/// Cloneable handle to the heads worker.
#[derive(Clone)]
pub struct HeadsService {
    tx: mpsc::Sender<Msg>,
    status: Arc<Mutex<HeadsStatus>>,
    paths: HeadsPaths,
    plan: Arc<Plan>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    training: Arc<Mutex<Option<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl HeadsService {
    /// Start the worker: load the encoder and, if it is there, the
    /// checkpoint. Call [`HeadsService::refresh`] with the NLU to train
    /// when the checkpoint is missing or stale.
    pub fn spawn(paths: HeadsPaths, plan: Plan) -> HeadsService {
        let (tx, rx) = mpsc::channel(32);
        let status = Arc::new(Mutex::new(HeadsStatus { state: "loading", ..HeadsStatus::default() }));
        let (st, p) = (status.clone(), paths.clone());
        let thread = std::thread::Builder::new().name("heads".into()).spawn(move || worker(p, rx, st));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                let mut s = lock(&status);
                (s.state, s.error) = ("failed", Some(format!("starting the heads thread: {e}")));
                None
            }
        };
        HeadsService {
            tx,
            status,
            paths,
            plan: Arc::new(plan),
            thread: Arc::new(Mutex::new(thread)),
            training: Arc::new(Mutex::new(None)),
        }
    }

    pub fn status(&self) -> HeadsStatus {
        lock(&self.status).clone()
    }

    /// The heads' reading of `text`; `None` while no heads are loaded.
    pub async fn read(&self, text: &str) -> Result<Option<Reading>, HeadsError> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Read { text: text.to_string(), reply }).await.is_err() {
            return Ok(None);
        }
        rx.await.unwrap_or(Ok(None))
    }

    /// Queue an embedding on this thread's encoder; false once stopped.
    pub(crate) async fn send_embed(&self, texts: Vec<String>, reply: crate::search::EmbedReply) -> bool {
        self.tx.send(Msg::Embed { texts, reply }).await.is_ok()
    }

    /// Count one request the stage answered or declined.
    pub fn count(&self, answered: bool) {
        let mut s = lock(&self.status);
        if answered { s.answered += 1 } else { s.declined += 1 }
    }

    /// Train in the background if the heads were not trained on this
    /// registry and language (at start, and after a reload). A change
    /// during a training starts another at once; the older one's result is
    /// dropped when it ends.
    pub fn refresh(&self, nlu: Arc<Nlu>) {
        let Some(templates) = nlu.templates() else {
            let mut s = lock(&self.status);
            if s.meta.is_none() {
                (s.state, s.error) = ("failed", Some("no sentence templates to train on".into()));
            }
            return;
        };
        // The tuned layers belong to one encoder's weights (hashed once).
        let encoder = crate::services::encoder_identity(&self.paths.encoder).unwrap_or_default();
        let want = train::fingerprint(nlu.registry(), templates.language(), &encoder);
        if lock(&self.status).meta.as_ref().is_some_and(|m| m.fingerprint == want) {
            return;
        }
        // A checkpoint on disk for this registry: the worker loads it.
        if let Ok(Some(meta)) = train::load_meta(&self.paths.dir)
            && meta.fingerprint == want
        {
            return;
        }
        {
            let mut t = lock(&self.training);
            if t.as_deref() == Some(want.as_str()) {
                return;
            }
            *t = Some(want.clone());
        }
        lock(&self.status).state = "training";
        let me = self.clone();
        let spawned = std::thread::Builder::new().name("heads-train".into()).spawn(move || {
            let out =
                SentenceEncoder::load(&me.paths.encoder, tch::Device::Cpu).map_err(HeadsError::from).and_then(|enc| {
                    let templates = nlu.templates().ok_or_else(|| HeadsError::Train("no sentence templates".into()))?;
                    train::train(&enc, templates, nlu.registry(), &me.plan, now_ms())
                });
            // A newer registry superseded this training: its result is
            // dropped, neither saved nor swapped in.
            let mut current = lock(&me.training);
            if current.as_deref() != Some(want.as_str()) {
                tracing::debug!("heads training superseded by a newer registry");
                return;
            }
            let out = out.and_then(|t| train::save(&me.paths.dir, &t).map(|_| t));
            match out {
                Ok(t) => {
                    tracing::info!(
                        held_out_intent_accuracy = t.meta.held_out_intent_accuracy,
                        held_out_slot_f1 = t.meta.held_out_slot_f1,
                        threshold = t.meta.threshold,
                        seconds = t.meta.seconds,
                        "heads trained"
                    );
                    let _ = me.tx.blocking_send(Msg::Swap(Box::new((t.heads, t.meta))));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "training the heads failed");
                    let mut s = lock(&me.status);
                    (s.state, s.error) = ("failed", Some(format!("training: {e}")));
                }
            }
            current.take();
        });
        if let Err(e) = spawned {
            let mut s = lock(&self.status);
            (s.state, s.error) = ("failed", Some(format!("starting training: {e}")));
            lock(&self.training).take();
        }
    }

    /// Stop the worker and join it before `until`.
    pub async fn shutdown(&self, until: tokio::time::Instant) {
        let _ = self.tx.send(Msg::Stop).await;
        let Some(thread) = lock(&self.thread).take() else { return };
        let join = tokio::task::spawn_blocking(move || thread.join());
        if tokio::time::timeout_at(until, join).await.is_err() {
            tracing::warn!("heads worker still busy at the shutdown deadline");
        }
        lock(&self.status).state = "stopped";
    }
}

fn worker(paths: HeadsPaths, mut rx: mpsc::Receiver<Msg>, status: Arc<Mutex<HeadsStatus>>) {
    use crate::search::{EmbedError, embed_with};
    let loaded = SentenceEncoder::load(&paths.encoder, tch::Device::Cpu).map_err(|e| e.to_string()).and_then(|enc| {
        let id = crate::services::encoder_identity(&paths.encoder).map_err(|e| e.to_string())?;
        Ok((enc, Arc::<str>::from(id)))
    });
    let (encoder, model) = match loaded {
        Ok(e) => e,
        Err(e) => {
            let e = format!("loading the encoder from {}: {e}", paths.encoder.display());
            let mut s = lock(&status);
            (s.state, s.error) = ("failed", Some(e.clone()));
            drop(s);
            // Answer `None` (and no embedding) to every request until stopped.
            while let Some(m) = rx.blocking_recv() {
                match m {
                    Msg::Read { reply, .. } => drop(reply.send(Ok(None))),
                    Msg::Embed { reply, .. } => drop(reply.send(Err(EmbedError::Unavailable(e.clone())))),
                    Msg::Stop => return,
                    Msg::Swap(_) => {}
                }
            }
            return;
        }
    };
    let mut current = load_existing(&paths.dir, &encoder, &status);
    while let Some(m) = rx.blocking_recv() {
        match m {
            Msg::Read { text, reply } => {
                let out = match &current {
                    Some((heads, meta)) => read_text(&encoder, heads, meta, &text).map(Some),
                    None => Ok(None),
                };
                let _ = reply.send(out);
            }
            Msg::Embed { texts, reply } => drop(reply.send(embed_with(&encoder, &model, &texts))),
            Msg::Swap(b) => {
                let (heads, meta) = *b;
                let mut s = lock(&status);
                (s.state, s.meta, s.error) = ("ready", Some(meta.clone()), None);
                current = Some((heads, meta));
            }
            Msg::Stop => return,
        }
    }
}

fn load_existing(
    dir: &Path,
    encoder: &SentenceEncoder,
    status: &Mutex<HeadsStatus>,
) -> Option<(MultiTaskHeads, HeadsMeta)> {
    let mut s = lock(status);
    match train::load(dir, encoder) {
        Ok(Some((heads, meta))) => {
            (s.state, s.meta) = ("ready", Some(meta.clone()));
            Some((heads, meta))
        }
        Ok(None) => {
            if s.state == "loading" {
                s.state = "training";
            }
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "the heads checkpoint does not load; retraining");
            (s.state, s.error) = ("training", Some(format!("checkpoint: {e}")));
            None
        }
    }
}

/// The stage's answer for one reading: the checked understanding when the
/// heads are confident and the registry check accepts their call; `Err`
/// (the reply to speak) when they are confident and the call names
/// something this home lacks or a lock the user did not name. A reading
/// without a target, or with arguments that do not go together, is the
/// heads' own mistake: `Ok(None)`, and the next stage answers; so is any
/// action that could move a lock, door or gate.
/// `call` is the reading's ([`Reading::call`]), `sensitive` whether it
/// could move a lock, door or gate ([`moves_sensitive`]).
fn decide(
    r: &Reading,
    call: &serde_json::Value,
    sensitive: bool,
    text: &str,
    reg: &Registry,
) -> Result<Option<Understanding>, String> {
    use hub_skills::tools::ToolError;
    if !r.confident() {
        return Ok(None);
    }
    // A classifier's on/off mistake must not unlock a door: actions that
    // could move a lock, door or gate are left to the templates and the LLM.
    let action = matches!(r.intent.as_str(), "HassTurnOn" | "HassTurnOff" | "HassToggle" | "HassSetPosition");
    if action && sensitive {
        return Ok(None);
    }
    match r.understanding(text, call, reg) {
        Ok(u) => Ok(u),
        Err(e @ (ToolError::NotInHome { .. } | ToolError::NotNamed { .. })) => Err(e.to_string()),
        Err(_) => Ok(None),
    }
}

/// One pass of the heads' encoder layers and both heads over `text`
/// ([`MultiTaskHeads::classify`]), the intent's confidence temperature-scaled.
/// [`Reading::in_home`] then picks the alternative the home can carry out.
pub fn read_text(
    encoder: &SentenceEncoder,
    heads: &MultiTaskHeads,
    meta: &HeadsMeta,
    text: &str,
) -> Result<Reading, HeadsError> {
    let out = heads.classify(encoder, &[text])?.pop().ok_or_else(|| HeadsError::Labels("no output row".into()))?;
    Ok(reading(heads, &out, said(&meta.language, text).as_ref(), meta.temperature, meta.threshold))
}

/// What a request in `language` says of numbers and colours, where the
/// heads' readings are checked against it (English: [`values_said`]).
pub fn said(language: &str, text: &str) -> Option<Said> {
    hub_skills::templates::is_english(language).then(|| values_said(text))
}

/// The slot types whose words are a value.
const VALUE_SLOTS: [&str; 7] = ["brightness", "color", "position", "temperature", "hours", "minutes", "seconds"];

/// Whether a reading as `intent` with `slots` fits what the request says
/// (`said`; `None`: not checked). Every number and colour in it lies in one
/// of `slots`: a value slot, or a name, area or floor with a word that is
/// not a value ("lamp 2"; "green" tagged as an area is not one). A question
/// ([`Said::asks`]) is read as an intent that changes nothing
/// ([`Intent::asks`]). `none` always fits (the request is not about the home).
pub fn fits_said(said: Option<&Said>, intent: &str, slots: &[(String, String)]) -> bool {
    let Some(said) = said.filter(|_| intent != NONE_INTENT) else { return true };
    if said.asks && !Intent::from_name(intent).asks() {
        return false;
    }
    let no_value = |w: &str| {
        let s = values_said(w);
        s.numbers.is_empty() && s.colors.is_empty()
    };
    let mut inside = Said::default();
    for (slot, words) in slots {
        if !VALUE_SLOTS.contains(&slot.as_str()) && !words.split_whitespace().any(no_value) {
            continue;
        }
        let s = values_said(words);
        inside.numbers.extend(s.numbers);
        inside.colors.extend(s.colors);
    }
    said.numbers.is_subset(&inside.numbers) && said.colors.is_subset(&inside.colors)
}

/// `out` as a [`Reading`], its probabilities at `temperature`; `said` is
/// the request's values ([`said`]).
pub fn reading(
    heads: &MultiTaskHeads,
    out: &HeadsOutput,
    said: Option<&Said>,
    temperature: f32,
    threshold: f32,
) -> Reading {
    let probs = train::temper(&out.intent_probs, temperature);
    let spans = |slots: &[hub_model::heads::SlotSpan]| -> Vec<(String, String)> {
        slots.iter().map(|s| (s.slot.clone(), s.text.clone())).collect()
    };
    let alternatives: Vec<Alternative> = (out.alternatives.iter())
        .map(|a| {
            let (intent, domain) = train::split_label(heads.intents().get(a.intent_index).map_or("", String::as_str));
            let slots = spans(&a.slots);
            Alternative {
                intent: intent.to_string(),
                domain: domain.map(str::to_string),
                confidence: probs.get(a.intent_index).copied().unwrap_or(0.0),
                fits_said: fits_said(said, intent, &slots),
                slots,
                complete: heads.complete(a.intent_index, &a.slots),
            }
        })
        .collect();
    let (intent, domain) = train::split_label(&out.intent);
    Reading {
        intent: intent.to_string(),
        domain: domain.map(str::to_string),
        confidence: probs.get(out.intent_index).copied().unwrap_or(0.0),
        threshold,
        slots: spans(&out.slots),
        shortlist: shortlist(heads.intents(), &probs),
        fits_said: alternatives.first().is_none_or(|a| a.fits_said),
        alternatives,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortlist_holds_the_likeliest_intents_without_none() {
        let labels: Vec<String> =
            ["HassTurnOn:light", "HassTurnOn:fan", "none", "HassTurnOff", "HassGetState"].map(String::from).into();
        // 0.5 + 0.3 + 0.15: the domains fold into one intent, `none` is left out.
        assert_eq!(shortlist(&labels, &[0.5, 0.3, 0.15, 0.04, 0.01]), ["HassTurnOn"]);
        assert_eq!(shortlist(&labels, &[0.3, 0.02, 0.08, 0.35, 0.25]), ["HassTurnOff", "HassTurnOn", "HassGetState"]);
        // A sure reading is a shortlist of one.
        assert_eq!(shortlist(&labels, &[0.01, 0.0, 0.0, 0.98, 0.01]), ["HassTurnOff"]);
        assert!(shortlist(&labels, &[0.0, 0.0, 1.0, 0.0, 0.0]).is_empty());
    }

    fn alt(intent: &str, domain: Option<&str>, confidence: f32, slots: &[(&str, &str)], complete: bool) -> Alternative {
        Alternative {
            intent: intent.into(),
            domain: domain.map(String::from),
            confidence,
            slots: slots.iter().map(|(s, w)| (s.to_string(), w.to_string())).collect(),
            complete,
            fits_said: true,
        }
    }

    fn read_as(alternatives: Vec<Alternative>) -> Reading {
        let first = alternatives[0].clone();
        Reading {
            intent: first.intent,
            domain: first.domain,
            confidence: first.confidence,
            threshold: 0.7,
            slots: first.slots,
            shortlist: Vec::new(),
            fits_said: first.fits_said,
            alternatives,
        }
    }

    /// The reading is the likeliest one the home can carry out.
    #[test]
    fn a_reading_the_home_cannot_carry_out_gives_way_to_the_next() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml");
        let reg = crate::config::Config::load(&path).expect("example config").registry().expect("registry");
        // "hallway 66": the hallway has a light and no cover.
        let r = read_as(vec![
            alt("HassSetPosition", None, 0.6, &[("area", "hallway"), ("position", "66")], true),
            alt("HassLightSet", None, 0.35, &[("area", "hallway"), ("brightness", "66")], true),
        ])
        .in_home(&reg);
        assert_eq!((r.intent.as_str(), r.slots[1].0.as_str()), ("HassLightSet", "brightness"));
        let expected = 0.35 / (0.6 * UNFIT + 0.35 + 0.05);
        assert!((r.confidence - expected).abs() < 1e-6, "{} != {expected}", r.confidence);
        // In the bedroom, with its curtains, the position stands.
        let r = read_as(vec![
            alt("HassSetPosition", None, 0.6, &[("area", "bedroom"), ("position", "66")], true),
            alt("HassLightSet", None, 0.35, &[("area", "bedroom"), ("brightness", "66")], true),
        ])
        .in_home(&reg);
        assert_eq!((r.intent.as_str(), r.confidence), ("HassSetPosition", 0.6));
        // A sure request for what the hallway lacks stays what was asked
        // (the registry check says there is no thermostat there).
        let r = read_as(vec![
            alt("HassClimateSetTemperature", None, 0.95, &[("area", "hallway"), ("temperature", "23")], true),
            alt("HassLightSet", None, 0.04, &[("area", "hallway"), ("brightness", "23")], true),
        ])
        .in_home(&reg);
        assert_eq!(r.intent, "HassClimateSetTemperature");
        assert!(r.confidence < 0.95, "less sure than the heads alone: {}", r.confidence);
        // "turn on {name}" read without a name: the porch's lights.
        let r = read_as(vec![
            alt("HassTurnOn", None, 0.5, &[("area", "porch")], false),
            alt("HassTurnOn", Some("light"), 0.3, &[("area", "porch")], true),
        ])
        .in_home(&reg);
        assert_eq!(r.domain.as_deref(), Some("light"));
        // A named device decides.
        let named = vec![alt("HassSetPosition", None, 0.6, &[("name", "Hallway Light"), ("position", "5")], true)];
        assert_eq!(read_as(named.clone()).in_home(&reg), read_as(named));
        // "open the curtains halfway" read as "open the curtains" leaves
        // the half unused: the position is set.
        let text = "open the curtains halfway";
        let opened = [("name", "curtains")];
        let to_half = [("name", "curtains"), ("position", "halfway")];
        let said = said("en", text);
        let alts = [("HassTurnOn", 0.6, &opened[..]), ("HassSetPosition", 0.3, &to_half[..])].map(|(i, p, slots)| {
            let mut a = alt(i, None, p, slots, true);
            a.fits_said = fits_said(said.as_ref(), i, &a.slots);
            a
        });
        assert_eq!(alts.clone().map(|a| a.fits_said), [false, true]);
        let r = read_as(alts.clone().into()).in_home(&reg);
        assert_eq!(r.intent, "HassSetPosition");
        assert!(r.fits_said, "{r:?}");
        // Alone, a sure reading that leaves the value unused is not acted on.
        let sure = Alternative { confidence: 0.97, ..alts[0].clone() };
        let r = read_as(vec![sure]).in_home(&reg);
        assert!(r.confidence > r.threshold, "{r:?}");
        assert_eq!((r.intent.as_str(), r.confident()), ("HassTurnOn", false), "{r:?}");
    }

    /// The numbers and colours a request says, against a reading's slots.
    #[test]
    fn a_reading_fits_the_values_and_the_question_the_request_says() {
        let slots = |s: &[(&str, &str)]| -> Vec<(String, String)> {
            s.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
        };
        let uses =
            |text: &str, intent: &str, s: &[(&str, &str)]| fits_said(said("en", text).as_ref(), intent, &slots(s));
        assert!(uses("set the lounge to 40 %", "HassLightSet", &[("area", "lounge"), ("brightness", "40")]));
        assert!(!uses("set the lounge to 40 %", "HassTurnOn", &[("area", "lounge")]));
        assert!(uses("put the lamp on green", "HassLightSet", &[("name", "lamp"), ("color", "green")]));
        assert!(!uses("put the lamp on green", "HassTurnOn", &[("name", "lamp")]));
        assert!(uses("timer for twenty one minutes", "HassStartTimer", &[("minutes", "twenty one")]));
        // A number in a device's name is the name's; a value tagged as a
        // place is not a place.
        assert!(uses("turn on lamp 2", "HassTurnOn", &[("name", "lamp 2")]));
        assert!(!uses("put the lamp on green", "HassTurnOn", &[("name", "lamp"), ("area", "green")]));
        assert!(!uses("hall 66", "HassTurnOn", &[("area", "hall"), ("name", "66")]));
        // Nothing said, nothing to use; `none` takes the request whole.
        assert!(uses("turn on the lamp", "HassTurnOn", &[]));
        assert!(uses("convert ten miles to kilometres", NONE_INTENT, &[]));
        // A question is answered, not acted on.
        let coffee = [("name", "coffee machine")];
        assert!(uses("is the coffee machine running", "HassGetState", &coffee));
        assert!(!uses("is the coffee machine running", "HassTurnOff", &coffee));
        assert!(uses("is the coffee machine running", NONE_INTENT, &[]));
        assert!(uses("could the coffee machine be started", "HassTurnOn", &coffee));
        // Other languages are not checked.
        assert!(fits_said(said("de", "auf 40 %").as_ref(), "HassTurnOn", &[]));
    }

    /// Where a reading could reach a lock, door or gate, the LLM keeps
    /// every tool.
    #[test]
    fn the_llm_keeps_every_tool_near_a_lock() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml");
        let reg = crate::config::Config::load(&path).expect("example config").registry().expect("registry");
        let reading = |domain: Option<&str>, slots: &[(&str, &str)]| Reading {
            intent: "HassTurnOff".into(),
            domain: domain.map(String::from),
            confidence: 0.5,
            threshold: 0.7,
            slots: slots.iter().map(|(s, w)| (s.to_string(), w.to_string())).collect(),
            shortlist: vec!["HassTurnOff".into(), "HassTurnOn".into()],
            alternatives: Vec::new(),
            fits_said: true,
        };
        let narrowed = ["HassTurnOff", "HassTurnOn"];
        assert_eq!(reading(None, &[("name", "kitchen light")]).answer("", &reg).llm_intents, narrowed);
        assert_eq!(reading(Some("light"), &[("area", "kitchen")]).answer("", &reg).llm_intents, narrowed);
        assert!(reading(None, &[("name", "front door lock")]).answer("", &reg).llm_intents.is_empty());
        assert!(reading(None, &[("name", "front door")]).answer("", &reg).llm_intents.is_empty());
        assert!(reading(Some("lock"), &[]).answer("", &reg).llm_intents.is_empty());
        assert!(reading(Some("cover"), &[("device_class", "garage door")]).answer("", &reg).llm_intents.is_empty());
    }
}
