//! Tasmota.
//!
//! Sources: tasmota/docs `docs/MQTT.md` (FullTopic `%prefix%/%topic%/`,
//! prefixes `cmnd`/`stat`/`tele`, `tele/<topic>/LWT` Online/Offline, RESULT
//! and POWER answers), `docs/Commands.md` (Power<x> ON|OFF|TOGGLE, Dimmer
//! 0..100, Color `#CCCCCC` hex or `r,g,b`, CT 153..500, ShutterPosition<x>
//! 0..100, ShutterOpen/ShutterClose/ShutterStop<x>), `docs/Lights.md` (CT
//! range in mired) and `docs/Blinds-and-Shutters.md` (`{"Shutter1":{"Position":..}}`).
//! Tasmota has no thermostat or lock command set: those are `Unsupported`.
//!
//! Also from Commands.md: `FanSpeed` (Sonoff iFan02/iFan03 only) `0` = fan off,
//! `1..3` = speed, reported as `"FanSpeed":n` in RESULT and `tele/STATE`. A
//! fan with `features.speed` is such an iFan: a percentage maps to 0..3 and
//! back as Home Assistant's Tasmota integration does
//! (`homeassistant/components/tasmota/fan.py` with `util/percentage.py`:
//! 1..=33 % low, 34..=66 % medium, 67..=100 % high, reported as 33/66/100 %),
//! turning it on is `FanSpeed 2` (HA: "Tasmota does not support turning a
//! fan on with implicit speed", medium), off is `FanSpeed 0`. A fan without
//! `speed` is a plain relay (`POWER`).
//!
//! A valve is a relay: `POWER ON` opens it, `OFF` closes it (no stop, no
//! position). Media players, vacuums, lawn mowers, buttons, hub-held
//! booleans and weather are `Unsupported`.
use serde_json::{Map, Value};

use crate::color::{kelvin_to_mired, mired_to_kelvin, parse_hex, to_hex_upper};
use crate::payload::{
    self, bad, check_kelvin, check_pct, msg, num_f32, num_u64, out_of_range, pct_to_step, step_to_pct,
};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, Rgb, StatePatch};

const D: &str = "tasmota";

/// An iFan's speeds (`FanSpeed 1..3`) and the one it is turned on at.
const IFAN_SPEEDS: u8 = 3;
const IFAN_MEDIUM: u8 = 2;

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
    let ifan = cmd.kind == DeviceKind::Fan && cmd.features.speed;
    let relay_kind = matches!(cmd.kind, DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan) && !ifan;
    let shutter = cmd.kind == DeviceKind::Cover;
    let s = shutter_index(relay);
    if cmd.kind == DeviceKind::Valve {
        let out = match action {
            Action::Open => c(&power_cmd(relay), "ON".into()),
            Action::Close => c(&power_cmd(relay), "OFF".into()),
            _ => return Err(payload::unsupported(D, cmd, action)),
        };
        return Ok(vec![out]);
    }
    let out = match action {
        Action::TurnOn if ifan => c("FanSpeed", IFAN_MEDIUM.to_string()),
        Action::TurnOff if ifan => c("FanSpeed", "0".into()),
        Action::FanSpeed { percent } if ifan => {
            c("FanSpeed", pct_to_step(check_pct("fan_speed", *percent)?, IFAN_SPEEDS).to_string())
        }
        Action::TurnOn if relay_kind => c(&power_cmd(relay), "ON".into()),
        Action::TurnOff if relay_kind => c(&power_cmd(relay), "OFF".into()),
        Action::Toggle if relay_kind => c(&power_cmd(relay), "TOGGLE".into()),
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
        Action::Position { percent } if shutter => {
            c(&format!("ShutterPosition{s}"), check_pct("position", *percent)?.to_string())
        }
        Action::Open if shutter => c(&format!("ShutterOpen{s}"), String::new()),
        Action::Close if shutter => c(&format!("ShutterClose{s}"), String::new()),
        Action::Stop if shutter => c(&format!("ShutterStop{s}"), String::new()),
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![out])
}

pub(crate) fn state_topics(topic: &str, relay: Option<u8>, kind: DeviceKind) -> Vec<String> {
    let mut v = Vec::new();
    match kind {
        DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::Valve => {
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
        DeviceKind::Vacuum
        | DeviceKind::LawnMower
        | DeviceKind::Button
        | DeviceKind::InputBoolean
        | DeviceKind::Weather => return v,
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
        ("stat", p) if p.starts_with("POWER") && powered(kind) => {
            let ours = p == power_cmd(relay) || (p == "POWER" && relay == Some(1));
            if !ours {
                return Ok(None);
            }
            Ok(Some(StatePatch { on: Some(on_off(topic, text)?), ..Default::default() }))
        }
        _ => Ok(None),
    }
}

/// Kinds whose on/off (open/closed for a valve) is a relay's `POWER<n>`.
fn powered(kind: DeviceKind) -> bool {
    matches!(kind, DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::Valve)
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
        && powered(kind)
    {
        let Value::String(s) = v else {
            return Err(bad(topic, format!("`{key}` should be a string, got {v}")));
        };
        p.on = Some(on_off(topic, s)?);
    }
    if kind == DeviceKind::Fan
        && let Some(v) = obj.get("FanSpeed")
    {
        let n = num_u64(topic, "FanSpeed", v)?;
        if n > u64::from(IFAN_SPEEDS) {
            return Err(out_of_range("FanSpeed", n, "0..=3"));
        }
        p.on = Some(n > 0);
        if n > 0 {
            p.fan_speed_pct = Some(step_to_pct(n as u8, IFAN_SPEEDS));
        }
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
mod tests;
