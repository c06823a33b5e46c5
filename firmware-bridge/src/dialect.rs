//! Per-firmware topic and payload conventions.
use serde::{Deserialize, Serialize};

use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, StatePatch};
use crate::{esphome, generic, ha_mqtt, payload, shelly, tasmota, z2m};

fn z2m_base() -> String {
    "zigbee2mqtt".to_string()
}

fn on_payload() -> String {
    "ON".to_string()
}

fn off_payload() -> String {
    "OFF".to_string()
}

/// How one device is addressed on MQTT. Deserialised from the device's
/// `dialect = { type = "zigbee2mqtt", friendly_name = "..." }` TOML table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Dialect {
    /// Zigbee2MQTT: command `<base>/<friendly>/set` JSON, state `<base>/<friendly>`.
    Zigbee2mqtt {
        friendly_name: String,
        #[serde(default = "z2m_base")]
        base_topic: String,
    },
    /// Tasmota: `cmnd/<topic>/POWER[n]`, state `stat/<topic>/RESULT`, `tele/<topic>/STATE`.
    Tasmota {
        topic: String,
        /// Relay index for multi-relay devices (`POWER<n>`); None = `POWER`.
        #[serde(default)]
        relay: Option<u8>,
    },
    /// ESPHome MQTT API: `<node>/<component>/<object_id>/command` and `/state`.
    Esphome { node: String, object_id: String },
    /// Shelly gen1: `shellies/<id>/relay/<n>/command`, state `shellies/<id>/relay/<n>`.
    ShellyGen1 {
        device_id: String,
        #[serde(default)]
        relay: u8,
    },
    /// Generic JSON device: command JSON on `command_topic`, state JSON on `state_topic`.
    GenericJson { command_topic: String, state_topic: String },
    /// A Home Assistant MQTT entity as its discovery config describes it:
    /// `payload_on`/`payload_off` (or the `json` light schema) on
    /// `command_topic`, the same values back on `state_topic`.
    HaMqtt {
        command_topic: String,
        #[serde(default)]
        state_topic: Option<String>,
        /// The light's `schema = "json"`.
        #[serde(default)]
        json: bool,
        #[serde(default = "on_payload")]
        payload_on: String,
        #[serde(default = "off_payload")]
        payload_off: String,
    },
}

impl Dialect {
    /// The dialect's name, as in config (`zigbee2mqtt`, `tasmota`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Dialect::Zigbee2mqtt { .. } => "zigbee2mqtt",
            Dialect::Tasmota { .. } => "tasmota",
            Dialect::Esphome { .. } => "esphome",
            Dialect::ShellyGen1 { .. } => "shelly_gen1",
            Dialect::GenericJson { .. } => "generic_json",
            Dialect::HaMqtt { .. } => "ha_mqtt",
        }
    }
}

/// Encode one command into the MQTT messages the device's firmware expects.
///
/// Home Assistant's generic on/off is first mapped to the kind's verb
/// ([`DeviceKind::normalize`]: a cover opens, a lock locks). Commands the
/// firmware or the device's [`crate::Features`] cannot carry are
/// [`BridgeError::Unsupported`]; values outside the documented range are
/// [`BridgeError::OutOfRange`].
pub fn encode(cmd: &DeviceCommand) -> Result<Vec<Outgoing>, BridgeError> {
    let action = cmd.kind.normalize(&cmd.action);
    check_features(cmd, &action)?;
    match &cmd.dialect {
        Dialect::Zigbee2mqtt { friendly_name, base_topic } => z2m::encode(cmd, &action, base_topic, friendly_name),
        Dialect::Tasmota { topic, relay } => tasmota::encode(cmd, &action, topic, *relay),
        Dialect::Esphome { node, object_id } => esphome::encode(cmd, &action, node, object_id),
        Dialect::ShellyGen1 { device_id, relay } => shelly::encode(cmd, &action, device_id, *relay),
        Dialect::GenericJson { command_topic, .. } => generic::encode(cmd, &action, command_topic),
        Dialect::HaMqtt { command_topic, json, payload_on, payload_off, .. } => {
            ha_mqtt::encode(cmd, &action, command_topic, *json, payload_on, payload_off)
        }
    }
}

