//! ESPHome's MQTT API.
//!
//! Sources: esphome/esphome-docs `components/mqtt.rst` (default topics
//! `<topic_prefix>/<component_type>/<object_id>/command` and `/state`,
//! availability `<topic_prefix>/status` online/offline) and the component
//! code in esphome/esphome `esphome/components/mqtt/`:
//! - `mqtt_switch.cpp`, `mqtt_fan.cpp`: command `ON|OFF|TOGGLE`, state `ON|OFF`;
//! - `mqtt_light.cpp` + `light/light_json_schema.cpp`: Home Assistant JSON
//!   schema, `brightness` 0..255, `color` {r,g,b}, `color_temp` in mired;
//! - `mqtt_cover.cpp`: command `OPEN|CLOSE|STOP`, `position/command` 0..100;
//!   state `open|closed|unknown` on `state` (no position support) or the
//!   position 0..100 on `position/state`;
//! - `mqtt_climate.cpp`: `target_temperature/command` (a number),
//!   `mode/command`, states on `target_temperature/state`,
//!   `current_temperature/state`, `mode/state`;
//! - `mqtt_lock.cpp`: command `LOCK|UNLOCK|OPEN`, state
//!   `LOCKED|UNLOCKED|JAMMED|LOCKING|UNLOCKING|UNKNOWN`;
//! - `mqtt_sensor.cpp` / `mqtt_binary_sensor.cpp`: the value / `ON|OFF`.
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
        DeviceKind::MediaPlayer | DeviceKind::Person => return None,
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
        (DeviceKind::Cover, Action::Open) => msg(command, "OPEN"),
        (DeviceKind::Cover, Action::Close) => msg(command, "CLOSE"),
        (DeviceKind::Cover, Action::Stop) => msg(command, "STOP"),
        (DeviceKind::Cover, Action::Position { percent }) => {
            msg(format!("{base}/position/command"), check_pct("position", *percent)?.to_string())
        }
        (DeviceKind::Climate, Action::TargetTemperature { celsius }) => {
            msg(format!("{base}/target_temperature/command"), payload::fmt_temp(check_celsius(*celsius)?))
        }
        (DeviceKind::Climate, Action::TurnOn) => msg(format!("{base}/mode/command"), "HEAT"),
        (DeviceKind::Climate, Action::TurnOff) => msg(format!("{base}/mode/command"), "OFF"),
        (DeviceKind::Lock, Action::Lock) => msg(command, "LOCK"),
        (DeviceKind::Lock, Action::Unlock) => msg(command, "UNLOCK"),
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![out])
}

