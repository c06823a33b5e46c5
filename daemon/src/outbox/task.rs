//! The outbox's executor: a thin task that feeds [`OutboxState`] with what
//! happens (enqueues, link events, ticks) and carries out the effects it
//! returns against SQLite, the MQTT link, waiters and the event bus. It makes
//! no decision of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use firmware_bridge::DeviceState;
use tokio::sync::{mpsc, oneshot, watch};

use super::state::{Effect, Input, Now, OutboxState, RowId, RowSpec};
use super::{EnqueueReq, Enqueued, OutboxError, OutboxSettings, StateMap, Stats};
use crate::events::{EventBus, HubEvent, StateSource};
use crate::mqtt::{LinkEvent, MqttLink, PublishError};
use crate::store::{self, CommandStatus, CommandUpdate, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    ExitAfterInsert,
    ExitAfterPublish,
}

impl Fault {
    /// `HUBD_FAULT`, read only in builds with the `fault-injection` feature.
    fn configured() -> Fault {
        if !cfg!(feature = "fault-injection") {
            return Fault::None;
        }
        match std::env::var("HUBD_FAULT").as_deref() {
            Ok("exit_after_insert") => Fault::ExitAfterInsert,
            Ok("exit_after_publish") => Fault::ExitAfterPublish,
            _ => Fault::None,
        }
    }
}

/// Bad state payloads are logged once per topic per this interval (with the
/// count suppressed in between); all are counted in `Stats`.
const BAD_PAYLOAD_LOG_EVERY: Duration = Duration::from_secs(60);

pub(super) struct Task {
    sm: OutboxState,
    store: Store,
    link: MqttLink,
    bus: EventBus,
    states: StateMap,
    stats: Arc<Stats>,
    settings: OutboxSettings,
    waiters: HashMap<RowId, oneshot::Sender<CommandStatus>>,
    updates: Vec<CommandUpdate>,
    dirty_states: HashMap<String, DeviceState>,
    bad_payload_log: HashMap<String, (Option<Instant>, u64)>,
    /// Failed flushes in a row (0: the last one wrote everything).
    store_failures: u64,
    fault: Fault,
}

/// Most status changes kept while the store cannot be written.
const MAX_KEPT_UPDATES: usize = 100_000;

fn now() -> Now {
    Now { at: Instant::now(), wall_ms: store::now_ms() }
}

impl Task {
    pub(super) fn new(
        sm: OutboxState,
        store: Store,
        link: MqttLink,
        bus: EventBus,
        states: StateMap,
        stats: Arc<Stats>,
        settings: OutboxSettings,
    ) -> Task {
        Task {
            sm,
            store,
            link,
            bus,
            states,
            stats,
            settings,
            waiters: HashMap::new(),
            updates: Vec::new(),
            dirty_states: HashMap::new(),
            bad_payload_log: HashMap::new(),
            store_failures: 0,
            fault: Fault::configured(),
        }
    }

