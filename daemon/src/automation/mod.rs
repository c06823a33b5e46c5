//! The automation subsystem: a task that owns the rule engine
//! (`hub_skills::automation::Engine`, pure), feeds it the event bus, MQTT
//! messages on the topics rules listen to, and a clock, and carries out what
//! it answers: commands through the outbox (the one path every command
//! takes), MQTT publications and notifications, and each run's trace into
//! SQLite and onto the bus.
//!
//! [`Automations`] is the cloneable handle (a bounded request channel) the
//! API, the CLI's endpoints and the pipeline's sentence triggers use.

mod clock;
mod task;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use hub_skills::automation::{Engine, RuleInfo};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use clock::Clock;

use crate::events::EventBus;
use crate::mqtt::MqttLink;
use crate::outbox::Outbox;
use crate::store::Store;

/// Where notifications (`notify.<target>`) are published: `hubd/notify/<target>`.
pub const NOTIFY_PREFIX: &str = "hubd/notify";

#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    #[error("{0}")]
    Rejected(String),
    #[error("no automation `{0}`")]
    UnknownRule(String),
    #[error("the automation task has stopped")]
    Stopped,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A rule with its newest run, for `hubd automations` and the API.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    #[serde(flatten)]
    pub info: RuleInfo,
    pub last_run: Option<crate::store::AutomationRun>,
}

/// A sentence trigger's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentenceReply {
    pub automation_id: String,
    pub reply: String,
}

pub(crate) enum Request {
    List(oneshot::Sender<Vec<RuleInfo>>),
    Trigger { id: String, skip_condition: bool, reply: oneshot::Sender<Result<(), String>> },
    SetEnabled { id: String, enabled: bool, reply: oneshot::Sender<Result<(), String>> },
    Sentence { text: String, reply: oneshot::Sender<Option<SentenceReply>> },
    Replace { engine: Box<Engine>, reply: oneshot::Sender<()> },
}

/// Cloneable handle to the automation task.
#[derive(Clone)]
pub struct Automations {
    tx: mpsc::Sender<Request>,
    store: Store,
    /// When each rule's newest commands were committed to the outbox.
    commits: Commits,
}

/// Rule id -> when its newest commands were committed (benchmarks measure
/// from an event on the bus to this instant).
pub(crate) type Commits = Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>;

impl Automations {
    /// When `rule`'s newest commands were committed to the outbox.
    pub fn last_commit(&self, rule: &str) -> Option<std::time::Instant> {
        self.commits.lock().ok().and_then(|m| m.get(rule).copied())
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T, AutomationError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| AutomationError::Stopped)?;
        rx.await.map_err(|_| AutomationError::Stopped)
    }

    /// The rules (no store query).
    pub async fn rules(&self) -> Result<Vec<RuleInfo>, AutomationError> {
        self.ask(Request::List).await
    }

    /// The rules with their newest runs.
    pub async fn list(&self) -> Result<Vec<RuleView>, AutomationError> {
        let rules = self.rules().await?;
        let mut last = self.store.last_automation_runs().await?;
        Ok(rules.into_iter().map(|info| RuleView { last_run: last.remove(&info.id), info }).collect())
    }

    /// Run a rule by hand (conditions skipped unless `skip_condition` is false).
    pub async fn trigger(&self, id: &str, skip_condition: bool) -> Result<(), AutomationError> {
        let rule = id.to_string();
        self.ask(|reply| Request::Trigger { id: rule, skip_condition, reply })
            .await?
            .map_err(|_| AutomationError::UnknownRule(id.to_string()))
    }

    /// Enable or disable a rule; persisted, so it survives restarts.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), AutomationError> {
        let rule = id.to_string();
        self.ask(|reply| Request::SetEnabled { id: rule, enabled, reply })
            .await?
            .map_err(|_| AutomationError::UnknownRule(id.to_string()))
    }

    /// If a rule's sentence trigger matches `text`, run it and return its reply.
    pub async fn sentence(&self, text: &str) -> Option<SentenceReply> {
        let text = text.to_string();
        self.ask(|reply| Request::Sentence { text, reply }).await.ok().flatten()
    }

    /// Replace the rules (`hubd reload`): running runs are cancelled, the
    /// persisted enable/disable switches are applied to the new rules.
    pub async fn replace(&self, engine: Engine) -> Result<(), AutomationError> {
        self.ask(|reply| Request::Replace { engine: Box::new(engine), reply }).await
    }
}

/// What the task needs.
pub struct Deps {
    pub registry: crate::reload::SharedRegistry,
    pub outbox: Outbox,
    pub store: Store,
    pub bus: EventBus,
    pub link: MqttLink,
    pub clock: Clock,
    /// Says `assist_satellite.announce` messages (`[audio] output`).
    pub speaker: Option<crate::speech::Speaker>,
    pub stop: watch::Receiver<bool>,
}

/// Start the task with `engine`'s rules (switches persisted by
/// `enable`/`disable` applied on top).
pub async fn spawn(engine: Engine, deps: Deps) -> Result<(Automations, JoinHandle<()>), AutomationError> {
    let (tx, rx) = mpsc::channel(64);
    let commits = Commits::default();
    let handle = Automations { tx, store: deps.store.clone(), commits: commits.clone() };
    let task = task::Task::new(engine, deps, commits).await?;
    Ok((handle, tokio::spawn(task.run(rx))))
}
