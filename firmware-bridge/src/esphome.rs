//! ESPHome's MQTT API.
//!
//! Sources: esphome/esphome-docs `components/mqtt.rst` (default topics
//! `<topic_prefix>/<component_type>/<object_id>/command` and `/state`,
//! availability `<topic_prefix>/status` online/offline) and the component
//! code in esphome/esphome `esphome/components/mqtt/`:
//! - `mqtt_switch.cpp`, `mqtt_fan.cpp`: command `ON|OFF|TOGGLE`, state `ON|OFF`;
//!   a fan's speed on `speed_level/command` / `speed_level/state`, an integer
//!   level 0..=`speed_count` (`fan/fan.cpp` clamps a set speed to
//!   1..=speed_count and a speed alone does not switch the fan on). The bridge
//!   sends the percentage as the level, i.e. it assumes `speed_count: 100`,
//!   the default of the `speed` and `hbridge` fan platforms: a fan with fewer
//!   levels rejects larger ones ("Invalid speed level"), and no echo confirms
//!   the command. A speed goes out as the level, then `ON`; 0 % as `OFF`;
//! - `mqtt_light.cpp` + `light/light_json_schema.cpp`: Home Assistant JSON
//!   schema, `brightness` 0..255, `color` {r,g,b}, `color_temp` in mired;
//! - `mqtt_cover.cpp`, `mqtt_valve.cpp`: command `OPEN|CLOSE|STOP`,
//!   `position/command` 0..100; state `open|closed|opening|closing|unknown` on
//!   `state` (opening/closing: moving, no end state yet) and the position
//!   0..100 on `position/state`;
//! - `mqtt_climate.cpp`: `target_temperature/command` (a number),
//!   `mode/command`, `fan_mode/command` (the mode name; built-in modes
//!   case-insensitive, custom ones exact), states on
//!   `target_temperature/state`, `current_temperature/state`, `mode/state`,
//!   `fan_mode/state` (lower case, or the custom name);
//! - `mqtt_lock.cpp`: command `LOCK|UNLOCK|OPEN`, state
//!   `LOCKED|UNLOCKED|JAMMED|LOCKING|UNLOCKING|UNKNOWN`;
//! - `mqtt_sensor.cpp` / `mqtt_binary_sensor.cpp`: the value / `ON|OFF`;
//! - `mqtt_button.cpp`: command `PRESS`, no state topic.
//!
//! ESPHome has no MQTT media player, vacuum, lawn mower, hub-held boolean or
//! weather component (`esphome/components/mqtt/` has no such file): those are
//! `Unsupported`.
use serde_json::{Value, json};

use crate::color::{kelvin_to_mired, mired_to_kelvin};
use crate::payload::{self, bad, check_celsius, check_kelvin, check_pct, json_msg, msg, num_u64, out_of_range};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, Rgb, StatePatch};

const D: &str = "esphome";

fn component(kind: DeviceKind) -> Option<&'static str> {
    Some(match kind {
        DeviceKind::Light => "light",
        DeviceKind::Switch => "switch",
        DeviceKind::Fan => "fan",
        DeviceKind::Cover => "cover",
        DeviceKind::Climate => "climate",
        DeviceKind::Lock => "lock",
        DeviceKind::Sensor => "sensor",
        DeviceKind::BinarySensor => "binary_sensor",
        DeviceKind::Valve => "valve",
        DeviceKind::Button => "button",
        DeviceKind::MediaPlayer
        | DeviceKind::Person
        | DeviceKind::Vacuum
        | DeviceKind::LawnMower
        | DeviceKind::InputBoolean
        | DeviceKind::Weather
        | DeviceKind::Scene
        | DeviceKind::Script
        | DeviceKind::Todo => return None,
    })
}

