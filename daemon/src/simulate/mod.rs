//! Demo-home simulator: one virtual device per registry device that has a
//! firmware dialect, each subscribing to the command topics its real
//! firmware listens on and publishing state the way that firmware does.
//!
//! The firmware behaviour ([`VirtualDevice::handle`]) is a pure state
//! machine (topic + payload in, messages out), written from the firmware
//! documentation on its own: it deliberately does not call
//! `firmware_bridge::encode`/`parse_state`, so the bridge is never tested
//! against itself. Sources per dialect:
//! - Zigbee2MQTT: zigbee2mqtt.io `guide/usage/mqtt_topics_and_messages.md`
//!   (`<base>/<friendly>/set` JSON and `/set/<attr>`, `/get`, full-state JSON
//!   on `<base>/<friendly>`, not retained by default; availability
//!   `{"state":"online"}` retained; `bridge/state` retained);
//! - Tasmota: tasmota/docs `MQTT.md`, `Commands.md` (`cmnd/<t>/<Command>`,
//!   answers on `stat/<t>/RESULT` + `stat/<t>/POWER<n>`, `tele/<t>/LWT`
//!   Online/Offline retained, `tele/<t>/STATE`, `{"Command":"Unknown"}`);
//! - ESPHome: `components/mqtt.rst` and `mqtt_*.cpp` (state retained by
//!   default, `<node>/status` online/offline as birth/will);
//! - Shelly gen1: API docs "MQTT" (`shellies/<id>/online` true/false retained,
//!   `relay/<n>` on/off, `roller/<n>` + `roller/<n>/pos`, `light|color/<n>/status`);
//! - Valetudo (robot vacuums): Hypfer/Valetudo `docs/_pages/integrations/mqtt.md`
//!   (valetudo.cloud/pages/integrations/mqtt.html): `<prefix>/<identifier>/`
//!   `BasicControlCapability/operation/set` (`START|STOP|PAUSE|HOME`) and
//!   `MapSegmentationCapability/clean/set` (the REST body
//!   `{"segment_ids":[..],"iterations":n,"customOrder":bool}`), each echoed on
//!   its command response topic (the same without `/set`), not retained;
//!   `StatusStateAttribute/status` and `/flag` retained; the Homie `$state`
//!   `ready` retained, `lost` as the last will;
//! - generic JSON: hubd's own convention (see firmware-bridge `generic.rs` docs).
//!
//! Per kind, as each firmware documents it: Zigbee2MQTT fans are ZCL Fan
//! Control fans (`fan_mode`/`fan_state`, zigbee-herdsman-converters
//! `tz.fan_mode` and `exposes.ts` `class Fan`), thermostats take `fan_mode`,
//! water valves are an on/off `state` (plus `position`); ESPHome has
//! `mqtt_valve.cpp`, `mqtt_button.cpp` (`PRESS`, no state), a fan's
//! `speed_level` (`mqtt_fan.cpp`, `fan/fan.cpp`, `speed_count` 100) and a
//! climate's `fan_mode` (`mqtt_climate.cpp`); a Tasmota fan with `speed` is a
//! Sonoff iFan (`FanSpeed 0..3`, `xdrv_22_sonoff_ifan.ino`), Tasmota and
//! Shelly valves are a relay (on = open). Kinds a firmware has no entity for
//! (a Zigbee2MQTT vacuum, an ESPHome weather, ...), hub-defined scenes and
//! scripts, and hub-held `input_boolean`s (their dialect is hubd's own
//! `ha_mqtt` topic) get no virtual device.
//!
//! Every virtual device counts what it receives on its command topics and
//! what it applies, and publishes `hubd/sim/<entity_id>/receipts`
//! `{"received": n, "applied": m}` (retained) after each, so tests can check
//! that a command was applied exactly once. In-process callers (the e2e
//! tests) can also pass a [`SimLog`] to [`run_with`] and read receipt counts
//! and the last state each device published directly.
//!
//! Layout: this module holds the device model ([`VirtualDevice`]: topics,
//! birth, receipts, dispatch) and the MQTT side ([`run`]); each firmware's
//! behaviour is in its own module, mirroring `firmware-bridge/src/`.
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firmware_bridge::{DeviceKind, Dialect, Features};
use hub_skills::registry::{Device, Registry};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde_json::{Map, Value, json};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

