//! The result of understanding one utterance, in Home Assistant's terms.
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::slots::Slots;

/// Which path produced an understanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Home Assistant sentence templates (home-assistant-intents / custom sentences).
    Template,
    /// The registry grammar fallback.
    Grammar,
    /// The model's intent/slot heads.
    Model,
    /// The LLM decoder's tool call.
    Llm,
}

/// An intent, by its Home Assistant name. The skills handle the named
/// variants; any other intent a template matches (a custom sentence's
/// `SetMood`, `HassShoppingListAddItem`, ...) is kept as [`Intent::Other`] so
/// it can still be reported and answered with the language's response.
///
/// In JSON an intent is its name: `"HassTurnOn"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Intent {
    HassTurnOn,
    HassTurnOff,
    HassToggle,
    HassLightSet,
    HassClimateSetTemperature,
    HassClimateGetTemperature,
    HassGetState,
    HassSetPosition,
    HassStartTimer,
    HassCancelTimer,
    HassCancelAllTimers,
    HassIncreaseTimer,
    HassDecreaseTimer,
    HassPauseTimer,
    HassUnpauseTimer,
    HassTimerStatus,
    HassShoppingListAddItem,
    HassShoppingListCompleteItem,
    HassListAddItem,
    HassListCompleteItem,
    HassListRemoveItem,
    HassGetCurrentTime,
    HassGetCurrentDate,
    HassRespond,
    HassNevermind,
    /// "Broadcast that dinner is ready": said on the hub's loudspeaker.
    HassBroadcast,
    HassFanSetSpeed,
    HassClimateSetFanMode,
    HassGetWeather,
    HassMediaPause,
    HassMediaUnpause,
    HassMediaNext,
    HassMediaPrevious,
    HassSetVolume,
    HassSetVolumeRelative,
    HassMediaPlayerMute,
    HassMediaPlayerUnmute,
    /// "Play jazz radio in the kitchen": searched in the media library.
    HassMediaSearchAndPlay,
    HassVacuumStart,
    HassVacuumReturnToBase,
    HassVacuumCleanArea,
    HassLawnMowerStartMowing,
    HassLawnMowerDock,
    /// An intent no skill handles (the name as the templates gave it).
    Other(String),
}

impl Intent {
    /// The intents the skills plan from the registry alone (what the heads
    /// learn); the timer intents ([`Intent::TIMERS`]) are handled too.
    pub const HANDLED: [Intent; 10] = [
        Intent::HassTurnOn,
        Intent::HassTurnOff,
        Intent::HassToggle,
        Intent::HassLightSet,
        Intent::HassClimateSetTemperature,
        Intent::HassClimateGetTemperature,
        Intent::HassGetState,
        Intent::HassSetPosition,
        Intent::HassStartTimer,
        Intent::HassNevermind,
    ];

    /// The clock's intents (the pipeline answers from the home's local time).
    pub const CLOCK: [Intent; 2] = [Intent::HassGetCurrentTime, Intent::HassGetCurrentDate];

    /// The list intents (the pipeline keeps the lists in SQLite).
    pub const LISTS: [Intent; 5] = [
        Intent::HassShoppingListAddItem,
        Intent::HassShoppingListCompleteItem,
        Intent::HassListAddItem,
        Intent::HassListCompleteItem,
        Intent::HassListRemoveItem,
    ];

    /// The timer intents besides `HassStartTimer` (the timer task answers them).
    pub const TIMERS: [Intent; 7] = [
        Intent::HassCancelTimer,
        Intent::HassCancelAllTimers,
        Intent::HassIncreaseTimer,
        Intent::HassDecreaseTimer,
        Intent::HassPauseTimer,
        Intent::HassUnpauseTimer,
        Intent::HassTimerStatus,
    ];

    /// The device intents of the domains beyond on/off: fan speed, climate
    /// fan mode, media players, vacuums, lawn mowers, and the weather.
    pub const DEVICES: [Intent; 17] = [
        Intent::HassFanSetSpeed,
        Intent::HassClimateSetFanMode,
        Intent::HassGetWeather,
        Intent::HassMediaPause,
        Intent::HassMediaUnpause,
        Intent::HassMediaNext,
        Intent::HassMediaPrevious,
        Intent::HassSetVolume,
        Intent::HassSetVolumeRelative,
        Intent::HassMediaPlayerMute,
        Intent::HassMediaPlayerUnmute,
        Intent::HassMediaSearchAndPlay,
        Intent::HassVacuumStart,
        Intent::HassVacuumReturnToBase,
        Intent::HassVacuumCleanArea,
        Intent::HassLawnMowerStartMowing,
        Intent::HassLawnMowerDock,
    ];

