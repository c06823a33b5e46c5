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
//!
//! Fans, climate fan modes and valves (exposes.md "Fan" / "Climate", and
//! zigbee-herdsman-converters `src/lib/exposes.ts` `class Fan`):
//! - a fan is either mode- or speed-controlled. The mode (the ZCL Fan
//!   Control cluster's `fan_mode`: `off|low|medium|high|on|auto|smart`) is
//!   what the bridge drives: a speed percentage goes out as `{"fan_mode":
//!   "low|medium|high"}` (0 % as `off`), split into three steps the way
//!   Zigbee2MQTT's own Home Assistant discovery and HA's
//!   `util/percentage.py` do (1..=33 low, 34..=66 medium, 67..=100 high;
//!   reported back as 33/66/100 %). Fans with a numeric `speed` expose
//!   (range per device) or other mode lists are not covered. A fan-control
//!   fan (`speed` feature) is switched with `fan_state` (and reports it);
//!   a fan on a relay with `state`;
//! - a climate's `fan_mode` is set as `{"fan_mode": <mode>}` and reported
//!   under the same key;
//! - water valves (e.g. Sonoff SWV, Tuya valves) expose a switch: `state`
//!   `ON` = open, `OFF` = closed; valves with a position take `position`
//!   0..100. There is no stop.
//!
//! Zigbee2MQTT has no vacuum, lawn mower, pressable button, media player,
//! hub-held boolean or weather entity: those are `Unsupported`, with no
//! state topics.
use serde_json::{Map, Value, json};

use crate::color::{kelvin_to_mired, mired_to_kelvin, parse_hex, xy_to_rgb};
use crate::payload::{
    self, bad, check_celsius, check_kelvin, check_pct, json_msg, num_f32, num_u64, out_of_range, pct_to_step,
    step_to_pct,
};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, StatePatch};

const D: &str = "zigbee2mqtt";

/// The ZCL fan modes that are speeds, slowest first (index = speed step).
const FAN_SPEED_MODES: [&str; 4] = ["off", "low", "medium", "high"];

/// Kinds Zigbee2MQTT has no entity for.
fn carried(kind: DeviceKind) -> bool {
    !matches!(
        kind,
        DeviceKind::Vacuum
            | DeviceKind::LawnMower
            | DeviceKind::Button
            | DeviceKind::InputBoolean
            | DeviceKind::Weather
    )
}

pub(crate) fn encode(
    cmd: &DeviceCommand,
    action: &Action,
    base: &str,
    friendly: &str,
) -> Result<Vec<Outgoing>, BridgeError> {
    let topic = format!("{base}/{friendly}/set");
    let kind = cmd.kind;
    if !carried(kind) {
        return Err(payload::unsupported(D, cmd, action));
    }
    let body = match (kind, action) {
        (DeviceKind::Fan, Action::FanSpeed { percent }) => {
            let step = pct_to_step(check_pct("fan_speed", *percent)?, 3);
            json!({"fan_mode": FAN_SPEED_MODES[usize::from(step)]})
        }
        (DeviceKind::Climate, Action::FanMode { mode }) => json!({"fan_mode": payload::fan_mode_name(cmd, mode)}),
        (DeviceKind::Valve, Action::Open) => json!({"state": "ON"}),
        (DeviceKind::Valve, Action::Close) => json!({"state": "OFF"}),
        (DeviceKind::Valve, Action::Stop) => return Err(payload::unsupported(D, cmd, action)),
        (DeviceKind::Climate, Action::TurnOn) => json!({"system_mode": "heat"}),
        (DeviceKind::Climate, Action::TurnOff) => json!({"system_mode": "off"}),
        (DeviceKind::Climate, Action::Toggle) => return Err(payload::unsupported(D, cmd, action)),
        // A fan-control fan (the `speed` feature) switches with `fan_state`
        // (exposes.ts `class Fan`; a plain `state` would switch a fan
        // light's lamp); a relay fan with `state`.
        (DeviceKind::Fan, Action::TurnOn | Action::TurnOff | Action::Toggle) if cmd.features.speed => match action {
            Action::TurnOn => json!({"fan_state": "ON"}),
            Action::TurnOff => json!({"fan_state": "OFF"}),
            _ => return Err(payload::unsupported(D, cmd, action)),
        },
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

pub(crate) fn state_topics(base: &str, friendly: &str, kind: DeviceKind) -> Vec<String> {
    if !carried(kind) {
        return Vec::new();
    }
    vec![format!("{base}/{friendly}"), format!("{base}/{friendly}/availability")]
}

pub(crate) fn parse(
    base: &str,
    friendly: &str,
    kind: DeviceKind,
    topic: &str,
    text: &str,
) -> Result<Option<StatePatch>, BridgeError> {
    if !carried(kind) {
        return Ok(None);
    }
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
            (DeviceKind::Cover | DeviceKind::Valve, "OPEN") => p.on = Some(true),
            (DeviceKind::Cover | DeviceKind::Valve, "CLOSE") => p.on = Some(false),
            (DeviceKind::Cover | DeviceKind::Valve, "STOP") => {}
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
    match (kind, obj.get("fan_mode")) {
        (DeviceKind::Climate, Some(Value::String(mode))) => p.fan_mode = Some(mode.clone()),
        (DeviceKind::Fan, Some(Value::String(mode))) => parse_fan_mode(mode, &mut p),
        (DeviceKind::Climate | DeviceKind::Fan, Some(v)) if !v.is_null() => {
            return Err(bad(topic, format!("`fan_mode` should be a string, got {v}")));
        }
        _ => {}
    }
    if kind == DeviceKind::Fan
        && let Some(v) = obj.get("fan_state").filter(|v| !v.is_null())
    {
        p.on = Some(match v.as_str() {
            Some("ON") => true,
            Some("OFF") => false,
            _ => return Err(bad(topic, format!("`fan_state` should be ON/OFF, got {v}"))),
        });
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

/// A fan's `fan_mode`: the speed modes give a percentage (and on/off);
/// `on|auto|smart` say only that it runs. Other values (device-specific
/// modes) say nothing the bridge models.
fn parse_fan_mode(mode: &str, p: &mut StatePatch) {
    if let Some(step) = FAN_SPEED_MODES.iter().position(|m| *m == mode) {
        p.on = Some(step > 0);
        if step > 0 {
            p.fan_speed_pct = Some(step_to_pct(step as u8, 3));
        }
    } else if matches!(mode, "on" | "auto" | "smart") {
        p.on = Some(true);
    }
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
mod tests;
