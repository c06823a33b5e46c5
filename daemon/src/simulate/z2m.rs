//! Zigbee2MQTT firmware (zigbee2mqtt.io `guide/usage/mqtt_topics_and_messages.md`):
//! `<base>/<friendly>/set` JSON and `/set/<attr>`, `/get`, full-state JSON on
//! `<base>/<friendly>`, not retained unless the device's `retain` option is set.
//!
//! Fans with `speed` are ZCL Fan Control fans as zigbee-herdsman-converters
//! drives them (`tz.fan_mode`, keys `fan_mode` and `fan_state`; `exposes.ts`
//! `class Fan`: the on/off is the `fan_state` property): either key takes a
//! mode of the ZCL list `off|low|medium|high|on|auto|smart` (any case; `ON`
//! is the mode `on`), answered `{"fan_mode":<lower case>,"fan_state":ON|OFF}`.
//! A `state` is not theirs (no converter). Thermostats with `fan_modes` take
//! the same `fan_mode` (the thermostat's hvacFanCtrl cluster). Water valves
//! are an on/off `state` (ON = open) and, with `position`, a `position`.

use firmware_bridge::DeviceKind;
use serde_json::{Map, Value, json};

use super::{Msg, Outcome, VirtualDevice, m, sim_hex};

/// zigbee-herdsman-converters `constants.fanMode`.
const ZCL_FAN_MODES: [&str; 7] = ["off", "low", "medium", "high", "on", "auto", "smart"];

/// A ZCL fan mode in lower case (`utils.getFromLookup` tries the value as
/// given, lower and upper case).
fn zcl_fan_mode(v: &Value) -> Option<&'static str> {
    let s = v.as_str()?;
    ZCL_FAN_MODES.iter().find(|m| m.eq_ignore_ascii_case(s)).copied()
}

