//! Zigbee2MQTT.
//!
//! Source: Koenkk/zigbee2mqtt.io `docs/guide/usage/mqtt_topics_and_messages.md`
//! and the exposes docs (`docs/guide/usage/exposes.md`):
//! - state: `<base>/<friendly_name>`, always a JSON object, e.g.
//!   `{"state":"ON","brightness":215,"color_temp":325}`;
//! - command: `<base>/<friendly_name>/set` with JSON: `state` ON|OFF|TOGGLE,
//!   `brightness` 0..254, `color_temp` in mired, `color` as `{"x","y"}`,
//!   `{"hex"}` or `{"r","g","b"}`, `position` for covers (`state`
//!   OPEN|CLOSE|STOP), `state` LOCK|UNLOCK for locks (reported back as
//!   `state` LOCK|UNLOCK and `lock_state` locked|unlocked),
//!   `occupied_heating_setpoint` / `local_temperature` / `system_mode` for
//!   thermostats;
//! - availability: `<base>/<friendly_name>/availability`, `online`/`offline`
//!   (legacy) or `{"state":"online"}` (Zigbee2MQTT 2.x).
use serde_json::{Map, Value, json};

use crate::color::{kelvin_to_mired, mired_to_kelvin, parse_hex, xy_to_rgb};
use crate::payload::{self, bad, check_celsius, check_kelvin, check_pct, json_msg, num_f32, num_u64, out_of_range};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, StatePatch};

const D: &str = "zigbee2mqtt";

pub(crate) fn encode(
    cmd: &DeviceCommand,
    action: &Action,
    base: &str,
    friendly: &str,
) -> Result<Vec<Outgoing>, BridgeError> {
    let topic = format!("{base}/{friendly}/set");
    let kind = cmd.kind;
    let body = match (kind, action) {
        (DeviceKind::Climate, Action::TurnOn) => json!({"system_mode": "heat"}),
        (DeviceKind::Climate, Action::TurnOff) => json!({"system_mode": "off"}),
        (DeviceKind::Climate, Action::Toggle) => return Err(payload::unsupported(D, cmd, action)),
        (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan, Action::TurnOn) => {
            json!({"state": "ON"})
        }
        (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan, Action::TurnOff) => {
            json!({"state": "OFF"})
        }
        (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan, Action::Toggle) => {
            json!({"state": "TOGGLE"})
        }
        (_, Action::Brightness { percent }) => {
            let p = check_pct("brightness", *percent)?;
            if p == 0 {
                json!({"state": "OFF"})
            } else {
                json!({"state": "ON", "brightness": payload::pct_to_scale(p, 254)})
            }
        }
        (_, Action::Color { rgb }) => {
            json!({"state": "ON", "color": {"r": rgb.r, "g": rgb.g, "b": rgb.b}})
        }
        (_, Action::ColorTemp { kelvin }) => {
            json!({"state": "ON", "color_temp": kelvin_to_mired(check_kelvin(*kelvin)?)})
        }
        (_, Action::TargetTemperature { celsius }) => {
            json!({"occupied_heating_setpoint": payload::temp_json(check_celsius(*celsius)?)})
        }
        (_, Action::Position { percent }) => json!({"position": check_pct("position", *percent)?}),
        (_, Action::Open) => json!({"state": "OPEN"}),
        (_, Action::Close) => json!({"state": "CLOSE"}),
        (_, Action::Stop) => json!({"state": "STOP"}),
        (_, Action::Lock) => json!({"state": "LOCK"}),
        (_, Action::Unlock) => json!({"state": "UNLOCK"}),
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![json_msg(topic, &body)])
}

pub(crate) fn state_topics(base: &str, friendly: &str) -> Vec<String> {
    vec![format!("{base}/{friendly}"), format!("{base}/{friendly}/availability")]
}

pub(crate) fn parse(
    base: &str,
    friendly: &str,
    kind: DeviceKind,
    topic: &str,
    text: &str,
) -> Result<Option<StatePatch>, BridgeError> {
    let state_topic = format!("{base}/{friendly}");
    if topic == format!("{state_topic}/availability") {
        return parse_availability(topic, text).map(Some);
    }
    if topic != state_topic {
        return Ok(None);
    }
    if text.is_empty() {
        // An empty retained message clears the topic; it says nothing.
        return Ok(None);
    }
    let obj = payload::json_object(topic, text)?;
    parse_object(kind, topic, &obj).map(Some)
}

