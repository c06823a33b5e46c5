//! Devices described by a Home Assistant MQTT discovery config (imported by
//! hubd's discovery): command and state topics as the config names them.
//!
//! Sources: home-assistant/home-assistant.io `source/_integrations/`
//! `switch.mqtt.markdown`, `light.mqtt.markdown` (default and `json`
//! schemas), `fan.mqtt.markdown`, `cover.mqtt.markdown`, `lock.mqtt.markdown`:
//! - default schema: `payload_on`/`payload_off` (defaults `ON`/`OFF`) on the
//!   command topic; the state topic carries `state_on`/`state_off`, which
//!   default to the payloads;
//! - `json` schema lights: `{"state":"ON","brightness":0..255,"color":{r,g,b},
//!   "color_temp":mired}` both ways (as ESPHome's lights);
//! - covers: `OPEN`/`CLOSE`/`STOP` commands, states `open`/`closed`/`opening`/
//!   `closing`/`stopped`; locks: `LOCK`/`UNLOCK`, states `LOCKED`/`UNLOCKED`/...
//!
//! The other platforms, from their own pages in `source/_integrations/`:
//! - `valve.mqtt.markdown`: `payload_open`/`payload_close` (`OPEN`/`CLOSE`) on
//!   `command_topic`; with `reports_position` (the device's
//!   `features.position`) the position 0..100 is published instead, open =
//!   100, closed = 0. `payload_stop` has no default ("when not configured,
//!   the valve will not support the valve.stop action"): stop is
//!   `Unsupported`. State: `open|opening|closed|closing`, a number (the
//!   position) or JSON `{"state":..,"position":..}`; opening/closing are
//!   motion, not an end state;
//! - `vacuum.mqtt.markdown`: `command_topic` payloads `start`, `pause`,
//!   `stop`, `return_to_base` (the `payload_*` defaults); the state topic
//!   carries JSON with a mandatory `state` (`cleaning|docked|paused|idle|
//!   returning|error`). Segment cleaning needs `clean_segments_command_topic`,
//!   which this dialect does not know: `Unsupported`;
//! - `lawn_mower.mqtt.markdown`: separate `start_mowing_command_topic`,
//!   `pause_command_topic`, `dock_command_topic`, publishing `start_mowing`,
//!   `pause`, `dock`. This dialect has one `command_topic`, so it models the
//!   documented single-topic setup (all three topics the same, told apart by
//!   those payloads); `state_topic` is the `activity_state_topic`
//!   (`mowing|paused|idle|docked|returning|error`, `none` resets);
//! - `button.mqtt.markdown`: `payload_press` (default `PRESS`) on
//!   `command_topic`; no state;
//! - `fan.mqtt.markdown`: a speed goes to `percentage_command_topic`, not
//!   known here: `Unsupported` (on/off works); likewise a climate's
//!   `fan_mode_command_topic` (`climate.mqtt`);
//! - `input_boolean` (hub-held, no HA MQTT platform: hubd keeps it on its own
//!   topic): `payload_on`/`payload_off` like a switch, retained;
//! - weather: the state topic's text (`sunny`, or a number) is the value.
//!
//! Home Assistant has no MQTT media player platform: `Unsupported`.
use serde_json::Value;

use crate::esphome::{json_light_body, parse_json_light};
use crate::payload::{self, bad, check_pct, json_msg, msg, num_u64};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, StatePatch};

const D: &str = "ha_mqtt";

pub(crate) fn encode(
    cmd: &DeviceCommand,
    action: &Action,
    command_topic: &str,
    json: bool,
    on: &str,
    off: &str,
) -> Result<Vec<Outgoing>, BridgeError> {
    let out = match (cmd.kind, action) {
        (DeviceKind::Light, _) if json => match json_light_body(action)? {
            Some(body) => json_msg(command_topic, &body),
            None => return Err(payload::unsupported(D, cmd, action)),
        },
        (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::InputBoolean, Action::TurnOn) => {
            msg(command_topic, on)
        }
        (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::InputBoolean, Action::TurnOff) => {
            msg(command_topic, off)
        }
        (DeviceKind::Valve, Action::Open | Action::Close | Action::Position { .. }) => {
            msg(command_topic, valve_payload(cmd.features.position, action)?)
        }
        (DeviceKind::Vacuum, Action::Start) => msg(command_topic, "start"),
        (DeviceKind::Vacuum, Action::Pause) => msg(command_topic, "pause"),
        (DeviceKind::Vacuum, Action::Stop) => msg(command_topic, "stop"),
        (DeviceKind::Vacuum, Action::Dock) => msg(command_topic, "return_to_base"),
        (DeviceKind::LawnMower, Action::Start) => msg(command_topic, "start_mowing"),
        (DeviceKind::LawnMower, Action::Pause) => msg(command_topic, "pause"),
        (DeviceKind::LawnMower, Action::Dock) => msg(command_topic, "dock"),
        (DeviceKind::Button, Action::Press) => msg(command_topic, "PRESS"),
        (DeviceKind::Cover, Action::Open) => msg(command_topic, "OPEN"),
        (DeviceKind::Cover, Action::Close) => msg(command_topic, "CLOSE"),
        (DeviceKind::Cover, Action::Stop) => msg(command_topic, "STOP"),
        (DeviceKind::Lock, Action::Lock) => msg(command_topic, "LOCK"),
        (DeviceKind::Lock, Action::Unlock) => msg(command_topic, "UNLOCK"),
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![out])
}

