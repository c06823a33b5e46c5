//! Skill handlers: an [`Understanding`] plus the registry and current state
//! become device commands and a spoken-style reply.
//!
//! One skill per Home Assistant intent ([`plan`] dispatches):
//! `HassTurnOn`/`HassTurnOff`/`HassToggle` (lights, switches, fans; covers
//! open/close and locks lock/unlock, as Home Assistant maps them),
//! `HassLightSet` (brightness %, colour name, colour temperature in kelvin),
//! `HassClimateSetTemperature`, `HassClimateGetTemperature`, `HassGetState`,
//! `HassSetPosition` (covers and valves), `HassStartTimer` (reply only),
//! `HassNevermind`, and the domain intents of [`Intent::DEVICES`]: fan speed,
//! climate fan mode, media players, vacuums, lawn mowers and the weather.
//!
//! The pieces: `targets` finds the devices a request means (from
//! `u.entities` when the NLU resolved them, else from the slots),
//! [`crate::command`] builds every device command (toggles resolved to
//! explicit on/off from the current state, checked against the firmware
//! dialect once), `skill` holds one module per skill and
//! [`crate::reply`] the English phrasing.
use firmware_bridge::{BridgeError, DeviceCommand, DeviceState};
use serde_json::Value;
use thiserror::Error;

use crate::Understanding;
use crate::clock::ClockQuery;
use crate::intent::Intent;
use crate::registry::Registry;
use crate::reply::{lower, or_list, the};
use crate::skill::climate::{climate_get, climate_set};
use crate::skill::fan::{fan_mode, fan_speed};
use crate::skill::get_state::get_state;
use crate::skill::light_set::light_set;
use crate::skill::media::{media, search_and_play};
use crate::skill::on_off::{OnOff, on_off};
use crate::skill::position::set_position;
use crate::skill::robot::robot;
use crate::skill::timer::{start_timer, timer_op};
use crate::skill::weather::get_weather;

/// What to do and what to say.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Device commands, toggles already resolved to explicit on/off.
    pub commands: Vec<DeviceCommand>,
    /// Spoken-style English reply.
    pub reply: String,
    /// Structured answer for queries (state, temperature, timer).
    pub answer: Option<Value>,
    /// Work for the running hub (timers, lists), which gives the reply
    /// (`reply` here is what a dry run says).
    pub op: Option<HubOp>,
}

/// What only the running hub can do: it keeps the timers and the lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubOp {
    Timer(crate::timers::TimerOp),
    List(crate::lists::ListOp),
    /// The time or the date, in the home's time zone.
    Clock(crate::clock::ClockQuery),
    /// A message to say on the hub's loudspeaker (`HassBroadcast`).
    Broadcast(String),
    /// Run a `script.*` (its sequence runs in the automation engine).
    Script(String),
}

