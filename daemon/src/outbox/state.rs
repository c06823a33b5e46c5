//! The outbox as a pure state machine: events in, effects out, no I/O and no
//! clock reads (rumqttc's `MqttState` is the model). [`super::task`] executes
//! the effects against SQLite, MQTT and the event bus.
//!
//! Rules (each decided here and nowhere else):
//! - Rows are published in id order, so a device sees its commands in the
//!   order they were given, resends included. Fresh rows are all published,
//!   also those that waited for a broker outage to end.
//! - **A restart collapses each device attribute to its newest command.**
//!   Of the rows resumed from a previous run, every one with a newer row for
//!   the same device and [`Attribute`] is `superseded` at once, never resent.
//! - **A resend never overtakes a newer command, and is skipped when the
//!   device already shows it.** A row to be sent again (resumed, lost with a
//!   connection, or timed out) is acked without resending when the device
//!   reported a state satisfying it since the link came up (a retained
//!   state, or Zigbee2MQTT's re-announce), which is how a command that
//!   reached the device before a crash is recognised; it is `superseded` when
//!   a newer row to the same device already went out in this run (resending
//!   it would leave the device in the older state).
//! - **Acked means the device showed it.** Otherwise a row is acked only by a
//!   state report that satisfies it arriving after its own publish in this
//!   run (devices without a state topic: on PUBACK). A state remembered from
//!   before the link came up (the database's cache) never acks anything. When
//!   a newer row is acked, older published rows of the same device attribute
//!   that it overwrote are superseded.
//! - No echo within `ack_timeout`: republished, up to `max_attempts`, then
//!   `failed`. Not published before `expires_at` (wall clock): `expired`.
//! - After a (re)connect with resends queued, publishing waits
//!   `resume_settle` so retained device states arrive before anything is sent
//!   (and cannot be mistaken for echoes of the resend).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use firmware_bridge::{Action, Attribute, DeviceKind, DeviceState, Dialect};

use crate::store::CommandStatus;

/// Outbox row id (the SQLite rowid).
pub type RowId = i64;

/// The two clocks the state machine needs, passed in by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for ack timeouts and the resume settle.
    pub at: Instant,
    /// Unix ms, for `expires_at` (stored in SQLite, survives restarts).
    pub wall_ms: i64,
}

/// Timing rules of the state machine.
#[derive(Debug, Clone)]
pub struct Rules {
    pub ack_timeout: Duration,
    pub max_attempts: u32,
    pub resume_settle: Duration,
}

/// A device the outbox commands or observes.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub id: String,
    pub kind: DeviceKind,
    pub dialect: Dialect,
}

/// A committed row, new in this run or resumed from SQLite.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSpec {
    pub id: RowId,
    pub device_id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub action: Action,
    /// Publishes so far (resumed rows keep their count).
    pub attempts: u32,
    /// Unix ms after which the row is not (re)published.
    pub expires_at: Option<i64>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Rows committed by this run's enqueue.
    Enqueued(Vec<RowSpec>),
    /// Open rows found in SQLite at start-up.
    Resumed(Vec<RowSpec>),
    LinkUp,
    /// The connection dropped; these tracked publishes had no PUBACK.
    LinkDown {
        unacked: Vec<RowId>,
    },
    PubAck(RowId),
    /// A message on a state topic.
    Message {
        topic: String,
        payload: Vec<u8>,
    },
    /// Periodic: timeouts, expiry, settle.
    Tick,
    /// The link took no more publishes (queue full, disconnected): these
    /// rows were not sent and wait for the next chance.
    Refused(Vec<RowId>),
    /// The broker client rejected the topic.
    BadTopic(RowId),
    /// The link has room again after a refusal.
    Ready,
}

/// What to do about it, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Publish QoS 1, tracked by row id.
    Publish { id: RowId, topic: String, payload: Vec<u8>, retain: bool },
    /// A row changed status: persist it, tell the waiter (terminal ones) and
    /// the event bus.
    Status { id: RowId, device_id: String, status: CommandStatus, attempts: u32, reason: Option<String> },
    /// A device reported its state.
    State { device_id: String, old: Option<DeviceState>, new: DeviceState },
    /// A state payload that does not parse (counted, logged with a limit).
    BadPayload { topic: String, device_id: String, error: String },
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

#[derive(Debug)]
struct Row {
    spec: RowSpec,
    phase: Phase,
    published_at: Option<Instant>,
    /// Published before (this run or the previous one): a resend.
    resend: bool,
}

impl Row {
    fn key(&self) -> (String, Attribute) {
        (self.spec.device_id.clone(), self.spec.action.attribute())
    }
    fn published(&self) -> bool {
        matches!(self.phase, Phase::InFlight | Phase::Sent)
    }
}