pub(crate) fn state_topics(node: &str, object_id: &str, kind: DeviceKind) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(comp) = component(kind) {
        let base = format!("{node}/{comp}/{object_id}");
        match kind {
            DeviceKind::Cover => {
                v.push(format!("{base}/state"));
                v.push(format!("{base}/position/state"));
            }
            DeviceKind::Climate => {
                v.push(format!("{base}/target_temperature/state"));
                v.push(format!("{base}/current_temperature/state"));
                v.push(format!("{base}/mode/state"));
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
        (DeviceKind::Cover, "state") => match text {
            "open" => p.on = Some(true),
            "closed" => p.on = Some(false),
            "unknown" => {}
            other => {
                return Err(bad(topic, format!("cover state should be open/closed, got `{}`", payload::clip(other))));
            }
        },
        (DeviceKind::Cover, "position/state") => {
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
mod tests {
    use super::*;
    use crate::{Dialect, Features, encode, parse_state, state_topics};

    fn d(obj: &str) -> Dialect {
        Dialect::Esphome { node: "livingroom".into(), object_id: obj.into() }
    }

    fn cmd(kind: DeviceKind, obj: &str, action: Action) -> DeviceCommand {
        DeviceCommand {
            device_id: format!("{}.{obj}", kind.domain()),
            kind,
            dialect: d(obj),
            action,
            features: Features { dimmable: true, color: true, color_temp: true, position: true },
        }
    }

    /// Golden vectors: components/mqtt.rst default topics; the payloads are
    /// what mqtt_switch.cpp / mqtt_cover.cpp / mqtt_climate.cpp / mqtt_lock.cpp
    /// parse and what light_json_schema.cpp's `parse_json` reads.
    #[test]
    fn golden_commands() {
        let cases: Vec<(DeviceKind, &str, Action, &str, &str)> = vec![
            (DeviceKind::Switch, "pump", Action::TurnOn, "livingroom/switch/pump/command", "ON"),
            (DeviceKind::Switch, "pump", Action::Toggle, "livingroom/switch/pump/command", "TOGGLE"),
            (DeviceKind::Fan, "ceiling", Action::TurnOff, "livingroom/fan/ceiling/command", "OFF"),
            (DeviceKind::Light, "lamp", Action::TurnOn, "livingroom/light/lamp/command", r#"{"state":"ON"}"#),
            (
                DeviceKind::Light,
                "lamp",
                Action::Brightness { percent: 100 },
                "livingroom/light/lamp/command",
                r#"{"brightness":255,"state":"ON"}"#,
            ),
            (
                DeviceKind::Light,
                "lamp",
                Action::Color { rgb: Rgb { r: 0, g: 0, b: 255 } },
                "livingroom/light/lamp/command",
                r#"{"color":{"b":255,"g":0,"r":0},"state":"ON"}"#,
            ),
            (
                DeviceKind::Light,
                "lamp",
                Action::ColorTemp { kelvin: 4000 },
                "livingroom/light/lamp/command",
                r#"{"color_temp":250,"state":"ON"}"#,
            ),
            (DeviceKind::Cover, "blind", Action::Open, "livingroom/cover/blind/command", "OPEN"),
            (DeviceKind::Cover, "blind", Action::Stop, "livingroom/cover/blind/command", "STOP"),
            (
                DeviceKind::Cover,
                "blind",
                Action::Position { percent: 25 },
                "livingroom/cover/blind/position/command",
                "25",
            ),
            (
                DeviceKind::Climate,
                "heatpump",
                Action::TargetTemperature { celsius: 21.5 },
                "livingroom/climate/heatpump/target_temperature/command",
                "21.5",
            ),
            (DeviceKind::Lock, "door", Action::Lock, "livingroom/lock/door/command", "LOCK"),
            (DeviceKind::Lock, "door", Action::TurnOff, "livingroom/lock/door/command", "UNLOCK"),
        ];
        for (kind, obj, action, topic, payload) in cases {
            let out = encode(&cmd(kind, obj, action.clone())).unwrap();
            assert_eq!(out[0].topic, topic, "{action:?}");
            let got = String::from_utf8(out[0].payload.clone()).unwrap();
            if payload.starts_with('{') {
                let g: Value = serde_json::from_str(&got).unwrap();
                let w: Value = serde_json::from_str(payload).unwrap();
                assert_eq!(g, w, "{action:?}");
            } else {
                assert_eq!(got, payload, "{action:?}");
            }
        }
    }

    #[test]
    fn golden_state() {
        // light_json_schema.cpp dump_json: color_mode, state, brightness, color {r,g,b}.
        let p = parse_state(
            &d("lamp"),
            DeviceKind::Light,
            "livingroom/light/lamp/state",
            br#"{"color_mode":"rgb","state":"ON","brightness":128,"color":{"r":255,"g":0,"b":0}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((p.on, p.brightness_pct, p.rgb), (Some(true), Some(50), Some(Rgb { r: 255, g: 0, b: 0 })));
        let p = parse_state(&d("pump"), DeviceKind::Switch, "livingroom/switch/pump/state", b"OFF").unwrap().unwrap();
        assert_eq!(p.on, Some(false));
        let p = parse_state(&d("blind"), DeviceKind::Cover, "livingroom/cover/blind/position/state", b"25")
            .unwrap()
            .unwrap();
        assert_eq!(p.position, Some(25));
        let p =
            parse_state(&d("blind"), DeviceKind::Cover, "livingroom/cover/blind/state", b"closed").unwrap().unwrap();
        assert_eq!(p.on, Some(false));
        let p = parse_state(
            &d("heatpump"),
            DeviceKind::Climate,
            "livingroom/climate/heatpump/current_temperature/state",
            b"20.8",
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.current_temperature, Some(20.8));
        let p = parse_state(&d("door"), DeviceKind::Lock, "livingroom/lock/door/state", b"LOCKED").unwrap().unwrap();
        assert_eq!(p.locked, Some(true));
        assert_eq!(parse_state(&d("door"), DeviceKind::Lock, "livingroom/lock/door/state", b"LOCKING").unwrap(), None);
        let p = parse_state(&d("x"), DeviceKind::Light, "livingroom/status", b"offline").unwrap().unwrap();
        assert_eq!(p.available, Some(false));
        assert_eq!(
            state_topics(&d("heatpump"), DeviceKind::Climate),
            vec![
                "livingroom/climate/heatpump/target_temperature/state",
                "livingroom/climate/heatpump/current_temperature/state",
                "livingroom/climate/heatpump/mode/state",
                "livingroom/status"
            ]
        );
    }

    #[test]
    fn bad_state() {
        for (kind, obj, topic, payload) in [
            (DeviceKind::Light, "lamp", "livingroom/light/lamp/state", &b"ON"[..]),
            (DeviceKind::Switch, "pump", "livingroom/switch/pump/state", b"on?"),
            (DeviceKind::Cover, "blind", "livingroom/cover/blind/position/state", b"abc"),
            (DeviceKind::Climate, "heatpump", "livingroom/climate/heatpump/target_temperature/state", b"\xff"),
        ] {
            let e = parse_state(&d(obj), kind, topic, payload).unwrap_err();
            assert!(matches!(&e, BridgeError::BadPayload { topic: t, .. } if t == topic), "{e:?}");
        }
        assert!(matches!(
            parse_state(&d("blind"), DeviceKind::Cover, "livingroom/cover/blind/position/state", b"140"),
            Err(BridgeError::OutOfRange { .. })
        ));
        let e = encode(&cmd(DeviceKind::Switch, "pump", Action::Brightness { percent: 20 })).unwrap_err();
        assert!(matches!(e, BridgeError::Unsupported { dialect: "esphome", .. }));
    }
}
