//! Tasmota.
//!
//! Sources: tasmota/docs `docs/MQTT.md` (FullTopic `%prefix%/%topic%/`,
//! prefixes `cmnd`/`stat`/`tele`, `tele/<topic>/LWT` Online/Offline, RESULT
//! and POWER answers), `docs/Commands.md` (Power<x> ON|OFF|TOGGLE, Dimmer
//! 0..100, Color `#CCCCCC` hex or `r,g,b`, CT 153..500, ShutterPosition<x>
//! 0..100, ShutterOpen/ShutterClose/ShutterStop<x>), `docs/Lights.md` (CT
//! range in mired) and `docs/Blinds-and-Shutters.md` (`{"Shutter1":{"Position":..}}`).
//! Tasmota has no thermostat or lock command set: those are `Unsupported`.
use serde_json::{Map, Value};

use crate::color::{kelvin_to_mired, mired_to_kelvin, parse_hex, to_hex_upper};
use crate::payload::{self, bad, check_kelvin, check_pct, msg, num_f32, num_u64, out_of_range};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, Rgb, StatePatch};

const D: &str = "tasmota";

fn power_cmd(relay: Option<u8>) -> String {
    match relay {
        Some(n) => format!("POWER{n}"),
        None => "POWER".to_string(),
    }
}

fn shutter_index(relay: Option<u8>) -> u8 {
    relay.unwrap_or(1)
}

pub(crate) fn encode(
    cmd: &DeviceCommand,
    action: &Action,
    topic: &str,
    relay: Option<u8>,
) -> Result<Vec<Outgoing>, BridgeError> {
    let c = |name: &str, payload: String| msg(format!("cmnd/{topic}/{name}"), payload.into_bytes());
    let powered = matches!(cmd.kind, DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan);
    let s = shutter_index(relay);
    let out = match action {
        Action::TurnOn if powered => c(&power_cmd(relay), "ON".into()),
        Action::TurnOff if powered => c(&power_cmd(relay), "OFF".into()),
        Action::Toggle if powered => c(&power_cmd(relay), "TOGGLE".into()),
        Action::Brightness { percent } => c("Dimmer", check_pct("brightness", *percent)?.to_string()),
        Action::Color { rgb } => c("Color", format!("#{}", to_hex_upper(*rgb))),
        Action::ColorTemp { kelvin } => {
            let m = kelvin_to_mired(check_kelvin(*kelvin)?);
            if !(153..=500).contains(&m) {
                return Err(out_of_range(
                    "color_temp",
                    format!("{kelvin} K ({m} mired)"),
                    "153..=500 mired (2000..=6536 K)",
                ));
            }
            c("CT", m.to_string())
        }
        Action::Position { percent } => c(&format!("ShutterPosition{s}"), check_pct("position", *percent)?.to_string()),
        Action::Open => c(&format!("ShutterOpen{s}"), String::new()),
        Action::Close => c(&format!("ShutterClose{s}"), String::new()),
        Action::Stop => c(&format!("ShutterStop{s}"), String::new()),
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![out])
}

pub(crate) fn state_topics(topic: &str, relay: Option<u8>, kind: DeviceKind) -> Vec<String> {
    let mut v = Vec::new();
    match kind {
        DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan => {
            v.push(format!("stat/{topic}/RESULT"));
            v.push(format!("stat/{topic}/{}", power_cmd(relay)));
            if relay == Some(1) {
                // A single-relay device answers POWER1 on plain `POWER`.
                v.push(format!("stat/{topic}/POWER"));
            }
            v.push(format!("tele/{topic}/STATE"));
        }
        DeviceKind::Cover => {
            v.push(format!("stat/{topic}/RESULT"));
            v.push(format!("tele/{topic}/SENSOR"));
        }
        DeviceKind::Sensor | DeviceKind::BinarySensor => v.push(format!("tele/{topic}/SENSOR")),
        _ => v.push(format!("stat/{topic}/RESULT")),
    }
    v.push(format!("tele/{topic}/LWT"));
    v
}