/// The outbox's decisions.
#[derive(Debug)]
pub struct OutboxState {
    rules: Rules,
    /// Exact state topic -> devices; wildcard filters are matched by scan.
    topics: HashMap<String, Vec<DeviceInfo>>,
    /// Devices without a state topic: acked on PUBACK.
    echoless: BTreeSet<String>,
    states: HashMap<String, DeviceState>,
    rows: BTreeMap<RowId, Row>,
    by_device: HashMap<String, BTreeSet<RowId>>,
    /// Rows to publish, in id order.
    queue: BTreeSet<RowId>,
    /// Newest row id ever seen per device attribute.
    newest: HashMap<(String, Attribute), RowId>,
    /// Newest row id published in this run per device, among rows that are
    /// finished (open rows are looked up in `rows`).
    published_done: HashMap<String, RowId>,
    /// Devices that reported a state since the link last came up.
    reported: HashSet<String>,
    link_up: bool,
    blocked: bool,
    settle_until: Option<Instant>,
}

/// State topic -> devices, and the devices without a state topic.
fn index_devices(devices: Vec<DeviceInfo>) -> (HashMap<String, Vec<DeviceInfo>>, BTreeSet<String>) {
    let mut topics: HashMap<String, Vec<DeviceInfo>> = HashMap::new();
    let mut echoless = BTreeSet::new();
    for d in devices {
        let ts: Vec<String> =
            firmware_bridge::state_topics(&d.dialect, d.kind).into_iter().filter(|t| !t.is_empty()).collect();
        if ts.is_empty() {
            echoless.insert(d.id.clone());
        }
        for t in ts {
            topics.entry(t).or_default().push(d.clone());
        }
    }
    (topics, echoless)
}

impl OutboxState {
    /// The registry changed (`hubd reload`): state topics follow the new
    /// devices. Open rows keep their encoded messages.
    pub fn set_devices(&mut self, devices: Vec<DeviceInfo>) {
        let (topics, echoless) = index_devices(devices);
        self.topics = topics;
        self.echoless = echoless;
    }

    pub fn new(rules: Rules, devices: Vec<DeviceInfo>, states: HashMap<String, DeviceState>) -> OutboxState {
        let (topics, echoless) = index_devices(devices);
        OutboxState {
            rules,
            topics,
            echoless,
            states,
            rows: BTreeMap::new(),
            by_device: HashMap::new(),
            queue: BTreeSet::new(),
            newest: HashMap::new(),
            published_done: HashMap::new(),
            reported: HashSet::new(),
            link_up: false,
            blocked: false,
            settle_until: None,
        }
    }

    /// Rows not finished yet.
    pub fn open_rows(&self) -> usize {
        self.rows.len()
    }

    /// A row handed to the link and not PUBACKed yet.
    pub fn in_flight(&self, id: RowId) -> bool {
        self.rows.get(&id).is_some_and(|r| r.phase == Phase::InFlight)
    }

    /// The link refused a publish; publishing resumes on the next input.
    pub fn blocked(&self) -> bool {
        self.blocked
    }

    pub fn state(&self, device: &str) -> Option<&DeviceState> {
        self.states.get(device)
    }

