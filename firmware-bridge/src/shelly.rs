//! Shelly gen1 (Shelly 1/1PM/2.5/Plug/Dimmer/RGBW2/H&T) MQTT API.
//!
//! Source: Shelly's gen1 API docs (shelly-api-docs.shelly.cloud/gen1, "MQTT"
//! sections of each device), as implemented by the ioBroker.shelly adapter:
//! - relay: command `shellies/<id>/relay/<i>/command` `on|off|toggle`,
//!   state `shellies/<id>/relay/<i>` `on|off` (also `overpower`);
//! - roller (2.5 in roller mode): `shellies/<id>/roller/<i>/command`
//!   `open|close|stop`, `…/command/pos` 0..100; state `shellies/<id>/roller/<i>`
//!   `open|close|stop` (the direction of travel) and `…/roller/<i>/pos`
//!   0..100 (-1 when not calibrated);
//! - dimmer / white bulb: `shellies/<id>/light/<i>/set` JSON
//!   `{"turn":"on","brightness":0..100,"temp":2700..6500}`, status JSON on
//!   `shellies/<id>/light/<i>/status` `{"ison":..,"brightness":..}`;
//! - RGBW2 colour mode: `shellies/<id>/color/<i>/set` JSON
//!   `{"turn":"on","mode":"color","red","green","blue","gain"}`, status on
//!   `…/color/<i>/status`;
//! - H&T: `shellies/<id>/sensor/temperature` (°C);
//! - availability: `shellies/<id>/online` `true|false` (last will, retained).
//!
//! A valve (e.g. a solenoid water valve on a Shelly 1) is a relay: `on`
//! opens it, `off` closes it, the relay state `on|off` reports open/closed
//! (no stop, no position). Gen1 has no media player, vacuum, lawn mower,
//! pressable button, hub-held boolean or weather: those are `Unsupported`.
use serde_json::{Map, Value, json};

use crate::payload::{self, bad, check_pct, json_msg, msg, num_u64, out_of_range};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Features, Outgoing, Rgb, StatePatch};

const D: &str = "shelly_gen1";

/// Which Shelly channel type drives a device of this kind with these features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Relay,
    Roller,
    /// Dimmer or white bulb (`light/<i>`).
    Light,
    /// RGBW2 colour mode (`color/<i>`).
    Color,
    Sensor,
    None,
}

fn channel(kind: DeviceKind, f: &Features) -> Channel {
    match kind {
        DeviceKind::Light if f.color => Channel::Color,
        DeviceKind::Light if f.dimmable || f.color_temp => Channel::Light,
        DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::Valve => Channel::Relay,
        DeviceKind::Cover => Channel::Roller,
        DeviceKind::Sensor => Channel::Sensor,
        _ => Channel::None,
    }
}

pub(crate) fn encode(cmd: &DeviceCommand, action: &Action, id: &str, n: u8) -> Result<Vec<Outgoing>, BridgeError> {
    let root = format!("shellies/{id}");
    let ch = channel(cmd.kind, &cmd.features);
    let valve = cmd.kind == DeviceKind::Valve;
    let word = |a: &Action| match a {
        Action::TurnOn if !valve => Some("on"),
        Action::TurnOff if !valve => Some("off"),
        Action::Toggle if !valve => Some("toggle"),
        Action::Open if valve => Some("on"),
        Action::Close if valve => Some("off"),
        _ => None,
    };
    let out = match (ch, action) {
        (Channel::Relay, a) if word(a).is_some() => {
            msg(format!("{root}/relay/{n}/command"), word(a).unwrap_or_default())
        }
        (Channel::Light, a) if word(a).is_some() => {
            msg(format!("{root}/light/{n}/command"), word(a).unwrap_or_default())
        }
        (Channel::Color, a) if word(a).is_some() => {
            msg(format!("{root}/color/{n}/command"), word(a).unwrap_or_default())
        }
        (Channel::Light, Action::Brightness { percent }) => {
            let p = check_pct("brightness", *percent)?;
            let body = if p == 0 { json!({"turn": "off"}) } else { json!({"turn": "on", "brightness": p}) };
            json_msg(format!("{root}/light/{n}/set"), &body)
        }
        (Channel::Light, Action::ColorTemp { kelvin }) => {
            // Shelly Duo / Bulb white mode: temp 2700..6500 K.
            if !(2700..=6500).contains(kelvin) {
                return Err(out_of_range("color_temp", format!("{kelvin} K"), "2700..=6500 K"));
            }
            json_msg(format!("{root}/light/{n}/set"), &json!({"turn": "on", "temp": kelvin}))
        }
        (Channel::Color, Action::Brightness { percent }) => {
            let p = check_pct("brightness", *percent)?;
            let body = if p == 0 { json!({"turn": "off"}) } else { json!({"turn": "on", "gain": p}) };
            json_msg(format!("{root}/color/{n}/set"), &body)
        }
        (Channel::Color, Action::Color { rgb }) => json_msg(
            format!("{root}/color/{n}/set"),
            &json!({"turn": "on", "mode": "color", "red": rgb.r, "green": rgb.g, "blue": rgb.b}),
        ),
        (Channel::Roller, Action::Open) => msg(format!("{root}/roller/{n}/command"), "open"),
        (Channel::Roller, Action::Close) => msg(format!("{root}/roller/{n}/command"), "close"),
        (Channel::Roller, Action::Stop) => msg(format!("{root}/roller/{n}/command"), "stop"),
        (Channel::Roller, Action::Position { percent }) => {
            msg(format!("{root}/roller/{n}/command/pos"), check_pct("position", *percent)?.to_string())
        }
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![out])
}

