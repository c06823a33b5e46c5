//! Per-firmware topic and payload conventions.
use serde::{Deserialize, Serialize};

use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, StatePatch};
use crate::{esphome, generic, ha_mqtt, payload, shelly, tasmota, valetudo, z2m};

#[cfg(test)]
pub(crate) mod golden;

fn z2m_base() -> String {
    "zigbee2mqtt".to_string()
}

fn valetudo_prefix() -> String {
    "valetudo".to_string()
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
    /// A Valetudo robot vacuum (Homie-style MQTT API):
    /// `<prefix>/<identifier>/BasicControlCapability/operation/set`,
    /// state `<prefix>/<identifier>/StatusStateAttribute/status`.
    Valetudo {
        /// Valetudo's MQTT "identifier" (Connectivity → MQTT → Identity).
        identifier: String,
        /// Valetudo's MQTT "topic prefix", `valetudo` by default.
        #[serde(default = "valetudo_prefix")]
        prefix: String,
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
            Dialect::Valetudo { .. } => "valetudo",
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
///
/// An `input_boolean` is hub-held: its messages are retained, so the broker
/// keeps the value over a restart and hubd's own echo confirms the command.
pub fn encode(cmd: &DeviceCommand) -> Result<Vec<Outgoing>, BridgeError> {
    let action = cmd.kind.normalize(&cmd.action);
    check_features(cmd, &action)?;
    let mut out = encode_dialect(cmd, &action)?;
    if cmd.kind == DeviceKind::InputBoolean {
        for m in &mut out {
            m.retain = true;
        }
    }
    Ok(out)
}

fn encode_dialect(cmd: &DeviceCommand, action: &Action) -> Result<Vec<Outgoing>, BridgeError> {
    match &cmd.dialect {
        Dialect::Zigbee2mqtt { friendly_name, base_topic } => z2m::encode(cmd, action, base_topic, friendly_name),
        Dialect::Tasmota { topic, relay } => tasmota::encode(cmd, action, topic, *relay),
        Dialect::Esphome { node, object_id } => esphome::encode(cmd, action, node, object_id),
        Dialect::ShellyGen1 { device_id, relay } => shelly::encode(cmd, action, device_id, *relay),
        Dialect::GenericJson { command_topic, .. } => generic::encode(cmd, action, command_topic),
        Dialect::HaMqtt { command_topic, json, payload_on, payload_off, .. } => {
            ha_mqtt::encode(cmd, action, command_topic, *json, payload_on, payload_off)
        }
        Dialect::Valetudo { identifier, prefix } => valetudo::encode(cmd, action, prefix, identifier),
    }
}

/// The action as the device will report it reached: a three-speed fan
/// (Zigbee2MQTT's `fan_mode`, a Tasmota iFan) runs 50 % as medium and
/// reports 66 %, so the command is stored (and its echo awaited) as 66 %.
/// Every other action is returned as it is.
pub fn as_reported(dialect: &Dialect, kind: DeviceKind, features: &crate::Features, action: &Action) -> Action {
    match (dialect, kind, action) {
        (Dialect::Zigbee2mqtt { .. }, DeviceKind::Fan, Action::FanSpeed { percent })
        | (Dialect::Tasmota { .. }, DeviceKind::Fan, Action::FanSpeed { percent })
            if features.speed || matches!(dialect, Dialect::Zigbee2mqtt { .. }) =>
        {
            Action::FanSpeed { percent: payload::step_to_pct(payload::pct_to_step((*percent).min(100), 3), 3) }
        }
        _ => action.clone(),
    }
}

/// Capability checks common to every dialect.
fn check_features(cmd: &DeviceCommand, action: &Action) -> Result<(), BridgeError> {
    let f = &cmd.features;
    let kind = cmd.kind;
    let ok = match action {
        Action::TurnOn | Action::TurnOff | Action::Toggle => matches!(
            kind,
            DeviceKind::Light
                | DeviceKind::Switch
                | DeviceKind::Fan
                | DeviceKind::Climate
                | DeviceKind::MediaPlayer
                | DeviceKind::InputBoolean
        ),
        Action::Brightness { .. } => kind == DeviceKind::Light && (f.dimmable || f.color || f.color_temp),
        Action::Color { .. } => kind == DeviceKind::Light && f.color,
        Action::ColorTemp { .. } => kind == DeviceKind::Light && f.color_temp,
        Action::TargetTemperature { .. } => kind == DeviceKind::Climate,
        Action::Position { .. } => matches!(kind, DeviceKind::Cover | DeviceKind::Valve) && f.position,
        Action::Open | Action::Close => matches!(kind, DeviceKind::Cover | DeviceKind::Valve),
        Action::Stop => matches!(kind, DeviceKind::Cover | DeviceKind::Valve | DeviceKind::Vacuum),
        Action::Lock | Action::Unlock => kind == DeviceKind::Lock,
        Action::FanSpeed { .. } => kind == DeviceKind::Fan && f.speed,
        Action::FanMode { mode } => {
            kind == DeviceKind::Climate && f.fan_modes.iter().any(|m| m.eq_ignore_ascii_case(mode))
        }
        Action::Pause => matches!(kind, DeviceKind::MediaPlayer | DeviceKind::Vacuum | DeviceKind::LawnMower),
        Action::Play | Action::NextTrack | Action::PreviousTrack | Action::Volume { .. } | Action::Mute { .. } => {
            kind == DeviceKind::MediaPlayer
        }
        Action::Start | Action::Dock => matches!(kind, DeviceKind::Vacuum | DeviceKind::LawnMower),
        Action::CleanSegments { segments } => kind == DeviceKind::Vacuum && !segments.is_empty(),
        Action::Press => kind == DeviceKind::Button,
        Action::PlayMedia { id, .. } => kind == DeviceKind::MediaPlayer && !id.trim().is_empty(),
    };
    if ok { Ok(()) } else { Err(payload::unsupported(cmd.dialect.name(), cmd, action)) }
}

/// Topics to subscribe to for this device's state (and availability).
///
/// Empty when the device reports nothing back: a button (no state in any
/// firmware) or a kind the dialect does not carry. The daemon acks commands
/// to such echoless devices on PUBACK.
pub fn state_topics(dialect: &Dialect, kind: DeviceKind) -> Vec<String> {
    if kind == DeviceKind::Button || kind.is_hub_defined() {
        // Home Assistant's button has no state, no firmware echoes a press;
        // scenes and scripts are hubd's own.
        return Vec::new();
    }
    match dialect {
        Dialect::Zigbee2mqtt { friendly_name, base_topic } => z2m::state_topics(base_topic, friendly_name, kind),
        Dialect::Tasmota { topic, relay } => tasmota::state_topics(topic, *relay, kind),
        Dialect::Esphome { node, object_id } => esphome::state_topics(node, object_id, kind),
        Dialect::ShellyGen1 { device_id, relay } => shelly::state_topics(device_id, *relay, kind),
        Dialect::GenericJson { state_topic, .. } => generic::state_topics(state_topic, kind),
        Dialect::HaMqtt { state_topic, .. } => ha_mqtt::state_topics(state_topic.as_deref(), kind),
        Dialect::Valetudo { identifier, prefix } => valetudo::state_topics(prefix, identifier, kind),
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
    if kind.is_hub_defined() {
        return Ok(None);
    }
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
        Dialect::Valetudo { identifier, prefix } => valetudo::parse(prefix, identifier, kind, topic, text)?,
    };
    Ok(patch.filter(|p| *p != StatePatch::default()))
}

#[cfg(test)]
mod tests;