    /// Apply one input; returns the effects in the order to execute them.
    pub fn handle(&mut self, input: Input, now: Now) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Enqueued(specs) => self.add_rows(specs, false),
            Input::Resumed(specs) => {
                self.add_rows(specs, true);
                // Stale resumed rows are settled now; the rest wait for the link.
                let stale: Vec<(RowId, RowId)> =
                    self.rows.iter().filter_map(|(id, r)| self.newer_sibling(*id, r).map(|n| (*id, n))).collect();
                for (id, newer) in stale {
                    self.finish(id, CommandStatus::Superseded, Some(superseded_by(newer)), &mut out);
                }
            }
            Input::LinkUp => {
                self.link_up = true;
                self.reported.clear();
                self.blocked = false;
                if self.queue.iter().any(|id| self.rows.get(id).is_some_and(|r| r.resend)) {
                    self.settle_until = Some(now.at + self.rules.resume_settle);
                }
            }
            Input::LinkDown { unacked } => {
                self.link_up = false;
                self.reported.clear();
                for id in unacked {
                    if let Some(r) = self.rows.get_mut(&id).filter(|r| r.phase == Phase::InFlight) {
                        r.phase = Phase::Queued;
                        r.resend = true;
                        self.queue.insert(id);
                    }
                }
            }
            Input::PubAck(id) => self.on_puback(id, &mut out),
            Input::Message { topic, payload } => self.on_message(&topic, &payload, &mut out),
            Input::Tick => {
                self.blocked = false;
                self.on_tick(now, &mut out);
            }
            Input::Refused(ids) => {
                for id in ids {
                    if let Some(r) = self.rows.get_mut(&id).filter(|r| r.phase == Phase::InFlight) {
                        r.phase = Phase::Queued;
                        r.spec.attempts = r.spec.attempts.saturating_sub(1);
                        r.published_at = None;
                        self.queue.insert(id);
                    }
                }
                self.blocked = true;
                return out;
            }
            Input::Ready => self.blocked = false,
            Input::BadTopic(id) => {
                let topic = self.rows.get(&id).map(|r| r.spec.topic.clone()).unwrap_or_default();
                self.finish(id, CommandStatus::Failed, Some(format!("invalid topic `{topic}`")), &mut out);
            }
        }
        self.pump(now, &mut out);
        out
    }

    fn add_rows(&mut self, specs: Vec<RowSpec>, resend: bool) {
        for spec in specs {
            let id = spec.id;
            let key = (spec.device_id.clone(), spec.action.attribute());
            let n = self.newest.entry(key).or_insert(id);
            *n = (*n).max(id);
            self.by_device.entry(spec.device_id.clone()).or_default().insert(id);
            self.rows.insert(id, Row { spec, phase: Phase::Queued, published_at: None, resend });
            self.queue.insert(id);
        }
    }

    /// A newer row for the same device attribute, if any.
    fn newer_sibling(&self, id: RowId, r: &Row) -> Option<RowId> {
        self.newest.get(&r.key()).copied().filter(|n| *n > id)
    }

    /// Newest row of `device` published in this run.
    fn newest_published(&self, device: &str) -> Option<RowId> {
        let open = self
            .by_device
            .get(device)
            .and_then(|ids| ids.iter().rev().find(|id| self.rows.get(id).is_some_and(Row::published)).copied());
        open.max(self.published_done.get(device).copied())
    }

    fn on_puback(&mut self, id: RowId, out: &mut Vec<Effect>) {
        let Some(r) = self.rows.get_mut(&id).filter(|r| r.phase == Phase::InFlight) else { return };
        r.phase = Phase::Sent;
        out.push(Effect::Status {
            id,
            device_id: r.spec.device_id.clone(),
            status: CommandStatus::Sent,
            attempts: r.spec.attempts,
            reason: None,
        });
        if self.echoless.contains(&r.spec.device_id) {
            self.finish(id, CommandStatus::Acked, None, out);
        }
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], out: &mut Vec<Effect>) {
        let devs: Vec<DeviceInfo> = match self.topics.get(topic) {
            Some(d) => d.clone(),
            None => self
                .topics
                .iter()
                .filter(|(f, _)| (f.contains('+') || f.contains('#')) && rumqttc::matches(topic, f))
                .flat_map(|(_, d)| d.iter().cloned())
                .collect(),
        };
        for d in devs {
            match firmware_bridge::parse_state(&d.dialect, d.kind, topic, payload) {
                Ok(Some(patch)) => {
                    let old = self.states.get(&d.id).cloned();
                    let mut new = old.clone().unwrap_or_default();
                    new.apply(&patch);
                    self.states.insert(d.id.clone(), new.clone());
                    out.push(Effect::State { device_id: d.id.clone(), old, new: new.clone() });
                    // Only a report of the commandable state is an echo
                    // (an availability or sensor message is not).
                    if patch.reports_commandable_state() {
                        self.reported.insert(d.id.clone());
                        self.match_echo(&d.id, &new, out);
                    }
                }
                Ok(None) => {}
                Err(e) => out.push(Effect::BadPayload {
                    topic: topic.to_string(),
                    device_id: d.id.clone(),
                    error: e.to_string(),
                }),
            }
        }
    }

    /// Ack every published row of `device` that `st` satisfies; older
    /// published rows of the same attributes that it overwrote are superseded.
    fn match_echo(&mut self, device: &str, st: &DeviceState, out: &mut Vec<Effect>) {
        let Some(ids) = self.by_device.get(device) else { return };
        let published: Vec<RowId> =
            ids.iter().copied().filter(|id| self.rows.get(id).is_some_and(Row::published)).collect();
        let mut acked: HashMap<Attribute, RowId> = HashMap::new();
        for id in &published {
            let Some(r) = self.rows.get(id) else { continue };
            if st.satisfies(&r.spec.action) {
                acked.insert(r.spec.action.attribute(), *id);
            }
        }
        if acked.is_empty() {
            return;
        }
        for id in published {
            let Some(r) = self.rows.get(&id) else { continue };
            let attr = r.spec.action.attribute();
            let Some(&newest_acked) = acked.get(&attr) else { continue };
            if st.satisfies(&r.spec.action) {
                if r.phase == Phase::InFlight {
                    // The echo beat the PUBACK: the broker had it, so it was sent.
                    out.push(Effect::Status {
                        id,
                        device_id: device.to_string(),
                        status: CommandStatus::Sent,
                        attempts: r.spec.attempts,
                        reason: None,
                    });
                }
                self.finish(id, CommandStatus::Acked, None, out);
            } else if id < newest_acked {
                self.finish(id, CommandStatus::Superseded, Some(superseded_by(newest_acked)), out);
            }
        }
    }

    fn on_tick(&mut self, now: Now, out: &mut Vec<Effect>) {
        if self.settle_until.is_some_and(|u| now.at >= u) {
            self.settle_until = None;
        }
        let mut expired = Vec::new();
        let mut failed = Vec::new();
        let mut retry = Vec::new();
        for (id, r) in &self.rows {
            match r.phase {
                Phase::Queued => {
                    if r.spec.expires_at.is_some_and(|e| now.wall_ms > e) {
                        expired.push(*id);
                    }
                }
                Phase::InFlight | Phase::Sent => {
                    let due =
                        r.published_at.is_some_and(|p| now.at.saturating_duration_since(p) > self.rules.ack_timeout);
                    if !due {
                        continue;
                    }
                    if r.spec.attempts >= self.rules.max_attempts {
                        failed.push(*id);
                    } else if r.phase == Phase::Sent || !self.link_up {
                        // A row still in flight on a live link is rumqttc's to resend.
                        retry.push(*id);
                    }
                }
            }
        }
        for id in expired {
            let why = "not sent before its deadline (expire_after_s; broker unreachable?)";
            self.finish(id, CommandStatus::Expired, Some(why.into()), out);
        }
        for id in failed {
            let (n, acked) = self.rows.get(&id).map_or((0, false), |r| (r.spec.attempts, r.phase == Phase::Sent));
            // With MQTT 3.1.1 a broker acknowledges a publish its ACL drops
            // (mosquitto does): no echo after a PUBACK is all there is to see.
            let why = if acked {
                format!(
                    "no matching state echo from the device after {n} attempt(s); the broker acknowledged the \
                     publish, so the device never reacted or the broker's ACL denies the topic"
                )
            } else {
                format!("no matching state echo from the device after {n} attempt(s)")
            };
            self.finish(id, CommandStatus::Failed, Some(why), out);
        }
        for id in retry {
            if let Some(r) = self.rows.get_mut(&id) {
                r.phase = Phase::Queued;
                r.resend = true;
                self.queue.insert(id);
            }
        }
    }

    /// Publish queued rows in id order until the link is down, settling or full.
    fn pump(&mut self, now: Now, out: &mut Vec<Effect>) {
        if !self.link_up || self.blocked || self.queue.is_empty() {
            return;
        }
        if let Some(until) = self.settle_until {
            if now.at < until {
                return;
            }
            self.settle_until = None;
        }
        while let Some(id) = self.queue.pop_first() {
            let Some(r) = self.rows.get(&id) else { continue };
            if r.phase != Phase::Queued {
                continue;
            }
            if r.resend {
                let shown = self.reported.contains(&r.spec.device_id)
                    && self.states.get(&r.spec.device_id).is_some_and(|st| st.satisfies(&r.spec.action));
                if shown {
                    self.finish(id, CommandStatus::Acked, None, out);
                    continue;
                }
                if let Some(newer) = self.newest_published(&r.spec.device_id).filter(|n| *n > id) {
                    let why = format!("not resent: newer command #{newer} to the device was already sent");
                    self.finish(id, CommandStatus::Superseded, Some(why), out);
                    continue;
                }
            }
            let Some(r) = self.rows.get_mut(&id) else { continue };
            r.phase = Phase::InFlight;
            r.spec.attempts += 1;
            r.published_at = Some(now.at);
            out.push(Effect::Publish {
                id,
                topic: r.spec.topic.clone(),
                payload: r.spec.payload.clone(),
                retain: r.spec.retain,
            });
        }
    }

    fn finish(&mut self, id: RowId, status: CommandStatus, reason: Option<String>, out: &mut Vec<Effect>) {
        let Some(r) = self.rows.remove(&id) else { return };
        self.queue.remove(&id);
        if let Some(set) = self.by_device.get_mut(&r.spec.device_id) {
            set.remove(&id);
            if set.is_empty() {
                self.by_device.remove(&r.spec.device_id);
            }
        }
        if r.published() {
            let e = self.published_done.entry(r.spec.device_id.clone()).or_insert(id);
            *e = (*e).max(id);
        }
        out.push(Effect::Status { id, device_id: r.spec.device_id, status, attempts: r.spec.attempts, reason });
    }
}

fn superseded_by(newer: RowId) -> String {
    format!("superseded by newer command #{newer} to the same device and attribute")
}