mod esphome;
mod generic;
mod shelly;
mod tasmota;
mod valetudo;
mod z2m;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_domains;
#[cfg(test)]
mod tests_roundtrip;

use tasmota::tasmota_unknown;

#[derive(Debug, Error)]
pub enum SimError {
    #[error("no device in the registry has a firmware dialect to simulate")]
    NothingToSimulate,
    #[error("simulator task failed: {0}")]
    Task(String),
}

/// One MQTT message a virtual device publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

fn m(topic: impl Into<String>, payload: impl Into<Vec<u8>>, retain: bool) -> Msg {
    Msg { topic: topic.into(), payload: payload.into(), retain }
}

/// Simulated device state, in firmware-neutral units.
#[derive(Debug, Clone, PartialEq)]
struct SimState {
    on: bool,
    /// 0.0..=1.0
    level: f64,
    rgb: (u8, u8, u8),
    mired: u32,
    /// Whether the last colour command was RGB (else white/colour temperature).
    color_mode_rgb: bool,
    /// Cover position 0 = closed, 100 = open.
    position: u8,
    locked: bool,
    target: f64,
    current: f64,
    /// Fan speed: ESPHome's `speed_level` (1..=100), a generic fan's
    /// percentage, a Tasmota iFan's `FanSpeed` (0..=3).
    speed: u8,
    /// A Zigbee2MQTT fan's ZCL `fan_mode` (`off` = off), a climate's fan mode.
    fan_mode: String,
    /// What a vacuum, lawn mower or media player is doing, in the words its
    /// firmware reports (Valetudo's status, Home Assistant's activity).
    activity: String,
    /// Valetudo: the job is a segment clean (`StatusStateAttribute/flag`).
    segment_job: bool,
    /// Media player volume 0..=100, mute, and track number.
    volume: u8,
    muted: bool,
    track: u32,
    /// Media player: the `media_content_id` it was last told to play.
    media: String,
}

impl Default for SimState {
    fn default() -> Self {
        SimState {
            on: false,
            level: 1.0,
            rgb: (255, 255, 255),
            mired: 370,
            color_mode_rgb: false,
            position: 0,
            locked: true,
            target: 20.0,
            current: 20.5,
            speed: 0,
            fan_mode: String::new(),
            activity: String::new(),
            segment_job: false,
            volume: 30,
            muted: false,
            track: 1,
            media: String::new(),
        }
    }
}

/// One simulated device. Pure: no I/O.
#[derive(Debug, Clone)]
pub struct VirtualDevice {
    pub entity_id: String,
    kind: DeviceKind,
    features: Features,
    dialect: Dialect,
    st: SimState,
    pub received: u64,
    pub applied: u64,
    /// Zigbee2MQTT's per-device `retain: true`: state messages are retained.
    z2m_retain: bool,
}

/// What a command did.
enum Outcome {
    /// Not one of this device's command topics.
    NotMine,
    /// Received but not applied (bad payload, unknown value).
    Rejected(Vec<Msg>),
    /// Applied; these are the firmware's answers.
    Applied(Vec<Msg>),
    /// A query (e.g. an empty Tasmota payload, z2m `/get`): answered, nothing applied.
    Query(Vec<Msg>),
}

