//! Generic JSON devices (hubd's own convention, for DIY firmware).
//!
//! Command: one JSON object on `command_topic`, with the Home Assistant JSON
//! light schema's key names where they exist, but human units:
//! `{"state":"ON|OFF|TOGGLE"}`, `{"state":"ON","brightness":<0..100 %>}`,
//! `{"state":"ON","color":{"r","g","b"}}`, `{"state":"ON","color_temp_kelvin":K}`,
//! `{"target_temperature":°C}`, `{"position":0..100}`,
//! `{"state":"OPEN|CLOSE|STOP"}`, `{"state":"LOCK|UNLOCK"}`.
//! State: a JSON object on `state_topic` with the same keys, plus
//! `temperature` / `current_temperature`, `locked` (bool), `available` (bool),
//! `state` `ON|OFF|LOCKED|UNLOCKED|OPEN|CLOSED`, `value` (anything).
use serde_json::{Value, json};

use crate::color::parse_hex;
use crate::payload::{self, bad, check_celsius, check_kelvin, check_pct, json_msg, num_f32, num_u64, out_of_range};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, Rgb, StatePatch};

pub(crate) fn encode(cmd: &DeviceCommand, action: &Action, topic: &str) -> Result<Vec<Outgoing>, BridgeError> {
    let body = match action {
        Action::TurnOn => json!({"state": "ON"}),
        Action::TurnOff => json!({"state": "OFF"}),
        Action::Toggle => json!({"state": "TOGGLE"}),
        Action::Brightness { percent } => {
            let p = check_pct("brightness", *percent)?;
            if p == 0 { json!({"state": "OFF"}) } else { json!({"state": "ON", "brightness": p}) }
        }
        Action::Color { rgb } => {
            json!({"state": "ON", "color": {"r": rgb.r, "g": rgb.g, "b": rgb.b}})
        }
        Action::ColorTemp { kelvin } => {
            json!({"state": "ON", "color_temp_kelvin": check_kelvin(*kelvin)?})
        }
        Action::TargetTemperature { celsius } => {
            json!({"target_temperature": payload::temp_json(check_celsius(*celsius)?)})
        }
        Action::Position { percent } => json!({"position": check_pct("position", *percent)?}),
        Action::Open => json!({"state": "OPEN"}),
        Action::Close => json!({"state": "CLOSE"}),
        Action::Stop => json!({"state": "STOP"}),
        Action::Lock => json!({"state": "LOCK"}),
        Action::Unlock => json!({"state": "UNLOCK"}),
    };
    let _ = cmd;
    Ok(vec![json_msg(topic, &body)])
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
    if let Some(v) = obj.get("state") {
        match v.as_str() {
            Some("ON") => p.on = Some(true),
            Some("OFF") => p.on = Some(false),
            Some("LOCKED" | "LOCK") => p.locked = Some(true),
            Some("UNLOCKED" | "UNLOCK") => p.locked = Some(false),
            Some("OPEN") => p.on = Some(true),
            Some("CLOSED" | "CLOSE") => p.on = Some(false),
            _ => return Err(bad(topic, format!("unknown `state` {v}"))),
        }
    }
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
    if let Some(v) = obj.get("value") {
        p.value = Some(v.clone());
    } else if matches!(kind, DeviceKind::Sensor | DeviceKind::BinarySensor) {
        p.value = Some(Value::Object(obj));
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dialect, Features, encode, parse_state};

    fn d() -> Dialect {
        Dialect::GenericJson { command_topic: "diy/desk/set".into(), state_topic: "diy/desk".into() }
    }

    /// Round trip: every encoded command, echoed back as state by a device
    /// that applies it, satisfies the command.
    #[test]
    fn round_trip() {
        let f = Features { dimmable: true, color: true, color_temp: true, position: true };
        for (kind, action) in [
            (DeviceKind::Light, Action::TurnOn),
            (DeviceKind::Light, Action::Brightness { percent: 30 }),
            (DeviceKind::Light, Action::Color { rgb: Rgb { r: 0, g: 255, b: 0 } }),
            (DeviceKind::Light, Action::ColorTemp { kelvin: 3000 }),
            (DeviceKind::Climate, Action::TargetTemperature { celsius: 19.5 }),
            (DeviceKind::Cover, Action::Position { percent: 70 }),
        ] {
            let cmd = DeviceCommand {
                device_id: "x.y".into(),
                kind,
                dialect: d(),
                action: action.clone(),
                features: f.clone(),
            };
            let out = encode(&cmd).unwrap();
            assert_eq!(out[0].topic, "diy/desk/set");
            let mut echo: serde_json::Map<String, Value> = serde_json::from_slice(&out[0].payload).unwrap();
            if let Some(Value::String(s)) = echo.get("state")
                && s == "OPEN"
            {
                echo.insert("state".into(), "OPEN".into());
            }
            let patch =
                parse_state(&d(), kind, "diy/desk", Value::Object(echo).to_string().as_bytes()).unwrap().unwrap();
            let mut st = crate::DeviceState::default();
            st.apply(&patch);
            assert!(st.satisfies(&action), "{action:?} -> {st:?}");
        }
    }

    #[test]
    fn bad() {
        for payload in [&b"[]"[..], b"{\"state\":\"MAYBE\"}", b"{\"locked\":1}", b"{\"color\":5}"] {
            let e = parse_state(&d(), DeviceKind::Lock, "diy/desk", payload).unwrap_err();
            assert!(matches!(&e, BridgeError::BadPayload { topic, .. } if topic == "diy/desk"), "{e:?}");
        }
    }
}