pub(crate) fn parse(
    t: &str,
    relay: Option<u8>,
    kind: DeviceKind,
    topic: &str,
    text: &str,
) -> Result<Option<StatePatch>, BridgeError> {
    let Some((prefix, rest)) = topic.split_once('/') else {
        return Ok(None);
    };
    let Some(leaf) = rest.strip_prefix(t).and_then(|r| r.strip_prefix('/')) else {
        return Ok(None);
    };
    match (prefix, leaf) {
        ("tele", "LWT") => {
            let available = match text {
                "Online" => true,
                "Offline" => false,
                other => {
                    return Err(bad(topic, format!("LWT should be Online/Offline, got `{}`", payload::clip(other))));
                }
            };
            Ok(Some(StatePatch { available: Some(available), ..Default::default() }))
        }
        ("stat", "RESULT") | ("tele", "STATE") | ("tele", "SENSOR") => {
            if text.is_empty() {
                return Ok(None);
            }
            let obj = payload::json_object(topic, text)?;
            parse_object(relay, kind, topic, &obj, leaf == "SENSOR").map(Some)
        }
        ("stat", p) if p.starts_with("POWER") => {
            let ours = p == power_cmd(relay) || (p == "POWER" && relay == Some(1));
            if !ours {
                return Ok(None);
            }
            Ok(Some(StatePatch { on: Some(on_off(topic, text)?), ..Default::default() }))
        }
        _ => Ok(None),
    }
}

fn on_off(topic: &str, s: &str) -> Result<bool, BridgeError> {
    match s {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        other => Err(bad(topic, format!("expected ON/OFF, got `{}`", payload::clip(other)))),
    }
}

fn parse_object(
    relay: Option<u8>,
    kind: DeviceKind,
    topic: &str,
    obj: &Map<String, Value>,
    sensor: bool,
) -> Result<StatePatch, BridgeError> {
    let mut p = StatePatch::default();
    let key = power_cmd(relay);
    let power = obj.get(&key).or_else(|| if relay == Some(1) { obj.get("POWER") } else { None });
    if let Some(v) = power
        && matches!(kind, DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan)
    {
        let Value::String(s) = v else {
            return Err(bad(topic, format!("`{key}` should be a string, got {v}")));
        };
        p.on = Some(on_off(topic, s)?);
    }
    if kind == DeviceKind::Light {
        if let Some(v) = obj.get("Dimmer") {
            let d = num_u64(topic, "Dimmer", v)?;
            p.brightness_pct = Some(payload::state_pct("Dimmer", d)?);
        }
        if let Some(v) = obj.get("CT") {
            let m = num_u64(topic, "CT", v)?;
            if !(153..=500).contains(&m) {
                return Err(out_of_range("CT", m, "153..=500"));
            }
            p.color_temp_kelvin = Some(mired_to_kelvin(m as u32));
        }
        if let Some(v) = obj.get("Color") {
            let Value::String(s) = v else {
                return Err(bad(topic, format!("`Color` should be a string, got {v}")));
            };
            p.rgb = parse_color(topic, s)?;
        }
    }
    if kind == DeviceKind::Cover {
        let name = format!("Shutter{}", shutter_index(relay));
        if let Some(Value::Object(sh)) = obj.get(&name)
            && let Some(v) = sh.get("Position")
        {
            p.position = Some(payload::state_pct("Position", num_u64(topic, "Position", v)?)?);
            p.on = p.position.map(|x| x > 0);
        }
    }
    if sensor && matches!(kind, DeviceKind::Sensor | DeviceKind::BinarySensor) {
        let fahrenheit = obj.get("TempUnit").and_then(Value::as_str) == Some("F");
        let reading = obj.values().find_map(|v| v.as_object().and_then(|o| o.get("Temperature")));
        if let Some(v) = reading {
            let t = num_f32(topic, "Temperature", v)?;
            p.current_temperature = Some(if fahrenheit { (t - 32.0) * 5.0 / 9.0 } else { t });
        }
        p.value = Some(Value::Object(obj.clone()));
    }
    Ok(p)
}