impl VirtualDevice {
    /// A virtual device for a registry device; `None` if it has no dialect,
    /// or its firmware has no such entity (see [`has_firmware`]).
    pub fn new(d: &Device) -> Option<Self> {
        let dialect = d.dialect.clone()?;
        if !has_firmware(d.kind, &dialect) {
            return None;
        }
        let mut st = SimState::default();
        // Give each device a slightly different reading so tests can tell them apart.
        let salt = d.id.bytes().fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b))) % 20;
        st.current = 19.0 + f64::from(salt) / 10.0;
        st.activity = match d.kind {
            DeviceKind::Vacuum | DeviceKind::LawnMower => "docked".into(),
            DeviceKind::MediaPlayer => "off".into(),
            _ => String::new(),
        };
        st.fan_mode = match d.kind {
            DeviceKind::Fan => "off".into(),
            // The device's own spelling of `auto` if it has one, else its first mode.
            DeviceKind::Climate => {
                let modes = &d.features.fan_modes;
                modes.iter().find(|m| m.eq_ignore_ascii_case("auto")).or(modes.first()).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        Some(VirtualDevice {
            entity_id: d.id.clone(),
            kind: d.kind,
            features: d.features.clone(),
            dialect,
            st,
            received: 0,
            applied: 0,
            z2m_retain: false,
        })
    }

    /// Zigbee2MQTT devices publish their state retained (the device option
    /// `retain: true`), so a client that subscribes later sees it.
    pub fn with_z2m_retain(mut self, retain: bool) -> Self {
        self.z2m_retain = retain;
        self
    }

    /// The MQTT connection this device's firmware runs on: devices sharing
    /// a Tasmota topic, an ESPHome node, a Shelly id or a Zigbee2MQTT base
    /// share one client (and one last will), as the real firmware does.
    pub fn instance_key(&self) -> String {
        match &self.dialect {
            Dialect::Zigbee2mqtt { base_topic, .. } => format!("z2m:{base_topic}"),
            Dialect::Tasmota { topic, .. } => format!("tasmota:{topic}"),
            Dialect::Esphome { node, .. } => format!("esphome:{node}"),
            Dialect::ShellyGen1 { device_id, .. } => format!("shelly:{device_id}"),
            Dialect::GenericJson { .. } | Dialect::HaMqtt { .. } => format!("generic:{}", self.entity_id),
            Dialect::Valetudo { prefix, identifier } => format!("valetudo:{prefix}/{identifier}"),
        }
    }

    /// The last will of this device's connection (published by the broker
    /// when the simulator disconnects uncleanly).
    pub fn will(&self) -> Option<Msg> {
        Some(match &self.dialect {
            Dialect::Zigbee2mqtt { base_topic, .. } => {
                m(format!("{base_topic}/bridge/state"), r#"{"state":"offline"}"#, true)
            }
            Dialect::Tasmota { topic, .. } => m(format!("tele/{topic}/LWT"), "Offline", true),
            Dialect::Esphome { node, .. } => m(format!("{node}/status"), "offline", true),
            Dialect::ShellyGen1 { device_id, .. } => m(format!("shellies/{device_id}/online"), "false", true),
            Dialect::Valetudo { prefix, identifier } => m(format!("{prefix}/{identifier}/$state"), "lost", true),
            Dialect::GenericJson { .. } | Dialect::HaMqtt { .. } => return None,
        })
    }

    /// Topic filters the firmware subscribes to.
    pub fn subscriptions(&self) -> Vec<String> {
        match &self.dialect {
            Dialect::Zigbee2mqtt { friendly_name, base_topic } => vec![
                format!("{base_topic}/{friendly_name}/set"),
                format!("{base_topic}/{friendly_name}/set/+"),
                format!("{base_topic}/{friendly_name}/get"),
            ],
            Dialect::Tasmota { topic, .. } => vec![format!("cmnd/{topic}/+")],
            Dialect::Esphome { node, object_id } => self.esphome_subscriptions(node, object_id),
            Dialect::ShellyGen1 { device_id, relay } => {
                let r = format!("shellies/{device_id}");
                vec![
                    format!("{r}/relay/{relay}/command"),
                    format!("{r}/roller/{relay}/command"),
                    format!("{r}/roller/{relay}/command/pos"),
                    format!("{r}/light/{relay}/command"),
                    format!("{r}/light/{relay}/set"),
                    format!("{r}/color/{relay}/command"),
                    format!("{r}/color/{relay}/set"),
                ]
            }
            Dialect::GenericJson { command_topic, .. } | Dialect::HaMqtt { command_topic, .. } => {
                vec![command_topic.clone()]
            }
            Dialect::Valetudo { prefix, identifier } => {
                let base = format!("{prefix}/{identifier}");
                vec![
                    format!("{base}/BasicControlCapability/operation/set"),
                    format!("{base}/MapSegmentationCapability/clean/set"),
                ]
            }
        }
    }

    /// Messages the firmware publishes when it (re)connects: availability
    /// and current state.
    pub fn birth(&self) -> Vec<Msg> {
        let mut out = Vec::new();
        match &self.dialect {
            Dialect::Zigbee2mqtt { friendly_name, base_topic } => {
                out.push(m(format!("{base_topic}/bridge/state"), r#"{"state":"online"}"#, true));
                out.push(m(format!("{base_topic}/{friendly_name}/availability"), r#"{"state":"online"}"#, true));
                out.push(self.z2m_state(base_topic, friendly_name));
            }
            Dialect::Tasmota { topic, .. } => {
                out.push(m(format!("tele/{topic}/LWT"), "Online", true));
                match self.kind {
                    DeviceKind::Sensor | DeviceKind::BinarySensor => out.push(self.tasmota_sensor(topic)),
                    DeviceKind::Cover => out.push(self.tasmota_shutter(topic)),
                    _ => out.push(m(format!("tele/{topic}/STATE"), self.tasmota_state_json(true).to_string(), false)),
                }
            }
            Dialect::Esphome { node, .. } => {
                out.push(m(format!("{node}/status"), "online", true));
                out.extend(self.esphome_state());
            }
            Dialect::ShellyGen1 { device_id, .. } => {
                out.push(m(format!("shellies/{device_id}/online"), "true", true));
                out.extend(self.shelly_state(device_id));
            }
            Dialect::GenericJson { state_topic, .. } => out.extend(self.generic_state_msg(state_topic)),
            Dialect::Valetudo { prefix, identifier } => {
                out.push(m(format!("{prefix}/{identifier}/$state"), "ready", true));
                out.extend(self.valetudo_state(prefix, identifier));
            }
            Dialect::HaMqtt { .. } => {}
        }
        out.push(self.receipts());
        out
    }

    /// The retained receipts message.
    pub fn receipts(&self) -> Msg {
        m(
            format!("hubd/sim/{}/receipts", self.entity_id),
            json!({"received": self.received, "applied": self.applied}).to_string(),
            true,
        )
    }

    /// Handle one incoming message. `None` when it is not addressed to this
    /// device; otherwise the firmware's answers followed by the receipts.
    pub fn handle(&mut self, topic: &str, payload: &[u8]) -> Option<Vec<Msg>> {
        let text = String::from_utf8_lossy(payload).trim().to_string();
        let outcome = match self.dialect.clone() {
            Dialect::Zigbee2mqtt { friendly_name, base_topic } => self.z2m(&base_topic, &friendly_name, topic, &text),
            Dialect::Tasmota { topic: t, relay } => self.tasmota(&t, relay, topic, &text),
            Dialect::Esphome { node, object_id } => self.esphome(&node, &object_id, topic, &text),
            Dialect::ShellyGen1 { device_id, relay } => self.shelly(&device_id, relay, topic, &text),
            Dialect::GenericJson { command_topic, state_topic } => {
                if topic != command_topic {
                    Outcome::NotMine
                } else {
                    self.generic(&state_topic, &text)
                }
            }
            Dialect::Valetudo { prefix, identifier } => self.valetudo(&prefix, &identifier, topic, &text),
            Dialect::HaMqtt { .. } => Outcome::NotMine,
        };
        let mut out = match outcome {
            Outcome::NotMine => return None,
            Outcome::Query(v) => v,
            Outcome::Rejected(v) => {
                self.received += 1;
                v
            }
            Outcome::Applied(v) => {
                self.received += 1;
                self.applied += 1;
                v
            }
        };
        out.push(self.receipts());
        Some(out)
    }
}

/// Whether `kind` exists in the firmware `dialect` stands for: hub-defined
/// scenes and scripts never do, nor Home Assistant entities (hubd's own
/// hub-held `input_boolean` topic among them), nor the kinds a firmware has
/// no entity for (Zigbee2MQTT, Tasmota and Shelly have no vacuum, mower,
/// pressable button, boolean or weather; ESPHome no vacuum, mower, boolean
/// or weather; Valetudo is only a vacuum). Generic JSON firmware is anything.
pub fn has_firmware(kind: DeviceKind, dialect: &Dialect) -> bool {
    use DeviceKind as K;
    if kind.is_hub_defined() {
        return false;
    }
    match dialect {
        Dialect::HaMqtt { .. } => false,
        Dialect::Valetudo { .. } => kind == K::Vacuum,
        Dialect::GenericJson { .. } => true,
        Dialect::Esphome { .. } => !matches!(kind, K::Vacuum | K::LawnMower | K::InputBoolean | K::Weather),
        Dialect::Zigbee2mqtt { .. } | Dialect::Tasmota { .. } | Dialect::ShellyGen1 { .. } => {
            !matches!(kind, K::Vacuum | K::LawnMower | K::Button | K::InputBoolean | K::Weather)
        }
    }
}

/// `#RRGGBB` / `RRGGBB` (firmware-side parser, independent of the bridge's).
fn sim_hex(s: &str) -> Option<(u8, u8, u8)> {
    let h = s.trim().trim_start_matches('#');
    if h.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some(((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

// ---------------------------------------------------------------------------
// The MQTT side.

/// How the simulator runs, beyond the firmware defaults.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Zigbee2MQTT state messages retained (the device option `retain: true`).
    pub z2m_retain: bool,
    /// Longest delay between reconnect attempts.
    pub backoff_max: Duration,
    /// Where to record what the devices receive and publish.
    pub log: Option<SimLog>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions { z2m_retain: false, backoff_max: Duration::from_secs(5), log: None }
    }
}

/// What the simulated devices received and published, readable while the
/// simulator runs (cheap to clone; a std mutex never held across `.await`).
#[derive(Debug, Clone, Default)]
pub struct SimLog {
    inner: Arc<Mutex<LogInner>>,
}

#[derive(Debug, Default)]
struct LogInner {
    /// Commands received (applied or rejected) per (topic, payload).
    receipts: HashMap<(String, String), u32>,
    received: u64,
    applied: u64,
    /// The last payload published on each topic.
    last: HashMap<String, Vec<u8>>,
}

impl SimLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commands received by all devices (queries such as `/get` excluded).
    pub fn received(&self) -> u64 {
        self.lock().received
    }

    /// Commands applied by all devices.
    pub fn applied(&self) -> u64 {
        self.lock().applied
    }

    /// How often each (topic, payload) command was received.
    pub fn receipts(&self) -> HashMap<(String, String), u32> {
        self.lock().receipts.clone()
    }

    /// The last payload a device published on `topic`.
    pub fn last(&self, topic: &str) -> Option<Vec<u8>> {
        self.lock().last.get(topic).cloned()
    }

    /// The last payload on `topic` as a JSON object (device state).
    pub fn last_json(&self, topic: &str) -> Option<Map<String, Value>> {
        match serde_json::from_slice(&self.last(topic)?) {
            Ok(Value::Object(o)) => Some(o),
            _ => None,
        }
    }

    fn command(&self, topic: &str, payload: &[u8], applied: bool) {
        let mut g = self.lock();
        let key = (topic.to_string(), String::from_utf8_lossy(payload).into_owned());
        *g.receipts.entry(key).or_default() += 1;
        g.received += 1;
        if applied {
            g.applied += 1;
        }
    }

    fn published(&self, msg: &Msg) {
        self.lock().last.insert(msg.topic.clone(), msg.payload.clone());
    }
}

/// Run the simulator until `shutdown` resolves: one MQTT client per
/// firmware instance (Tasmota topic, ESPHome node, Shelly id, Zigbee2MQTT
/// base topic), QoS 1, each with its firmware's last will.
pub async fn run(
    registry: Registry,
    host: String,
    port: u16,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SimError> {
    run_with(registry, host, port, SimOptions::default(), shutdown).await
}

/// [`run`] with options: retained Zigbee2MQTT state, the reconnect backoff,
/// and a [`SimLog`] to read receipts and states from.
pub async fn run_with(
    registry: Registry,
    host: String,
    port: u16,
    options: SimOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SimError> {
    let mut instances: BTreeMap<String, Vec<VirtualDevice>> = BTreeMap::new();
    for d in &registry.devices {
        if let Some(v) = VirtualDevice::new(d) {
            let v = v.with_z2m_retain(options.z2m_retain);
            instances.entry(v.instance_key()).or_default().push(v);
        }
    }
    if instances.is_empty() {
        return Err(SimError::NothingToSimulate);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for (key, devices) in instances {
        tasks.spawn(instance(key, devices, host.clone(), port, options.clone(), stop_rx.clone()));
    }
    tracing::info!(host = %host, port, instances = tasks.len(), "simulator running");
    shutdown.await;
    let _ = stop_tx.send(true);
    let mut first_err = None;
    while let Some(res) = tasks.join_next().await {
        if let Err(e) = res {
            first_err.get_or_insert(SimError::Task(e.to_string()));
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// One firmware instance: connect, subscribe, publish birth, answer commands.
async fn instance(
    key: String,
    mut devices: Vec<VirtualDevice>,
    host: String,
    port: u16,
    options: SimOptions,
    mut stop: watch::Receiver<bool>,
) {
    let log = options.log.as_ref();
    let client_id: String = format!("sim-{key}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    let mut opts = MqttOptions::new(client_id, host, port);
    opts.set_keep_alive(Duration::from_secs(15));
    opts.set_clean_session(true);
    if let Some(w) = devices.first().and_then(VirtualDevice::will) {
        opts.set_last_will(LastWill::new(w.topic, w.payload, QoS::AtLeastOnce, w.retain));
    }
    // Capacity covers a burst of answers per command (≤ 6 each) without
    // blocking: answers are queued with try_publish from the poll loop.
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            ev = eventloop.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = Duration::from_millis(100);
                    for d in &devices {
                        for t in d.subscriptions() {
                            if let Err(e) = client.try_subscribe(t.clone(), QoS::AtLeastOnce) {
                                tracing::warn!(%key, topic = %t, error = %e, "simulator subscribe failed");
                            }
                        }
                        for msg in d.birth() {
                            publish(&client, &key, log, msg);
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let mut answered = false;
                    for d in devices.iter_mut() {
                        let (received, applied) = (d.received, d.applied);
                        if let Some(out) = d.handle(&p.topic, &p.payload) {
                            answered = true;
                            if let Some(log) = log.filter(|_| d.received > received) {
                                log.command(&p.topic, &p.payload, d.applied > applied);
                            }
                            for msg in out {
                                publish(&client, &key, log, msg);
                            }
                        }
                    }
                    if !answered
                        && let Some(cmd) = tasmota_unknown(&key, &p.topic) {
                            publish(&client, &key, log, cmd);
                        }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(%key, error = %e, "simulator connection error; retrying");
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(options.backoff_max);
                }
            }
        }
    }
    // A clean disconnect, like a firmware reboot: the will is not sent.
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Ok(ev) = eventloop.poll().await {
            if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
}

fn publish(client: &AsyncClient, key: &str, log: Option<&SimLog>, msg: Msg) {
    if let Some(log) = log {
        log.published(&msg);
    }
    if let Err(e) = client.try_publish(msg.topic.clone(), QoS::AtLeastOnce, msg.retain, msg.payload) {
        tracing::warn!(%key, topic = %msg.topic, error = %e, "simulator publish dropped");
    }
}
