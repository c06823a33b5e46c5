//! Per-firmware topic and payload conventions.
use serde::{Deserialize, Serialize};

use crate::{BridgeError, DeviceCommand, DeviceKind, Outgoing, StatePatch};

fn z2m_base() -> String {
    "zigbee2mqtt".to_string()
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
    Esphome {
        node: String,
        object_id: String,
    },
    /// Shelly gen1: `shellies/<id>/relay/<n>/command`, state `shellies/<id>/relay/<n>`.
    ShellyGen1 {
        device_id: String,
        #[serde(default)]
        relay: u8,
    },
    /// Generic JSON device: command JSON on `command_topic`, state JSON on `state_topic`.
    GenericJson {
        command_topic: String,
        state_topic: String,
    },
}

/// Encode one command into the MQTT messages the device's firmware expects.
pub fn encode(cmd: &DeviceCommand) -> Result<Vec<Outgoing>, BridgeError> {
    let _ = cmd;
    unimplemented!("firmware-bridge encode")
}

/// Topics to subscribe to for this device's state (and availability).
pub fn state_topics(dialect: &Dialect, kind: DeviceKind) -> Vec<String> {
    let _ = (dialect, kind);
    unimplemented!("firmware-bridge state_topics")
}

/// Parse one message on one of [`state_topics`]. `Ok(None)` when the message
/// carries nothing about state (e.g. an unrelated Tasmota RESULT).
pub fn parse_state(
    dialect: &Dialect,
    kind: DeviceKind,
    topic: &str,
    payload: &[u8],
) -> Result<Option<StatePatch>, BridgeError> {
    let _ = (dialect, kind, topic, payload);
    unimplemented!("firmware-bridge parse_state")
}