#[derive(Debug, Error, PartialEq)]
pub enum SkillError {
    #[error("unknown intent `{0}`")]
    UnknownIntent(String),
    #[error("there is no device called `{0}`")]
    UnknownDevice(String),
    #[error("there is no area or floor called `{0}`")]
    UnknownArea(String),
    #[error("no {what} found{place}")]
    NoMatch { what: String, place: String },
    #[error("`{name}` could mean {}", .candidates.join(", "))]
    Ambiguous { name: String, candidates: Vec<String> },
    #[error("{intent} needs a `{slot}`")]
    MissingSlot { intent: Intent, slot: &'static str },
    #[error("slot `{slot}` = `{value}` is not valid: {reason}")]
    BadSlot { slot: &'static str, value: String, reason: String },
    #[error("{device} cannot {what}")]
    Unsupported { device: String, what: String },
    #[error("`{0}` is read-only (it has no firmware dialect to command)")]
    ReadOnly(String),
    #[error("the state of {0} is not known yet")]
    UnknownState(String),
    #[error(transparent)]
    Bridge(#[from] BridgeError),
}

impl SkillError {
    /// A spoken-style reply for this error ("Sorry, I don't know a device called the attic fan.").
    pub fn reply(&self) -> String {
        match self {
            SkillError::UnknownIntent(_) => "Sorry, I can't do that yet.".into(),
            SkillError::UnknownDevice(n) => {
                format!("Sorry, I don't know a device called {}.", the(n))
            }
            SkillError::UnknownArea(n) => format!("Sorry, I don't know an area called {}.", the(n)),
            SkillError::NoMatch { what, place } => format!("Sorry, there are no {what}{place}."),
            SkillError::Ambiguous { name, candidates } => {
                format!("Which {} do you mean: {}?", lower(name), or_list(candidates))
            }
            SkillError::MissingSlot { slot: "item", .. } => "Sorry, which item?".into(),
            SkillError::MissingSlot { slot: "name", intent } if Intent::LISTS.contains(intent) => {
                "Sorry, which list?".into()
            }
            SkillError::MissingSlot { slot: "message", .. } => "Sorry, what should I announce?".into(),
            SkillError::MissingSlot { .. } => "Sorry, which device do you mean?".into(),
            SkillError::BadSlot { slot, value, .. } => {
                format!("Sorry, {value} is not a valid {slot}.")
            }
            SkillError::Unsupported { device, what } => {
                format!("Sorry, {} can't {what}.", the(device))
            }
            SkillError::ReadOnly(n) => format!("Sorry, {} can't be controlled.", the(n)),
            SkillError::UnknownState(n) => {
                format!("Sorry, I don't know the state of {} yet.", the(n))
            }
            SkillError::Bridge(BridgeError::Unsupported { device, action, .. }) => {
                format!("Sorry, {device} doesn't support {action}.")
            }
            SkillError::Bridge(e) => format!("Sorry, {e}."),
        }
    }
}

/// `HassRespond`: a fixed answer by the template's response key. Home
/// Assistant's English ones talk about Home Assistant; these are hubd's.
/// Other languages use the language's own response ([`crate::Assistant::plan`]).
fn respond(u: &Understanding) -> Plan {
    let reply = match u.response.as_deref() {
        Some("hello") => "Hello from hubd.",
        Some("listening") => "No, I only listen for commands after the wake phrase.",
        Some("data") => "Your data stays on this hub, in your home.",
        Some("commands") => "Ask me to control your devices, set timers, or add to your shopping list.",
        Some("creator") => "I am hubd, a local smart-home hub.",
        _ => "",
    };
    Plan { commands: vec![], reply: reply.into(), answer: None, op: None }
}

/// Longest broadcast message (characters).
pub const MAX_BROADCAST_CHARS: usize = 500;

/// `HassBroadcast`: the message is said by the running hub; "Done" is
/// Home Assistant's answer.
fn broadcast(u: &Understanding) -> Result<Plan, SkillError> {
    let message = match u.slots.other.get("message") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(SkillError::MissingSlot { intent: Intent::HassBroadcast, slot: "message" }),
    };
    let chars = message.chars().count();
    if chars > MAX_BROADCAST_CHARS {
        let reason = format!("{chars} characters, over {MAX_BROADCAST_CHARS}");
        return Err(SkillError::BadSlot { slot: "message", value: "that message".into(), reason });
    }
    Ok(Plan { commands: vec![], reply: "Done.".into(), answer: None, op: Some(HubOp::Broadcast(message)) })
}

fn clock(q: ClockQuery) -> Plan {
    Plan { commands: vec![], reply: "The running hub tells the time.".into(), answer: None, op: Some(HubOp::Clock(q)) }
}

fn list_op(u: &Understanding) -> Result<Plan, SkillError> {
    let op = crate::lists::ListOp::from_understanding(u)?;
    let reply = op.as_ref().map(crate::lists::ListOp::reply).unwrap_or_default();
    Ok(Plan { commands: vec![], reply, answer: None, op: op.map(HubOp::List) })
}

/// Plan one understanding against the registry and the current device states.
pub fn plan(
    u: &Understanding,
    reg: &Registry,
    state: &dyn Fn(&str) -> Option<DeviceState>,
) -> Result<Plan, SkillError> {
    match &u.intent {
        Intent::HassTurnOn => on_off(u, reg, state, OnOff::On),
        Intent::HassTurnOff => on_off(u, reg, state, OnOff::Off),
        Intent::HassToggle => on_off(u, reg, state, OnOff::Toggle),
        Intent::HassLightSet => light_set(u, reg, state),
        Intent::HassClimateSetTemperature => climate_set(u, reg, state),
        Intent::HassClimateGetTemperature => climate_get(u, reg, state),
        Intent::HassGetState => get_state(u, reg, state),
        Intent::HassSetPosition => set_position(u, reg, state),
        Intent::HassStartTimer => start_timer(u),
        Intent::HassCancelTimer
        | Intent::HassCancelAllTimers
        | Intent::HassIncreaseTimer
        | Intent::HassDecreaseTimer
        | Intent::HassPauseTimer
        | Intent::HassUnpauseTimer
        | Intent::HassTimerStatus => timer_op(u),
        Intent::HassShoppingListAddItem
        | Intent::HassShoppingListCompleteItem
        | Intent::HassListAddItem
        | Intent::HassListCompleteItem
        | Intent::HassListRemoveItem => list_op(u),
        Intent::HassRespond => Ok(respond(u)),
        Intent::HassGetCurrentTime => Ok(clock(ClockQuery::Time)),
        Intent::HassGetCurrentDate => Ok(clock(ClockQuery::Date)),
        Intent::HassNevermind => Ok(Plan { commands: vec![], reply: String::new(), answer: None, op: None }),
        Intent::HassBroadcast => broadcast(u),
        Intent::HassFanSetSpeed => fan_speed(u, reg, state),
        Intent::HassClimateSetFanMode => fan_mode(u, reg, state),
        Intent::HassGetWeather => get_weather(u, reg, state),
        Intent::HassMediaPause
        | Intent::HassMediaUnpause
        | Intent::HassMediaNext
        | Intent::HassMediaPrevious
        | Intent::HassSetVolume
        | Intent::HassSetVolumeRelative
        | Intent::HassMediaPlayerMute
        | Intent::HassMediaPlayerUnmute => media(u, reg, state),
        Intent::HassMediaSearchAndPlay => search_and_play(u, reg, state),
        Intent::HassVacuumStart
        | Intent::HassVacuumReturnToBase
        | Intent::HassVacuumCleanArea
        | Intent::HassLawnMowerStartMowing
        | Intent::HassLawnMowerDock => robot(u, reg, state),
        Intent::Other(name) => Err(SkillError::UnknownIntent(name.clone())),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Source;
    use crate::registry::{Area, Device, Features, Floor};
    use crate::slots::Slots;
    use firmware_bridge::{Action, DeviceKind, Dialect, Rgb};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn dev(id: &str, kind: DeviceKind, name: &str, area: &str, dialect: Option<Dialect>, features: Features) -> Device {
        Device {
            id: id.into(),
            kind,
            name: name.into(),
            aliases: vec![],
            area: Some(area.into()),
            device_class: None,
            dialect,
            features,
            origin: Default::default(),
        }
    }

    fn z2m(n: &str) -> Option<Dialect> {
        Some(Dialect::Zigbee2mqtt { friendly_name: n.into(), base_topic: "zigbee2mqtt".into() })
    }

    pub(crate) fn demo() -> Registry {
        let color = Features { dimmable: true, color: true, color_temp: true, ..Features::default() };
        let mut front = dev(
            "lock.front_door",
            DeviceKind::Lock,
            "Front Door",
            "hall",
            Some(Dialect::Esphome { node: "hall".into(), object_id: "front_door".into() }),
            Features::default(),
        );
        front.aliases = vec!["front door lock".into()];
        let mut blinds = dev(
            "cover.living_room_blinds",
            DeviceKind::Cover,
            "Living Room Blinds",
            "living_room",
            Some(Dialect::ShellyGen1 { device_id: "shellyswitch25-1".into(), relay: 0 }),
            Features { position: true, ..Default::default() },
        );
        blinds.device_class = Some("blind".into());
        let mut temp = dev(
            "sensor.bedroom_temperature",
            DeviceKind::Sensor,
            "Bedroom Temperature",
            "bedroom",
            None,
            Features::default(),
        );
        temp.device_class = Some("temperature".into());
        Registry::new(
            vec![
                Floor {
                    id: "ground".into(),
                    name: "Ground Floor".into(),
                    aliases: vec!["downstairs".into()],
                    level: Some(0),
                },
                Floor {
                    id: "first".into(),
                    name: "First Floor".into(),
                    aliases: vec!["upstairs".into()],
                    level: Some(1),
                },
            ],
            vec![
                Area { id: "kitchen".into(), name: "Kitchen".into(), floor: Some("ground".into()), aliases: vec![] },
                Area {
                    id: "living_room".into(),
                    name: "Living Room".into(),
                    floor: Some("ground".into()),
                    aliases: vec!["lounge".into()],
                },
                Area { id: "hall".into(), name: "Hall".into(), floor: Some("ground".into()), aliases: vec![] },
                Area { id: "bedroom".into(), name: "Bedroom".into(), floor: Some("first".into()), aliases: vec![] },
            ],
            vec![
                dev(
                    "light.kitchen_light",
                    DeviceKind::Light,
                    "Kitchen Light",
                    "kitchen",
                    z2m("kitchen_light"),
                    color.clone(),
                ),
                dev(
                    "light.kitchen_spots",
                    DeviceKind::Light,
                    "Kitchen Spots",
                    "kitchen",
                    Some(Dialect::Tasmota { topic: "spots".into(), relay: None }),
                    Features::default(),
                ),
                dev(
                    "light.under_cabinet",
                    DeviceKind::Light,
                    "Under Cabinet",
                    "kitchen",
                    z2m("under_cabinet"),
                    Features { dimmable: true, ..Default::default() },
                ),
                dev(
                    "switch.kettle",
                    DeviceKind::Switch,
                    "Kettle",
                    "kitchen",
                    Some(Dialect::ShellyGen1 { device_id: "shellyplug-1".into(), relay: 0 }),
                    Features::default(),
                ),
                dev(
                    "light.living_room_lamp",
                    DeviceKind::Light,
                    "Lamp",
                    "living_room",
                    Some(Dialect::Esphome { node: "lounge".into(), object_id: "lamp".into() }),
                    color.clone(),
                ),
                dev("light.bedroom_lamp", DeviceKind::Light, "Lamp", "bedroom", z2m("bedroom_lamp"), color),
                blinds,
                front,
                dev(
                    "climate.living_room_thermostat",
                    DeviceKind::Climate,
                    "Living Room Thermostat",
                    "living_room",
                    z2m("trv"),
                    Features::default(),
                ),
                temp,
            ],
        )
        .unwrap()
    }

    pub(crate) fn u(intent: &str, slots: &[(&str, Value)]) -> Understanding {
        Understanding {
            text: String::new(),
            intent: Intent::from_name(intent),
            slots: Slots::from_map(slots.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>()),
            entities: vec![],
            candidates: vec![],
            confidence: 1.0,
            source: Source::Template,
            response: None,
        }
    }

    pub(crate) fn states(id: &str) -> Option<DeviceState> {
        match id {
            "light.kitchen_light" => Some(DeviceState { on: Some(true), ..Default::default() }),
            "light.kitchen_spots" => Some(DeviceState { on: Some(false), ..Default::default() }),
            "lock.front_door" => Some(DeviceState { locked: Some(true), ..Default::default() }),
            "climate.living_room_thermostat" => Some(DeviceState {
                current_temperature: Some(21.5),
                target_temperature: Some(21.5),
                ..Default::default()
            }),
            "sensor.bedroom_temperature" => Some(DeviceState { current_temperature: Some(18.0), ..Default::default() }),
            "cover.living_room_blinds" => Some(DeviceState { position: Some(40), ..Default::default() }),
            _ => None,
        }
    }

    fn ids(p: &Plan) -> Vec<(&str, Action)> {
        p.commands.iter().map(|c| (c.device_id.as_str(), c.action.clone())).collect()
    }

    #[test]
    fn table() {
        let reg = demo();
        let s = |v: &str| json!(v);
        type Case<'a> = (Understanding, Vec<(&'a str, Action)>, &'a str);
        let cases: Vec<Case> = vec![
            (
                u("HassTurnOn", &[("name", s("Kitchen Light"))]),
                vec![("light.kitchen_light", Action::TurnOn)],
                "Turned on the kitchen light.",
            ),
            (
                u("HassTurnOff", &[("area", s("Kitchen")), ("domain", s("light"))]),
                vec![
                    ("light.kitchen_light", Action::TurnOff),
                    ("light.kitchen_spots", Action::TurnOff),
                    ("light.under_cabinet", Action::TurnOff),
                ],
                "Turned off 3 lights in the kitchen.",
            ),
            // Area-wide without a domain: lights, switches, fans only.
            (
                u("HassTurnOff", &[("area", s("kitchen"))]),
                vec![
                    ("light.kitchen_light", Action::TurnOff),
                    ("light.kitchen_spots", Action::TurnOff),
                    ("light.under_cabinet", Action::TurnOff),
                    ("switch.kettle", Action::TurnOff),
                ],
                "Turned off 4 devices in the kitchen.",
            ),
            // Covers open, locks lock (Home Assistant's HassTurnOn mapping).
            (
                u("HassTurnOn", &[("name", s("living room blinds"))]),
                vec![("cover.living_room_blinds", Action::Open)],
                "Opened the living room blinds.",
            ),
            (
                u("HassTurnOff", &[("name", s("Front Door"))]),
                vec![("lock.front_door", Action::Unlock)],
                "Unlocked the front door.",
            ),
            // Toggle resolved from state: kitchen light is on -> off; front door locked -> unlock.
            (
                u("HassToggle", &[("name", s("kitchen light"))]),
                vec![("light.kitchen_light", Action::TurnOff)],
                "Turned off the kitchen light.",
            ),
            (
                u("HassToggle", &[("name", s("front door lock"))]),
                vec![("lock.front_door", Action::Unlock)],
                "Unlocked the front door.",
            ),
            // Same name in two areas, disambiguated by the area slot.
            (
                u("HassTurnOn", &[("name", s("Lamp")), ("area", s("Bedroom"))]),
                vec![("light.bedroom_lamp", Action::TurnOn)],
                "Turned on the lamp.",
            ),
            // A name that is an area.
            (
                u("HassTurnOn", &[("name", s("lounge")), ("domain", s("light"))]),
                vec![("light.living_room_lamp", Action::TurnOn)],
                "Turned on the lamp.",
            ),
            // Floor.
            (
                u("HassTurnOn", &[("floor", s("upstairs")), ("domain", s("light"))]),
                vec![("light.bedroom_lamp", Action::TurnOn)],
                "Turned on the lamp.",
            ),
            (
                u("HassLightSet", &[("name", s("kitchen light")), ("brightness", json!(40))]),
                vec![("light.kitchen_light", Action::Brightness { percent: 40 })],
                "Set the kitchen light to 40%.",
            ),
            (
                u("HassLightSet", &[("name", s("kitchen light")), ("color", s("red"))]),
                vec![("light.kitchen_light", Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } })],
                "Set the kitchen light to red.",
            ),
            (
                u("HassLightSet", &[("name", s("kitchen light")), ("temperature", json!(2700))]),
                vec![("light.kitchen_light", Action::ColorTemp { kelvin: 2700 })],
                "Set the kitchen light to 2700 K.",
            ),
            (
                u("HassClimateSetTemperature", &[("temperature", json!(21))]),
                vec![("climate.living_room_thermostat", Action::TargetTemperature { celsius: 21.0 })],
                "Set the living room thermostat to 21 °C.",
            ),
            (
                u("HassSetPosition", &[("name", s("living room blinds")), ("position", json!(40))]),
                vec![("cover.living_room_blinds", Action::Position { percent: 40 })],
                "Set the living room blinds to 40%.",
            ),
            (
                u("HassClimateGetTemperature", &[("area", s("Living Room"))]),
                vec![],
                "The living room temperature is 21.5 °C.",
            ),
            (u("HassClimateGetTemperature", &[("area", s("bedroom"))]), vec![], "The bedroom temperature is 18 °C."),
            (
                u("HassGetState", &[("name", s("front door")), ("state", s("locked"))]),
                vec![],
                "Yes, the front door is locked.",
            ),
            (
                u("HassGetState", &[("name", s("kitchen spots")), ("state", s("on"))]),
                vec![],
                "No, the kitchen spots is off.",
            ),
            (u("HassGetState", &[("name", s("living room blinds"))]), vec![], "The living room blinds is 40% open."),
            (u("HassStartTimer", &[("minutes", json!(5))]), vec![], "Timer set for 5 minutes."),
            (u("HassNevermind", &[]), vec![], ""),
        ];
        for (req, want_cmds, want_reply) in cases {
            let p = plan(&req, &reg, &states).unwrap_or_else(|e| panic!("{req:?}: {e}"));
            assert_eq!(ids(&p), want_cmds, "{req:?}");
            assert_eq!(p.reply, want_reply, "{req:?}");
            for c in &p.commands {
                assert!(!matches!(c.action, Action::Toggle));
            }
        }
    }

