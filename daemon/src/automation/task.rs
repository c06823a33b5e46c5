//! The automation task: one loop that owns the engine and does its I/O.
//!
//! Inputs: the event bus (state changes; camera events when cameras run),
//! a tap on the MQTT link for the topics `mqtt` triggers name, requests from
//! the handle, and the clock (a tick a second, sooner when a delay or a
//! `for` is due). Outputs, in the engine's order: commands are committed to
//! the outbox before anything else happens, publications go to the link,
//! finished runs are written to SQLite in one transaction per turn of the
//! loop and announced on the bus.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use firmware_bridge::DeviceState;
use hub_skills::automation::{Cause, Engine, Event, Output, RunId, RunRecord, World};
use tokio::sync::{mpsc, watch};

use super::{Clock, Deps, NOTIFY_PREFIX, Request, SentenceReply};
use crate::events::{EventBus, HubEvent};
use crate::mqtt::MqttLink;
use crate::outbox::{Outbox, StateMap};
use crate::store::{NewAutomationRun, Store};

/// How long after a rule's command an echo of that device counts as caused
/// by the rule (loop guard).
const CAUSE_WINDOW_MS: i64 = 5_000;
/// MQTT tap id of the automation task.
const TAP_ID: u64 = 1;

pub(super) struct Task {
    engine: Engine,
    registry: crate::reload::SharedRegistry,
    outbox: Outbox,
    states: StateMap,
    store: Store,
    bus: EventBus,
    link: MqttLink,
    clock: Clock,
    speaker: Option<crate::speech::Speaker>,
    stop: watch::Receiver<bool>,
    /// Entity -> the rule (and chain depth) that last commanded it, until when.
    caused: HashMap<String, (Cause, i64)>,
    /// Outbox ids per (run, trace step), until the run's record is written.
    command_ids: HashMap<(RunId, usize), Vec<i64>>,
    mqtt_rx: mpsc::Receiver<(String, Bytes)>,
    mqtt_tx: mpsc::Sender<(String, Bytes)>,
    commits: super::Commits,
}

impl Task {
    pub(super) async fn new(
        mut engine: Engine,
        deps: Deps,
        commits: super::Commits,
    ) -> Result<Task, super::AutomationError> {
        apply_switches(&mut engine, &deps.store, deps.clock.now()).await?;
        let (mqtt_tx, mqtt_rx) = mpsc::channel(256);
        Ok(Task {
            engine,
            registry: deps.registry,
            states: deps.outbox.states(),
            outbox: deps.outbox,
            store: deps.store,
            bus: deps.bus,
            link: deps.link,
            clock: deps.clock,
            speaker: deps.speaker,
            stop: deps.stop,
            caused: HashMap::new(),
            command_ids: HashMap::new(),
            mqtt_rx,
            mqtt_tx,
            commits,
        })
    }

    fn subscribe_mqtt(&self) {
        let topics = self.engine.mqtt_topics();
        if let Err(e) = self.link.tap(TAP_ID, topics, self.mqtt_tx.clone()) {
            tracing::warn!(error = %e, "automation MQTT trigger topic refused");
        }
    }

    /// Run the engine: `f` gets the engine, the world and the time.
    fn with_engine<T>(&mut self, f: impl FnOnce(&mut Engine, &World, hub_skills::automation::Now) -> T) -> T {
        let states = self.states.clone();
        let lookup = move |id: &str| -> Option<DeviceState> { states.read().ok().and_then(|m| m.get(id).cloned()) };
        let registry = self.registry.get();
        let w = World { registry: &registry, states: &lookup };
        let now = self.clock.now();
        f(&mut self.engine, &w, now)
    }

