//! Generic JSON devices (hubd's own convention, for DIY firmware).
//!
//! Command: one JSON object on `command_topic`, with the Home Assistant JSON
//! light schema's key names where they exist, but human units:
//! `{"state":"ON|OFF|TOGGLE"}`, `{"state":"ON","brightness":<0..100 %>}`,
//! `{"state":"ON","color":{"r","g","b"}}`, `{"state":"ON","color_temp_kelvin":K}`,
//! `{"target_temperature":°C}`, `{"position":0..100}`,
//! `{"state":"OPEN|CLOSE|STOP"}` (covers and valves), `{"state":"LOCK|UNLOCK"}`;
//! fans `{"state":"ON","percentage":1..100}` (0 % is `{"state":"OFF"}`),
//! climate `{"fan_mode":"<mode>"}`; media players
//! `{"command":"play|pause|next|previous"}`, `{"volume":0..100}`,
//! `{"muted":bool}`, `{"command":"play_media","media_content_id":"<url or
//! id>","media_content_type":"<class>"}` (Home Assistant's `play_media`); vacuums `{"command":"start|stop|pause|return_to_base"}`
//! and `{"command":"clean_segments","segments":["<id>",..]}`; lawn mowers
//! `{"command":"start_mowing|pause|dock"}`; buttons `{"command":"press"}`.
//! An `input_boolean` (hub-held) takes `{"state":"ON|OFF"}`, retained.
//!
//! State: a JSON object on `state_topic` with the same keys, plus
//! `temperature` / `current_temperature`, `locked` (bool), `available` (bool),
//! `state` `ON|OFF|LOCKED|UNLOCKED|OPEN|CLOSED` (covers and valves also Home
//! Assistant's `open|opening|closed|closing|stopped`), `value` (anything),
//! `percentage` (fans), `fan_mode` (climate), `volume` and `muted` (media
//! players). For vacuums and media players `state` is Home Assistant's
//! activity word (vacuum `cleaning|docked|returning|paused|idle|error`,
//! media player `playing|paused|idle|off|on|standby|buffering`); a lawn
//! mower reports `activity` (`mowing|docked|returning|paused|idle|error`).
//! A weather entity reports its conditions (`{"condition":"sunny",
//! "temperature":21.5,"humidity":60,...}`): the whole object is the value,
//! `temperature` also the current temperature. Buttons have no state.
use serde_json::{Map, Value, json};

use crate::color::parse_hex;
use crate::payload::{self, bad, check_celsius, check_kelvin, check_pct, json_msg, num_f32, num_u64, out_of_range};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, Rgb, StatePatch};

const D: &str = "generic_json";