/// Capability checks common to every dialect.
fn check_features(cmd: &DeviceCommand, action: &Action) -> Result<(), BridgeError> {
    let f = &cmd.features;
    let kind = cmd.kind;
    let ok = match action {
        Action::TurnOn | Action::TurnOff | Action::Toggle => matches!(
            kind,
            DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::Climate | DeviceKind::MediaPlayer
        ),
        Action::Brightness { .. } => kind == DeviceKind::Light && (f.dimmable || f.color || f.color_temp),
        Action::Color { .. } => kind == DeviceKind::Light && f.color,
        Action::ColorTemp { .. } => kind == DeviceKind::Light && f.color_temp,
        Action::TargetTemperature { .. } => kind == DeviceKind::Climate,
        Action::Position { .. } => kind == DeviceKind::Cover && f.position,
        Action::Open | Action::Close | Action::Stop => kind == DeviceKind::Cover,
        Action::Lock | Action::Unlock => kind == DeviceKind::Lock,
    };
    if ok { Ok(()) } else { Err(payload::unsupported(cmd.dialect.name(), cmd, action)) }
}

/// Topics to subscribe to for this device's state (and availability).
pub fn state_topics(dialect: &Dialect, kind: DeviceKind) -> Vec<String> {
    match dialect {
        Dialect::Zigbee2mqtt { friendly_name, base_topic } => z2m::state_topics(base_topic, friendly_name),
        Dialect::Tasmota { topic, relay } => tasmota::state_topics(topic, *relay, kind),
        Dialect::Esphome { node, object_id } => esphome::state_topics(node, object_id, kind),
        Dialect::ShellyGen1 { device_id, relay } => shelly::state_topics(device_id, *relay, kind),
        Dialect::GenericJson { state_topic, .. } => vec![state_topic.clone()],
        Dialect::HaMqtt { state_topic, .. } => state_topic.iter().cloned().collect(),
    }
}

/// Parse one message on one of [`state_topics`]. `Ok(None)` when the message
/// carries nothing about state (e.g. an unrelated Tasmota RESULT) or the
/// topic is not one of this device's.
///
/// Payloads over [`crate::MAX_STATE_PAYLOAD`] are [`BridgeError::TooLarge`];
/// non-UTF-8 or malformed ones are [`BridgeError::BadPayload`] naming the topic;
/// values outside the firmware's documented range are [`BridgeError::OutOfRange`].
pub fn parse_state(
    dialect: &Dialect,
    kind: DeviceKind,
    topic: &str,
    payload: &[u8],
) -> Result<Option<StatePatch>, BridgeError> {
    let text = payload::text(topic, payload)?;
    let patch = match dialect {
        Dialect::Zigbee2mqtt { friendly_name, base_topic } => z2m::parse(base_topic, friendly_name, kind, topic, text)?,
        Dialect::Tasmota { topic: t, relay } => tasmota::parse(t, *relay, kind, topic, text)?,
        Dialect::Esphome { node, object_id } => esphome::parse(node, object_id, kind, topic, text)?,
        Dialect::ShellyGen1 { device_id, relay } => shelly::parse(device_id, *relay, kind, topic, text)?,
        Dialect::GenericJson { state_topic, .. } => generic::parse(state_topic, kind, topic, text)?,
        Dialect::HaMqtt { state_topic: Some(st), json, payload_on, payload_off, .. } => {
            ha_mqtt::parse(st, *json, payload_on, payload_off, kind, topic, text)?
        }
        Dialect::HaMqtt { state_topic: None, .. } => None,
    };
    Ok(patch.filter(|p| *p != StatePatch::default()))
}
