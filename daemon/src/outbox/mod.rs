//! The durable command outbox.
//!
//! Life of a command (one row per MQTT message, table `commands`):
//!
//! 1. [`Outbox::enqueue`] encodes each [`DeviceCommand`] once, with
//!    `firmware_bridge::encode` (toggles were resolved to explicit states by
//!    `hub_skills`, so a resend is harmless), and hands the rows to the task,
//!    which inserts them as `pending` in **one committed transaction** per
//!    batch *before* anything is published.
//! 2. The pure [`state::OutboxState`] decides everything else: publish order,
//!    PUBACK -> `sent`, state echo -> `acked`, retries, `failed`, `expired`,
//!    and `superseded` (a newer command to the same device and attribute made
//!    a row stale). Its module doc lists the rules.
//! 3. [`task`] executes its effects: publishes through [`MqttLink`], writes
//!    status changes (one transaction per loop turn) and device states to
//!    SQLite, resolves waiters and publishes [`HubEvent`]s on the bus.
//! 4. At start-up every `pending`/`sent` row is resumed: stale ones are
//!    superseded at once, the rest are published again once the link is up.
//! 5. A graceful stop drains: no new commands are taken, and the task keeps
//!    running (link up) until every open row is finished or the drain
//!    deadline passes; what is left is resumed by the next start.
//!
//! Losing status writes in a crash is safe: the row is resumed and step 4
//! decides again. A status write that fails while hubd runs (the disk is
//! full) is kept and retried on the next loop turn, in order, so the stored
//! rows catch up once space returns; an insert that fails on a full disk
//! refuses its commands with [`OutboxError::StoreFull`].
//!
//! ## Fault hook (tests only)
//! Built with the `fault-injection` cargo feature (the test suite's build;
//! release builds never read it), `HUBD_FAULT=exit_after_insert` aborts the
//! process (like SIGKILL: no destructors, no flush) right after the first
//! insert commits, and `HUBD_FAULT=exit_after_publish` on the first PUBACK of
//! a command, before its echo is seen or its row is marked sent.

pub mod state;
mod task;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use firmware_bridge::{Action, DeviceCommand, DeviceState};
use hub_skills::Registry;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::events::EventBus;
use crate::mqtt::{LinkEvent, MqttLink};
use crate::store::{self, CommandStatus, Store};
pub use state::RowId;

/// Timeouts and batch sizes. Tests use short ones.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Wait this long after a publish for the device's echo before retrying.
    pub ack_timeout: Duration,
    /// Publishes per row before it is `failed`.
    pub max_attempts: u32,
    /// A row never published this long after it was enqueued is `expired`.
    pub expire_after: Duration,
    /// After a (re)connect with resends queued, wait this long (retained
    /// states arrive) before publishing.
    pub resume_settle: Duration,
    /// Most enqueue requests folded into one insert transaction.
    pub batch_max: usize,
    /// On a graceful stop, keep going this long for open rows to finish.
    pub drain: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            ack_timeout: Duration::from_secs(5),
            max_attempts: 3,
            expire_after: Duration::from_secs(120),
            resume_settle: Duration::from_millis(300),
            batch_max: 512,
            drain: Duration::from_secs(3),
        }
    }
}

#[derive(Debug, Error)]
pub enum OutboxError {
    #[error("cannot encode command for `{device}`: {source}")]
    Encode {
        device: String,
        #[source]
        source: firmware_bridge::BridgeError,
    },
    #[error("command for `{0}` is a toggle; resolve it to on/off first (hub_skills::command)")]
    UnresolvedToggle(String),
    #[error("the outbox could not read or write the database")]
    Store(#[source] store::StoreError),
    /// The insert transaction failed (detail logged, not returned to clients).
    #[error("the outbox could not store the command: {0}")]
    Insert(String),
    #[error("the outbox is stopping and takes no new commands")]
    Stopped,
    /// The disk holding the database is full: the command was refused and
    /// nothing of it was stored (the insert transaction rolled back).
    #[error(
        "the command store {} is full (no space left on its disk): the command was refused and nothing was \
         stored; free some space and retry",
        path.display()
    )]
    StoreFull { path: std::path::PathBuf },
}