    /// The intents that ask how things are and change nothing: all a
    /// question ([`crate::tools::Said::asks`]) may be read as by a model.
    pub fn asks(&self) -> bool {
        matches!(
            self,
            Intent::HassGetState
                | Intent::HassClimateGetTemperature
                | Intent::HassTimerStatus
                | Intent::HassGetCurrentTime
                | Intent::HassGetCurrentDate
                | Intent::HassGetWeather
        )
    }

    /// Parse a Home Assistant intent name (exact, case-sensitive as HA's are).
    pub fn from_name(name: &str) -> Intent {
        match name {
            "HassTurnOn" => Intent::HassTurnOn,
            "HassTurnOff" => Intent::HassTurnOff,
            "HassToggle" => Intent::HassToggle,
            "HassLightSet" => Intent::HassLightSet,
            "HassClimateSetTemperature" => Intent::HassClimateSetTemperature,
            "HassClimateGetTemperature" => Intent::HassClimateGetTemperature,
            "HassGetState" => Intent::HassGetState,
            "HassSetPosition" => Intent::HassSetPosition,
            "HassStartTimer" => Intent::HassStartTimer,
            "HassCancelTimer" => Intent::HassCancelTimer,
            "HassCancelAllTimers" => Intent::HassCancelAllTimers,
            "HassIncreaseTimer" => Intent::HassIncreaseTimer,
            "HassDecreaseTimer" => Intent::HassDecreaseTimer,
            "HassPauseTimer" => Intent::HassPauseTimer,
            "HassUnpauseTimer" => Intent::HassUnpauseTimer,
            "HassTimerStatus" => Intent::HassTimerStatus,
            "HassShoppingListAddItem" => Intent::HassShoppingListAddItem,
            "HassShoppingListCompleteItem" => Intent::HassShoppingListCompleteItem,
            "HassListAddItem" => Intent::HassListAddItem,
            "HassListCompleteItem" => Intent::HassListCompleteItem,
            "HassListRemoveItem" => Intent::HassListRemoveItem,
            "HassGetCurrentTime" => Intent::HassGetCurrentTime,
            "HassGetCurrentDate" => Intent::HassGetCurrentDate,
            "HassRespond" => Intent::HassRespond,
            "HassNevermind" => Intent::HassNevermind,
            "HassBroadcast" => Intent::HassBroadcast,
            "HassFanSetSpeed" => Intent::HassFanSetSpeed,
            "HassClimateSetFanMode" => Intent::HassClimateSetFanMode,
            "HassGetWeather" => Intent::HassGetWeather,
            "HassMediaPause" => Intent::HassMediaPause,
            "HassMediaUnpause" => Intent::HassMediaUnpause,
            "HassMediaNext" => Intent::HassMediaNext,
            "HassMediaPrevious" => Intent::HassMediaPrevious,
            "HassSetVolume" => Intent::HassSetVolume,
            "HassSetVolumeRelative" => Intent::HassSetVolumeRelative,
            "HassMediaPlayerMute" => Intent::HassMediaPlayerMute,
            "HassMediaPlayerUnmute" => Intent::HassMediaPlayerUnmute,
            "HassMediaSearchAndPlay" => Intent::HassMediaSearchAndPlay,
            "HassVacuumStart" => Intent::HassVacuumStart,
            "HassVacuumReturnToBase" => Intent::HassVacuumReturnToBase,
            "HassVacuumCleanArea" => Intent::HassVacuumCleanArea,
            "HassLawnMowerStartMowing" => Intent::HassLawnMowerStartMowing,
            "HassLawnMowerDock" => Intent::HassLawnMowerDock,
            other => Intent::Other(other.to_string()),
        }
    }