    pub(super) async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        self.subscribe_mqtt();
        let mut events = self.bus.subscribe();
        let mut stop = self.stop.clone();
        let (_, mut mqtt_rx) = mpsc::channel(1);
        std::mem::swap(&mut mqtt_rx, &mut self.mqtt_rx);
        let out = self.with_engine(|e, w, now| {
            let mut out = e.tick(w, now);
            out.extend(e.handle(&Event::Start, None, w, now));
            out
        });
        self.apply(out, None).await;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = self.engine.next_deadline().map(|t| {
                let wait = (t - self.clock.now().ms).clamp(0, 1000) as u64;
                tokio::time::Instant::now() + Duration::from_millis(wait)
            });
            let wake = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tick.tick() => Wake::Tick,
                _ = sleep_until(due) => Wake::Tick,
                ev = events.recv() => match ev {
                    None => break,
                    Some(env) => Wake::Bus(env),
                },
                msg = mqtt_rx.recv() => match msg {
                    None => Wake::Tick,
                    Some(m) => Wake::Mqtt(m),
                },
                req = requests.recv() => match req {
                    None => break,
                    Some(r) => Wake::Request(r),
                },
            };
            let out = match wake {
                Wake::Tick => self.with_engine(|e, w, now| e.tick(w, now)),
                Wake::Bus(env) => self.on_bus(&env.event),
                Wake::Mqtt((topic, payload)) => {
                    let payload = String::from_utf8_lossy(&payload).into_owned();
                    self.with_engine(|e, w, now| e.handle(&Event::Mqtt { topic, payload }, None, w, now))
                }
                Wake::Request(r) => {
                    self.on_request(r).await;
                    Vec::new()
                }
            };
            self.apply(out, None).await;
        }
        let out = self.with_engine(|e, _, now| e.cancel_all(now));
        self.apply(out, None).await;
    }

    fn on_bus(&mut self, ev: &HubEvent) -> Vec<Output> {
        let now = self.clock.now().ms;
        match ev {
            HubEvent::StateChanged { entity_id, old, new, .. } => {
                // The first report after a rule's command is its echo; later ones are not the rule's doing.
                let cause = self.caused.remove(entity_id).filter(|(_, until)| *until >= now).map(|(c, _)| c);
                let ev = Event::State {
                    entity_id: entity_id.clone(),
                    old: old.clone().map(Box::new),
                    new: Box::new(new.clone()),
                };
                self.with_engine(|e, w, now| e.handle(&ev, cause, w, now))
            }
            HubEvent::Motion { camera, on } => {
                let ev = Event::Motion { camera: camera.clone(), on: *on };
                self.with_engine(|e, w, now| e.handle(&ev, None, w, now))
            }
            HubEvent::CameraEvent {
                event_type,
                id,
                camera,
                label,
                top_score,
                current_zones,
                entered_zones,
                start_time,
                end_time,
                has_snapshot,
            } => {
                // Frigate's `after` object, as `trigger.event` in templates.
                let after = serde_json::json!({
                    "id": id, "camera": camera, "label": label, "top_score": top_score, "score": top_score,
                    "current_zones": current_zones, "entered_zones": entered_zones,
                    "start_time": start_time, "end_time": end_time, "has_snapshot": has_snapshot,
                });
                let ev = Event::Camera { kind: event_type.clone(), after };
                self.with_engine(|e, w, now| e.handle(&ev, None, w, now))
            }
            _ => Vec::new(),
        }
    }

    async fn on_request(&mut self, r: Request) {
        match r {
            Request::List(reply) => {
                let _ = reply.send(self.engine.rules());
            }
            Request::Trigger { id, skip_condition, reply } => {
                match self.with_engine(|e, w, now| e.trigger(&id, skip_condition, w, now)) {
                    Ok(out) => {
                        let _ = reply.send(Ok(()));
                        self.apply(out, None).await;
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Request::SetEnabled { id, enabled, reply } => {
                let now = self.clock.now();
                match self.engine.set_enabled(&id, enabled, now) {
                    Ok(out) => {
                        self.apply(out, None).await;
                        let _ = reply.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Request::Sentence { text, reply } => {
                let out = self.with_engine(|e, w, now| e.sentence(&text, w, now));
                match out {
                    None => {
                        let _ = reply.send(None);
                    }
                    Some(out) => self.apply(out, Some(reply)).await,
                }
            }
            Request::Replace { engine, reply } => {
                let now = self.clock.now();
                let out = self.engine.cancel_all(now);
                self.apply(out, None).await;
                self.engine = *engine;
                if let Err(e) = apply_switches(&mut self.engine, &self.store, now).await {
                    tracing::error!(error = %e, "cannot read the automation switches; rules keep their configured state");
                }
                let _ = self.with_engine(|e, w, now| e.tick(w, now));
                self.subscribe_mqtt();
                tracing::info!(rules = self.engine.rules().len(), "automations reloaded");
                let _ = reply.send(());
            }
        }
    }

    /// Carry out the engine's outputs in order. Commands are committed to
    /// the outbox first; finished runs are stored together at the end.
    async fn apply(
        &mut self,
        out: Vec<Output>,
        mut sentence: Option<tokio::sync::oneshot::Sender<Option<SentenceReply>>>,
    ) {
        let mut records: Vec<RunRecord> = Vec::new();
        for o in out {
            match o {
                Output::Started { .. } => {}
                Output::Commands { run, rule, depth, step, commands } => {
                    let until = self.clock.now().ms + CAUSE_WINDOW_MS;
                    for c in &commands {
                        self.caused.insert(c.device_id.clone(), (Cause { rule: rule.clone(), depth }, until));
                    }
                    match self.outbox.enqueue(commands).await {
                        Ok(rows) => {
                            if let Ok(mut m) = self.commits.lock() {
                                m.insert(rule.clone(), std::time::Instant::now());
                            }
                            self.command_ids.entry((run, step)).or_default().extend(rows.iter().map(|r| r.id));
                        }
                        Err(e) => tracing::error!(automation = %rule, error = %e, "automation commands not enqueued"),
                    }
                }
                Output::Publish { topic, payload, retain, .. } => self.publish(topic, payload.into_bytes(), retain),
                Output::Notify { rule, target, title, message, .. } => {
                    let body = serde_json::json!({
                        "automation": rule, "target": target, "title": title, "message": message,
                        "at": self.clock.now().ms,
                    });
                    self.publish(format!("{NOTIFY_PREFIX}/{target}"), body.to_string().into_bytes(), false);
                }
                Output::Announce { rule, message, .. } => match &self.speaker {
                    Some(s) => s.announce(message, "automation"),
                    None => tracing::warn!(automation = %rule, message, "announcement not spoken: no audio output"),
                },
                Output::Reply { rule, text, .. } => {
                    if let Some(tx) = sentence.take() {
                        let _ = tx.send(Some(SentenceReply { automation_id: rule, reply: text }));
                    }
                }
                Output::Enabled { rule, enabled } => {
                    if let Err(e) = self.store.set_automation_enabled(&rule, enabled).await {
                        tracing::error!(automation = %rule, error = %e, "cannot store the automation switch");
                    }
                }
                Output::Ended(mut rec) => {
                    for (i, st) in rec.steps.iter_mut().enumerate() {
                        if let Some(ids) = self.command_ids.remove(&(rec.run, i)) {
                            st.command_ids = ids;
                        }
                    }
                    records.push(rec);
                }
            }
        }
        if let Some(tx) = sentence.take() {
            let _ = tx.send(None);
        }
        let now = self.clock.now().ms;
        self.caused.retain(|_, (_, until)| *until >= now);
        if records.is_empty() {
            return;
        }
        let rows: Vec<NewAutomationRun> = records.iter().map(row).collect();
        match self.store.insert_automation_runs(&rows).await {
            Ok(ids) => {
                for (id, r) in ids.into_iter().zip(records) {
                    let outcome = outcome_text(&r);
                    if r.outcome != hub_skills::automation::Outcome::Finished {
                        tracing::info!(automation = %r.rule, outcome = ?r.outcome, error = ?r.error, "automation run");
                    }
                    self.bus.publish(HubEvent::AutomationRun {
                        run_id: id,
                        automation_id: r.rule,
                        outcome,
                        trigger: r.trigger,
                        error: r.error,
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot store automation runs"),
        }
    }

    /// QoS 1 through the link, or soon after when it is down.
    fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) {
        self.link.publish_soon(topic, payload, retain, "automation message");
    }
}

/// Rules switched on or off by hand (persisted) override their configured `enabled`.
/// A switch for a rule that no longer exists is kept for when it comes back.
async fn apply_switches(
    engine: &mut Engine,
    store: &Store,
    now: hub_skills::automation::Now,
) -> Result<(), crate::store::StoreError> {
    for (id, enabled) in store.automation_switches().await? {
        let _ = engine.set_enabled(&id, enabled, now);
    }
    Ok(())
}

enum Wake {
    Tick,
    Bus(Arc<crate::events::Envelope>),
    Mqtt((String, Bytes)),
    Request(Request),
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn outcome_text(r: &RunRecord) -> String {
    serde_json::to_value(r.outcome).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn row(r: &RunRecord) -> NewAutomationRun {
    NewAutomationRun {
        automation_id: r.rule.clone(),
        outcome: outcome_text(r),
        trigger: r.trigger.clone(),
        conditions: serde_json::to_value(&r.conditions).unwrap_or_default(),
        steps: serde_json::to_value(&r.steps).unwrap_or_default(),
        error: r.error.clone(),
        cause: r.cause.as_ref().and_then(|c| serde_json::to_value(c).ok()),
        started_at: r.started,
        ended_at: r.ended,
    }
}