/// State topics. Without features, a `Light` is a relay; the bridge cannot
/// know the features here, so lights subscribe to all three channel types.
pub(crate) fn state_topics(id: &str, n: u8, kind: DeviceKind) -> Vec<String> {
    let root = format!("shellies/{id}");
    let mut v = match kind {
        DeviceKind::Light => vec![
            format!("{root}/relay/{n}"),
            format!("{root}/light/{n}"),
            format!("{root}/light/{n}/status"),
            format!("{root}/color/{n}"),
            format!("{root}/color/{n}/status"),
        ],
        DeviceKind::Switch | DeviceKind::Fan | DeviceKind::Valve => vec![format!("{root}/relay/{n}")],
        DeviceKind::Cover => vec![format!("{root}/roller/{n}"), format!("{root}/roller/{n}/pos")],
        DeviceKind::Sensor => vec![format!("{root}/sensor/temperature")],
        DeviceKind::Vacuum
        | DeviceKind::LawnMower
        | DeviceKind::Button
        | DeviceKind::InputBoolean
        | DeviceKind::Weather => return vec![],
        _ => vec![],
    };
    v.push(format!("{root}/online"));
    v
}

pub(crate) fn parse(
    id: &str,
    n: u8,
    kind: DeviceKind,
    topic: &str,
    text: &str,
) -> Result<Option<StatePatch>, BridgeError> {
    let root = format!("shellies/{id}/");
    let Some(leaf) = topic.strip_prefix(&root) else {
        return Ok(None);
    };
    let mut p = StatePatch::default();
    if leaf == "online" {
        p.available = Some(match text {
            "true" => true,
            "false" => false,
            other => {
                return Err(bad(topic, format!("online should be true/false, got `{}`", payload::clip(other))));
            }
        });
        return Ok(Some(p));
    }
    let parts: Vec<&str> = leaf.split('/').collect();
    let idx_ok = |s: &str| s.parse::<u8>().ok() == Some(n);
    match (kind, parts.as_slice()) {
        (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::Valve, ["relay", i]) if idx_ok(i) => {
            match text {
                "on" => p.on = Some(true),
                "off" => p.on = Some(false),
                // Relay switched off by its own protection.
                "overpower" | "overtemperature" => p.on = Some(false),
                other => {
                    return Err(bad(topic, format!("relay state should be on/off, got `{}`", payload::clip(other))));
                }
            }
        }
        (DeviceKind::Light, ["light" | "color", i]) if idx_ok(i) => match text {
            "on" => p.on = Some(true),
            "off" => p.on = Some(false),
            other => {
                return Err(bad(topic, format!("light state should be on/off, got `{}`", payload::clip(other))));
            }
        },
        (DeviceKind::Light, [ch @ ("light" | "color"), i, "status"]) if idx_ok(i) => {
            let obj = payload::json_object(topic, text)?;
            parse_light_status(topic, ch == &"color", &obj, &mut p)?;
        }
        (DeviceKind::Cover, ["roller", i]) if idx_ok(i) => match text {
            // Direction of travel; the end position arrives on `pos`.
            "open" | "close" | "stop" => return Ok(None),
            other => {
                return Err(bad(
                    topic,
                    format!("roller state should be open/close/stop, got `{}`", payload::clip(other)),
                ));
            }
        },
        (DeviceKind::Cover, ["roller", i, "pos"]) if idx_ok(i) => {
            let v: i64 =
                text.parse().map_err(|_| bad(topic, format!("expected an integer, got `{}`", payload::clip(text))))?;
            if v == -1 {
                return Ok(None); // not calibrated: position unknown
            }
            if !(0..=100).contains(&v) {
                return Err(out_of_range("pos", v, "0..=100 (or -1)"));
            }
            p.position = Some(v as u8);
            p.on = Some(v > 0);
        }
        (DeviceKind::Sensor, ["sensor", "temperature"]) => {
            let t = payload::parse_f32(topic, text)?;
            p.current_temperature = Some(t);
            p.value = serde_json::Number::from_f64(f64::from(t)).map(Value::Number);
        }
        _ => return Ok(None),
    }
    Ok(Some(p))
}

fn parse_light_status(
    topic: &str,
    color: bool,
    obj: &Map<String, Value>,
    p: &mut StatePatch,
) -> Result<(), BridgeError> {
    if let Some(v) = obj.get("ison") {
        p.on = Some(v.as_bool().ok_or_else(|| bad(topic, format!("`ison` should be a boolean, got {v}")))?);
    }
    let bright_key = if color { "gain" } else { "brightness" };
    if let Some(v) = obj.get(bright_key) {
        p.brightness_pct = Some(payload::state_pct("brightness", num_u64(topic, bright_key, v)?)?);
    }
    if !color && let Some(v) = obj.get("temp") {
        let k = num_u64(topic, "temp", v)?;
        if k > 0 {
            p.color_temp_kelvin = Some(k.min(100_000) as u32);
        }
    }
    if color
        && obj.get("mode").and_then(Value::as_str) != Some("white")
        && let (Some(r), Some(g), Some(b)) = (obj.get("red"), obj.get("green"), obj.get("blue"))
    {
        let c = |k: &str, v: &Value| -> Result<u8, BridgeError> {
            let n = num_u64(topic, k, v)?;
            u8::try_from(n).map_err(|_| out_of_range("color", n, "0..=255"))
        };
        p.rgb = Some(Rgb { r: c("red", r)?, g: c("green", g)?, b: c("blue", b)? });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
