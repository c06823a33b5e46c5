//! Reply phrasing: hubd's own English words for replies ("Turned on 3
//! lights in the kitchen.").
use firmware_bridge::{Action, DeviceKind, DeviceState};
use serde_json::Value;

use crate::registry::{Area, Device, Floor, Registry};

pub(crate) fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// "Kitchen Light" -> "the kitchen light".
pub(crate) fn the(name: &str) -> String {
    let l = name.trim().to_lowercase();
    if l.starts_with("the ") { l } else { format!("the {l}") }
}

pub(crate) fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

pub(crate) fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

pub(crate) fn kind_noun(k: DeviceKind, plural: bool) -> &'static str {
    match (k, plural) {
        (DeviceKind::Light, false) => "light",
        (DeviceKind::Light, true) => "lights",
        (DeviceKind::Switch, false) => "switch",
        (DeviceKind::Switch, true) => "switches",
        (DeviceKind::Fan, false) => "fan",
        (DeviceKind::Fan, true) => "fans",
        (DeviceKind::Cover, false) => "cover",
        (DeviceKind::Cover, true) => "covers",
        (DeviceKind::Lock, false) => "lock",
        (DeviceKind::Lock, true) => "locks",
        (DeviceKind::Climate, false) => "thermostat",
        (DeviceKind::Climate, true) => "thermostats",
        (DeviceKind::MediaPlayer, false) => "media player",
        (DeviceKind::MediaPlayer, true) => "media players",
        (DeviceKind::Valve, false) => "valve",
        (DeviceKind::Valve, true) => "valves",
        (DeviceKind::Vacuum, false) => "vacuum",
        (DeviceKind::Vacuum, true) => "vacuums",
        (DeviceKind::LawnMower, false) => "lawn mower",
        (DeviceKind::LawnMower, true) => "lawn mowers",
        (DeviceKind::Button, false) => "button",
        (DeviceKind::Button, true) => "buttons",
        (DeviceKind::Weather, _) => "weather",
        (_, false) => "device",
        (_, true) => "devices",
    }
}

pub(crate) fn plural_noun(devices: &[&Device]) -> &'static str {
    match devices.first() {
        Some(first) if devices.iter().all(|d| d.kind == first.kind) => kind_noun(first.kind, true),
        _ => "devices",
    }
}

pub(crate) fn plural_of(domains: &[DeviceKind]) -> String {
    match domains {
        [k] => kind_noun(*k, true).to_string(),
        _ => "devices".to_string(),
    }
}

/// "3 lights", "1 light", "4 devices".
pub(crate) fn count_noun(devices: &[&Device], n: usize) -> String {
    let noun = match devices.first() {
        Some(first) if devices.iter().all(|d| d.kind == first.kind) => kind_noun(first.kind, n != 1),
        _ => {
            if n == 1 {
                "device"
            } else {
                "devices"
            }
        }
    };
    format!("{n} {noun}")
}

pub(crate) fn round1(c: f32) -> f64 {
    (f64::from(c) * 10.0).round() / 10.0
}

/// "21 °C", "21.5 °C".
pub(crate) fn celsius_str(c: f32) -> String {
    let r = round1(c);
    if r.fract() == 0.0 { format!("{r:.0} °C") } else { format!("{r:.1} °C") }
}

/// " in the kitchen" / " on the first floor" / "".
pub(crate) fn place_of(area: Option<&Area>, floor: Option<&Floor>) -> String {
    match (area, floor) {
        (Some(a), _) => format!(" in {}", the(&a.name)),
        (None, Some(f)) => format!(" on {}", the(&f.name)),
        (None, None) => String::new(),
    }
}

/// "the lamp in the bedroom".
pub(crate) fn describe_with_area(reg: &Registry, d: &Device) -> String {
    match d.area.as_deref().and_then(|a| reg.area(a)) {
        Some(a) => format!("{} in {}", the(&d.name), the(&a.name)),
        None => the(&d.name),
    }
}

pub(crate) fn past_tense(a: &Action) -> &'static str {
    match a {
        Action::TurnOn => "Turned on",
        Action::TurnOff => "Turned off",
        Action::Open => "Opened",
        Action::Close => "Closed",
        Action::Lock => "Locked",
        Action::Unlock => "Unlocked",
        Action::Start => "Started",
        Action::Dock => "Sent home",
        Action::Press => "Pressed",
        Action::Pause => "Paused",
        Action::Play => "Resumed",
        _ => "Set",
    }
}