/// `online`/`offline`, or `{"state":"online"}`.
pub(crate) fn parse_availability(topic: &str, text: &str) -> Result<StatePatch, BridgeError> {
    let word = if text.starts_with('{') {
        let obj = payload::json_object(topic, text)?;
        match obj.get("state") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(bad(topic, "availability object without a `state` string")),
        }
    } else {
        text.to_string()
    };
    let available = match word.as_str() {
        "online" => true,
        "offline" => false,
        other => {
            return Err(bad(topic, format!("availability should be online/offline, got `{}`", payload::clip(other))));
        }
    };
    Ok(StatePatch { available: Some(available), ..Default::default() })
}

fn parse_object(kind: DeviceKind, topic: &str, obj: &Map<String, Value>) -> Result<StatePatch, BridgeError> {
    let mut p = StatePatch::default();
    if let Some(v) = obj.get("state") {
        let Value::String(s) = v else {
            return Err(bad(topic, format!("`state` should be a string, got {v}")));
        };
        match (kind, s.as_str()) {
            (DeviceKind::Lock, "LOCK") => p.locked = Some(true),
            (DeviceKind::Lock, "UNLOCK") => p.locked = Some(false),
            (DeviceKind::Cover, "OPEN") => p.on = Some(true),
            (DeviceKind::Cover, "CLOSE") => p.on = Some(false),
            (DeviceKind::Cover, "STOP") => {}
            (_, "ON") => p.on = Some(true),
            (_, "OFF") => p.on = Some(false),
            (_, other) => {
                return Err(bad(topic, format!("unknown `state` value `{}`", payload::clip(other))));
            }
        }
    }
    if let Some(Value::String(s)) = obj.get("lock_state") {
        match s.as_str() {
            "locked" => p.locked = Some(true),
            "unlocked" | "not_fully_locked" => p.locked = Some(false),
            _ => {}
        }
    }
    if let Some(v) = obj.get("brightness").filter(|v| !v.is_null()) {
        let b = num_u64(topic, "brightness", v)?;
        if b > 254 {
            return Err(out_of_range("brightness", b, "0..=254"));
        }
        p.brightness_pct = Some(payload::scale_to_pct(b, 254));
    }
    if let Some(v) = obj.get("color_temp").filter(|v| !v.is_null()) {
        let m = num_u64(topic, "color_temp", v)?;
        if !(50..=1000).contains(&m) {
            return Err(out_of_range("color_temp", m, "50..=1000 mired"));
        }
        p.color_temp_kelvin = Some(mired_to_kelvin(m as u32));
    }
    // Only take the colour when the light is in a colour mode: in color_temp
    // mode Zigbee2MQTT still reports the xy of the white point.
    let colour_mode = obj.get("color_mode").and_then(Value::as_str);
    if let Some(Value::Object(c)) = obj.get("color")
        && colour_mode != Some("color_temp")
    {
        p.rgb = parse_color(topic, c)?;
    }
    if let Some(v) = obj.get("position").filter(|v| !v.is_null()) {
        p.position = Some(payload::state_pct("position", num_u64(topic, "position", v)?)?);
    }
    if let Some(v) = obj.get("local_temperature").filter(|v| !v.is_null()) {
        p.current_temperature = Some(num_f32(topic, "local_temperature", v)?);
    }
    if let Some(v) = obj.get("occupied_heating_setpoint").filter(|v| !v.is_null()) {
        p.target_temperature = Some(num_f32(topic, "occupied_heating_setpoint", v)?);
    }
    if let Some(Value::String(mode)) = obj.get("system_mode")
        && kind == DeviceKind::Climate
    {
        p.on = Some(mode != "off");
    }
    if matches!(kind, DeviceKind::Sensor | DeviceKind::BinarySensor) {
        if let Some(v) = obj.get("temperature").filter(|v| !v.is_null()) {
            p.current_temperature = Some(num_f32(topic, "temperature", v)?);
        }
        if kind == DeviceKind::BinarySensor {
            // HA semantics: on = detected / open / wet.
            if let Some(Value::Bool(b)) = obj.get("occupancy") {
                p.on = Some(*b);
            } else if let Some(Value::Bool(b)) = obj.get("contact") {
                p.on = Some(!*b);
            } else if let Some(Value::Bool(b)) = obj.get("water_leak") {
                p.on = Some(*b);
            }
        }
        p.value = Some(Value::Object(obj.clone()));
    }
    Ok(p)
}