/// Counters for benchmarks, metrics and the API.
#[derive(Debug, Default)]
pub struct Stats {
    pub enqueued: AtomicU64,
    pub published: AtomicU64,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    pub expired: AtomicU64,
    pub superseded: AtomicU64,
    pub bad_state_payloads: AtomicU64,
}

impl Stats {
    fn count(&self, status: CommandStatus) {
        let c = match status {
            CommandStatus::Pending => return,
            CommandStatus::Sent => &self.sent,
            CommandStatus::Acked => &self.acked,
            CommandStatus::Failed => &self.failed,
            CommandStatus::Expired => &self.expired,
            CommandStatus::Superseded => &self.superseded,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Last known device states, shared read-mostly with the pipeline. Written
/// only by the outbox task (from the state machine's `State` effects).
pub type StateMap = Arc<RwLock<HashMap<String, DeviceState>>>;

/// One enqueued command row; `wait` resolves with its final status.
#[derive(Debug)]
pub struct Enqueued {
    pub id: RowId,
    pub device_id: String,
    pub topic: String,
    pub action: Action,
    done: oneshot::Receiver<CommandStatus>,
}

impl Enqueued {
    /// The final status, or `Pending` if `timeout` passed first (still open).
    pub async fn wait(self, timeout: Duration) -> CommandStatus {
        match tokio::time::timeout(timeout, self.done).await {
            Ok(Ok(f)) => f,
            _ => CommandStatus::Pending,
        }
    }
}

struct NewRow {
    device_id: String,
    topic: String,
    payload: Vec<u8>,
    retain: bool,
    action: Action,
}

struct EnqueueReq {
    rows: Vec<NewRow>,
    correlation: Option<String>,
    reply: oneshot::Sender<Result<Vec<Enqueued>, OutboxError>>,
}

/// Cloneable handle to the outbox task.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<EnqueueReq>,
    devices_tx: mpsc::Sender<Vec<state::DeviceInfo>>,
    link: MqttLink,
    states: StateMap,
    stats: Arc<Stats>,
}

impl Outbox {
    /// Encode and durably enqueue commands. Returns once the rows are
    /// committed (not published).
    pub async fn enqueue(&self, cmds: Vec<DeviceCommand>) -> Result<Vec<Enqueued>, OutboxError> {
        self.enqueue_correlated(cmds, None).await
    }

    /// [`Outbox::enqueue`] with a correlation id shared with the dialogue turn.
    pub async fn enqueue_correlated(
        &self,
        cmds: Vec<DeviceCommand>,
        correlation: Option<String>,
    ) -> Result<Vec<Enqueued>, OutboxError> {
        let mut rows = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            if cmd.action == Action::Toggle {
                return Err(OutboxError::UnresolvedToggle(cmd.device_id));
            }
            let msgs = firmware_bridge::encode(&cmd)
                .map_err(|source| OutboxError::Encode { device: cmd.device_id.clone(), source })?;
            for m in msgs {
                rows.push(NewRow {
                    device_id: cmd.device_id.clone(),
                    topic: m.topic,
                    payload: m.payload,
                    retain: m.retain,
                    action: cmd.action.clone(),
                });
            }
        }
        let (reply, rx) = oneshot::channel();
        self.tx.send(EnqueueReq { rows, correlation, reply }).await.map_err(|_| OutboxError::Stopped)?;
        rx.await.map_err(|_| OutboxError::Stopped)?
    }

    pub fn state(&self, device_id: &str) -> Option<DeviceState> {
        self.states.read().ok().and_then(|m| m.get(device_id).cloned())
    }

    pub fn states(&self) -> StateMap {
        self.states.clone()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn link_connected(&self) -> bool {
        self.link.is_connected()
    }

    /// The registry changed (`hubd reload`): subscribe the new devices'
    /// state topics and match state messages against the new devices.
    pub async fn set_registry(&self, reg: &Registry) -> Result<(), OutboxError> {
        if let Err(e) = self.link.subscribe(&state_topics(reg)) {
            tracing::warn!(error = %e, "a state topic of the reloaded registry was refused");
        }
        self.devices_tx.send(devices(reg)).await.map_err(|_| OutboxError::Stopped)
    }
}

/// State topics of every commandable/observable device in the registry.
pub fn state_topics(reg: &Registry) -> Vec<String> {
    let mut out = Vec::new();
    for d in &reg.devices {
        if let Some(dialect) = &d.dialect {
            for t in firmware_bridge::state_topics(dialect, d.kind) {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

/// The devices the state machine tracks.
fn devices(reg: &Registry) -> Vec<state::DeviceInfo> {
    reg.devices
        .iter()
        .filter_map(|d| {
            d.dialect.as_ref().map(|dialect| state::DeviceInfo {
                id: d.id.clone(),
                kind: d.kind,
                dialect: dialect.clone(),
            })
        })
        .collect()
}

/// What the outbox task needs besides its settings.
pub struct OutboxDeps {
    pub store: Store,
    pub link: MqttLink,
    pub link_events: mpsc::Receiver<LinkEvent>,
    pub bus: EventBus,
    /// Raised to drain and stop (after the producers stopped).
    pub stop: watch::Receiver<bool>,
}

/// Start the outbox task: loads device states and open rows from the store,
/// then consumes link events. On `stop` it drains (bounded) and ends.
pub async fn spawn(
    deps: OutboxDeps,
    registry: &Registry,
    settings: OutboxSettings,
) -> Result<(Outbox, JoinHandle<()>), OutboxError> {
    let OutboxDeps { store, link, link_events, bus, stop } = deps;
    let mut known = HashMap::new();
    for row in store.device_states().await.map_err(OutboxError::Store)? {
        match serde_json::from_value::<DeviceState>(row.state) {
            Ok(st) => {
                known.insert(row.device_id, st);
            }
            Err(e) => tracing::warn!(device = %row.device_id, error = %e, "ignoring unreadable stored device state"),
        }
    }
    let expired = store
        .expire_due(store::now_ms(), "expired before it could be sent (expire_after_s passed while hubd was down)")
        .await
        .map_err(OutboxError::Store)?;
    if !expired.is_empty() {
        tracing::info!(rows = expired.len(), "expired stale commands from the previous run");
    }
    let mut resumed = Vec::new();
    let mut unreadable = Vec::new();
    for r in store.resumable_commands().await.map_err(OutboxError::Store)? {
        match serde_json::from_value::<Action>(r.action.clone()) {
            Ok(Action::Toggle) | Err(_) => unreadable.push(r.id),
            Ok(action) => resumed.push(state::RowSpec {
                id: r.id,
                device_id: r.device_id,
                topic: r.topic,
                payload: r.payload,
                retain: r.retain,
                action,
                attempts: r.attempts,
                expires_at: r.expires_at,
            }),
        }
    }
    for id in unreadable {
        tracing::warn!(id, "open command has an unreadable or unresolved action; marking it failed");
        let _ = store.mark_failed(id, "unreadable or unresolved (toggle) action").await;
    }
    let rules = state::Rules {
        ack_timeout: settings.ack_timeout,
        max_attempts: settings.max_attempts,
        resume_settle: settings.resume_settle,
    };
    let states: StateMap = Arc::new(RwLock::new(known.clone()));
    let sm = state::OutboxState::new(rules, devices(registry), known);
    let (tx, rx) = mpsc::channel(1024);
    let stats = Arc::new(Stats::default());
    let (devices_tx, devices_rx) = mpsc::channel(4);
    let outbox = Outbox { tx, devices_tx, link: link.clone(), states: states.clone(), stats: stats.clone() };
    let task = task::Task::new(sm, store, link, bus, states, stats, settings);
    let handle = tokio::spawn(task.run(resumed, rx, link_events, stop, devices_rx));
    Ok((outbox, handle))
}
