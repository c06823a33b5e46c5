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

mod color;
mod dialect;
mod discovery;
mod error;
mod esphome;
mod generic;
mod ha_mqtt;
mod payload;
mod shelly;
mod state;
mod tasmota;
mod valetudo;
mod z2m;

pub use color::{kelvin_to_mired, mired_to_kelvin, rgb_to_xy, xy_to_rgb};
pub use dialect::{Dialect, as_reported, encode, parse_state, state_topics};
pub use discovery::{Component, DiscoveryEntity, HubDevice, discovery_config, discovery_remove};
pub use error::BridgeError;
pub use payload::MAX_STATE_PAYLOAD;
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
    Valve,
    Vacuum,
    LawnMower,
    Button,
    /// A hub-held boolean, kept retained on the broker (no firmware).
    InputBoolean,
    /// Current conditions read from a configured MQTT sensor topic.
    Weather,
    /// A set of entity states defined in hubd's config (no firmware).
    Scene,
    /// A sequence of automation actions defined in hubd's config (no firmware).
    Script,
    /// A to-do list hubd keeps in SQLite (no firmware).
    Todo,
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
            DeviceKind::Valve => "valve",
            DeviceKind::Vacuum => "vacuum",
            DeviceKind::LawnMower => "lawn_mower",
            DeviceKind::Button => "button",
            DeviceKind::InputBoolean => "input_boolean",
            DeviceKind::Weather => "weather",
            DeviceKind::Scene => "scene",
            DeviceKind::Script => "script",
            DeviceKind::Todo => "todo",
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
            "valve" => DeviceKind::Valve,
            "vacuum" => DeviceKind::Vacuum,
            "lawn_mower" => DeviceKind::LawnMower,
            "button" => DeviceKind::Button,
            "input_boolean" => DeviceKind::InputBoolean,
            "weather" => DeviceKind::Weather,
            "scene" => DeviceKind::Scene,
            "script" => DeviceKind::Script,
            "todo" => DeviceKind::Todo,
            _ => return None,
        })
    }

    /// Whether devices of this kind accept commands at all.
    pub fn is_actuator(self) -> bool {
        !matches!(self, DeviceKind::Sensor | DeviceKind::BinarySensor | DeviceKind::Person | DeviceKind::Weather)
    }

    /// Every kind, in declaration order.
    pub const ALL: [DeviceKind; 19] = [
        DeviceKind::Light,
        DeviceKind::Switch,
        DeviceKind::Fan,
        DeviceKind::Climate,
        DeviceKind::Cover,
        DeviceKind::Lock,
        DeviceKind::Sensor,
        DeviceKind::BinarySensor,
        DeviceKind::MediaPlayer,
        DeviceKind::Person,
        DeviceKind::Valve,
        DeviceKind::Vacuum,
        DeviceKind::LawnMower,
        DeviceKind::Button,
        DeviceKind::InputBoolean,
        DeviceKind::Weather,
        DeviceKind::Scene,
        DeviceKind::Script,
        DeviceKind::Todo,
    ];

    /// Entities hubd itself carries out (scenes, scripts, to-do lists): no
    /// dialect, never encoded by the bridge.
    pub fn is_hub_defined(self) -> bool {
        matches!(self, DeviceKind::Scene | DeviceKind::Script | DeviceKind::Todo)
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
    Brightness {
        percent: u8,
    },
    Color {
        rgb: Rgb,
    },
    /// Colour temperature in kelvin.
    ColorTemp {
        kelvin: u32,
    },
    /// Climate target temperature in °C.
    TargetTemperature {
        celsius: f32,
    },
    /// Cover position in percent, 0 = closed, 100 = open.
    Position {
        percent: u8,
    },
    Open,
    Close,
    Stop,
    Lock,
    Unlock,
    /// Fan speed in percent (0 turns the fan off), as `fan.set_percentage`.
    FanSpeed {
        percent: u8,
    },
    /// Climate fan mode ("auto", "low", "high", ... as the device names them).
    FanMode {
        mode: String,
    },
    /// Media player: pause; vacuum and lawn mower: pause the job.
    Pause,
    /// Media player: play / resume.
    Play,
    NextTrack,
    PreviousTrack,
    /// Media player volume in percent.
    Volume {
        percent: u8,
    },
    Mute {
        muted: bool,
    },
    /// Vacuum: start cleaning; lawn mower: start mowing.
    Start,
    /// Vacuum: return to base; lawn mower: dock.
    Dock,
    /// Vacuum: clean these map segments (Valetudo segment ids).
    CleanSegments {
        segments: Vec<String>,
    },
    /// Button: press.
    Press,
    /// Media player: play this item, as Home Assistant's
    /// `media_player.play_media` (`media_content_id`, `media_content_type`).
    PlayMedia {
        /// What to play: a URL or the player's own id for it.
        id: String,
        /// Home Assistant's media class or type (`music`, `playlist`,
        /// `channel`, `podcast`, ...).
        class: String,
    },
}

