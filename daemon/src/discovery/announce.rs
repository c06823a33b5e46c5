//! The announcing task: publishes the discovery configs (on every connect,
//! when Home Assistant says `online`, when the rules change), the entities'
//! states (from the event bus, the rules, the outbox), and carries out what
//! comes back on the command topics (rule switches, the `text` entity).

use std::collections::BTreeMap;
use std::time::Duration;

use firmware_bridge::{DiscoveryEntity, Outgoing, discovery_config, discovery_remove};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::entities::{Incoming, PersonTracker, RuleSwitch, Setup};
use crate::automation::Automations;
use crate::events::{EventBus, HubEvent};
use crate::mqtt::{MqttLink, PublishError};
use crate::pipeline::{Origin, Pipeline};
use crate::store::Role;

/// The tap id of the announcer's subscriptions.
const TAP: u64 = 0xD15C_0001;
/// How often rules and the outbox depth are looked at again.
const REFRESH: Duration = Duration::from_secs(2);
/// Sentences from the `text` entity handled at once; more are refused.
const MAX_SAYS: usize = 4;

pub struct Deps {
    pub link: MqttLink,
    pub bus: EventBus,
    pub automations: Automations,
    pub pipeline: Pipeline,
    pub stop: watch::Receiver<bool>,
}

/// Start announcing.
pub fn spawn(setup: Setup, deps: Deps) -> JoinHandle<()> {
    tokio::spawn(
        Announcer { setup, deps, rules: BTreeMap::new(), states: BTreeMap::new(), persons: Default::default() }.run(),
    )
}

struct Announcer {
    setup: Setup,
    deps: Deps,
    /// The rules announced, by key.
    rules: BTreeMap<String, RuleSwitch>,
    /// Last state published per state topic (republished on connect).
    states: BTreeMap<String, String>,
    persons: PersonTracker,
}

impl Announcer {
    async fn run(mut self) {
        let (tx, mut rx) = mpsc::channel(64);
        if let Err(e) = self.deps.link.tap(TAP, self.setup.filters(), tx) {
            tracing::warn!(error = %e, "discovery: cannot listen for Home Assistant");
        }
        let mut bus = self.deps.bus.subscribe();
        let mut connected = self.deps.link.connected_watch();
        let mut says: JoinSet<()> = JoinSet::new();
        let mut tick = tokio::time::interval(REFRESH);
        let mut stop = self.deps.stop.clone();
        for (id, _) in self.setup.cameras.clone() {
            self.states.insert(self.setup.person_topic(&id), "OFF".into());
        }
        self.refresh_rules(false).await;
        let now_connected = *connected.borrow_and_update();
        if now_connected {
            self.announce_all().await;
        }
        loop {
            // The branches only pick what happened; the handling (which
            // awaits) runs after their futures are dropped.
            let step = tokio::select! {
                _ = stop.wait_for(|s| *s) => Step::Stop,
                r = connected.changed() => match r {
                    Err(_) => Step::Stop,
                    Ok(()) => Step::Connected(*connected.borrow_and_update()),
                },
                m = rx.recv() => match m {
                    Some((topic, payload)) => Step::Message(self.setup.incoming(&topic, &payload)),
                    None => Step::Message(None),
                },
                ev = bus.recv() => match ev {
                    Some(ev) => Step::Event(ev),
                    None => Step::Stop,
                },
                _ = tick.tick() => Step::Tick,
            };
            match step {
                Step::Stop => break,
                Step::Connected(true) => self.announce_all().await,
                Step::Connected(false) | Step::Message(None) => {}
                Step::Message(Some(Incoming::HaOnline)) => self.announce_all().await,
                Step::Message(Some(Incoming::SetRule { key, on })) => self.set_rule(&key, on).await,
                Step::Message(Some(Incoming::Say(text))) => {
                    while says.try_join_next().is_some() {}
                    if says.len() >= MAX_SAYS {
                        tracing::warn!("discovery: too many sentences in flight; one from Home Assistant refused");
                    } else {
                        let p = self.deps.pipeline.clone();
                        says.spawn(async move {
                            if let Err(e) = p.handle_text(&text, Origin::text(), false).await {
                                tracing::warn!(error = %e, "discovery: sentence from Home Assistant failed");
                            }
                        });
                    }
                }
                Step::Event(ev) => self.on_event(&ev.event).await,
                Step::Tick => {
                    self.refresh_rules(true).await;
                    self.refresh_depth().await;
                }
            }
        }
        says.shutdown().await;
    }

    async fn on_event(&mut self, ev: &HubEvent) {
        match ev {
            HubEvent::DialogueTurn { role: Role::User, text, .. } => {
                let t = self.setup.last_command_topic();
                self.state(t, clip(text)).await;
            }
            HubEvent::DialogueTurn { role: Role::Assistant, text, .. } => {
                let t = self.setup.last_reply_topic();
                self.state(t, clip(text)).await;
            }
            HubEvent::CameraEvent { event_type, id, camera, label, .. } => {
                if let Some(on) = self.persons.event(camera, id, label, event_type) {
                    let t = self.setup.person_topic(camera);
                    self.state(t, on_off(on).into()).await;
                    self.frame(camera).await;
                }
            }
            HubEvent::Motion { camera, on: true } => self.frame(camera).await,
            _ => {}
        }
    }