pub(crate) fn encode(cmd: &DeviceCommand, action: &Action, topic: &str) -> Result<Vec<Outgoing>, BridgeError> {
    let kind = cmd.kind;
    let command = |c: &str| json!({"command": c});
    let body = match (kind, action) {
        // A retained toggle would flip the value again on every restart.
        (DeviceKind::InputBoolean, Action::Toggle) => return Err(payload::unsupported(D, cmd, action)),
        (DeviceKind::Vacuum, Action::Start) => command("start"),
        (DeviceKind::Vacuum, Action::Stop) => command("stop"),
        (DeviceKind::Vacuum, Action::Pause) => command("pause"),
        (DeviceKind::Vacuum, Action::Dock) => command("return_to_base"),
        (DeviceKind::Vacuum, Action::CleanSegments { segments }) => {
            json!({"command": "clean_segments", "segments": segments})
        }
        (DeviceKind::LawnMower, Action::Start) => command("start_mowing"),
        (DeviceKind::LawnMower, Action::Pause) => command("pause"),
        (DeviceKind::LawnMower, Action::Dock) => command("dock"),
        (DeviceKind::MediaPlayer, Action::Play) => command("play"),
        (DeviceKind::MediaPlayer, Action::Pause) => command("pause"),
        (DeviceKind::MediaPlayer, Action::NextTrack) => command("next"),
        (DeviceKind::MediaPlayer, Action::PreviousTrack) => command("previous"),
        (DeviceKind::MediaPlayer, Action::Volume { percent }) => json!({"volume": check_pct("volume", *percent)?}),
        (DeviceKind::MediaPlayer, Action::Mute { muted }) => json!({"muted": muted}),
        (DeviceKind::MediaPlayer, Action::PlayMedia { id, class }) => {
            json!({"command": "play_media", "media_content_id": id, "media_content_type": class})
        }
        (DeviceKind::Button, Action::Press) => command("press"),
        (DeviceKind::Fan, Action::FanSpeed { percent }) => {
            let p = check_pct("fan_speed", *percent)?;
            if p == 0 { json!({"state": "OFF"}) } else { json!({"state": "ON", "percentage": p}) }
        }
        (DeviceKind::Climate, Action::FanMode { mode }) => json!({"fan_mode": payload::fan_mode_name(cmd, mode)}),
        (_, Action::TurnOn) => json!({"state": "ON"}),
        (_, Action::TurnOff) => json!({"state": "OFF"}),
        (_, Action::Toggle) => json!({"state": "TOGGLE"}),
        (_, Action::Brightness { percent }) => {
            let p = check_pct("brightness", *percent)?;
            if p == 0 { json!({"state": "OFF"}) } else { json!({"state": "ON", "brightness": p}) }
        }
        (_, Action::Color { rgb }) => {
            json!({"state": "ON", "color": {"r": rgb.r, "g": rgb.g, "b": rgb.b}})
        }
        (_, Action::ColorTemp { kelvin }) => {
            json!({"state": "ON", "color_temp_kelvin": check_kelvin(*kelvin)?})
        }
        (_, Action::TargetTemperature { celsius }) => {
            json!({"target_temperature": payload::temp_json(check_celsius(*celsius)?)})
        }
        (DeviceKind::Cover | DeviceKind::Valve, Action::Position { percent }) => {
            json!({"position": check_pct("position", *percent)?})
        }
        (DeviceKind::Cover | DeviceKind::Valve, Action::Open) => json!({"state": "OPEN"}),
        (DeviceKind::Cover | DeviceKind::Valve, Action::Close) => json!({"state": "CLOSE"}),
        (DeviceKind::Cover | DeviceKind::Valve, Action::Stop) => json!({"state": "STOP"}),
        (_, Action::Lock) => json!({"state": "LOCK"}),
        (_, Action::Unlock) => json!({"state": "UNLOCK"}),
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![json_msg(topic, &body)])
}

pub(crate) fn state_topics(state_topic: &str, kind: DeviceKind) -> Vec<String> {
    match kind {
        DeviceKind::Button => Vec::new(),
        _ => vec![state_topic.to_string()],
    }
}

pub(crate) fn parse(
    state_topic: &str,
    kind: DeviceKind,
    topic: &str,
    text: &str,
) -> Result<Option<StatePatch>, BridgeError> {
    if topic != state_topic || text.is_empty() {
        return Ok(None);
    }
    let obj = payload::json_object(topic, text)?;
    let mut p = StatePatch::default();
    if kind == DeviceKind::Weather {
        if let Some(v) = obj.get("temperature").filter(|v| !v.is_null()) {
            p.current_temperature = Some(num_f32(topic, "temperature", v)?);
        }
        p.value = Some(Value::Object(obj));
        return Ok(Some(p));
    }
    parse_state_word(kind, topic, &obj, &mut p)?;
    if let Some(v) = obj.get("brightness") {
        p.brightness_pct = Some(payload::state_pct("brightness", num_u64(topic, "brightness", v)?)?);
    }
    if let Some(v) = obj.get("color") {
        p.rgb = Some(match v {
            Value::String(s) => parse_hex(s).ok_or_else(|| bad(topic, format!("bad colour `{}`", payload::clip(s))))?,
            Value::Object(c) => {
                let ch = |k: &str| -> Result<u8, BridgeError> {
                    let v = c.get(k).ok_or_else(|| bad(topic, format!("`color` without `{k}`")))?;
                    let n = num_u64(topic, k, v)?;
                    u8::try_from(n).map_err(|_| out_of_range("color", n, "0..=255"))
                };
                Rgb { r: ch("r")?, g: ch("g")?, b: ch("b")? }
            }
            other => {
                return Err(bad(topic, format!("`color` should be an object or hex string, got {other}")));
            }
        });
    }
    if let Some(v) = obj.get("color_temp_kelvin") {
        let k = num_u64(topic, "color_temp_kelvin", v)?;
        p.color_temp_kelvin = Some(check_kelvin(u32::try_from(k).unwrap_or(u32::MAX))?);
    }
    if let Some(v) = obj.get("target_temperature") {
        p.target_temperature = Some(num_f32(topic, "target_temperature", v)?);
    }
    for key in ["current_temperature", "temperature"] {
        if let Some(v) = obj.get(key) {
            p.current_temperature = Some(num_f32(topic, key, v)?);
            break;
        }
    }
    if let Some(v) = obj.get("position") {
        p.position = Some(payload::state_pct("position", num_u64(topic, "position", v)?)?);
    }
    if let Some(v) = obj.get("locked") {
        p.locked = Some(v.as_bool().ok_or_else(|| bad(topic, format!("`locked` should be a boolean, got {v}")))?);
    }
    if let Some(v) = obj.get("available") {
        p.available = Some(v.as_bool().ok_or_else(|| bad(topic, format!("`available` should be a boolean, got {v}")))?);
    }
    parse_new_keys(kind, topic, &obj, &mut p)?;
    if let Some(v) = obj.get("value") {
        p.value = Some(v.clone());
    } else if matches!(kind, DeviceKind::Sensor | DeviceKind::BinarySensor) {
        p.value = Some(Value::Object(obj));
    }
    Ok(Some(p))
}