/// A device's state in words ("on", "locked", "40% open", "21.5 °C").
pub(crate) fn state_word(d: &Device, st: &DeviceState) -> String {
    if st.available == Some(false) {
        return "unavailable".into();
    }
    let unknown = || "unknown".to_string();
    match d.kind {
        DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::InputBoolean => {
            st.on.map(|o| if o { "on" } else { "off" }.to_string()).unwrap_or_else(unknown)
        }
        DeviceKind::MediaPlayer | DeviceKind::Vacuum | DeviceKind::LawnMower => match (&st.activity, st.on) {
            (Some(a), _) => a.replace('_', " "),
            (None, Some(o)) => if o { "on" } else { "off" }.to_string(),
            (None, None) => unknown(),
        },
        DeviceKind::Button | DeviceKind::Scene | DeviceKind::Script => "ready".into(),
        DeviceKind::Todo => "a list".into(),
        DeviceKind::Weather => weather_words(st).unwrap_or_else(unknown),
        DeviceKind::Lock => {
            st.locked.map(|l| if l { "locked" } else { "unlocked" }.to_string()).unwrap_or_else(unknown)
        }
        DeviceKind::Cover | DeviceKind::Valve => match (st.position, st.on) {
            (Some(0), _) => "closed".into(),
            (Some(100), _) => "open".into(),
            (Some(p), _) => format!("{p}% open"),
            (None, Some(true)) => "open".into(),
            (None, Some(false)) => "closed".into(),
            (None, None) => unknown(),
        },
        DeviceKind::Climate => match (st.current_temperature, st.target_temperature) {
            (Some(c), Some(t)) => format!("at {}, set to {}", celsius_str(c), celsius_str(t)),
            (Some(c), None) => format!("at {}", celsius_str(c)),
            (None, Some(t)) => format!("set to {}", celsius_str(t)),
            (None, None) => unknown(),
        },
        DeviceKind::BinarySensor => {
            let (yes, no) = match d.device_class.as_deref() {
                Some("door" | "window" | "opening" | "garage_door") => ("open", "closed"),
                Some("motion" | "occupancy" | "presence") => ("detecting motion", "clear"),
                _ => ("on", "off"),
            };
            st.on.map(|o| if o { yes } else { no }.to_string()).unwrap_or_else(unknown)
        }
        DeviceKind::Sensor => match (st.current_temperature, &st.value) {
            (Some(c), _) if d.device_class.as_deref().is_none_or(|c| c == "temperature") => celsius_str(c),
            (_, Some(Value::Number(n))) => n.to_string(),
            (_, Some(Value::String(s))) => s.clone(),
            _ => unknown(),
        },
        DeviceKind::Person => match &st.value {
            Some(Value::String(s)) => s.replace('_', " "),
            _ => unknown(),
        },
    }
}

/// "sunny, 21 °C" from a weather entity's state (`value.condition`,
/// `current_temperature`).
pub(crate) fn weather_words(st: &DeviceState) -> Option<String> {
    let condition = weather_condition(st);
    match (condition, st.current_temperature) {
        (Some(c), Some(t)) => Some(format!("{}, {}", c.replace('-', " "), celsius_str(t))),
        (Some(c), None) => Some(c.replace('-', " ")),
        (None, Some(t)) => Some(celsius_str(t)),
        (None, None) => None,
    }
}

/// Home Assistant's condition word (`sunny`, `partlycloudy`, ...) from a
/// weather state: `value.condition`, or the value itself when it is text.
pub(crate) fn weather_condition(st: &DeviceState) -> Option<String> {
    match &st.value {
        Some(Value::Object(m)) => m.get("condition").and_then(Value::as_str).map(str::to_string),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(the("Kitchen Light"), "the kitchen light");
        assert_eq!(the("The Hall"), "the hall");
        assert_eq!(and_list(&["a".into(), "b".into(), "c".into()]), "a, b and c");
        assert_eq!(or_list(&["a".into(), "b".into()]), "a or b");
        assert_eq!(celsius_str(21.0), "21 °C");
        assert_eq!(celsius_str(21.46), "21.5 °C");
        assert_eq!(cap("the lamp"), "The lamp");
    }
}