pub(crate) fn encode(
    cmd: &DeviceCommand,
    action: &Action,
    node: &str,
    object_id: &str,
) -> Result<Vec<Outgoing>, BridgeError> {
    let Some(comp) = component(cmd.kind) else {
        return Err(payload::unsupported(D, cmd, action));
    };
    let base = format!("{node}/{comp}/{object_id}");
    let command = format!("{base}/command");
    let out = match (cmd.kind, action) {
        (DeviceKind::Light, _) => match json_light_body(action)? {
            Some(body) => json_msg(command, &body),
            None => return Err(payload::unsupported(D, cmd, action)),
        },
        (DeviceKind::Switch | DeviceKind::Fan, Action::TurnOn) => msg(command, "ON"),
        (DeviceKind::Switch | DeviceKind::Fan, Action::TurnOff) => msg(command, "OFF"),
        (DeviceKind::Switch | DeviceKind::Fan, Action::Toggle) => msg(command, "TOGGLE"),
        (DeviceKind::Fan, Action::FanSpeed { percent }) => {
            let p = check_pct("fan_speed", *percent)?;
            if p == 0 {
                msg(command, "OFF")
            } else {
                // The level first, so switching on does not start at full speed.
                return Ok(vec![msg(format!("{base}/speed_level/command"), p.to_string()), msg(command, "ON")]);
            }
        }
        (DeviceKind::Cover | DeviceKind::Valve, Action::Open) => msg(command, "OPEN"),
        (DeviceKind::Cover | DeviceKind::Valve, Action::Close) => msg(command, "CLOSE"),
        (DeviceKind::Cover | DeviceKind::Valve, Action::Stop) => msg(command, "STOP"),
        (DeviceKind::Cover | DeviceKind::Valve, Action::Position { percent }) => {
            msg(format!("{base}/position/command"), check_pct("position", *percent)?.to_string())
        }
        (DeviceKind::Climate, Action::TargetTemperature { celsius }) => {
            msg(format!("{base}/target_temperature/command"), payload::fmt_temp(check_celsius(*celsius)?))
        }
        (DeviceKind::Climate, Action::TurnOn) => msg(format!("{base}/mode/command"), "HEAT"),
        (DeviceKind::Climate, Action::TurnOff) => msg(format!("{base}/mode/command"), "OFF"),
        (DeviceKind::Climate, Action::FanMode { mode }) => {
            msg(format!("{base}/fan_mode/command"), payload::fan_mode_name(cmd, mode))
        }
        (DeviceKind::Button, Action::Press) => msg(command, "PRESS"),
        (DeviceKind::Lock, Action::Lock) => msg(command, "LOCK"),
        (DeviceKind::Lock, Action::Unlock) => msg(command, "UNLOCK"),
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![out])
}

pub(crate) fn state_topics(node: &str, object_id: &str, kind: DeviceKind) -> Vec<String> {
    let mut v = Vec::new();
    if matches!(kind, DeviceKind::Vacuum | DeviceKind::LawnMower | DeviceKind::InputBoolean | DeviceKind::Weather) {
        // No such component: nothing to hear.
        return v;
    }
    if let Some(comp) = component(kind) {
        let base = format!("{node}/{comp}/{object_id}");
        match kind {
            DeviceKind::Cover | DeviceKind::Valve => {
                v.push(format!("{base}/state"));
                v.push(format!("{base}/position/state"));
            }
            DeviceKind::Climate => {
                v.push(format!("{base}/target_temperature/state"));
                v.push(format!("{base}/current_temperature/state"));
                v.push(format!("{base}/mode/state"));
                v.push(format!("{base}/fan_mode/state"));
            }
            DeviceKind::Fan => {
                v.push(format!("{base}/state"));
                v.push(format!("{base}/speed_level/state"));
            }
            _ => v.push(format!("{base}/state")),
        }
    }
    v.push(format!("{node}/status"));
    v
}

pub(crate) fn parse(
    node: &str,
    object_id: &str,
    kind: DeviceKind,
    topic: &str,
    text: &str,
) -> Result<Option<StatePatch>, BridgeError> {
    let mut p = StatePatch::default();
    if topic == format!("{node}/status") {
        p.available = Some(match text {
            "online" => true,
            "offline" => false,
            other => {
                return Err(bad(topic, format!("status should be online/offline, got `{}`", payload::clip(other))));
            }
        });
        return Ok(Some(p));
    }
    let Some(comp) = component(kind) else {
        return Ok(None);
    };
    let base = format!("{node}/{comp}/{object_id}/");
    let Some(leaf) = topic.strip_prefix(&base) else {
        return Ok(None);
    };
    match (kind, leaf) {
        (DeviceKind::Light, "state") => return parse_json_light(topic, text).map(Some),
        (DeviceKind::Switch | DeviceKind::Fan | DeviceKind::BinarySensor, "state") => {
            p.on = Some(on_off(topic, text)?);
        }
        (DeviceKind::Cover | DeviceKind::Valve, "state") => match text {
            "open" => p.on = Some(true),
            "closed" => p.on = Some(false),
            "opening" | "closing" | "unknown" => return Ok(None),
            other => {
                return Err(bad(
                    topic,
                    format!("{} state should be open/closed/opening/closing, got `{}`", comp, payload::clip(other)),
                ));
            }
        },
        (DeviceKind::Fan, "speed_level/state") => {
            let v: u64 =
                text.parse().map_err(|_| bad(topic, format!("expected an integer, got `{}`", payload::clip(text))))?;
            p.fan_speed_pct = Some(payload::state_pct("speed_level", v)?);
        }
        (DeviceKind::Climate, "fan_mode/state") => {
            if text.is_empty() {
                return Ok(None);
            }
            p.fan_mode = Some(text.to_string());
        }
        (DeviceKind::Cover | DeviceKind::Valve, "position/state") => {
            let v = payload::parse_f32(topic, text)?;
            if !(0.0..=100.0).contains(&v) {
                return Err(out_of_range("position", v, "0..=100"));
            }
            let pos = v.round() as u8;
            p.position = Some(pos);
            p.on = Some(pos > 0);
        }
        (DeviceKind::Climate, "target_temperature/state") => {
            p.target_temperature = Some(payload::parse_f32(topic, text)?);
        }
        (DeviceKind::Climate, "current_temperature/state") => {
            p.current_temperature = Some(payload::parse_f32(topic, text)?);
        }
        (DeviceKind::Climate, "mode/state") => {
            if text.is_empty() {
                return Ok(None);
            }
            p.on = Some(!text.eq_ignore_ascii_case("off"));
        }
        (DeviceKind::Lock, "state") => match text {
            "LOCKED" => p.locked = Some(true),
            "UNLOCKED" => p.locked = Some(false),
            "JAMMED" | "LOCKING" | "UNLOCKING" | "UNKNOWN" => {}
            other => {
                return Err(bad(topic, format!("unknown lock state `{}`", payload::clip(other))));
            }
        },
        (DeviceKind::Sensor, "state") => {
            if text.is_empty() || text == "nan" {
                return Ok(None);
            }
            let v = payload::parse_f32(topic, text)?;
            p.current_temperature = Some(v);
            p.value = serde_json::Number::from_f64(f64::from(v)).map(Value::Number);
        }
        _ => return Ok(None),
    }
    Ok(Some(p))
}

