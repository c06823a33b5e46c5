//! The durable command outbox.
//!
//! Life of a command (one row per MQTT message, table `commands`):
//!
//! 1. [`Outbox::enqueue`] resolves toggles to explicit on/off (so a resend is
//!    harmless), encodes with `firmware_bridge::encode`, and hands the rows to
//!    the outbox task, which inserts them as `pending` in **one committed
//!    transaction** per batch (all enqueues waiting at that moment) *before*
//!    anything is published.
//! 2. The task publishes QoS 1 through [`MqttLink::try_publish`] without
//!    waiting for each PUBACK (pipelined up to rumqttc's in-flight window).
//! 3. PUBACK -> `sent`. A state echo from the device that
//!    [`DeviceState::satisfies`] the action -> `acked` (older published rows of
//!    the same device are acked with it: the device has moved past them).
//!    Devices without state topics are acked on PUBACK.
//! 4. No echo within `ack_timeout` -> republished (attempts + 1) unless the
//!    last known state already satisfies it; after `max_attempts` -> `failed`.
//!    Never published within `expire_after` (broker down) -> `expired`.
//! 5. At start-up every `pending`/`sent` row is resumed. Resumed rows wait
//!    until the link is connected and `resume_settle` has passed (so retained
//!    device states arrive first); a row whose effect the device already
//!    reported is acked without being sent again, the rest are published.
//!
//! Status writes after the insert (sent/acked/failed/expired, attempts) are
//! batched into one transaction per loop turn. Losing them in a crash is safe:
//! the row is resumed and step 5 decides.
//!
//! ## Fault hook (tests only)
//! `HUBD_FAULT=exit_after_insert` aborts the process (`std::process::abort`,
//! like SIGKILL: no destructors, no flush) right after the first insert
//! transaction commits and before anything is published.
//! `HUBD_FAULT=exit_after_publish` aborts on the first PUBACK of a command,
//! i.e. after the broker has it and before the device's echo is seen or the
//! row is marked sent. Unset or any other value: no fault.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use firmware_bridge::{Action, DeviceCommand, DeviceKind, DeviceState, Dialect};
use hub_skills::Registry;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::mqtt::{LinkEvent, MqttLink, PublishError, RowId};
use crate::store::{self, Store};

/// Timeouts and batch sizes. Tests use short ones.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Wait this long after a publish for the device's echo before retrying.
    pub ack_timeout: Duration,
    /// Publishes per row before it is `failed`.
    pub max_attempts: u32,
    /// A row never published this long after it was enqueued is `expired`.
    pub expire_after: Duration,
    /// After the first connect, wait this long (retained states arrive)
    /// before resuming rows from a previous run.
    pub resume_settle: Duration,
    /// Most enqueue requests folded into one insert transaction.
    pub batch_max: usize,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            ack_timeout: Duration::from_secs(5),
            max_attempts: 3,
            expire_after: Duration::from_secs(120),
            resume_settle: Duration::from_millis(300),
            batch_max: 512,
        }
    }
}

/// Final status of one command row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Final {
    Acked,
    Failed,
    Expired,
}