    /// Commands not finished yet (pending or sent), from the store.
    async fn refresh_depth(&mut self) {
        match self.deps.pipeline.store().command_counts().await {
            Ok(c) => {
                let t = self.setup.outbox_depth_topic();
                self.state(t, (c.pending + c.sent).to_string()).await;
            }
            Err(e) => tracing::debug!(error = %e, "discovery: outbox depth unknown"),
        }
    }

    /// Re-read the rules; announce new ones, empty the configs of removed
    /// ones (retained, so Home Assistant forgets them), publish switch states.
    async fn refresh_rules(&mut self, publish: bool) {
        let Ok(infos) = self.deps.automations.rules().await else { return };
        let now: BTreeMap<String, RuleSwitch> = infos
            .into_iter()
            .map(|r| RuleSwitch { name: r.alias.clone().unwrap_or_else(|| r.id.clone()), id: r.id, enabled: r.enabled })
            .map(|r| (r.key(), r))
            .collect();
        let old = std::mem::replace(&mut self.rules, now);
        for (key, r) in &self.rules {
            self.states.insert(self.setup.rule_state_topic(key), on_off(r.enabled).into());
        }
        if !publish {
            return;
        }
        let gone: Vec<RuleSwitch> =
            old.iter().filter(|(k, _)| !self.rules.contains_key(*k)).map(|(_, r)| r.clone()).collect();
        let added: Vec<RuleSwitch> = self
            .rules
            .iter()
            .filter(|(k, r)| old.get(*k).map(|o| o.name != r.name) != Some(false))
            .map(|(_, r)| r.clone())
            .collect();
        for e in rule_entities(&self.setup, &gone) {
            self.put(discovery_remove(&self.setup.hub, &e)).await;
            tracing::info!(entity = %e.object_id, "discovery: removed automation switch");
        }
        for e in rule_entities(&self.setup, &added) {
            self.put(discovery_config(&self.setup.hub, &e)).await;
        }
        let changed: Vec<(String, bool)> = self
            .rules
            .iter()
            .filter(|(k, r)| old.get(*k).map(|o| o.enabled) != Some(r.enabled))
            .map(|(k, r)| (k.clone(), r.enabled))
            .collect();
        for (key, on) in changed {
            let t = self.setup.rule_state_topic(&key);
            self.state(t, on_off(on).into()).await;
        }
    }

    async fn set_rule(&mut self, key: &str, on: bool) {
        let Some(r) = self.rules.get(key).cloned() else {
            tracing::warn!(key, "discovery: switch for an unknown automation");
            return;
        };
        match self.deps.automations.set_enabled(&r.id, on).await {
            Ok(()) => {
                if let Some(r) = self.rules.get_mut(key) {
                    r.enabled = on;
                }
                let t = self.setup.rule_state_topic(key);
                self.state(t, on_off(on).into()).await;
            }
            Err(e) => tracing::warn!(rule = %r.id, error = %e, "discovery: cannot switch the automation"),
        }
    }

    /// The camera's latest frame on its image topic (retained).
    async fn frame(&self, camera: &str) {
        if !self.setup.cameras.iter().any(|(id, _)| id == camera) {
            return;
        }
        if let Some(jpeg) = crate::camera::Board::global().get(camera).and_then(|c| c.latest) {
            let topic = self.setup.image_topic(camera);
            self.put(Outgoing { topic, payload: (*jpeg).clone(), retain: true }).await;
        }
    }

    /// Every config, then every known state.
    async fn announce_all(&mut self) {
        let rules: Vec<RuleSwitch> = self.rules.values().cloned().collect();
        for e in self.setup.entities(&rules) {
            self.put(discovery_config(&self.setup.hub, &e)).await;
        }
        let states: Vec<(String, String)> = self.states.iter().map(|(t, v)| (t.clone(), v.clone())).collect();
        for (t, v) in states {
            self.put(Outgoing { topic: t, payload: v.into_bytes(), retain: true }).await;
        }
        for (id, _) in &self.setup.cameras {
            self.frame(id).await;
        }
        tracing::info!(entities = self.setup.entities(&rules).len(), "discovery: announced to Home Assistant");
    }

    /// Publish a retained state when it changed.
    async fn state(&mut self, topic: String, value: String) {
        if self.states.get(&topic) == Some(&value) {
            return;
        }
        self.states.insert(topic.clone(), value.clone());
        self.put(Outgoing { topic, payload: value.into_bytes(), retain: true }).await;
    }

    /// Publish, waiting (bounded) while the link's queue is full; dropped
    /// while disconnected (everything is announced again on connect).
    async fn put(&self, out: Outgoing) {
        for _ in 0..50 {
            match self.deps.link.try_publish(None, &out.topic, out.payload.clone(), out.retain) {
                Ok(()) => return,
                Err(PublishError::Full) => {
                    let _ = tokio::time::timeout(Duration::from_millis(100), self.deps.link.wait_space()).await;
                }
                Err(e) => {
                    tracing::debug!(topic = %out.topic, error = %e, "discovery: not published");
                    return;
                }
            }
        }
    }
}

enum Step {
    Stop,
    Connected(bool),
    Message(Option<Incoming>),
    Event(std::sync::Arc<crate::events::Envelope>),
    Tick,
}

fn rule_entities(setup: &Setup, rules: &[RuleSwitch]) -> Vec<DiscoveryEntity> {
    setup.entities(rules).into_iter().filter(|e| e.object_id.starts_with("automation_")).collect()
}

fn on_off(on: bool) -> &'static str {
    if on { "ON" } else { "OFF" }
}

/// Home Assistant keeps at most 255 characters of a state.
fn clip(s: &str) -> String {
    s.chars().take(255).collect()
}