/// The Home Assistant JSON light schema's command body for `action`
/// (`brightness` 0..255, `color` {r,g,b}, `color_temp` in mired), as
/// ESPHome's `light_json_schema.cpp` reads it; `None` for actions a light
/// does not take.
pub(crate) fn json_light_body(action: &Action) -> Result<Option<Value>, BridgeError> {
    Ok(Some(match action {
        Action::TurnOn => json!({"state": "ON"}),
        Action::TurnOff => json!({"state": "OFF"}),
        Action::Toggle => json!({"state": "TOGGLE"}),
        Action::Brightness { percent } => {
            let p = check_pct("brightness", *percent)?;
            if p == 0 {
                json!({"state": "OFF"})
            } else {
                json!({"state": "ON", "brightness": payload::pct_to_scale(p, 255)})
            }
        }
        Action::Color { rgb } => json!({"state": "ON", "color": {"r": rgb.r, "g": rgb.g, "b": rgb.b}}),
        Action::ColorTemp { kelvin } => json!({"state": "ON", "color_temp": kelvin_to_mired(check_kelvin(*kelvin)?)}),
        _ => return Ok(None),
    }))
}

/// A Home Assistant JSON light schema state message.
pub(crate) fn parse_json_light(topic: &str, text: &str) -> Result<StatePatch, BridgeError> {
    let mut p = StatePatch::default();
    let obj = payload::json_object(topic, text)?;
    if let Some(v) = obj.get("state") {
        p.on = Some(match v.as_str() {
            Some("ON") => true,
            Some("OFF") => false,
            _ => {
                return Err(bad(topic, format!("light `state` should be ON/OFF, got {v}")));
            }
        });
    }
    if let Some(v) = obj.get("brightness") {
        let b = num_u64(topic, "brightness", v)?;
        if b > 255 {
            return Err(out_of_range("brightness", b, "0..=255"));
        }
        p.brightness_pct = Some(payload::scale_to_pct(b, 255));
    }
    let mode = obj.get("color_mode").and_then(Value::as_str).unwrap_or("");
    if mode.starts_with("rgb")
        && let Some(Value::Object(c)) = obj.get("color")
    {
        let ch = |k: &str| -> Result<u8, BridgeError> {
            let v = c.get(k).ok_or_else(|| bad(topic, format!("`color` without `{k}`")))?;
            let n = num_u64(topic, k, v)?;
            u8::try_from(n).map_err(|_| out_of_range("color", n, "0..=255"))
        };
        p.rgb = Some(Rgb { r: ch("r")?, g: ch("g")?, b: ch("b")? });
    }
    if let Some(v) = obj.get("color_temp") {
        let m = num_u64(topic, "color_temp", v)?;
        if m > 0 {
            p.color_temp_kelvin = Some(mired_to_kelvin(m.min(u64::from(u32::MAX)) as u32));
        }
    }
    Ok(p)
}

fn on_off(topic: &str, s: &str) -> Result<bool, BridgeError> {
    match s {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        other => Err(bad(topic, format!("expected ON/OFF, got `{}`", payload::clip(other)))),
    }
}

#[cfg(test)]
mod tests;