#[derive(Debug, Error)]
pub enum OutboxError {
    #[error("cannot encode command for `{device}`: {source}")]
    Encode {
        device: String,
        #[source]
        source: firmware_bridge::BridgeError,
    },
    #[error("device `{0}` is read-only (no firmware dialect to command)")]
    ReadOnly(String),
    #[error("the outbox could not read or write the database")]
    Store(#[source] store::StoreError),
    /// The insert transaction failed (detail logged, not returned to clients).
    #[error("the outbox could not store the command: {0}")]
    Insert(String),
    #[error("the outbox task has stopped")]
    Stopped,
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
    pub bad_state_payloads: AtomicU64,
}

/// Last known device states, shared read-mostly with the pipeline.
pub type StateMap = Arc<RwLock<HashMap<String, DeviceState>>>;

/// One enqueued command row; `wait` resolves with its final status.
#[derive(Debug)]
pub struct Enqueued {
    pub id: RowId,
    pub device_id: String,
    pub topic: String,
    pub action: Action,
    done: oneshot::Receiver<Final>,
}

impl Enqueued {
    /// The final status, or `None` if `timeout` passed first (still open).
    pub async fn wait(self, timeout: Duration) -> Option<Final> {
        match tokio::time::timeout(timeout, self.done).await {
            Ok(Ok(f)) => Some(f),
            _ => None,
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
        for mut cmd in cmds {
            if cmd.action == Action::Toggle {
                let on = self.state(&cmd.device_id).and_then(|s| s.on).unwrap_or(false);
                cmd.action = if on { Action::TurnOff } else { Action::TurnOn };
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
}

/// JSON view of a stored row for the API (payload as text when UTF-8).
pub fn command_json(r: &store::CommandRow) -> serde_json::Value {
    let payload = match std::str::from_utf8(&r.payload) {
        Ok(s) => serde_json::Value::String(s.to_string()),
        Err(_) => serde_json::Value::String(format!("<{} bytes>", r.payload.len())),
    };
    serde_json::json!({
        "id": r.id, "device_id": r.device_id, "topic": r.topic, "payload": payload,
        "action": r.action, "status": r.status, "attempts": r.attempts,
        "created_at": r.created_at, "sent_at": r.sent_at, "acked_at": r.acked_at,
        "error": r.error, "correlation": r.correlation,
    })
}

/// Which device(s) a state topic belongs to.
#[derive(Debug, Clone)]
struct DevRef {
    id: String,
    kind: DeviceKind,
    dialect: Dialect,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not published in this run (new, resumed, or lost with a connection).
    Queued,
    /// Handed to the link, no PUBACK yet.
    InFlight,
    /// PUBACK received; waiting for the echo.
    Sent,
}

struct Row {
    device_id: String,
    topic: String,
    payload: Vec<u8>,
    retain: bool,
    action: Action,
    phase: Phase,
    attempts: u32,
    /// Unix ms after which the row is not (re)published.
    expires_at: Option<i64>,
    published_at: Option<Instant>,
    /// Resumed from a previous run or lost with a connection: check the known
    /// state before sending it again.
    resend: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    ExitAfterInsert,
    ExitAfterPublish,
}

impl Fault {
    fn from_env() -> Fault {
        match std::env::var("HUBD_FAULT").as_deref() {
            Ok("exit_after_insert") => Fault::ExitAfterInsert,
            Ok("exit_after_publish") => Fault::ExitAfterPublish,
            _ => Fault::None,
        }
    }
}

/// Start the outbox task: loads device states and open rows from the store,
/// then consumes link events. Ends on `shutdown` after a final status flush.
pub async fn spawn(
    store: Store,
    link: MqttLink,
    link_events: mpsc::Receiver<LinkEvent>,
    registry: &Registry,
    settings: OutboxSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<(Outbox, JoinHandle<()>), OutboxError> {
    let mut states_init = HashMap::new();
    for row in store.device_states().await.map_err(OutboxError::Store)? {
        match serde_json::from_value::<DeviceState>(row.state) {
            Ok(st) => {
                states_init.insert(row.device_id, st);
            }
            Err(e) => tracing::warn!(device = %row.device_id, error = %e, "ignoring unreadable stored device state"),
        }
    }
    let states: StateMap = Arc::new(RwLock::new(states_init));
    let mut topic_index: HashMap<String, Vec<DevRef>> = HashMap::new();
    let mut echoless = BTreeSet::new();
    for d in &registry.devices {
        if let Some(dialect) = &d.dialect {
            let topics = firmware_bridge::state_topics(dialect, d.kind);
            if topics.is_empty() {
                echoless.insert(d.id.clone());
            }
            for t in topics {
                topic_index.entry(t).or_default().push(DevRef {
                    id: d.id.clone(),
                    kind: d.kind,
                    dialect: dialect.clone(),
                });
            }
        }
    }
    let mut rows = BTreeMap::new();
    let mut by_device: HashMap<String, BTreeSet<RowId>> = HashMap::new();
    let mut resumed = Vec::new();
    let expired = store
        .expire_due(store::now_ms(), "expired before it could be sent (expire_after_s passed while hubd was down)")
        .await
        .map_err(OutboxError::Store)?;
    if !expired.is_empty() {
        tracing::info!(rows = expired.len(), "expired stale commands from the previous run");
    }
    for r in store.resumable_commands().await.map_err(OutboxError::Store)? {
        let action: Action = match serde_json::from_value(r.action.clone()) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(id = r.id, error = %e, "open command has an unreadable action; marking it failed");
                let _ = store.mark_failed(r.id, "unreadable action").await;
                continue;
            }
        };
        let expires_at = r.expires_at;
        by_device.entry(r.device_id.clone()).or_default().insert(r.id);
        resumed.push(r.id);
        rows.insert(
            r.id,
            Row {
                device_id: r.device_id,
                topic: r.topic,
                payload: r.payload,
                retain: r.retain,
                action,
                phase: Phase::Queued,
                attempts: r.attempts,
                expires_at,
                published_at: None,
                resend: true,
            },
        );
    }
    if !resumed.is_empty() {
        tracing::info!(rows = resumed.len(), "resuming open commands from the previous run");
    }
    let (tx, rx) = mpsc::channel(1024);
    let stats = Arc::new(Stats::default());
    let outbox = Outbox { tx, link: link.clone(), states: states.clone(), stats: stats.clone() };
    let task = Task {
        store,
        link,
        settings,
        states,
        stats,
        topic_index,
        echoless,
        rows,
        by_device,
        queue: resumed.into_iter().collect(),
        settle_until: None,
        waiters: HashMap::new(),
        dirty: Vec::new(),
        dirty_states: HashMap::new(),
        blocked: false,
        fault: Fault::from_env(),
    };
    let handle = tokio::spawn(task.run(rx, link_events, shutdown));
    Ok((outbox, handle))
}

/// A status write waiting for the next flush.
#[derive(Debug)]
enum Update {
    Sent(RowId),
    Acked(RowId),
    Failed(RowId, String),
    Expired(RowId, String),
}

struct Task {
    store: Store,
    link: MqttLink,
    settings: OutboxSettings,
    states: StateMap,
    stats: Arc<Stats>,
    topic_index: HashMap<String, Vec<DevRef>>,
    echoless: BTreeSet<String>,
    rows: BTreeMap<RowId, Row>,
    by_device: HashMap<String, BTreeSet<RowId>>,
    /// Rows to publish, in order.
    /// Rows to publish. Always published in id order, so a device sees its
    /// commands in the order they were given, resends included.
    queue: BTreeSet<RowId>,
    /// After a (re)connect with resends queued, publishing waits until this
    /// instant so devices' retained / re-announced states arrive first.
    settle_until: Option<Instant>,
    waiters: HashMap<RowId, oneshot::Sender<Final>>,
    dirty: Vec<Update>,
    dirty_states: HashMap<String, DeviceState>,
    /// The link refused a publish (queue full / disconnected).
    blocked: bool,
    fault: Fault,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<EnqueueReq>,
        mut events: mpsc::Receiver<LinkEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let tick = (self.settings.ack_timeout / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
        let mut next_tick = tokio::time::Instant::now() + tick;
        let link = self.link.clone();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                ev = events.recv() => {
                    let Some(ev) = ev else { break };
                    self.on_link_event(ev);
                    for _ in 0..1024 {
                        match events.try_recv() {
                            Ok(ev) => self.on_link_event(ev),
                            Err(_) => break,
                        }
                    }
                }
                req = rx.recv() => {
                    let Some(req) = req else { break };
                    let mut batch = vec![req];
                    while batch.len() < self.settings.batch_max {
                        match rx.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    self.on_enqueue(batch).await;
                }
                _ = link.wait_space(), if self.blocked => {}
                _ = tokio::time::sleep_until(next_tick) => {
                    next_tick = tokio::time::Instant::now() + tick;
                    self.on_tick();
                }
            }
            self.pump();
            self.flush().await;
        }
        self.flush().await;
        tracing::info!(open = self.rows.len(), "outbox stopped");
    }

    async fn on_enqueue(&mut self, batch: Vec<EnqueueReq>) {
        let expires_at = now_ms().saturating_add(self.settings.expire_after.as_millis() as i64);
        let mut new = Vec::new();
        for req in &batch {
            for r in &req.rows {
                new.push(store::NewCommand {
                    device_id: r.device_id.clone(),
                    topic: r.topic.clone(),
                    payload: r.payload.clone(),
                    retain: r.retain,
                    action: serde_json::to_value(&r.action).unwrap_or(serde_json::Value::Null),
                    expires_at: Some(expires_at),
                    correlation: req.correlation.clone(),
                });
            }
        }
        // Pending status updates go first so the order of writes is the order of events.
        self.flush().await;
        let ids = match self.store.insert_commands(&new).await {
            Ok(ids) if ids.len() == new.len() => ids,
            Ok(ids) => {
                tracing::error!(expected = new.len(), got = ids.len(), "insert returned the wrong number of ids");
                for req in batch {
                    let _ = req.reply.send(Err(OutboxError::Stopped));
                }
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "outbox insert failed");
                let msg = e.to_string();
                for req in batch {
                    let _ = req.reply.send(Err(OutboxError::Insert(msg.clone())));
                }
                return;
            }
        };
        if self.fault == Fault::ExitAfterInsert {
            eprintln!("hubd: HUBD_FAULT=exit_after_insert: aborting after committing {} row(s)", ids.len());
            std::process::abort();
        }
        let mut ids = ids.into_iter();
        for req in batch {
            let mut out = Vec::with_capacity(req.rows.len());
            for r in req.rows {
                let Some(id) = ids.next() else { break };
                let (done_tx, done_rx) = oneshot::channel();
                self.waiters.insert(id, done_tx);
                self.by_device.entry(r.device_id.clone()).or_default().insert(id);
                out.push(Enqueued {
                    id,
                    device_id: r.device_id.clone(),
                    topic: r.topic.clone(),
                    action: r.action.clone(),
                    done: done_rx,
                });
                self.rows.insert(
                    id,
                    Row {
                        device_id: r.device_id,
                        topic: r.topic,
                        payload: r.payload,
                        retain: r.retain,
                        action: r.action,
                        phase: Phase::Queued,
                        attempts: 0,
                        expires_at: Some(expires_at),
                        published_at: None,
                        resend: false,
                    },
                );
                self.queue.insert(id);
                self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
            }
            let _ = req.reply.send(Ok(out));
        }
    }

    fn on_link_event(&mut self, ev: LinkEvent) {
        match ev {
            LinkEvent::Connected => {
                self.blocked = false;
                let resends = self.queue.iter().any(|id| self.rows.get(id).is_some_and(|r| r.resend));
                if resends {
                    self.settle_until = Some(Instant::now() + self.settings.resume_settle);
                }
            }
            LinkEvent::Disconnected { unacked } => {
                // Rows the broker may not have: back to the front of the queue.
                let mut lost: Vec<RowId> = unacked
                    .into_iter()
                    .filter(|id| matches!(self.rows.get(id), Some(r) if r.phase == Phase::InFlight))
                    .collect();
                lost.sort_unstable();
                for id in lost.iter().rev() {
                    if let Some(r) = self.rows.get_mut(id) {
                        r.phase = Phase::Queued;
                        r.resend = true;
                    }
                    self.queue.insert(*id);
                }
                if !lost.is_empty() {
                    tracing::info!(rows = lost.len(), "MQTT link lost; will republish commands without PUBACK");
                }
            }
            LinkEvent::PubAck { row } => self.on_puback(row),
            LinkEvent::Message { topic, payload } => self.on_message(&topic, &payload),
        }
    }

    fn on_puback(&mut self, id: RowId) {
        let Some(r) = self.rows.get_mut(&id) else { return };
        if r.phase != Phase::InFlight {
            return;
        }
        if self.fault == Fault::ExitAfterPublish {
            eprintln!("hubd: HUBD_FAULT=exit_after_publish: aborting after PUBACK of command {id}");
            std::process::abort();
        }
        r.phase = Phase::Sent;
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        let attempts = r.attempts;
        if self.echoless.contains(&r.device_id) {
            self.finish(id, Final::Acked, None);
        } else {
            let _ = attempts;
            self.dirty.push(Update::Sent(id));
        }
    }

    fn on_message(&mut self, topic: &str, payload: &[u8]) {
        let devs: Vec<DevRef> = match self.topic_index.get(topic) {
            Some(d) => d.clone(),
            None => self
                .topic_index
                .iter()
                .filter(|(f, _)| (f.contains('+') || f.contains('#')) && rumqttc::matches(topic, f))
                .flat_map(|(_, d)| d.iter().cloned())
                .collect(),
        };
        for d in devs {
            match firmware_bridge::parse_state(&d.dialect, d.kind, topic, payload) {
                Ok(Some(patch)) => {
                    let st = {
                        let mut map = match self.states.write() {
                            Ok(m) => m,
                            Err(p) => p.into_inner(),
                        };
                        let st = map.entry(d.id.clone()).or_default();
                        st.apply(&patch);
                        st.clone()
                    };
                    self.match_echo(&d.id, &st);
                    self.dirty_states.insert(d.id, st);
                }
                Ok(None) => {}
                Err(e) => {
                    self.stats.bad_state_payloads.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(topic, device = %d.id, len = payload.len(), error = %e, "ignoring bad state payload");
                }
            }
        }
    }

    /// Ack the newest published row of `device` that `st` satisfies, and every
    /// older published row of that device with it.
    fn match_echo(&mut self, device: &str, st: &DeviceState) {
        let Some(ids) = self.by_device.get(device) else { return };
        let mut newest = None;
        for id in ids {
            if let Some(r) = self.rows.get(id) {
                if matches!(r.phase, Phase::InFlight | Phase::Sent) && st.satisfies(&r.action) {
                    newest = Some(*id);
                }
            }
        }
        let Some(newest) = newest else { return };
        let done: Vec<RowId> = ids
            .range(..=newest)
            .copied()
            .filter(|id| matches!(self.rows.get(id), Some(r) if matches!(r.phase, Phase::InFlight | Phase::Sent)))
            .collect();
        for id in done {
            self.finish(id, Final::Acked, None);
        }
    }

    fn satisfied_now(&self, r: &Row) -> bool {
        self.states.read().ok().and_then(|m| m.get(&r.device_id).map(|s| s.satisfies(&r.action))).unwrap_or(false)
    }

    fn finish(&mut self, id: RowId, fin: Final, error: Option<String>) {
        let Some(r) = self.rows.remove(&id) else { return };
        if let Some(set) = self.by_device.get_mut(&r.device_id) {
            set.remove(&id);
            if set.is_empty() {
                self.by_device.remove(&r.device_id);
            }
        }
        let _ = r;
        let error = error.unwrap_or_default();
        let (update, counter) = match fin {
            Final::Acked => (Update::Acked(id), &self.stats.acked),
            Final::Failed => (Update::Failed(id, error), &self.stats.failed),
            Final::Expired => (Update::Expired(id, error), &self.stats.expired),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.dirty.push(update);
        if let Some(w) = self.waiters.remove(&id) {
            let _ = w.send(fin);
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let wall = now_ms();
        let mut expired = Vec::new();
        let mut retry = Vec::new();
        let mut failed = Vec::new();
        for (id, r) in &self.rows {
            match r.phase {
                Phase::Queued => {
                    if r.expires_at.is_some_and(|e| wall > e) {
                        expired.push(*id);
                    }
                }
                Phase::InFlight | Phase::Sent => {
                    if let Some(p) = r.published_at {
                        if now.duration_since(p) > self.settings.ack_timeout {
                            if r.attempts >= self.settings.max_attempts {
                                failed.push(*id);
                            } else {
                                retry.push(*id);
                            }
                        }
                    }
                }
            }
        }
        for id in expired {
            self.queue.remove(&id);
            self.finish(
                id,
                Final::Expired,
                Some("not sent before its deadline (expire_after_s; broker unreachable?)".into()),
            );
        }
        for id in failed {
            let satisfied = self.rows.get(&id).map(|r| self.satisfied_now(r)).unwrap_or(false);
            if satisfied {
                self.finish(id, Final::Acked, None);
            } else {
                self.finish(id, Final::Failed, Some("no matching state echo from the device".into()));
            }
        }
        for id in retry {
            if let Some(r) = self.rows.get_mut(&id) {
                // A row still in flight is not re-sent while the link is up:
                // rumqttc still owns that packet.
                if r.phase == Phase::InFlight && self.link.is_connected() {
                    continue;
                }
                r.phase = Phase::Queued;
                r.resend = true;
                self.queue.insert(id);
            }
        }
    }

    /// Publish queued rows (in id order) until the link refuses.
    fn pump(&mut self) {
        self.blocked = false;
        if self.queue.is_empty() {
            return;
        }
        if !self.link.is_connected() {
            // Nothing is decided (not even "already satisfied") before the
            // link is up and devices had a chance to report.
            self.blocked = true;
            return;
        }
        if let Some(until) = self.settle_until {
            if Instant::now() < until {
                return;
            }
            self.settle_until = None;
        }
        while let Some(&id) = self.queue.first() {
            let Some(r) = self.rows.get(&id) else {
                self.queue.remove(&id);
                continue;
            };
            if r.phase != Phase::Queued {
                self.queue.remove(&id);
                continue;
            }
            if r.resend && self.satisfied_now(r) {
                self.queue.remove(&id);
                tracing::debug!(id, "device already reports the commanded state; not sending it again");
                self.finish(id, Final::Acked, None);
                continue;
            }
            match self.link.try_publish(Some(id), &r.topic, r.payload.clone(), r.retain) {
                Ok(()) => {
                    self.queue.remove(&id);
                    self.stats.published.fetch_add(1, Ordering::Relaxed);
                    if let Some(r) = self.rows.get_mut(&id) {
                        r.phase = Phase::InFlight;
                        r.attempts += 1;
                        r.published_at = Some(Instant::now());
                    }
                }
                Err(PublishError::BadTopic(t)) => {
                    self.queue.remove(&id);
                    self.finish(id, Final::Failed, Some(format!("invalid topic `{t}`")));
                }
                Err(PublishError::Full) | Err(PublishError::Disconnected) | Err(PublishError::Closed) => {
                    self.blocked = true;
                    break;
                }
            }
        }
    }

    async fn flush(&mut self) {
        if !self.dirty.is_empty() {
            let updates = std::mem::take(&mut self.dirty);
            // Sent before acked: a row acked in the same turn stays acked.
            let sent: Vec<RowId> =
                updates.iter().filter_map(|u| if let Update::Sent(id) = u { Some(*id) } else { None }).collect();
            if !sent.is_empty() {
                if let Err(e) = self.store.mark_sent_many(&sent).await {
                    tracing::error!(error = %e, rows = sent.len(), "could not store sent statuses");
                }
            }
            let mut acked = Vec::new();
            for u in updates {
                let res = match u {
                    Update::Sent(_) => Ok(()),
                    Update::Acked(id) => {
                        acked.push(id);
                        Ok(())
                    }
                    Update::Failed(id, why) => self.store.mark_failed(id, &why).await.map(|_| ()),
                    Update::Expired(id, why) => self.store.mark_expired(id, &why).await.map(|_| ()),
                };
                if let Err(e) = res {
                    tracing::error!(error = %e, "could not store a command status update");
                }
            }
            if !acked.is_empty() {
                if let Err(e) = self.store.mark_acked_many(&acked).await {
                    tracing::error!(error = %e, rows = acked.len(), "could not store command acks");
                }
            }
        }
        if !self.dirty_states.is_empty() {
            let states: Vec<(String, DeviceState)> = self.dirty_states.drain().collect();
            for (id, st) in states {
                let v = serde_json::to_value(&st).unwrap_or(serde_json::Value::Null);
                if let Err(e) = self.store.upsert_device_state(&id, &v).await {
                    tracing::error!(error = %e, device = %id, "could not store device state");
                }
            }
        }
    }
}