    #[test]
    fn entities_take_precedence() {
        let reg = demo();
        let mut req = u("HassTurnOn", &[("name", json!("something else"))]);
        req.entities = vec!["light.bedroom_lamp".into(), "switch.kettle".into()];
        let p = plan(&req, &reg, &states).unwrap();
        assert_eq!(ids(&p), vec![("light.bedroom_lamp", Action::TurnOn), ("switch.kettle", Action::TurnOn)]);
        assert_eq!(p.reply, "Turned on 2 devices.");
    }

    #[test]
    fn errors() {
        let reg = demo();
        let s = |v: &str| json!(v);
        let e = plan(&u("HassTurnOn", &[("name", s("attic fan"))]), &reg, &states).unwrap_err();
        assert_eq!(e, SkillError::UnknownDevice("attic fan".into()));
        assert_eq!(e.reply(), "Sorry, I don't know a device called the attic fan.");
        let mut req = u("HassTurnOn", &[]);
        req.entities = vec!["light.nope".into()];
        assert_eq!(plan(&req, &reg, &states).unwrap_err(), SkillError::UnknownDevice("light.nope".into()));
        assert!(matches!(
            plan(&u("HassTurnOn", &[("name", s("Lamp"))]), &reg, &states),
            Err(SkillError::Ambiguous { .. })
        ));
        assert!(matches!(
            plan(&u("HassTurnOn", &[("area", s("garage"))]), &reg, &states),
            Err(SkillError::UnknownArea(_))
        ));
        assert!(matches!(plan(&u("HassTurnOn", &[]), &reg, &states), Err(SkillError::MissingSlot { .. })));
        assert!(matches!(plan(&u("HassDance", &[]), &reg, &states), Err(SkillError::UnknownIntent(_))));
        // Colour on a Tasmota light without the colour feature.
        let e =
            plan(&u("HassLightSet", &[("name", s("kitchen spots")), ("color", s("red"))]), &reg, &states).unwrap_err();
        assert!(matches!(&e, SkillError::Unsupported { device, .. } if device == "Kitchen Spots"), "{e:?}");
        assert!(matches!(
            plan(&u("HassLightSet", &[("name", s("kitchen light")), ("color", s("blurple"))]), &reg, &states),
            Err(SkillError::BadSlot { slot: "color", .. })
        ));
        assert!(matches!(
            plan(&u("HassLightSet", &[("name", s("kitchen light")), ("brightness", json!(140))]), &reg, &states),
            Err(SkillError::BadSlot { .. })
        ));
        // Toggle with unknown state.
        assert!(matches!(
            plan(&u("HassToggle", &[("name", s("kettle"))]), &reg, &states),
            Err(SkillError::UnknownState(_))
        ));
        // A sensor cannot be switched.
        assert!(matches!(
            plan(&u("HassTurnOn", &[("name", s("bedroom temperature"))]), &reg, &states),
            Err(SkillError::Unsupported { .. })
        ));
    }

    #[test]
    fn broadcast_passes_the_message_to_the_hub() {
        let (reg, none) = (demo(), |_: &str| None);
        let p = plan(&u("HassBroadcast", &[("message", json!(" dinner is ready "))]), &reg, &none).unwrap();
        assert_eq!(p.op, Some(HubOp::Broadcast("dinner is ready".into())));
        assert_eq!(p.reply, "Done.");
        let missing = plan(&u("HassBroadcast", &[]), &reg, &none).unwrap_err();
        assert_eq!(missing.reply(), "Sorry, what should I announce?");
        let long = json!("a".repeat(MAX_BROADCAST_CHARS + 1));
        assert!(matches!(
            plan(&u("HassBroadcast", &[("message", long)]), &reg, &none),
            Err(SkillError::BadSlot { .. })
        ));
        assert_eq!(Intent::from_name("HassBroadcast").as_str(), "HassBroadcast");
    }
}