/// Optional capabilities of a device (what its firmware accepts). The
/// registry's `[device.features]` table; `hub_skills::registry::Features` is
/// this type re-exported.
///
/// The bridge checks them so an unsupported combination (a colour on a plain
/// Tasmota relay, a brightness on a non-dimmable light) is a typed
/// [`BridgeError::Unsupported`] instead of a message the firmware ignores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Features {
    #[serde(default)]
    pub dimmable: bool,
    #[serde(default)]
    pub color: bool,
    #[serde(default)]
    pub color_temp: bool,
    /// Covers and valves: accepts a position (not just open/close).
    #[serde(default)]
    pub position: bool,
    /// Fans: accepts a speed percentage.
    #[serde(default)]
    pub speed: bool,
    /// Climate: the fan modes it accepts (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fan_modes: Vec<String>,
    /// Vacuums: area id -> the map segment ids that clean it (Valetudo's
    /// `MapSegmentationCapability`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub segments: std::collections::BTreeMap<String, Vec<String>>,
}

/// A command for one device, addressed by its dialect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceCommand {
    /// Entity id, e.g. `light.kitchen`.
    pub device_id: String,
    pub kind: DeviceKind,
    pub dialect: Dialect,
    pub action: Action,
    /// The device's capabilities (from the registry). Lights: brightness needs
    /// `dimmable` (or `color`/`color_temp`), colour needs `color`, colour
    /// temperature needs `color_temp`; covers: a position needs `position`.
    #[serde(default)]
    pub features: Features,
}

/// The part of a device's state an [`Action`] sets. Two commands to one
/// device and attribute overwrite each other: the newer one wins, so an older
/// one still unsent when a newer one exists is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    /// On/off (brightness 0 is "off").
    Power,
    Brightness,
    /// Colour and colour temperature (a light shows one or the other).
    Color,
    TargetTemperature,
    /// Cover/valve position, open, close and stop.
    Position,
    Lock,
    FanSpeed,
    FanMode,
    Volume,
    Mute,
    /// What a vacuum, lawn mower or media player is doing (start, pause,
    /// play, dock, clean).
    Activity,
    /// A momentary event (next/previous track, a button press): never stale,
    /// see [`Action::is_momentary`].
    Momentary,
}

impl Action {
    /// Whether the action is an event rather than a state to reach: two of
    /// them are two events (skip twice), so a newer one does not make an
    /// older one stale, and any state report confirms it.
    pub fn is_momentary(&self) -> bool {
        matches!(self, Action::NextTrack | Action::PreviousTrack | Action::Press)
    }