/// `state`: on/off, lock and cover words, or (vacuums, media players) the
/// activity.
fn parse_state_word(
    kind: DeviceKind,
    topic: &str,
    obj: &Map<String, Value>,
    p: &mut StatePatch,
) -> Result<(), BridgeError> {
    let Some(v) = obj.get("state") else {
        return Ok(());
    };
    if matches!(kind, DeviceKind::Vacuum | DeviceKind::MediaPlayer) {
        let Value::String(word) = v else {
            return Err(bad(topic, format!("`state` should be a string, got {v}")));
        };
        let word = payload::activity(topic, kind, word)?;
        if kind == DeviceKind::MediaPlayer {
            p.on = Some(!matches!(word.as_str(), "off" | "standby"));
        }
        p.activity = Some(word);
        return Ok(());
    }
    let valve_or_cover = matches!(kind, DeviceKind::Cover | DeviceKind::Valve);
    match v.as_str() {
        Some("ON") => p.on = Some(true),
        Some("OFF") => p.on = Some(false),
        Some("LOCKED" | "LOCK") => p.locked = Some(true),
        Some("UNLOCKED" | "UNLOCK") => p.locked = Some(false),
        Some("OPEN") => p.on = Some(true),
        Some("CLOSED" | "CLOSE") => p.on = Some(false),
        Some("open" | "opening") if valve_or_cover => p.on = Some(true),
        Some("closed" | "closing") if valve_or_cover => p.on = Some(false),
        Some("STOP" | "stopped") if valve_or_cover => {}
        _ => return Err(bad(topic, format!("unknown `state` {v}"))),
    }
    Ok(())
}

/// Fan, climate fan mode, media player and lawn mower keys.
fn parse_new_keys(
    kind: DeviceKind,
    topic: &str,
    obj: &Map<String, Value>,
    p: &mut StatePatch,
) -> Result<(), BridgeError> {
    if let Some(v) = obj.get("percentage").filter(|v| !v.is_null()) {
        let pct = payload::state_pct("percentage", num_u64(topic, "percentage", v)?)?;
        if pct == 0 {
            p.on = p.on.or(Some(false));
        } else {
            p.fan_speed_pct = Some(pct);
        }
    }
    if let Some(v) = obj.get("fan_mode").filter(|v| !v.is_null()) {
        let Value::String(mode) = v else {
            return Err(bad(topic, format!("`fan_mode` should be a string, got {v}")));
        };
        p.fan_mode = Some(mode.clone());
    }
    if let Some(v) = obj.get("volume").filter(|v| !v.is_null()) {
        p.volume_pct = Some(payload::state_pct("volume", num_u64(topic, "volume", v)?)?);
    }
    if let Some(v) = obj.get("muted").filter(|v| !v.is_null()) {
        p.muted = Some(v.as_bool().ok_or_else(|| bad(topic, format!("`muted` should be a boolean, got {v}")))?);
    }
    if kind == DeviceKind::LawnMower
        && let Some(v) = obj.get("activity").filter(|v| !v.is_null())
    {
        let Value::String(word) = v else {
            return Err(bad(topic, format!("`activity` should be a string, got {v}")));
        };
        p.activity = Some(payload::activity(topic, kind, word)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