    pub(super) async fn run(
        mut self,
        resumed: Vec<RowSpec>,
        mut rx: mpsc::Receiver<EnqueueReq>,
        mut events: mpsc::Receiver<LinkEvent>,
        mut stop: watch::Receiver<bool>,
        mut devices: mpsc::Receiver<Vec<super::state::DeviceInfo>>,
    ) {
        if !resumed.is_empty() {
            tracing::info!(rows = resumed.len(), "resuming open commands from the previous run");
            self.input(Input::Resumed(resumed));
        }
        let tick = (self.settings.ack_timeout / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
        let mut next_tick = tokio::time::Instant::now() + tick;
        let mut drain_until: Option<tokio::time::Instant> = None;
        let link = self.link.clone();
        loop {
            tokio::select! {
                biased;
                _ = async { let _ = stop.wait_for(|s| *s).await; }, if drain_until.is_none() => {
                    // Producers have stopped; take nothing new, finish what is open.
                    rx.close();
                    while let Ok(req) = rx.try_recv() {
                        let _ = req.reply.send(Err(OutboxError::Stopped));
                    }
                    drain_until = Some(tokio::time::Instant::now() + self.settings.drain);
                    tracing::debug!(open = self.sm.open_rows(), "outbox draining");
                }
                _ = async { if let Some(d) = drain_until { tokio::time::sleep_until(d).await } }, if drain_until.is_some() => {
                    tracing::info!(open = self.sm.open_rows(), "outbox drain deadline passed; open commands resume at next start");
                    break;
                }
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
                req = rx.recv(), if drain_until.is_none() => {
                    let Some(req) = req else { continue };
                    let mut batch = vec![req];
                    while batch.len() < self.settings.batch_max {
                        match rx.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    self.on_enqueue(batch).await;
                }
                _ = link.wait_space(), if self.sm.blocked() => self.input(Input::Ready),
                d = devices.recv() => if let Some(d) = d { self.sm.set_devices(d) },
                _ = tokio::time::sleep_until(next_tick) => {
                    next_tick = tokio::time::Instant::now() + tick;
                    self.input(Input::Tick);
                }
            }
            self.flush().await;
            if drain_until.is_some() && self.sm.open_rows() == 0 {
                break;
            }
        }
        self.flush().await;
        tracing::debug!(open = self.sm.open_rows(), "outbox stopped");
    }

    fn on_link_event(&mut self, ev: LinkEvent) {
        let input = match ev {
            LinkEvent::Connected => Input::LinkUp,
            LinkEvent::Disconnected { unacked } => {
                if !unacked.is_empty() {
                    tracing::info!(rows = unacked.len(), "MQTT link lost; commands without PUBACK will be republished");
                }
                Input::LinkDown { unacked }
            }
            LinkEvent::PubAck { row } => {
                if self.fault == Fault::ExitAfterPublish && self.sm.in_flight(row) {
                    eprintln!("hubd: HUBD_FAULT=exit_after_publish: aborting after PUBACK of command {row}");
                    std::process::abort();
                }
                Input::PubAck(row)
            }
            LinkEvent::Message { topic, payload } => Input::Message { topic, payload: payload.to_vec() },
        };
        self.input(input);
    }

    async fn on_enqueue(&mut self, batch: Vec<EnqueueReq>) {
        let expires_at = store::now_ms().saturating_add(self.settings.expire_after.as_millis() as i64);
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
        // Status writes so far go first, so the order of writes is the order of events.
        self.flush().await;
        let ids = match self.store.insert_commands(&new).await {
            Ok(ids) if ids.len() == new.len() => ids,
            Ok(ids) => {
                tracing::error!(expected = new.len(), got = ids.len(), "insert returned the wrong number of ids");
                for req in batch {
                    let _ = req.reply.send(Err(OutboxError::Insert("the database returned too few ids".into())));
                }
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, rows = new.len(), "outbox insert failed; the commands are refused");
                let full = e.is_disk_full();
                let msg = e.to_string();
                for req in batch {
                    let err = if full {
                        OutboxError::StoreFull { path: self.store.path().to_path_buf() }
                    } else {
                        OutboxError::Insert(msg.clone())
                    };
                    let _ = req.reply.send(Err(err));
                }
                return;
            }
        };
        if self.fault == Fault::ExitAfterInsert {
            eprintln!("hubd: HUBD_FAULT=exit_after_insert: aborting after committing {} row(s)", ids.len());
            std::process::abort();
        }
        let mut ids = ids.into_iter();
        let mut specs = Vec::with_capacity(new.len());
        for req in batch {
            let mut out = Vec::with_capacity(req.rows.len());
            for r in req.rows {
                let Some(id) = ids.next() else { break };
                let (done_tx, done_rx) = oneshot::channel();
                self.waiters.insert(id, done_tx);
                out.push(Enqueued {
                    id,
                    device_id: r.device_id.clone(),
                    topic: r.topic.clone(),
                    action: r.action.clone(),
                    done: done_rx,
                });
                specs.push(RowSpec {
                    id,
                    device_id: r.device_id,
                    topic: r.topic,
                    payload: r.payload,
                    retain: r.retain,
                    action: r.action,
                    attempts: 0,
                    expires_at: Some(expires_at),
                });
            }
            let _ = req.reply.send(Ok(out));
        }
        self.stats.enqueued.fetch_add(specs.len() as u64, Ordering::Relaxed);
        self.input(Input::Enqueued(specs));
    }

    /// Feed one input and carry out its effects (and those of follow-up
    /// inputs the link's answers produce).
    fn input(&mut self, input: Input) {
        let mut work = vec![input];
        while let Some(input) = work.pop() {
            let effects = self.sm.handle(input, now());
            let mut refused = Vec::new();
            for e in effects {
                match e {
                    Effect::Publish { id, topic, payload, retain } => {
                        if !refused.is_empty() {
                            refused.push(id);
                            continue;
                        }
                        match self.link.try_publish(Some(id), &topic, payload, retain) {
                            Ok(()) => {
                                self.stats.published.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(PublishError::BadTopic(_)) => work.push(Input::BadTopic(id)),
                            Err(PublishError::Full | PublishError::Disconnected | PublishError::Closed) => {
                                refused.push(id)
                            }
                        }
                    }
                    Effect::Status { id, device_id, status, attempts, reason } => {
                        self.on_status(id, device_id, status, attempts, reason)
                    }
                    Effect::State { device_id, old, new } => self.on_state(device_id, old, new),
                    Effect::BadPayload { topic, device_id, error } => self.on_bad_payload(topic, device_id, error),
                }
            }
            if !refused.is_empty() {
                work.push(Input::Refused(refused));
            }
        }
    }

    fn on_status(
        &mut self,
        id: RowId,
        device_id: String,
        status: CommandStatus,
        attempts: u32,
        reason: Option<String>,
    ) {
        self.stats.count(status);
        if status != CommandStatus::Sent {
            if let Some(w) = self.waiters.remove(&id) {
                let _ = w.send(status);
            }
            if status != CommandStatus::Acked {
                tracing::debug!(id, device = %device_id, %status, reason = reason.as_deref().unwrap_or(""), "command finished");
            }
        }
        self.bus.publish(HubEvent::CommandStatus {
            command_id: id,
            entity_id: device_id,
            status,
            attempts,
            reason: reason.clone(),
        });
        self.updates.push(CommandUpdate { id, status, attempts, reason });
    }

    fn on_state(&mut self, device_id: String, old: Option<DeviceState>, new: DeviceState) {
        {
            let mut map = match self.states.write() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            map.insert(device_id.clone(), new.clone());
        }
        if old.as_ref() != Some(&new) {
            self.bus.publish(HubEvent::StateChanged {
                entity_id: device_id.clone(),
                old,
                new: new.clone(),
                source: StateSource::Mqtt,
            });
        }
        self.dirty_states.insert(device_id, new);
    }

    fn on_bad_payload(&mut self, topic: String, device_id: String, error: String) {
        self.stats.bad_state_payloads.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let entry = self.bad_payload_log.entry(topic.clone()).or_insert((None, 0));
        if entry.0.is_none_or(|last| now.duration_since(last) >= BAD_PAYLOAD_LOG_EVERY) {
            let suppressed = entry.1;
            *entry = (Some(now), 0);
            tracing::warn!(topic, device = %device_id, error, suppressed, "ignoring bad state payload (logged once a minute per topic)");
        } else {
            entry.1 += 1;
        }
    }

    /// Write status changes and device states. What fails to write (a full
    /// disk) is kept and written again on the next call, in order; the first
    /// failure is logged, then only the recovery.
    async fn flush(&mut self) {
        let mut failed: Option<store::StoreError> = None;
        if !self.updates.is_empty() {
            let updates = std::mem::take(&mut self.updates);
            match self.store.apply_command_updates(&updates).await {
                Ok(()) => {}
                Err(e) => {
                    let mut kept = updates;
                    if kept.len() > MAX_KEPT_UPDATES {
                        let dropped = kept.len() - MAX_KEPT_UPDATES;
                        tracing::error!(
                            dropped,
                            "dropping the oldest unstored command statuses (they resume at restart)"
                        );
                        kept.drain(..dropped);
                    }
                    self.updates = kept;
                    failed = Some(e);
                }
            }
        }
        if !self.dirty_states.is_empty() {
            let states: Vec<(String, DeviceState)> = self.dirty_states.drain().collect();
            for (id, st) in states {
                let v = serde_json::to_value(&st).unwrap_or(serde_json::Value::Null);
                if let Err(e) = self.store.upsert_device_state(&id, &v).await {
                    // A newer state reported meanwhile wins.
                    self.dirty_states.entry(id).or_insert(st);
                    failed.get_or_insert(e);
                }
            }
        }
        match (failed, self.store_failures) {
            (Some(e), 0) => {
                self.store_failures = 1;
                tracing::error!(
                    error = %e,
                    disk_full = e.is_disk_full(),
                    statuses = self.updates.len(),
                    "could not store command statuses or device states; retrying on every turn"
                );
            }
            (Some(_), _) => self.store_failures += 1,
            (None, 0) => {}
            (None, n) => {
                self.store_failures = 0;
                tracing::info!(failed_attempts = n, "command statuses and device states stored again");
            }
        }
    }
}