    /// Which part of the device's state this action sets.
    pub fn attribute(&self) -> Attribute {
        match self {
            Action::TurnOn | Action::TurnOff | Action::Toggle | Action::Brightness { percent: 0 } => Attribute::Power,
            Action::Brightness { .. } => Attribute::Brightness,
            Action::Color { .. } | Action::ColorTemp { .. } => Attribute::Color,
            Action::TargetTemperature { .. } => Attribute::TargetTemperature,
            Action::Position { .. } | Action::Open | Action::Close | Action::Stop => Attribute::Position,
            Action::Lock | Action::Unlock => Attribute::Lock,
            Action::FanSpeed { percent: 0 } => Attribute::Power,
            Action::FanSpeed { .. } => Attribute::FanSpeed,
            Action::FanMode { .. } => Attribute::FanMode,
            Action::Volume { .. } => Attribute::Volume,
            Action::Mute { .. } => Attribute::Mute,
            Action::Pause
            | Action::Play
            | Action::PlayMedia { .. }
            | Action::Start
            | Action::Dock
            | Action::CleanSegments { .. } => Attribute::Activity,
            Action::NextTrack | Action::PreviousTrack | Action::Press => Attribute::Momentary,
        }
    }

    /// Short human-readable name, used in errors ("colour #ff0000", "brightness 40%").
    pub fn describe(&self) -> String {
        match self {
            Action::TurnOn => "turn on".into(),
            Action::TurnOff => "turn off".into(),
            Action::Toggle => "toggle".into(),
            Action::Brightness { percent } => format!("brightness {percent}%"),
            Action::Color { rgb } => format!("colour #{:02x}{:02x}{:02x}", rgb.r, rgb.g, rgb.b),
            Action::ColorTemp { kelvin } => format!("colour temperature {kelvin} K"),
            Action::TargetTemperature { celsius } => format!("target temperature {celsius} °C"),
            Action::Position { percent } => format!("position {percent}%"),
            Action::Open => "open".into(),
            Action::Close => "close".into(),
            Action::Stop => "stop".into(),
            Action::Lock => "lock".into(),
            Action::Unlock => "unlock".into(),
            Action::FanSpeed { percent } => format!("fan speed {percent}%"),
            Action::FanMode { mode } => format!("fan mode `{mode}`"),
            Action::Pause => "pause".into(),
            Action::Play => "play".into(),
            Action::NextTrack => "next track".into(),
            Action::PreviousTrack => "previous track".into(),
            Action::Volume { percent } => format!("volume {percent}%"),
            Action::Mute { muted: true } => "mute".into(),
            Action::Mute { muted: false } => "unmute".into(),
            Action::Start => "start".into(),
            Action::Dock => "return to base".into(),
            Action::CleanSegments { segments } => format!("clean segments {}", segments.join(", ")),
            Action::Press => "press".into(),
            Action::PlayMedia { id, class } => format!("play {class} `{id}`"),
        }
    }
}

impl DeviceKind {
    /// Map Home Assistant's generic on/off onto the kind's own verbs, as HA's
    /// `HassTurnOn`/`HassTurnOff` do: a cover opens/closes, a lock locks/unlocks.
    pub fn normalize(self, action: &Action) -> Action {
        match (self, action) {
            (DeviceKind::Cover, Action::TurnOn) => Action::Open,
            (DeviceKind::Cover, Action::TurnOff) => Action::Close,
            (DeviceKind::Valve, Action::TurnOn) => Action::Open,
            (DeviceKind::Valve, Action::TurnOff) => Action::Close,
            (DeviceKind::Vacuum | DeviceKind::LawnMower, Action::TurnOn) => Action::Start,
            (DeviceKind::Vacuum | DeviceKind::LawnMower, Action::TurnOff) => Action::Dock,
            (DeviceKind::Button, Action::TurnOn) => Action::Press,
            (DeviceKind::Lock, Action::TurnOn) => Action::Lock,
            (DeviceKind::Lock, Action::TurnOff) => Action::Unlock,
            (_, a) => a.clone(),
        }
    }
}

/// One MQTT message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}
