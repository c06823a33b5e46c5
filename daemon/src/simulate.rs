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
//! - generic JSON: hubd's own convention (see firmware-bridge `generic.rs` docs).
//!
//! Every virtual device counts what it receives on its command topics and
//! what it applies, and publishes `hubd/sim/<entity_id>/receipts`
//! `{"received": n, "applied": m}` (retained) after each, so tests can check
//! that a command was applied exactly once.
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use firmware_bridge::{DeviceKind, Dialect, Features};
use hub_skills::registry::{Device, Registry};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde_json::{Map, Value, json};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

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
    /// A virtual device for a registry device; `None` if it has no dialect.
    pub fn new(d: &Device) -> Option<Self> {
        let mut st = SimState::default();
        // Give each device a slightly different reading so tests can tell them apart.
        let salt = d.id.bytes().fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b))) % 20;
        st.current = 19.0 + f64::from(salt) / 10.0;
        Some(VirtualDevice {
            entity_id: d.id.clone(),
            kind: d.kind,
            features: d.features.clone(),
            dialect: d.dialect.clone()?,
            st,
            received: 0,
            applied: 0,
        })
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
            Dialect::GenericJson { .. } => format!("generic:{}", self.entity_id),
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
            Dialect::GenericJson { .. } => return None,
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
            Dialect::Esphome { node, object_id } => {
                let base = format!("{node}/{}/{object_id}", esphome_component(self.kind));
                match self.kind {
                    DeviceKind::Cover => vec![format!("{base}/command"), format!("{base}/position/command")],
                    DeviceKind::Climate => {
                        vec![format!("{base}/target_temperature/command"), format!("{base}/mode/command")]
                    }
                    _ => vec![format!("{base}/command")],
                }
            }
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
            Dialect::GenericJson { command_topic, .. } => vec![command_topic.clone()],
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
            Dialect::GenericJson { state_topic, .. } => out.push(m(state_topic.clone(), self.generic_state(), false)),
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

    // -- Zigbee2MQTT -------------------------------------------------------

    fn z2m(&mut self, base: &str, friendly: &str, topic: &str, text: &str) -> Outcome {
        let dev = format!("{base}/{friendly}");
        let Some(rest) = topic.strip_prefix(&dev) else {
            return Outcome::NotMine;
        };
        let obj: Map<String, Value> = match rest {
            "/get" => return Outcome::Query(vec![self.z2m_state(base, friendly)]),
            "/set" => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(o)) => o,
                // Zigbee2MQTT logs "Invalid JSON" and publishes nothing.
                _ => return Outcome::Rejected(vec![]),
            },
            other => match other.strip_prefix("/set/") {
                // Plain single-attribute form: `/set/state` with `ON`.
                Some(attr) => {
                    let v = text.parse::<f64>().map(|f| json!(f)).unwrap_or_else(|_| json!(text));
                    let mut o = Map::new();
                    o.insert(attr.to_string(), v);
                    o
                }
                None => return Outcome::NotMine,
            },
        };
        let mut applied = false;
        for (k, v) in &obj {
            applied |= self.z2m_attr(k, v);
        }
        let state = vec![self.z2m_state(base, friendly)];
        if applied { Outcome::Applied(state) } else { Outcome::Rejected(vec![]) }
    }

    fn z2m_attr(&mut self, k: &str, v: &Value) -> bool {
        let st = &mut self.st;
        match (self.kind, k) {
            (DeviceKind::Lock, "state") => match v.as_str() {
                Some("LOCK") => st.locked = true,
                Some("UNLOCK") => st.locked = false,
                _ => return false,
            },
            (DeviceKind::Cover, "state") => match v.as_str() {
                Some("OPEN") => st.position = 100,
                Some("CLOSE") => st.position = 0,
                Some("STOP") => {}
                _ => return false,
            },
            (DeviceKind::Cover, "position") => match v.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => st.position = p.round() as u8,
                _ => return false,
            },
            (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan, "state") => {
                match v.as_str().map(str::to_ascii_uppercase).as_deref() {
                    Some("ON") => st.on = true,
                    Some("OFF") => st.on = false,
                    Some("TOGGLE") => st.on = !st.on,
                    _ => return false,
                }
            }
            (DeviceKind::Light, "brightness") => match v.as_f64() {
                Some(b) if (0.0..=254.0).contains(&b) => {
                    st.level = b / 254.0;
                    st.on = b > 0.0;
                }
                _ => return false,
            },
            (DeviceKind::Light, "color_temp") if self.features.color_temp => match v.as_f64() {
                Some(mired) if (150.0..=500.0).contains(&mired) => {
                    st.mired = mired.round() as u32;
                    st.color_mode_rgb = false;
                }
                _ => return false,
            },
            (DeviceKind::Light, "color") if self.features.color => {
                let Some(c) = v.as_object() else { return false };
                let rgb = if let (Some(r), Some(g), Some(b)) = (c.get("r"), c.get("g"), c.get("b")) {
                    let ch = |x: &Value| x.as_u64().filter(|n| *n <= 255).map(|n| n as u8);
                    match (ch(r), ch(g), ch(b)) {
                        (Some(r), Some(g), Some(b)) => (r, g, b),
                        _ => return false,
                    }
                } else if let Some(h) = c.get("hex").and_then(Value::as_str) {
                    match sim_hex(h) {
                        Some(rgb) => rgb,
                        None => return false,
                    }
                } else {
                    return false;
                };
                st.rgb = rgb;
                st.color_mode_rgb = true;
            }
            (DeviceKind::Climate, "occupied_heating_setpoint") => match v.as_f64() {
                Some(t) if (5.0..=30.0).contains(&t) => st.target = (t * 2.0).round() / 2.0,
                _ => return false,
            },
            (DeviceKind::Climate, "system_mode") => match v.as_str() {
                Some("off") => st.on = false,
                Some("heat" | "auto") => st.on = true,
                _ => return false,
            },
            _ => return false,
        }
        true
    }

    /// Zigbee2MQTT publishes the device's whole cached state on every change.
    fn z2m_state(&self, base: &str, friendly: &str) -> Msg {
        let st = &self.st;
        let onoff = |b: bool| if b { "ON" } else { "OFF" };
        let mut o = json!({"linkquality": 120});
        match self.kind {
            DeviceKind::Light => {
                o["state"] = json!(onoff(st.on));
                if self.features.dimmable || self.features.color || self.features.color_temp {
                    o["brightness"] = json!((st.level * 254.0).round() as u32);
                }
                if self.features.color_temp {
                    o["color_temp"] = json!(st.mired);
                }
                if self.features.color {
                    // The bulb reports CIE xy (zigbee2mqtt converts r,g,b before sending it).
                    let (x, y) = sim_rgb_to_xy(st.rgb);
                    o["color"] = json!({"x": (x * 10000.0).round() / 10000.0, "y": (y * 10000.0).round() / 10000.0});
                }
                if self.features.color || self.features.color_temp {
                    o["color_mode"] = json!(if st.color_mode_rgb { "xy" } else { "color_temp" });
                }
            }
            DeviceKind::Switch | DeviceKind::Fan => o["state"] = json!(onoff(st.on)),
            DeviceKind::Cover => {
                o["position"] = json!(st.position);
                o["state"] = json!(if st.position > 0 { "OPEN" } else { "CLOSE" });
            }
            DeviceKind::Lock => {
                o["state"] = json!(if st.locked { "LOCK" } else { "UNLOCK" });
                o["lock_state"] = json!(if st.locked { "locked" } else { "unlocked" });
            }
            DeviceKind::Climate => {
                o["local_temperature"] = json!(st.current);
                o["occupied_heating_setpoint"] = json!(st.target);
                o["system_mode"] = json!(if st.on { "heat" } else { "off" });
            }
            DeviceKind::Sensor => {
                o["temperature"] = json!(st.current);
                o["humidity"] = json!(45);
            }
            DeviceKind::BinarySensor => o["occupancy"] = json!(false),
            _ => {}
        }
        m(format!("{base}/{friendly}"), o.to_string(), false)
    }

    // -- Tasmota -----------------------------------------------------------

    fn tasmota(&mut self, t: &str, relay: Option<u8>, topic: &str, text: &str) -> Outcome {
        let Some(cmd) = topic.strip_prefix(&format!("cmnd/{t}/")) else {
            return Outcome::NotMine;
        };
        let lc = cmd.to_ascii_lowercase();
        let is_relay_kind = matches!(self.kind, DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan);
        let my_index = relay.unwrap_or(1);
        let shutter = format!("{}", relay.unwrap_or(1));
        // Which command family, and is it addressed to this device?
        if is_relay_kind && lc.starts_with("power") {
            let idx: u8 = if lc == "power" {
                1
            } else {
                match lc.get("power".len()..).map(str::parse::<u8>) {
                    Some(Ok(i)) => i,
                    _ => return Outcome::NotMine,
                }
            };
            if idx != my_index {
                return Outcome::NotMine;
            }
            let key = if relay.is_some() { format!("POWER{my_index}") } else { "POWER".to_string() };
            let applied = match text.to_ascii_uppercase().as_str() {
                "" => None,
                "ON" | "1" => Some(true),
                "OFF" | "0" => Some(false),
                "TOGGLE" | "2" => Some(!self.st.on),
                _ => {
                    return Outcome::Rejected(vec![m(format!("stat/{t}/RESULT"), r#"{"Command":"Error"}"#, false)]);
                }
            };
            if let Some(on) = applied {
                self.st.on = on;
            }
            let word = if self.st.on { "ON" } else { "OFF" };
            let msgs = vec![
                m(format!("stat/{t}/RESULT"), json!({ key.clone(): word }).to_string(), false),
                m(format!("stat/{t}/{key}"), word, false),
            ];
            return if applied.is_some() { Outcome::Applied(msgs) } else { Outcome::Query(msgs) };
        }
        if self.kind == DeviceKind::Light && matches!(lc.as_str(), "dimmer" | "color" | "ct") {
            let ok = match lc.as_str() {
                "dimmer" if self.features.dimmable || self.features.color || self.features.color_temp => {
                    match text.parse::<u32>() {
                        Ok(d) if d <= 100 => {
                            self.st.level = f64::from(d) / 100.0;
                            self.st.on = d > 0;
                            true
                        }
                        _ => false,
                    }
                }
                "color" if self.features.color => match sim_hex(text).or_else(|| sim_decimal(text)) {
                    Some(rgb) => {
                        self.st.rgb = rgb;
                        self.st.color_mode_rgb = true;
                        self.st.on = true;
                        true
                    }
                    None => false,
                },
                "ct" if self.features.color_temp => match text.parse::<u32>() {
                    Ok(ct) if (153..=500).contains(&ct) => {
                        self.st.mired = ct;
                        self.st.color_mode_rgb = false;
                        self.st.on = true;
                        true
                    }
                    _ => false,
                },
                // A light without that channel: Tasmota does not know the command.
                _ => {
                    return Outcome::Rejected(vec![m(format!("stat/{t}/RESULT"), r#"{"Command":"Unknown"}"#, false)]);
                }
            };
            if text.is_empty() {
                return Outcome::Query(vec![m(
                    format!("stat/{t}/RESULT"),
                    self.tasmota_state_json(false).to_string(),
                    false,
                )]);
            }
            if !ok {
                return Outcome::Rejected(vec![m(format!("stat/{t}/RESULT"), r#"{"Command":"Error"}"#, false)]);
            }
            let mut msgs = vec![m(format!("stat/{t}/RESULT"), self.tasmota_state_json(false).to_string(), false)];
            let key = if relay.is_some() { format!("POWER{my_index}") } else { "POWER".to_string() };
            msgs.push(m(format!("stat/{t}/{key}"), if self.st.on { "ON" } else { "OFF" }, false));
            return Outcome::Applied(msgs);
        }
        if self.kind == DeviceKind::Cover {
            let act = if lc == format!("shutterposition{shutter}") {
                match text.to_ascii_uppercase().as_str() {
                    "UP" | "OPEN" => Some(100),
                    "DOWN" | "CLOSE" => Some(0),
                    "STOP" => Some(self.st.position),
                    s => match s.parse::<u8>() {
                        Ok(p) if p <= 100 => Some(p),
                        _ => {
                            return Outcome::Rejected(vec![m(
                                format!("stat/{t}/RESULT"),
                                r#"{"Command":"Error"}"#,
                                false,
                            )]);
                        }
                    },
                }
            } else if lc == format!("shutteropen{shutter}") {
                Some(100)
            } else if lc == format!("shutterclose{shutter}") {
                Some(0)
            } else if lc == format!("shutterstop{shutter}") {
                Some(self.st.position)
            } else {
                None
            };
            if let Some(p) = act {
                self.st.position = p;
                return Outcome::Applied(vec![self.tasmota_shutter_result(t)]);
            }
        }
        Outcome::NotMine
    }

    fn tasmota_state_json(&self, tele: bool) -> Value {
        let mut o = Map::new();
        if tele {
            o.insert("Time".into(), json!("2024-01-01T00:00:00"));
            o.insert("Uptime".into(), json!("0T00:00:01"));
        }
        let key = match &self.dialect {
            Dialect::Tasmota { relay: Some(n), .. } => format!("POWER{n}"),
            _ => "POWER".to_string(),
        };
        o.insert(key, json!(if self.st.on { "ON" } else { "OFF" }));
        if self.kind == DeviceKind::Light && (self.features.dimmable || self.features.color || self.features.color_temp)
        {
            o.insert("Dimmer".into(), json!((self.st.level * 100.0).round() as u32));
            if self.features.color {
                let (r, g, b) = self.st.rgb;
                o.insert("Color".into(), json!(format!("{r:02X}{g:02X}{b:02X}")));
            }
            if self.features.color_temp {
                o.insert("CT".into(), json!(self.st.mired));
            }
        }
        Value::Object(o)
    }

    fn tasmota_shutter_result(&self, t: &str) -> Msg {
        let n = match &self.dialect {
            Dialect::Tasmota { relay: Some(n), .. } => *n,
            _ => 1,
        };
        let p = self.st.position;
        m(
            format!("stat/{t}/RESULT"),
            json!({ format!("Shutter{n}"): {"Position": p, "Direction": 0, "Target": p, "Tilt": 0} }).to_string(),
            false,
        )
    }

    fn tasmota_shutter(&self, t: &str) -> Msg {
        let mut msg = self.tasmota_shutter_result(t);
        msg.topic = format!("tele/{t}/SENSOR");
        msg
    }

    fn tasmota_sensor(&self, t: &str) -> Msg {
        m(
            format!("tele/{t}/SENSOR"),
            json!({"Time": "2024-01-01T00:00:00", "DS18B20": {"Id": "01144A0CB2AA", "Temperature": self.st.current}, "TempUnit": "C"})
                .to_string(),
            false,
        )
    }

    // -- ESPHome -----------------------------------------------------------

    fn esphome(&mut self, node: &str, obj: &str, topic: &str, text: &str) -> Outcome {
        let base = format!("{node}/{}/{obj}/", esphome_component(self.kind));
        let Some(leaf) = topic.strip_prefix(&base) else {
            return Outcome::NotMine;
        };
        let up = text.to_ascii_uppercase();
        let ok = match (self.kind, leaf) {
            (DeviceKind::Light, "command") => {
                let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
                    return Outcome::Rejected(vec![]);
                };
                self.esphome_light(&o)
            }
            (DeviceKind::Switch | DeviceKind::Fan, "command") => match up.as_str() {
                "ON" => {
                    self.st.on = true;
                    true
                }
                "OFF" => {
                    self.st.on = false;
                    true
                }
                "TOGGLE" => {
                    self.st.on = !self.st.on;
                    true
                }
                _ => false,
            },
            (DeviceKind::Cover, "command") => match up.as_str() {
                "OPEN" => {
                    self.st.position = 100;
                    true
                }
                "CLOSE" => {
                    self.st.position = 0;
                    true
                }
                "STOP" => true,
                _ => false,
            },
            (DeviceKind::Cover, "position/command") if self.features.position => match text.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => {
                    self.st.position = p.round() as u8;
                    true
                }
                _ => false,
            },
            (DeviceKind::Climate, "target_temperature/command") => match text.parse::<f64>() {
                Ok(t) if t.is_finite() => {
                    self.st.target = t;
                    true
                }
                _ => false,
            },
            (DeviceKind::Climate, "mode/command") => match up.as_str() {
                "OFF" => {
                    self.st.on = false;
                    true
                }
                "HEAT" | "AUTO" | "HEAT_COOL" | "COOL" => {
                    self.st.on = true;
                    true
                }
                _ => false,
            },
            (DeviceKind::Lock, "command") => match up.as_str() {
                "LOCK" => {
                    self.st.locked = true;
                    true
                }
                "UNLOCK" | "OPEN" => {
                    self.st.locked = false;
                    true
                }
                _ => false,
            },
            _ => return Outcome::NotMine,
        };
        if ok { Outcome::Applied(self.esphome_state()) } else { Outcome::Rejected(vec![]) }
    }

    /// light_json_schema.cpp `parse_json`.
    fn esphome_light(&mut self, o: &Map<String, Value>) -> bool {
        let mut any = false;
        if let Some(s) = o.get("state").and_then(Value::as_str) {
            match s.to_ascii_uppercase().as_str() {
                "ON" => self.st.on = true,
                "OFF" => self.st.on = false,
                "TOGGLE" => self.st.on = !self.st.on,
                _ => return false,
            }
            any = true;
        }
        if let Some(b) = o.get("brightness").and_then(Value::as_u64).filter(|b| *b <= 255) {
            self.st.level = b as f64 / 255.0;
            any = true;
        }
        if let Some(c) = o.get("color").and_then(Value::as_object) {
            if self.features.color {
                let ch = |k: &str| c.get(k).and_then(Value::as_u64).filter(|n| *n <= 255).map(|n| n as u8);
                if let (Some(r), Some(g), Some(b)) = (ch("r"), ch("g"), ch("b")) {
                    self.st.rgb = (r, g, b);
                    self.st.color_mode_rgb = true;
                    any = true;
                }
            }
        }
        if let Some(t) = o.get("color_temp").and_then(Value::as_u64) {
            if self.features.color_temp {
                self.st.mired = t as u32;
                self.st.color_mode_rgb = false;
                any = true;
            }
        }
        any
    }

    /// State messages (ESPHome retains them by default).
    fn esphome_state(&self) -> Vec<Msg> {
        let Dialect::Esphome { node, object_id } = &self.dialect else {
            return vec![];
        };
        let base = format!("{node}/{}/{object_id}", esphome_component(self.kind));
        let st = &self.st;
        let onoff = if st.on { "ON" } else { "OFF" };
        match self.kind {
            DeviceKind::Light => {
                let f = &self.features;
                let mode = if f.color && (st.color_mode_rgb || !f.color_temp) {
                    "rgb"
                } else if f.color_temp {
                    "color_temp"
                } else if f.dimmable {
                    "brightness"
                } else {
                    "onoff"
                };
                let mut o = json!({"color_mode": mode, "state": onoff});
                if mode != "onoff" {
                    o["brightness"] = json!((st.level * 255.0).round() as u32);
                }
                o["color"] = json!({});
                if mode == "rgb" {
                    o["color"] = json!({"r": st.rgb.0, "g": st.rgb.1, "b": st.rgb.2});
                }
                if mode == "color_temp" {
                    o["color_temp"] = json!(st.mired);
                }
                vec![m(format!("{base}/state"), o.to_string(), true)]
            }
            DeviceKind::Switch | DeviceKind::Fan | DeviceKind::BinarySensor => {
                vec![m(format!("{base}/state"), onoff, true)]
            }
            DeviceKind::Cover => {
                if self.features.position {
                    vec![m(format!("{base}/position/state"), st.position.to_string(), true)]
                } else {
                    let s = match st.position {
                        100 => "open",
                        0 => "closed",
                        _ => "unknown",
                    };
                    vec![m(format!("{base}/state"), s, true)]
                }
            }
            DeviceKind::Climate => vec![
                m(format!("{base}/mode/state"), if st.on { "heat" } else { "off" }, true),
                m(format!("{base}/current_temperature/state"), format!("{:.1}", st.current), true),
                m(format!("{base}/target_temperature/state"), format!("{:.1}", st.target), true),
            ],
            DeviceKind::Lock => vec![m(format!("{base}/state"), if st.locked { "LOCKED" } else { "UNLOCKED" }, true)],
            DeviceKind::Sensor => vec![m(format!("{base}/state"), format!("{:.1}", st.current), true)],
            _ => vec![],
        }
    }

    // -- Shelly gen1 -------------------------------------------------------

    fn shelly(&mut self, id: &str, n: u8, topic: &str, text: &str) -> Outcome {
        let root = format!("shellies/{id}/");
        let Some(leaf) = topic.strip_prefix(&root) else {
            return Outcome::NotMine;
        };
        let f = &self.features;
        let is_color = self.kind == DeviceKind::Light && f.color;
        let is_white = self.kind == DeviceKind::Light && !f.color && (f.dimmable || f.color_temp);
        let is_relay =
            matches!(self.kind, DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan) && !is_color && !is_white;
        let nn = n.to_string();
        let parts: Vec<&str> = leaf.split('/').collect();
        let turn = |st: &mut SimState, w: &str| -> bool {
            match w {
                "on" => st.on = true,
                "off" => st.on = false,
                "toggle" => st.on = !st.on,
                _ => return false,
            }
            true
        };
        let ok = match parts.as_slice() {
            ["relay", i, "command"] if is_relay && *i == nn => turn(&mut self.st, text),
            ["light", i, "command"] if is_white && *i == nn => turn(&mut self.st, text),
            ["color", i, "command"] if is_color && *i == nn => turn(&mut self.st, text),
            [ch @ ("light" | "color"), i, "set"]
                if *i == nn && ((*ch == "light" && is_white) || (*ch == "color" && is_color)) =>
            {
                let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
                    return Outcome::Rejected(vec![]);
                };
                let mut any = false;
                if let Some(t) = o.get("turn").and_then(Value::as_str) {
                    any |= turn(&mut self.st, t);
                }
                let bkey = if *ch == "color" { "gain" } else { "brightness" };
                if let Some(b) = o.get(bkey).and_then(Value::as_u64).filter(|b| *b <= 100) {
                    self.st.level = b as f64 / 100.0;
                    any = true;
                }
                if let Some(k) = o.get("temp").and_then(Value::as_u64).filter(|k| (2700..=6500).contains(k)) {
                    self.st.mired = (1_000_000 / k) as u32;
                    any = true;
                }
                let c = |k: &str| o.get(k).and_then(Value::as_u64).filter(|v| *v <= 255).map(|v| v as u8);
                if let (Some(r), Some(g), Some(b)) = (c("red"), c("green"), c("blue")) {
                    self.st.rgb = (r, g, b);
                    any = true;
                }
                any
            }
            ["roller", i, "command"] if self.kind == DeviceKind::Cover && *i == nn => match text {
                "open" => {
                    self.st.position = 100;
                    true
                }
                "close" => {
                    self.st.position = 0;
                    true
                }
                "stop" => true,
                _ => false,
            },
            ["roller", i, "command", "pos"] if self.kind == DeviceKind::Cover && *i == nn => match text.parse::<u8>() {
                Ok(p) if p <= 100 => {
                    self.st.position = p;
                    true
                }
                _ => false,
            },
            _ => return Outcome::NotMine,
        };
        if ok { Outcome::Applied(self.shelly_state(id)) } else { Outcome::Rejected(vec![]) }
    }

    fn shelly_state(&self, id: &str) -> Vec<Msg> {
        let Dialect::ShellyGen1 { relay: n, .. } = &self.dialect else {
            return vec![];
        };
        let r = format!("shellies/{id}");
        let st = &self.st;
        let onoff = if st.on { "on" } else { "off" };
        let f = &self.features;
        match self.kind {
            DeviceKind::Light if f.color => vec![
                m(format!("{r}/color/{n}"), onoff, false),
                m(
                    format!("{r}/color/{n}/status"),
                    json!({"ison": st.on, "mode": "color", "red": st.rgb.0, "green": st.rgb.1, "blue": st.rgb.2,
                           "white": 0, "gain": (st.level * 100.0).round() as u32, "effect": 0})
                    .to_string(),
                    false,
                ),
            ],
            DeviceKind::Light if f.dimmable || f.color_temp => vec![
                m(format!("{r}/light/{n}"), onoff, false),
                m(
                    format!("{r}/light/{n}/status"),
                    json!({"ison": st.on, "has_timer": false, "mode": "white",
                           "brightness": (st.level * 100.0).round() as u32, "temp": 1_000_000 / st.mired.max(1)})
                    .to_string(),
                    false,
                ),
            ],
            DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan => vec![m(format!("{r}/relay/{n}"), onoff, false)],
            DeviceKind::Cover => vec![
                m(format!("{r}/roller/{n}"), "stop", false),
                m(format!("{r}/roller/{n}/pos"), st.position.to_string(), false),
            ],
            DeviceKind::Sensor => vec![m(format!("{r}/sensor/temperature"), format!("{:.2}", st.current), false)],
            _ => vec![],
        }
    }

    // -- generic JSON ------------------------------------------------------

    fn generic(&mut self, state_topic: &str, text: &str) -> Outcome {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
            return Outcome::Rejected(vec![]);
        };
        let st = &mut self.st;
        let mut any = false;
        if let Some(s) = o.get("state").and_then(Value::as_str) {
            match s {
                "ON" => st.on = true,
                "OFF" => st.on = false,
                "TOGGLE" => st.on = !st.on,
                "OPEN" => st.position = 100,
                "CLOSE" => st.position = 0,
                "STOP" => {}
                "LOCK" => st.locked = true,
                "UNLOCK" => st.locked = false,
                _ => return Outcome::Rejected(vec![]),
            }
            any = true;
        }
        if let Some(b) = o.get("brightness").and_then(Value::as_u64).filter(|b| *b <= 100) {
            st.level = b as f64 / 100.0;
            any = true;
        }
        if let Some(c) = o.get("color").and_then(Value::as_object) {
            let ch = |k: &str| c.get(k).and_then(Value::as_u64).filter(|v| *v <= 255).map(|v| v as u8);
            if let (Some(r), Some(g), Some(b)) = (ch("r"), ch("g"), ch("b")) {
                st.rgb = (r, g, b);
                st.color_mode_rgb = true;
                any = true;
            }
        }
        if let Some(k) = o.get("color_temp_kelvin").and_then(Value::as_u64).filter(|k| *k > 0) {
            st.mired = (1_000_000 / k) as u32;
            st.color_mode_rgb = false;
            any = true;
        }
        if let Some(t) = o.get("target_temperature").and_then(Value::as_f64) {
            st.target = t;
            any = true;
        }
        if let Some(p) = o.get("position").and_then(Value::as_u64).filter(|p| *p <= 100) {
            st.position = p as u8;
            any = true;
        }
        if any {
            Outcome::Applied(vec![m(state_topic, self.generic_state(), false)])
        } else {
            Outcome::Rejected(vec![])
        }
    }

    fn generic_state(&self) -> String {
        let st = &self.st;
        let v = match self.kind {
            DeviceKind::Lock => json!({"state": if st.locked { "LOCKED" } else { "UNLOCKED" }}),
            DeviceKind::Cover => json!({"position": st.position}),
            DeviceKind::Climate => {
                json!({"target_temperature": st.target, "current_temperature": st.current})
            }
            DeviceKind::Sensor => json!({"temperature": st.current}),
            DeviceKind::Light => {
                let mut o =
                    json!({"state": if st.on { "ON" } else { "OFF" }, "brightness": (st.level * 100.0).round() as u32});
                if self.features.color && st.color_mode_rgb {
                    o["color"] = json!({"r": st.rgb.0, "g": st.rgb.1, "b": st.rgb.2});
                }
                if self.features.color_temp && !st.color_mode_rgb {
                    o["color_temp_kelvin"] = json!(1_000_000 / st.mired.max(1));
                }
                o
            }
            _ => json!({"state": if st.on { "ON" } else { "OFF" }}),
        };
        v.to_string()
    }
}

fn esphome_component(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Light => "light",
        DeviceKind::Switch => "switch",
        DeviceKind::Fan => "fan",
        DeviceKind::Cover => "cover",
        DeviceKind::Climate => "climate",
        DeviceKind::Lock => "lock",
        DeviceKind::Sensor => "sensor",
        DeviceKind::BinarySensor => "binary_sensor",
        DeviceKind::MediaPlayer => "media_player",
        DeviceKind::Person => "person",
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

/// Tasmota `r,g,b`.
fn sim_decimal(s: &str) -> Option<(u8, u8, u8)> {
    let v: Vec<u8> = s.split(',').map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
    match v.as_slice() {
        [r, g, b, ..] => Some((*r, *g, *b)),
        _ => None,
    }
}

/// RGB -> CIE xy as zigbee-herdsman-converters does before sending a colour
/// to a bulb (sRGB gamma, Philips wide-gamut D65 matrix).
fn sim_rgb_to_xy((r, g, b): (u8, u8, u8)) -> (f64, f64) {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c > 0.04045 { ((c + 0.055) / 1.055).powf(2.4) } else { c / 12.92 }
    };
    let (r, g, b) = (lin(r), lin(g), lin(b));
    let x = r * 0.664511 + g * 0.154324 + b * 0.162028;
    let y = r * 0.283881 + g * 0.668433 + b * 0.047685;
    let z = r * 0.000088 + g * 0.072310 + b * 0.986039;
    let s = x + y + z;
    if s == 0.0 { (0.0, 0.0) } else { (x / s, y / s) }
}

// ---------------------------------------------------------------------------
// The MQTT side.

/// Run the simulator until `shutdown` resolves: one MQTT client per
/// firmware instance (Tasmota topic, ESPHome node, Shelly id, Zigbee2MQTT
/// base topic), QoS 1, each with its firmware's last will.
pub async fn run(
    registry: Registry,
    host: String,
    port: u16,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SimError> {
    let mut instances: BTreeMap<String, Vec<VirtualDevice>> = BTreeMap::new();
    for d in &registry.devices {
        if let Some(v) = VirtualDevice::new(d) {
            instances.entry(v.instance_key()).or_default().push(v);
        }
    }
    if instances.is_empty() {
        return Err(SimError::NothingToSimulate);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for (key, devices) in instances {
        tasks.spawn(instance(key, devices, host.clone(), port, stop_rx.clone()));
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
    mut stop: watch::Receiver<bool>,
) {
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
                            publish(&client, &key, msg);
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let mut answered = false;
                    for d in devices.iter_mut() {
                        if let Some(out) = d.handle(&p.topic, &p.payload) {
                            answered = true;
                            for msg in out {
                                publish(&client, &key, msg);
                            }
                        }
                    }
                    if !answered {
                        if let Some(cmd) = tasmota_unknown(&key, &p.topic) {
                            publish(&client, &key, cmd);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(%key, error = %e, "simulator connection error; retrying");
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
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

/// Tasmota answers a command nobody on the topic knows with `{"Command":"Unknown"}`.
fn tasmota_unknown(key: &str, topic: &str) -> Option<Msg> {
    let t = key.strip_prefix("tasmota:")?;
    topic.strip_prefix(&format!("cmnd/{t}/"))?;
    Some(m(format!("stat/{t}/RESULT"), r#"{"Command":"Unknown"}"#, false))
}

fn publish(client: &AsyncClient, key: &str, msg: Msg) {
    if let Err(e) = client.try_publish(msg.topic.clone(), QoS::AtLeastOnce, msg.retain, msg.payload) {
        tracing::warn!(%key, topic = %msg.topic, error = %e, "simulator publish dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_skills::registry::Device;

    fn dev(id: &str, kind: DeviceKind, dialect: Dialect, features: Features) -> VirtualDevice {
        VirtualDevice::new(&Device {
            id: id.into(),
            kind,
            name: id.into(),
            aliases: vec![],
            area: None,
            device_class: None,
            dialect: Some(dialect),
            features,
        })
        .unwrap()
    }

    fn text(msgs: &[Msg], topic: &str) -> Option<String> {
        msgs.iter().rev().find(|m| m.topic == topic).map(|m| String::from_utf8_lossy(&m.payload).into_owned())
    }

    fn json_at(msgs: &[Msg], topic: &str) -> Value {
        serde_json::from_str(&text(msgs, topic).unwrap_or_default()).unwrap_or(Value::Null)
    }

    fn color() -> Features {
        Features { dimmable: true, color: true, color_temp: true, position: false }
    }

    #[test]
    fn z2m_light() {
        let mut d = dev(
            "light.k",
            DeviceKind::Light,
            Dialect::Zigbee2mqtt { friendly_name: "k".into(), base_topic: "zigbee2mqtt".into() },
            color(),
        );
        let birth = d.birth();
        assert_eq!(text(&birth, "zigbee2mqtt/k/availability").as_deref(), Some(r#"{"state":"online"}"#));
        assert!(birth.iter().any(|m| m.topic == "zigbee2mqtt/bridge/state" && m.retain));
        assert_eq!(d.handle("zigbee2mqtt/other/set", br#"{"state":"ON"}"#), None);
        let out = d.handle("zigbee2mqtt/k/set", br#"{"state":"ON","brightness":127}"#).unwrap();
        let s = json_at(&out, "zigbee2mqtt/k");
        assert_eq!((s["state"].as_str(), s["brightness"].as_u64()), (Some("ON"), Some(127)));
        assert!(!out.iter().find(|m| m.topic == "zigbee2mqtt/k").unwrap().retain);
        let out = d.handle("zigbee2mqtt/k/set", br#"{"color":{"r":255,"g":0,"b":0}}"#).unwrap();
        let s = json_at(&out, "zigbee2mqtt/k");
        assert_eq!(s["color_mode"], "xy");
        assert!((s["color"]["x"].as_f64().unwrap() - 0.7006).abs() < 0.001, "{s}");
        // Plain single-attribute form.
        let out = d.handle("zigbee2mqtt/k/set/state", b"OFF").unwrap();
        assert_eq!(json_at(&out, "zigbee2mqtt/k")["state"], "OFF");
        // Garbage: received, not applied, nothing published but the receipts.
        let out = d.handle("zigbee2mqtt/k/set", b"{not json").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(json_at(&out, "hubd/sim/light.k/receipts"), json!({"received": 4, "applied": 3}));
        // /get is a query: not counted.
        d.handle("zigbee2mqtt/k/get", b"{\"state\":\"\"}").unwrap();
        assert_eq!((d.received, d.applied), (4, 3));
    }

    #[test]
    fn tasmota_relays_and_light() {
        let t = |relay| Dialect::Tasmota { topic: "plug".into(), relay };
        let mut sw = dev("switch.p", DeviceKind::Switch, t(None), Features::default());
        let out = sw.handle("cmnd/plug/POWER", b"ON").unwrap();
        assert_eq!(text(&out, "stat/plug/RESULT").as_deref(), Some(r#"{"POWER":"ON"}"#));
        assert_eq!(text(&out, "stat/plug/POWER").as_deref(), Some("ON"));
        let out = sw.handle("cmnd/plug/POWER", b"TOGGLE").unwrap();
        assert_eq!(text(&out, "stat/plug/POWER").as_deref(), Some("OFF"));
        // Empty payload is a query.
        sw.handle("cmnd/plug/POWER", b"").unwrap();
        assert_eq!((sw.received, sw.applied), (2, 2));
        // A colour on a relay: not this device's command.
        assert_eq!(sw.handle("cmnd/plug/Color", b"#FF0000"), None);
        assert!(tasmota_unknown("tasmota:plug", "cmnd/plug/Color").is_some());
        // Second relay.
        let mut r2 = dev("switch.p2", DeviceKind::Switch, t(Some(2)), Features::default());
        assert_eq!(r2.handle("cmnd/plug/POWER1", b"ON"), None);
        let out = r2.handle("cmnd/plug/POWER2", b"ON").unwrap();
        assert_eq!(text(&out, "stat/plug/RESULT").as_deref(), Some(r#"{"POWER2":"ON"}"#));
        // Light channels.
        let mut l = dev("light.b", DeviceKind::Light, t(None), color());
        let out = l.handle("cmnd/plug/Dimmer", b"40").unwrap();
        let r = json_at(&out, "stat/plug/RESULT");
        assert_eq!((r["POWER"].as_str(), r["Dimmer"].as_u64()), (Some("ON"), Some(40)));
        let out = l.handle("cmnd/plug/Color", b"#FF8000").unwrap();
        assert_eq!(json_at(&out, "stat/plug/RESULT")["Color"], "FF8000");
        let out = l.handle("cmnd/plug/CT", b"600").unwrap();
        assert_eq!(json_at(&out, "stat/plug/RESULT")["Command"], "Error");
        assert_eq!((l.received, l.applied), (3, 2));
    }

    #[test]
    fn esphome_and_shelly_and_generic() {
        let mut lock = dev(
            "lock.f",
            DeviceKind::Lock,
            Dialect::Esphome { node: "hall".into(), object_id: "front".into() },
            Features::default(),
        );
        let out = lock.handle("hall/lock/front/command", b"UNLOCK").unwrap();
        assert_eq!(text(&out, "hall/lock/front/state").as_deref(), Some("UNLOCKED"));
        assert!(out.iter().find(|m| m.topic == "hall/lock/front/state").unwrap().retain);
        let mut th = dev(
            "climate.t",
            DeviceKind::Climate,
            Dialect::Esphome { node: "hall".into(), object_id: "hp".into() },
            Features::default(),
        );
        let out = th.handle("hall/climate/hp/target_temperature/command", b"21.5").unwrap();
        assert_eq!(text(&out, "hall/climate/hp/target_temperature/state").as_deref(), Some("21.5"));
        let mut lamp = dev(
            "light.l",
            DeviceKind::Light,
            Dialect::Esphome { node: "lr".into(), object_id: "lamp".into() },
            color(),
        );
        let out = lamp.handle("lr/light/lamp/command", br#"{"state":"ON","color":{"r":0,"g":0,"b":255}}"#).unwrap();
        let s = json_at(&out, "lr/light/lamp/state");
        assert_eq!((s["color_mode"].as_str(), s["color"]["b"].as_u64()), (Some("rgb"), Some(255)));

        let mut roller = dev(
            "cover.r",
            DeviceKind::Cover,
            Dialect::ShellyGen1 { device_id: "s25".into(), relay: 0 },
            Features { position: true, ..Default::default() },
        );
        let out = roller.handle("shellies/s25/roller/0/command/pos", b"60").unwrap();
        assert_eq!(text(&out, "shellies/s25/roller/0/pos").as_deref(), Some("60"));
        let mut relay = dev(
            "switch.s",
            DeviceKind::Switch,
            Dialect::ShellyGen1 { device_id: "s1".into(), relay: 0 },
            Features::default(),
        );
        let out = relay.handle("shellies/s1/relay/0/command", b"on").unwrap();
        assert_eq!(text(&out, "shellies/s1/relay/0").as_deref(), Some("on"));
        assert_eq!(relay.handle("shellies/s1/relay/1/command", b"on"), None);
        assert_eq!(text(&relay.birth(), "shellies/s1/online").as_deref(), Some("true"));

        let mut g = dev(
            "light.g",
            DeviceKind::Light,
            Dialect::GenericJson { command_topic: "diy/set".into(), state_topic: "diy".into() },
            color(),
        );
        let out = g.handle("diy/set", br#"{"state":"ON","brightness":30}"#).unwrap();
        assert_eq!(json_at(&out, "diy")["brightness"], 30);
    }
}

/// Against a real broker: Debian's mosquitto on a free loopback port.
#[cfg(test)]
mod broker_tests {
    use super::*;
    use firmware_bridge::{Action, DeviceCommand, DeviceState, Rgb, encode, parse_state};
    use hub_skills::registry::Device;
    use std::process::{Child, Command, Stdio};

    struct Mosquitto(Child);
    impl Drop for Mosquitto {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    async fn mosquitto() -> (Mosquitto, u16) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("/usr/sbin/mosquitto")
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (apt install mosquitto)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return (Mosquitto(child), port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mosquitto did not start on port {port}");
    }

    fn device(id: &str, kind: DeviceKind, dialect: Dialect, features: Features) -> Device {
        Device {
            id: id.into(),
            kind,
            name: id.into(),
            aliases: vec![],
            area: None,
            device_class: None,
            dialect: Some(dialect),
            features,
        }
    }

    /// Publish `cmd`'s encoding, fold every state message the simulator
    /// answers with through the bridge's parser, until the state satisfies
    /// the command; then check the receipts say it was applied once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bridge_commands_reach_simulated_firmware() {
        let (_broker, port) = mosquitto().await;
        let color = Features { dimmable: true, color: true, color_temp: true, position: false };
        let devices = vec![
            device(
                "light.z",
                DeviceKind::Light,
                Dialect::Zigbee2mqtt { friendly_name: "z".into(), base_topic: "zigbee2mqtt".into() },
                color.clone(),
            ),
            device(
                "light.t",
                DeviceKind::Light,
                Dialect::Tasmota { topic: "tlight".into(), relay: None },
                color.clone(),
            ),
            device(
                "switch.t2",
                DeviceKind::Switch,
                Dialect::Tasmota { topic: "tplug".into(), relay: Some(2) },
                Features::default(),
            ),
            device(
                "cover.e",
                DeviceKind::Cover,
                Dialect::Esphome { node: "node1".into(), object_id: "blind".into() },
                Features { position: true, ..Default::default() },
            ),
            device(
                "lock.e",
                DeviceKind::Lock,
                Dialect::Esphome { node: "node1".into(), object_id: "door".into() },
                Features::default(),
            ),
            device(
                "climate.e",
                DeviceKind::Climate,
                Dialect::Esphome { node: "node1".into(), object_id: "hp".into() },
                Features::default(),
            ),
            device(
                "cover.s",
                DeviceKind::Cover,
                Dialect::ShellyGen1 { device_id: "s25".into(), relay: 0 },
                Features { position: true, ..Default::default() },
            ),
            device(
                "light.s",
                DeviceKind::Light,
                Dialect::ShellyGen1 { device_id: "rgbw".into(), relay: 0 },
                color.clone(),
            ),
            device(
                "light.g",
                DeviceKind::Light,
                Dialect::GenericJson { command_topic: "diy/g/set".into(), state_topic: "diy/g".into() },
                color.clone(),
            ),
        ];
        let registry = Registry::new(vec![], vec![], devices.clone()).unwrap();
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let sim = tokio::spawn(run(registry, "127.0.0.1".into(), port, async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        }));

        let mut opts = MqttOptions::new("sim-test", "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(10));
        let (client, mut ev) = AsyncClient::new(opts, 256);
        client.subscribe("#", QoS::AtLeastOnce).await.unwrap();

        let cases: Vec<(&str, Action)> = vec![
            ("light.z", Action::Brightness { percent: 40 }),
            ("light.z", Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } }),
            ("light.t", Action::Color { rgb: Rgb { r: 0, g: 0, b: 255 } }),
            ("light.t", Action::ColorTemp { kelvin: 2700 }),
            ("switch.t2", Action::TurnOn),
            ("cover.e", Action::Position { percent: 30 }),
            ("lock.e", Action::Unlock),
            ("climate.e", Action::TargetTemperature { celsius: 22.5 }),
            ("cover.s", Action::Open),
            ("light.s", Action::Color { rgb: Rgb { r: 0, g: 255, b: 0 } }),
            ("light.g", Action::Brightness { percent: 70 }),
        ];
        let mut states: BTreeMap<String, DeviceState> = BTreeMap::new();
        let mut receipts: BTreeMap<String, Value> = BTreeMap::new();
        // Wait for every device's birth (receipts are published after its subscriptions).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let pump = |states: &mut BTreeMap<String, DeviceState>,
                    receipts: &mut BTreeMap<String, Value>,
                    topic: &str,
                    payload: &[u8]| {
            if let Some(id) = topic.strip_prefix("hubd/sim/").and_then(|t| t.strip_suffix("/receipts")) {
                receipts.insert(id.to_string(), serde_json::from_slice(payload).unwrap());
            }
            for d in &devices {
                let dialect = d.dialect.as_ref().unwrap();
                if firmware_bridge::state_topics(dialect, d.kind).iter().any(|t| t == topic) {
                    if let Ok(Some(p)) = parse_state(dialect, d.kind, topic, payload) {
                        states.entry(d.id.clone()).or_default().apply(&p);
                    }
                }
            }
        };
        while devices.iter().any(|d| !receipts.contains_key(&d.id)) {
            let e = tokio::time::timeout_at(deadline, ev.poll()).await.expect("births in time").unwrap();
            if let Event::Incoming(Packet::Publish(p)) = e {
                pump(&mut states, &mut receipts, &p.topic, &p.payload);
            }
        }
        for (id, action) in cases {
            let d = devices.iter().find(|d| d.id == id).unwrap();
            let cmd = DeviceCommand {
                device_id: id.into(),
                kind: d.kind,
                dialect: d.dialect.clone().unwrap(),
                action: action.clone(),
                features: d.features.clone(),
            };
            let before = receipts.get(id).and_then(|r| r["applied"].as_u64()).unwrap_or(0);
            for o in encode(&cmd).unwrap() {
                client.publish(o.topic, QoS::AtLeastOnce, o.retain, o.payload).await.unwrap();
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let done = states.get(id).is_some_and(|s| s.satisfies(&action))
                    && receipts.get(id).and_then(|r| r["applied"].as_u64()) == Some(before + 1);
                if done {
                    break;
                }
                let e = tokio::time::timeout_at(deadline, ev.poll())
                    .await
                    .unwrap_or_else(|_| {
                        panic!("{id} {action:?}: state {:?}, receipts {:?}", states.get(id), receipts.get(id))
                    })
                    .unwrap();
                if let Event::Incoming(Packet::Publish(p)) = e {
                    pump(&mut states, &mut receipts, &p.topic, &p.payload);
                }
            }
        }
        for d in devices.iter().filter(|d| !matches!(d.dialect, Some(Dialect::GenericJson { .. }))) {
            assert_eq!(states.get(&d.id).and_then(|s| s.available), Some(true), "{} availability", d.id);
        }
        // Each device applied exactly what it was sent, once.
        assert_eq!(receipts["light.z"], json!({"received": 2, "applied": 2}));
        assert_eq!(receipts["switch.t2"], json!({"received": 1, "applied": 1}));
        assert_eq!(receipts["cover.e"], json!({"received": 1, "applied": 1}));
        let _ = stop_tx.send(true);
        tokio::time::timeout(Duration::from_secs(5), sim).await.unwrap().unwrap().unwrap();
    }
}