impl VirtualDevice {
    pub(super) fn z2m(&mut self, base: &str, friendly: &str, topic: &str, text: &str) -> Outcome {
        let dev = format!("{base}/{friendly}");
        let Some(rest) = topic.strip_prefix(&dev) else {
            return Outcome::NotMine;
        };
        let obj: Map<String, Value> = match rest {
            "/get" => return Outcome::Query(vec![self.z2m_state(base, friendly)]),
            "/set" => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(o)) => o,
                // Zigbee2MQTT logs "Invalid JSON" and publishes nothing.
                _ => return Outcome::Rejected(vec![]),
            },
            other => match other.strip_prefix("/set/") {
                // Plain single-attribute form: `/set/state` with `ON`.
                Some(attr) => {
                    let v = text.parse::<f64>().map(|f| json!(f)).unwrap_or_else(|_| json!(text));
                    let mut o = Map::new();
                    o.insert(attr.to_string(), v);
                    o
                }
                None => return Outcome::NotMine,
            },
        };
        let mut applied = false;
        for (k, v) in &obj {
            applied |= self.z2m_attr(k, v);
        }
        let state = vec![self.z2m_state(base, friendly)];
        if applied { Outcome::Applied(state) } else { Outcome::Rejected(vec![]) }
    }

    pub(super) fn z2m_attr(&mut self, k: &str, v: &Value) -> bool {
        let st = &mut self.st;
        match (self.kind, k) {
            (DeviceKind::Lock, "state") => match v.as_str() {
                Some("LOCK") => st.locked = true,
                Some("UNLOCK") => st.locked = false,
                _ => return false,
            },
            (DeviceKind::Cover, "state") => match v.as_str() {
                Some("OPEN") => st.position = 100,
                Some("CLOSE") => st.position = 0,
                Some("STOP") => {}
                _ => return false,
            },
            (DeviceKind::Cover, "position") => match v.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => st.position = p.round() as u8,
                _ => return false,
            },
            (DeviceKind::Fan, "fan_mode" | "fan_state") if self.features.speed => match zcl_fan_mode(v) {
                Some(mode) => st.fan_mode = mode.to_string(),
                None => return false,
            },
            // "No converter available for 'state'": a Fan Control fan's on/off is `fan_state`.
            (DeviceKind::Fan, "state") if self.features.speed => return false,
            (DeviceKind::Climate, "fan_mode") if !self.features.fan_modes.is_empty() => match zcl_fan_mode(v) {
                Some(mode) => st.fan_mode = mode.to_string(),
                None => return false,
            },
            (DeviceKind::Valve, "state") => match v.as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("ON") => st.position = 100,
                Some("OFF") => st.position = 0,
                Some("TOGGLE") => st.position = if st.position > 0 { 0 } else { 100 },
                _ => return false,
            },
            (DeviceKind::Valve, "position") if self.features.position => match v.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => st.position = p.round() as u8,
                _ => return false,
            },
            (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan, "state") => {
                match v.as_str().map(str::to_ascii_uppercase).as_deref() {
                    Some("ON") => st.on = true,
                    Some("OFF") => st.on = false,
                    Some("TOGGLE") => st.on = !st.on,
                    _ => return false,
                }
            }
            (DeviceKind::Light, "brightness") => match v.as_f64() {
                Some(b) if (0.0..=254.0).contains(&b) => {
                    st.level = b / 254.0;
                    st.on = b > 0.0;
                }
                _ => return false,
            },
            (DeviceKind::Light, "color_temp") if self.features.color_temp => match v.as_f64() {
                Some(mired) if (150.0..=500.0).contains(&mired) => {
                    st.mired = mired.round() as u32;
                    st.color_mode_rgb = false;
                }
                _ => return false,
            },
            (DeviceKind::Light, "color") if self.features.color => {
                let Some(c) = v.as_object() else { return false };
                let rgb = if let (Some(r), Some(g), Some(b)) = (c.get("r"), c.get("g"), c.get("b")) {
                    let ch = |x: &Value| x.as_u64().filter(|n| *n <= 255).map(|n| n as u8);
                    match (ch(r), ch(g), ch(b)) {
                        (Some(r), Some(g), Some(b)) => (r, g, b),
                        _ => return false,
                    }
                } else if let Some(h) = c.get("hex").and_then(Value::as_str) {
                    match sim_hex(h) {
                        Some(rgb) => rgb,
                        None => return false,
                    }
                } else {
                    return false;
                };
                st.rgb = rgb;
                st.color_mode_rgb = true;
            }
            (DeviceKind::Climate, "occupied_heating_setpoint") => match v.as_f64() {
                Some(t) if (5.0..=30.0).contains(&t) => st.target = (t * 2.0).round() / 2.0,
                _ => return false,
            },
            (DeviceKind::Climate, "system_mode") => match v.as_str() {
                Some("off") => st.on = false,
                Some("heat" | "auto") => st.on = true,
                _ => return false,
            },
            _ => return false,
        }
        true
    }

    /// Zigbee2MQTT publishes the device's whole cached state on every change.
    pub(super) fn z2m_state(&self, base: &str, friendly: &str) -> Msg {
        let st = &self.st;
        let onoff = |b: bool| if b { "ON" } else { "OFF" };
        let mut o = json!({"linkquality": 120});
        match self.kind {
            DeviceKind::Light => {
                o["state"] = json!(onoff(st.on));
                if self.features.dimmable || self.features.color || self.features.color_temp {
                    o["brightness"] = json!((st.level * 254.0).round() as u32);
                }
                if self.features.color_temp {
                    o["color_temp"] = json!(st.mired);
                }
                if self.features.color {
                    // The bulb reports CIE xy (zigbee2mqtt converts r,g,b before sending it).
                    let (x, y) = sim_rgb_to_xy(st.rgb);
                    o["color"] = json!({"x": (x * 10000.0).round() / 10000.0, "y": (y * 10000.0).round() / 10000.0});
                }
                if self.features.color || self.features.color_temp {
                    o["color_mode"] = json!(if st.color_mode_rgb { "xy" } else { "color_temp" });
                }
            }
            DeviceKind::Fan if self.features.speed => {
                o["fan_mode"] = json!(st.fan_mode);
                o["fan_state"] = json!(onoff(st.fan_mode != "off"));
            }
            DeviceKind::Switch | DeviceKind::Fan => o["state"] = json!(onoff(st.on)),
            DeviceKind::Valve => {
                o["state"] = json!(onoff(st.position > 0));
                if self.features.position {
                    o["position"] = json!(st.position);
                }
            }
            DeviceKind::Cover => {
                o["position"] = json!(st.position);
                o["state"] = json!(if st.position > 0 { "OPEN" } else { "CLOSE" });
            }
            DeviceKind::Lock => {
                o["state"] = json!(if st.locked { "LOCK" } else { "UNLOCK" });
                o["lock_state"] = json!(if st.locked { "locked" } else { "unlocked" });
            }
            DeviceKind::Climate => {
                o["local_temperature"] = json!(st.current);
                o["occupied_heating_setpoint"] = json!(st.target);
                o["system_mode"] = json!(if st.on { "heat" } else { "off" });
                if !self.features.fan_modes.is_empty() {
                    o["fan_mode"] = json!(st.fan_mode.to_ascii_lowercase());
                }
            }
            DeviceKind::Sensor => {
                o["temperature"] = json!(st.current);
                o["humidity"] = json!(45);
            }
            DeviceKind::BinarySensor => o["occupancy"] = json!(false),
            _ => {}
        }
        m(format!("{base}/{friendly}"), o.to_string(), self.z2m_retain)
    }
}

/// RGB -> CIE xy as zigbee-herdsman-converters does before sending a colour
/// to a bulb (sRGB gamma, Philips wide-gamut D65 matrix).
fn sim_rgb_to_xy((r, g, b): (u8, u8, u8)) -> (f64, f64) {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c > 0.04045 { ((c + 0.055) / 1.055).powf(2.4) } else { c / 12.92 }
    };
    let (r, g, b) = (lin(r), lin(g), lin(b));
    let x = r * 0.664511 + g * 0.154324 + b * 0.162028;
    let y = r * 0.283881 + g * 0.668433 + b * 0.047685;
    let z = r * 0.000088 + g * 0.072310 + b * 0.986039;
    let s = x + y + z;
    if s == 0.0 { (0.0, 0.0) } else { (x / s, y / s) }
}