    /// The Home Assistant name.
    pub fn as_str(&self) -> &str {
        match self {
            Intent::HassTurnOn => "HassTurnOn",
            Intent::HassTurnOff => "HassTurnOff",
            Intent::HassToggle => "HassToggle",
            Intent::HassLightSet => "HassLightSet",
            Intent::HassClimateSetTemperature => "HassClimateSetTemperature",
            Intent::HassClimateGetTemperature => "HassClimateGetTemperature",
            Intent::HassGetState => "HassGetState",
            Intent::HassSetPosition => "HassSetPosition",
            Intent::HassStartTimer => "HassStartTimer",
            Intent::HassCancelTimer => "HassCancelTimer",
            Intent::HassCancelAllTimers => "HassCancelAllTimers",
            Intent::HassIncreaseTimer => "HassIncreaseTimer",
            Intent::HassDecreaseTimer => "HassDecreaseTimer",
            Intent::HassPauseTimer => "HassPauseTimer",
            Intent::HassUnpauseTimer => "HassUnpauseTimer",
            Intent::HassTimerStatus => "HassTimerStatus",
            Intent::HassShoppingListAddItem => "HassShoppingListAddItem",
            Intent::HassShoppingListCompleteItem => "HassShoppingListCompleteItem",
            Intent::HassListAddItem => "HassListAddItem",
            Intent::HassListCompleteItem => "HassListCompleteItem",
            Intent::HassListRemoveItem => "HassListRemoveItem",
            Intent::HassGetCurrentTime => "HassGetCurrentTime",
            Intent::HassGetCurrentDate => "HassGetCurrentDate",
            Intent::HassRespond => "HassRespond",
            Intent::HassNevermind => "HassNevermind",
            Intent::HassBroadcast => "HassBroadcast",
            Intent::HassFanSetSpeed => "HassFanSetSpeed",
            Intent::HassClimateSetFanMode => "HassClimateSetFanMode",
            Intent::HassGetWeather => "HassGetWeather",
            Intent::HassMediaPause => "HassMediaPause",
            Intent::HassMediaUnpause => "HassMediaUnpause",
            Intent::HassMediaNext => "HassMediaNext",
            Intent::HassMediaPrevious => "HassMediaPrevious",
            Intent::HassSetVolume => "HassSetVolume",
            Intent::HassSetVolumeRelative => "HassSetVolumeRelative",
            Intent::HassMediaPlayerMute => "HassMediaPlayerMute",
            Intent::HassMediaPlayerUnmute => "HassMediaPlayerUnmute",
            Intent::HassMediaSearchAndPlay => "HassMediaSearchAndPlay",
            Intent::HassVacuumStart => "HassVacuumStart",
            Intent::HassVacuumReturnToBase => "HassVacuumReturnToBase",
            Intent::HassVacuumCleanArea => "HassVacuumCleanArea",
            Intent::HassLawnMowerStartMowing => "HassLawnMowerStartMowing",
            Intent::HassLawnMowerDock => "HassLawnMowerDock",
            Intent::Other(name) => name,
        }
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Intent {
    fn from(name: &str) -> Intent {
        Intent::from_name(name)
    }
}

impl PartialEq<str> for Intent {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Intent {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Intent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Intent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Intent, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Intent::from_name(&name))
    }
}

/// One candidate entity when a request is ambiguous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub entity_id: String,
    pub name: String,
    pub area: Option<String>,
}

/// An intent with Home Assistant's name (`HassTurnOn`, ...) and typed slots
/// (`name`, `area`, `floor`, `domain`, `device_class`, `brightness`, `color`,
/// `temperature`, `position`, ...), parsed once where the templates or the
/// grammar produce them. Slot values are the registry's names (as hassil
/// returns them); `entities` holds the resolved entity ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Understanding {
    pub text: String,
    pub intent: Intent,
    pub slots: Slots,
    /// Entity ids the request targets, resolved against the registry.
    #[serde(default)]
    pub entities: Vec<String>,
    /// Non-empty when the request matched several entities it should not
    /// have (ambiguous name): the caller asks instead of guessing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    pub confidence: f32,
    pub source: Source,
    /// Key into the language's `responses` for the spoken reply, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

/// Where an utterance came from, for resolving what it leaves unsaid: "turn
/// on the light" said at the kitchen satellite means the kitchen light.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NluContext {
    /// Area id (or name) of the satellite / session that heard the request.
    #[serde(default)]
    pub area: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_names_round_trip() {
        for i in Intent::HANDLED
            .into_iter()
            .chain(Intent::TIMERS)
            .chain(Intent::LISTS)
            .chain(Intent::CLOCK)
            .chain(Intent::DEVICES)
            .chain([Intent::HassRespond, Intent::HassBroadcast])
        {
            assert_eq!(Intent::from_name(i.as_str()), i);
            let json = serde_json::to_value(&i).unwrap();
            assert_eq!(json, serde_json::json!(i.as_str()));
            assert_eq!(serde_json::from_value::<Intent>(json).unwrap(), i);
        }
        let other = Intent::from_name("SetMood");
        assert_eq!(other, Intent::Other("SetMood".into()));
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"SetMood\"");
        assert_eq!(other, "SetMood");
    }
}
