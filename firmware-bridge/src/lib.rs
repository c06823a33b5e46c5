//! firmware-bridge: `DeviceCommand` <-> MQTT `(topic, payload)` for each
//! firmware dialect hubd speaks, state parsing, and Home Assistant discovery.
//!
//! Pure: no I/O, no clock, no async. Data in, data out, so every codec is
//! covered by table-driven golden-vector tests taken from the firmware docs
//! (see `shared/MQTT-CONVENTIONS.md`).
//!
//! Public contract (used by `hub-skills` and `hubd`):
//! - [`Dialect`]: how one device is addressed (deserialisable from the
//!   `[device.dialect]` TOML table).
//! - [`DeviceKind`]: the Home Assistant domain of the device.
//! - [`Action`] / [`DeviceCommand`]: what to do.
//! - [`encode`]: command -> one or more [`Outgoing`] MQTT messages, or a typed
//!   [`BridgeError`] for unsupported combinations.
//! - [`state_topics`] + [`parse_state`]: which topics to subscribe and how to
//!   turn a message into a [`StatePatch`].
//! - [`DeviceState::apply`] / [`DeviceState::satisfies`]: fold patches into
//!   the last known state and decide whether an echo confirms a command.

mod dialect;
mod discovery;
mod error;
mod state;

pub use dialect::{encode, parse_state, state_topics, Dialect};
pub use discovery::{discovery_config, DiscoveryEntity};
pub use error::BridgeError;
pub use state::{DeviceState, StatePatch};

use serde::{Deserialize, Serialize};

/// Home Assistant domain of a device (the prefix of its entity id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Light,
    Switch,
    Fan,
    Climate,
    Cover,
    Lock,
    Sensor,
    BinarySensor,
    MediaPlayer,
    Person,
}

impl DeviceKind {
    /// The Home Assistant domain string ("light", "switch", ...).
    pub fn domain(self) -> &'static str {
        match self {
            DeviceKind::Light => "light",
            DeviceKind::Switch => "switch",
            DeviceKind::Fan => "fan",
            DeviceKind::Climate => "climate",
            DeviceKind::Cover => "cover",
            DeviceKind::Lock => "lock",
            DeviceKind::Sensor => "sensor",
            DeviceKind::BinarySensor => "binary_sensor",
            DeviceKind::MediaPlayer => "media_player",
            DeviceKind::Person => "person",
        }
    }

    /// Parse a Home Assistant domain string.
    pub fn from_domain(domain: &str) -> Option<Self> {
        Some(match domain {
            "light" => DeviceKind::Light,
            "switch" => DeviceKind::Switch,
            "fan" => DeviceKind::Fan,
            "climate" => DeviceKind::Climate,
            "cover" => DeviceKind::Cover,
            "lock" => DeviceKind::Lock,
            "sensor" => DeviceKind::Sensor,
            "binary_sensor" => DeviceKind::BinarySensor,
            "media_player" => DeviceKind::MediaPlayer,
            "person" => DeviceKind::Person,
            _ => return None,
        })
    }

    /// Whether devices of this kind accept commands at all.
    pub fn is_actuator(self) -> bool {
        !matches!(
            self,
            DeviceKind::Sensor | DeviceKind::BinarySensor | DeviceKind::Person
        )
    }
}

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

/// One thing to do to one device. Toggles are resolved to explicit on/off by
/// the caller before a command is enqueued (so a resend is idempotent), but
/// the bridge can still encode a raw toggle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    TurnOn,
    TurnOff,
    Toggle,
    /// Brightness in percent, 0..=100 (also turns a light on when > 0).
    Brightness { percent: u8 },
    Color { rgb: Rgb },
    /// Colour temperature in kelvin.
    ColorTemp { kelvin: u32 },
    /// Climate target temperature in °C.
    TargetTemperature { celsius: f32 },
    /// Cover position in percent, 0 = closed, 100 = open.
    Position { percent: u8 },
    Open,
    Close,
    Stop,
    Lock,
    Unlock,
}

/// A command for one device, addressed by its dialect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceCommand {
    /// Entity id, e.g. `light.kitchen`.
    pub device_id: String,
    pub kind: DeviceKind,
    pub dialect: Dialect,
    pub action: Action,
}

/// One MQTT message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}