fn parse_color(topic: &str, c: &Map<String, Value>) -> Result<Option<crate::Rgb>, BridgeError> {
    if let (Some(r), Some(g), Some(b)) = (c.get("r"), c.get("g"), c.get("b")) {
        let ch = |k: &str, v: &Value| -> Result<u8, BridgeError> {
            let n = num_u64(topic, k, v)?;
            u8::try_from(n).map_err(|_| out_of_range("color", n, "0..=255"))
        };
        return Ok(Some(crate::Rgb { r: ch("r", r)?, g: ch("g", g)?, b: ch("b", b)? }));
    }
    if let Some(Value::String(h)) = c.get("hex") {
        return parse_hex(h).map(Some).ok_or_else(|| bad(topic, format!("bad colour hex `{}`", payload::clip(h))));
    }
    if let (Some(x), Some(y)) = (c.get("x"), c.get("y")) {
        let (x, y) = (num_f32(topic, "x", x)?, num_f32(topic, "y", y)?);
        return xy_to_rgb(f64::from(x), f64::from(y))
            .map(Some)
            .ok_or_else(|| out_of_range("color", format!("x={x} y={y}"), "a CIE xy chromaticity"));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dialect, Features, Rgb, encode, parse_state, state_topics};

    fn dialect() -> Dialect {
        Dialect::Zigbee2mqtt { friendly_name: "kitchen_light".into(), base_topic: "zigbee2mqtt".into() }
    }

    fn cmd(kind: DeviceKind, action: Action) -> DeviceCommand {
        DeviceCommand {
            device_id: format!("{}.x", kind.domain()),
            kind,
            dialect: dialect(),
            action,
            features: Features { dimmable: true, color: true, color_temp: true, position: true },
        }
    }

    /// Golden vectors: docs/guide/usage/mqtt_topics_and_messages.md
    /// ("zigbee2mqtt/FRIENDLY_NAME/set" section) and the light/cover/lock/
    /// climate exposes in docs/guide/usage/exposes.md.
    #[test]
    fn golden_commands() {
        let t = "zigbee2mqtt/kitchen_light/set";
        let cases: Vec<(DeviceKind, Action, &str)> = vec![
            (DeviceKind::Light, Action::TurnOn, r#"{"state":"ON"}"#),
            (DeviceKind::Light, Action::TurnOff, r#"{"state":"OFF"}"#),
            (DeviceKind::Light, Action::Toggle, r#"{"state":"TOGGLE"}"#),
            (DeviceKind::Switch, Action::TurnOn, r#"{"state":"ON"}"#),
            // brightness 0..254: 100 % -> 254, 50 % -> 127.
            (DeviceKind::Light, Action::Brightness { percent: 100 }, r#"{"brightness":254,"state":"ON"}"#),
            (DeviceKind::Light, Action::Brightness { percent: 50 }, r#"{"brightness":127,"state":"ON"}"#),
            (DeviceKind::Light, Action::Brightness { percent: 0 }, r#"{"state":"OFF"}"#),
            (
                DeviceKind::Light,
                Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } },
                r#"{"color":{"b":0,"g":0,"r":255},"state":"ON"}"#,
            ),
            // color_temp in mired: 1e6 / 2700 K = 370.
            (DeviceKind::Light, Action::ColorTemp { kelvin: 2700 }, r#"{"color_temp":370,"state":"ON"}"#),
            (DeviceKind::Cover, Action::Position { percent: 40 }, r#"{"position":40}"#),
            (DeviceKind::Cover, Action::Open, r#"{"state":"OPEN"}"#),
            (DeviceKind::Cover, Action::TurnOff, r#"{"state":"CLOSE"}"#),
            (DeviceKind::Cover, Action::Stop, r#"{"state":"STOP"}"#),
            (DeviceKind::Lock, Action::Lock, r#"{"state":"LOCK"}"#),
            (DeviceKind::Lock, Action::Unlock, r#"{"state":"UNLOCK"}"#),
            (DeviceKind::Climate, Action::TargetTemperature { celsius: 21.5 }, r#"{"occupied_heating_setpoint":21.5}"#),
            (DeviceKind::Climate, Action::TurnOff, r#"{"system_mode":"off"}"#),
        ];
        for (kind, action, want) in cases {
            let out = encode(&cmd(kind, action.clone())).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].topic, t);
            assert!(!out[0].retain);
            let got: Value = serde_json::from_slice(&out[0].payload).unwrap();
            let want: Value = serde_json::from_str(want).unwrap();
            assert_eq!(got, want, "{kind:?} {action:?}");
        }
    }

    #[test]
    fn golden_state() {
        let d = dialect();
        let t = "zigbee2mqtt/kitchen_light";
        // The example from the docs.
        let p = parse_state(&d, DeviceKind::Light, t, br#"{"state":"ON","brightness":215,"color_temp":325}"#)
            .unwrap()
            .unwrap();
        assert_eq!(p.on, Some(true));
        assert_eq!(p.brightness_pct, Some(85));
        assert_eq!(p.color_temp_kelvin, Some(3077));
        let p = parse_state(
            &d,
            DeviceKind::Light,
            t,
            br#"{"state":"ON","color_mode":"xy","color":{"x":0.7006,"y":0.2993},"brightness":254}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.rgb, Some(Rgb { r: 255, g: 0, b: 0 }));
        let p = parse_state(&d, DeviceKind::Lock, t, br#"{"state":"LOCK","lock_state":"locked"}"#).unwrap().unwrap();
        assert_eq!(p.locked, Some(true));
        let p = parse_state(&d, DeviceKind::Cover, t, br#"{"position":40,"state":"OPEN"}"#).unwrap().unwrap();
        assert_eq!((p.position, p.on), (Some(40), Some(true)));
        let p = parse_state(
            &d,
            DeviceKind::Climate,
            t,
            br#"{"local_temperature":19.5,"occupied_heating_setpoint":21,"system_mode":"heat"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((p.current_temperature, p.target_temperature, p.on), (Some(19.5), Some(21.0), Some(true)));
        let p = parse_state(&d, DeviceKind::Sensor, t, br#"{"temperature":22.3,"humidity":41,"battery":90}"#)
            .unwrap()
            .unwrap();
        assert_eq!(p.current_temperature, Some(22.3));
        // Availability, legacy and JSON forms.
        let a = "zigbee2mqtt/kitchen_light/availability";
        for (payload, want) in [
            (&b"online"[..], true),
            (b"offline", false),
            (br#"{"state":"online"}"#, true),
            (br#"{"state":"offline"}"#, false),
        ] {
            let p = parse_state(&d, DeviceKind::Light, a, payload).unwrap().unwrap();
            assert_eq!(p.available, Some(want));
        }
        // Messages that say nothing.
        assert_eq!(parse_state(&d, DeviceKind::Light, t, br#"{"linkquality":120}"#).unwrap(), None);
        assert_eq!(parse_state(&d, DeviceKind::Light, t, b"").unwrap(), None);
        assert_eq!(parse_state(&d, DeviceKind::Light, "zigbee2mqtt/other", br#"{"state":"ON"}"#).unwrap(), None);
        assert_eq!(state_topics(&d, DeviceKind::Light), vec![t.to_string(), a.to_string()]);
    }

    #[test]
    fn errors() {
        let d = dialect();
        let t = "zigbee2mqtt/kitchen_light";
        for bad_payload in
            [&b"not json"[..], b"[1,2]", br#"{"state":5}"#, br#"{"state":"MAYBE"}"#, br#"{"brightness":"x"}"#]
        {
            let e = parse_state(&d, DeviceKind::Light, t, bad_payload).unwrap_err();
            assert!(matches!(&e, BridgeError::BadPayload { topic, .. } if topic == t), "{e:?}");
        }
        assert!(matches!(
            parse_state(&d, DeviceKind::Light, t, br#"{"brightness":300}"#),
            Err(BridgeError::OutOfRange { field: "brightness", .. })
        ));
        assert!(matches!(
            parse_state(&d, DeviceKind::Light, &format!("{t}/availability"), b"maybe"),
            Err(BridgeError::BadPayload { .. })
        ));
        assert!(matches!(
            encode(&cmd(DeviceKind::Light, Action::Brightness { percent: 101 })),
            Err(BridgeError::OutOfRange { .. })
        ));
        assert!(matches!(
            encode(&cmd(DeviceKind::Climate, Action::TargetTemperature { celsius: f32::NAN })),
            Err(BridgeError::OutOfRange { .. })
        ));
        assert!(matches!(
            encode(&cmd(DeviceKind::Light, Action::ColorTemp { kelvin: 200 })),
            Err(BridgeError::OutOfRange { .. })
        ));
        // A colour on a light without the colour feature.
        let mut c = cmd(DeviceKind::Light, Action::Color { rgb: Rgb { r: 1, g: 2, b: 3 } });
        c.features.color = false;
        assert!(matches!(encode(&c), Err(BridgeError::Unsupported { dialect: "zigbee2mqtt", .. })));
        assert!(matches!(encode(&cmd(DeviceKind::Sensor, Action::TurnOn)), Err(BridgeError::Unsupported { .. })));
    }
}