/// What `valve.mqtt` publishes: the position with `reports_position`,
/// `payload_open`/`payload_close` without.
fn valve_payload(reports_position: bool, action: &Action) -> Result<String, BridgeError> {
    Ok(match (reports_position, action) {
        (true, Action::Open) => "100".into(),
        (true, Action::Close) => "0".into(),
        (_, Action::Position { percent }) => check_pct("position", *percent)?.to_string(),
        (false, Action::Open) => "OPEN".into(),
        _ => "CLOSE".into(),
    })
}

pub(crate) fn state_topics(state_topic: Option<&str>, kind: DeviceKind) -> Vec<String> {
    match kind {
        DeviceKind::Button => Vec::new(),
        _ => state_topic.iter().map(|t| t.to_string()).collect(),
    }
}

pub(crate) fn parse(
    state_topic: &str,
    json: bool,
    on: &str,
    off: &str,
    kind: DeviceKind,
    topic: &str,
    text: &str,
) -> Result<Option<StatePatch>, BridgeError> {
    if topic != state_topic || text.is_empty() {
        return Ok(None);
    }
    let mut p = StatePatch::default();
    match kind {
        DeviceKind::Light if json => return parse_json_light(topic, text).map(Some),
        DeviceKind::Light
        | DeviceKind::Switch
        | DeviceKind::Fan
        | DeviceKind::BinarySensor
        | DeviceKind::InputBoolean => {
            p.on = Some(if text == on {
                true
            } else if text == off {
                false
            } else {
                return Err(bad(topic, format!("expected `{on}` or `{off}`, got `{}`", payload::clip(text))));
            });
        }
        DeviceKind::Cover => match text {
            "open" | "opening" => p.on = Some(true),
            "closed" | "closing" => p.on = Some(false),
            "stopped" => {}
            other => return Err(bad(topic, format!("unknown cover state `{}`", payload::clip(other)))),
        },
        DeviceKind::Lock => match text {
            "LOCKED" => p.locked = Some(true),
            "UNLOCKED" => p.locked = Some(false),
            "LOCKING" | "UNLOCKING" | "JAMMED" | "OPEN" | "OPENING" => {}
            other => return Err(bad(topic, format!("unknown lock state `{}`", payload::clip(other)))),
        },
        DeviceKind::Sensor | DeviceKind::Weather => {
            p.value = Some(match text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                Some(n) => Value::Number(n),
                None => Value::String(text.to_string()),
            });
        }
        DeviceKind::Valve => return parse_valve(topic, text),
        DeviceKind::Vacuum => {
            let obj = match serde_json::from_str::<Value>(text) {
                // "can be reset by a device by sending a null payload"
                Ok(Value::Null) => return Ok(None),
                _ => payload::json_object(topic, text)?,
            };
            match obj.get("state") {
                Some(Value::String(s)) => p.activity = Some(payload::activity(topic, kind, s)?),
                Some(Value::Null) => return Ok(None),
                Some(v) => return Err(bad(topic, format!("`state` should be a string, got {v}"))),
                None => return Err(bad(topic, "vacuum state without its mandatory `state` key")),
            }
        }
        DeviceKind::LawnMower => {
            if text.eq_ignore_ascii_case("none") {
                return Ok(None);
            }
            p.activity = Some(payload::activity(topic, kind, text)?);
        }
        DeviceKind::Climate
        | DeviceKind::MediaPlayer
        | DeviceKind::Person
        | DeviceKind::Button
        | DeviceKind::Scene
        | DeviceKind::Script
        | DeviceKind::Todo => return Ok(None),
    }
    Ok(Some(p))
}

/// A `valve.mqtt` state: a state word, a position, or JSON with both.
fn parse_valve(topic: &str, text: &str) -> Result<Option<StatePatch>, BridgeError> {
    let mut p = StatePatch::default();
    let (word, position) = if text.starts_with('{') {
        let obj = payload::json_object(topic, text)?;
        let word = match obj.get("state") {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) => None,
            Some(v) => return Err(bad(topic, format!("`state` should be a string, got {v}"))),
        };
        let position = match obj.get("position").filter(|v| !v.is_null()) {
            Some(v) => Some(num_u64(topic, "position", v)?),
            None => None,
        };
        (word, position)
    } else if let Ok(n) = text.parse::<f64>() {
        if !(0.0..=100.0).contains(&n) {
            return Err(payload::out_of_range("position", n, "0..=100"));
        }
        (None, Some(n.round() as u64))
    } else {
        (Some(text.to_string()), None)
    };
    match word.as_deref() {
        Some("open") => p.on = Some(true),
        Some("closed") => p.on = Some(false),
        Some("opening" | "closing" | "None") | None => {}
        Some(other) => {
            return Err(bad(
                topic,
                format!("valve state should be open|opening|closed|closing, got `{}`", payload::clip(other)),
            ));
        }
    }
    if let Some(pos) = position {
        let pos = payload::state_pct("position", pos)?;
        p.position = Some(pos);
        p.on = Some(pos > 0);
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests;