/// `Color` as Tasmota reports it: hex channels (`FF0000`, `FF00000000` for
/// RGBCW) or decimal with SetOption17 (`255,0,0`). One- and two-channel
/// lights report 2 or 4 hex digits: no RGB there.
fn parse_color(topic: &str, s: &str) -> Result<Option<Rgb>, BridgeError> {
    if s.contains(',') {
        let ch: Vec<Option<u8>> = s.split(',').map(|c| c.trim().parse::<u8>().ok()).collect();
        return match ch.as_slice() {
            [Some(r), Some(g), Some(b), ..] => Ok(Some(Rgb { r: *r, g: *g, b: *b })),
            _ => Err(bad(topic, format!("bad `Color` `{}`", payload::clip(s)))),
        };
    }
    if (s.len() == 2 || s.len() == 4) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    parse_hex(s).map(Some).ok_or_else(|| bad(topic, format!("bad `Color` `{}`", payload::clip(s))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dialect, Features, encode, parse_state, state_topics};

    fn cmd(kind: DeviceKind, relay: Option<u8>, features: Features, action: Action) -> DeviceCommand {
        DeviceCommand {
            device_id: format!("{}.t", kind.domain()),
            kind,
            dialect: Dialect::Tasmota { topic: "tasmota_A1B2C3".into(), relay },
            action,
            features,
        }
    }

    fn rgb_light() -> Features {
        Features { dimmable: true, color: true, color_temp: true, position: false }
    }

    /// Golden vectors: tasmota/docs MQTT.md ("cmnd/tasmota_A1B2C3/POWER"
    /// examples) and Commands.md (Power, Dimmer, Color, CT, Shutter*).
    /// Kind, relay, features, action, then the expected topic and payload.
    type Golden = (DeviceKind, Option<u8>, Features, Action, &'static str, &'static str);

    #[test]
    fn golden_commands() {
        let none = Features::default();
        let shutter = Features { position: true, ..Default::default() };
        let cases: Vec<Golden> = vec![
            (DeviceKind::Switch, None, none.clone(), Action::TurnOn, "cmnd/tasmota_A1B2C3/POWER", "ON"),
            (DeviceKind::Switch, None, none.clone(), Action::TurnOff, "cmnd/tasmota_A1B2C3/POWER", "OFF"),
            (DeviceKind::Switch, None, none.clone(), Action::Toggle, "cmnd/tasmota_A1B2C3/POWER", "TOGGLE"),
            (DeviceKind::Switch, Some(2), none.clone(), Action::TurnOn, "cmnd/tasmota_A1B2C3/POWER2", "ON"),
            (
                DeviceKind::Light,
                None,
                rgb_light(),
                Action::Brightness { percent: 40 },
                "cmnd/tasmota_A1B2C3/Dimmer",
                "40",
            ),
            (
                DeviceKind::Light,
                None,
                rgb_light(),
                Action::Color { rgb: Rgb { r: 255, g: 128, b: 0 } },
                "cmnd/tasmota_A1B2C3/Color",
                "#FF8000",
            ),
            (DeviceKind::Light, None, rgb_light(), Action::ColorTemp { kelvin: 2700 }, "cmnd/tasmota_A1B2C3/CT", "370"),
            (
                DeviceKind::Cover,
                None,
                shutter.clone(),
                Action::Position { percent: 30 },
                "cmnd/tasmota_A1B2C3/ShutterPosition1",
                "30",
            ),
            (DeviceKind::Cover, None, shutter.clone(), Action::Open, "cmnd/tasmota_A1B2C3/ShutterOpen1", ""),
            (DeviceKind::Cover, Some(2), shutter.clone(), Action::TurnOff, "cmnd/tasmota_A1B2C3/ShutterClose2", ""),
        ];
        for (kind, relay, f, action, topic, payload) in cases {
            let out = encode(&cmd(kind, relay, f, action.clone())).unwrap();
            assert_eq!(out.len(), 1, "{action:?}");
            assert_eq!(out[0].topic, topic, "{action:?}");
            assert_eq!(String::from_utf8(out[0].payload.clone()).unwrap(), payload, "{action:?}");
        }
    }

    #[test]
    fn unsupported_combinations() {
        // A colour on a relay (switch kind), and on a light without the colour feature.
        let red = Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } };
        for (kind, f) in [(DeviceKind::Switch, rgb_light()), (DeviceKind::Light, Features::default())] {
            let e = encode(&cmd(kind, None, f, red.clone())).unwrap_err();
            assert!(matches!(&e, BridgeError::Unsupported { dialect: "tasmota", .. }), "{e:?}");
            assert!(e.to_string().contains("colour #ff0000"), "{e}");
        }
        let e = encode(&cmd(DeviceKind::Lock, None, Features::default(), Action::Lock)).unwrap_err();
        assert!(matches!(e, BridgeError::Unsupported { .. }));
        let e =
            encode(&cmd(DeviceKind::Climate, None, Features::default(), Action::TargetTemperature { celsius: 20.0 }))
                .unwrap_err();
        assert!(matches!(e, BridgeError::Unsupported { .. }));
        // CT outside 153..500 mired.
        let e = encode(&cmd(DeviceKind::Light, None, rgb_light(), Action::ColorTemp { kelvin: 9000 })).unwrap_err();
        assert!(matches!(e, BridgeError::OutOfRange { field: "color_temp", .. }), "{e:?}");
    }

    #[test]
    fn golden_state() {
        let d = Dialect::Tasmota { topic: "tasmota_A1B2C3".into(), relay: None };
        let light = |topic: &str, payload: &str| parse_state(&d, DeviceKind::Light, topic, payload.as_bytes());
        // MQTT.md: "stat/tasmota_A1B2C3/RESULT = {"POWER":"ON"}" and "stat/tasmota_A1B2C3/POWER = ON".
        assert_eq!(light("stat/tasmota_A1B2C3/RESULT", r#"{"POWER":"ON"}"#).unwrap().unwrap().on, Some(true));
        assert_eq!(light("stat/tasmota_A1B2C3/POWER", "OFF").unwrap().unwrap().on, Some(false));
        let p = light(
            "stat/tasmota_A1B2C3/RESULT",
            r#"{"POWER":"ON","Dimmer":40,"Color":"FF800000","HSBColor":"30,100,40","Channel":[100,50,0,0],"CT":370}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.brightness_pct, Some(40));
        assert_eq!(p.rgb, Some(Rgb { r: 255, g: 128, b: 0 }));
        assert_eq!(p.color_temp_kelvin, Some(2703));
        let p = light("stat/tasmota_A1B2C3/RESULT", r#"{"Color":"255,0,0"}"#).unwrap().unwrap();
        assert_eq!(p.rgb, Some(Rgb { r: 255, g: 0, b: 0 }));
        let p = light(
            "tele/tasmota_A1B2C3/STATE",
            r#"{"Time":"2024-01-01T10:00:00","Uptime":"0T01:00:00","POWER":"OFF","Dimmer":100,"Wifi":{"RSSI":80}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((p.on, p.brightness_pct), (Some(false), Some(100)));
        assert_eq!(light("tele/tasmota_A1B2C3/LWT", "Online").unwrap().unwrap().available, Some(true));
        assert_eq!(light("tele/tasmota_A1B2C3/LWT", "Offline").unwrap().unwrap().available, Some(false));
        // Unrelated RESULTs say nothing.
        assert_eq!(light("stat/tasmota_A1B2C3/RESULT", r#"{"TelePeriod":300}"#).unwrap(), None);
        assert_eq!(light("stat/tasmota_A1B2C3/RESULT", r#"{"Command":"Unknown"}"#).unwrap(), None);
        assert_eq!(light("stat/other/RESULT", r#"{"POWER":"ON"}"#).unwrap(), None);
        // Multi-relay: POWER2 belongs to relay 2 only.
        let d2 = Dialect::Tasmota { topic: "tasmota_A1B2C3".into(), relay: Some(2) };
        let p =
            parse_state(&d2, DeviceKind::Switch, "stat/tasmota_A1B2C3/RESULT", br#"{"POWER1":"ON","POWER2":"OFF"}"#)
                .unwrap()
                .unwrap();
        assert_eq!(p.on, Some(false));
        assert_eq!(parse_state(&d2, DeviceKind::Switch, "stat/tasmota_A1B2C3/POWER1", b"ON").unwrap(), None);
        // Shutter (Blinds-and-Shutters.md).
        let p = parse_state(
            &d,
            DeviceKind::Cover,
            "stat/tasmota_A1B2C3/RESULT",
            br#"{"Shutter1":{"Position":30,"Direction":0,"Target":30,"Tilt":0}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.position, Some(30));
        // SENSOR (DS18B20 example in the docs).
        let p = parse_state(
            &d,
            DeviceKind::Sensor,
            "tele/tasmota_A1B2C3/SENSOR",
            br#"{"Time":"2024-01-01T10:00:00","DS18B20":{"Id":"01144A0CB2AA","Temperature":21.5},"TempUnit":"C"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.current_temperature, Some(21.5));
        assert_eq!(
            state_topics(&d, DeviceKind::Light),
            vec![
                "stat/tasmota_A1B2C3/RESULT",
                "stat/tasmota_A1B2C3/POWER",
                "tele/tasmota_A1B2C3/STATE",
                "tele/tasmota_A1B2C3/LWT"
            ]
        );
    }

    #[test]
    fn bad_state() {
        let d = Dialect::Tasmota { topic: "tasmota_A1B2C3".into(), relay: None };
        for (topic, payload) in [
            ("stat/tasmota_A1B2C3/POWER", &b"MAYBE"[..]),
            ("stat/tasmota_A1B2C3/RESULT", b"{\"POWER\":"),
            ("stat/tasmota_A1B2C3/RESULT", b"{\"Color\":\"zz\"}"),
            ("tele/tasmota_A1B2C3/LWT", b"online?"),
            ("stat/tasmota_A1B2C3/POWER", b"\xc3\x28"),
        ] {
            let e = parse_state(&d, DeviceKind::Light, topic, payload).unwrap_err();
            assert!(matches!(&e, BridgeError::BadPayload { topic: t, .. } if t == topic), "{e:?}");
        }
        assert!(matches!(
            parse_state(&d, DeviceKind::Light, "stat/tasmota_A1B2C3/RESULT", br#"{"Dimmer":150}"#),
            Err(BridgeError::OutOfRange { .. })
        ));
    }
}
