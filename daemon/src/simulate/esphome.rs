//! ESPHome firmware (`components/mqtt.rst` and `mqtt_*.cpp`): commands on
//! `<node>/<component>/<object_id>/command`, state retained by default,
//! `<node>/status` online/offline as birth/will.
//!
//! - `mqtt_valve.cpp` + `valve/valve.cpp`: `command` OPEN|CLOSE|STOP (any
//!   case), `position/command` a number 0..100 (clamped) when the valve has
//!   a position; state: `position/state` (with a position), then `state`
//!   `open|closed` (`open` between, `unknown` without a position);
//! - `mqtt_button.cpp`: `command` exactly `PRESS`; no state;
//! - `mqtt_fan.cpp` + `fan/fan.cpp`, a fan with `speed` (the `speed`
//!   platform's default `speed_count: 100`): `speed_level/command` an integer
//!   0..=100, clamped to 1..=100, not switching the fan on; `ON` with speed
//!   0 starts at 100; state `state` then `speed_level/state`;
//! - `mqtt_climate.cpp`: `fan_mode/command` a built-in mode (any case) or a
//!   custom one (exact), among the device's `fan_modes`; `fan_mode/state`
//!   the built-in in lower case or the custom name.

use firmware_bridge::{DeviceKind, Dialect};
use serde_json::{Map, Value, json};

use super::{Msg, Outcome, VirtualDevice, m};

/// `climate::ClimateFanMode`'s names.
const BUILTIN_FAN_MODES: [&str; 10] =
    ["on", "off", "auto", "low", "medium", "high", "middle", "focus", "diffuse", "quiet"];

impl VirtualDevice {
    /// The command topics this component subscribes to (by its traits).
    pub(super) fn esphome_subscriptions(&self, node: &str, object_id: &str) -> Vec<String> {
        let base = format!("{node}/{}/{object_id}", esphome_component(self.kind));
        let f = &self.features;
        let mut v = match self.kind {
            DeviceKind::Climate => {
                vec![format!("{base}/target_temperature/command"), format!("{base}/mode/command")]
            }
            _ => vec![format!("{base}/command")],
        };
        match self.kind {
            DeviceKind::Cover => v.push(format!("{base}/position/command")),
            DeviceKind::Valve if f.position => v.push(format!("{base}/position/command")),
            DeviceKind::Fan if f.speed => v.push(format!("{base}/speed_level/command")),
            DeviceKind::Climate if !f.fan_modes.is_empty() => v.push(format!("{base}/fan_mode/command")),
            _ => {}
        }
        v
    }

    /// `ClimateCall::set_fan_mode`: a built-in mode the device supports (any
    /// case), else one of its custom modes (exact).
    fn esphome_fan_mode(&self, text: &str) -> Option<String> {
        let modes = &self.features.fan_modes;
        if let Some(b) = BUILTIN_FAN_MODES.iter().find(|b| b.eq_ignore_ascii_case(text)) {
            return modes.iter().any(|m| m.eq_ignore_ascii_case(b)).then(|| b.to_string());
        }
        modes.iter().find(|m| m.as_str() == text).cloned()
    }

    /// `fan_mode/state`: a built-in mode in lower case, a custom one as named.
    fn esphome_fan_mode_state(&self) -> String {
        let mode = &self.st.fan_mode;
        match BUILTIN_FAN_MODES.iter().find(|b| b.eq_ignore_ascii_case(mode)) {
            Some(b) => b.to_string(),
            None => mode.clone(),
        }
    }

    pub(super) fn esphome(&mut self, node: &str, obj: &str, topic: &str, text: &str) -> Outcome {
        let base = format!("{node}/{}/{obj}/", esphome_component(self.kind));
        let Some(leaf) = topic.strip_prefix(&base) else {
            return Outcome::NotMine;
        };
        let up = text.to_ascii_uppercase();
        let ok = match (self.kind, leaf) {
            (DeviceKind::Light, "command") => {
                let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
                    return Outcome::Rejected(vec![]);
                };
                self.esphome_light(&o)
            }
            (DeviceKind::Switch | DeviceKind::Fan, "command") => match up.as_str() {
                "ON" => {
                    if self.kind == DeviceKind::Fan && self.features.speed && !self.st.on && self.st.speed == 0 {
                        self.st.speed = 100;
                    }
                    self.st.on = true;
                    true
                }
                "OFF" => {
                    self.st.on = false;
                    true
                }
                "TOGGLE" => {
                    self.st.on = !self.st.on;
                    true
                }
                _ => false,
            },
            // Covers and valves alike (a template valve has no toggle either).
            (DeviceKind::Cover | DeviceKind::Valve, "command") => match up.as_str() {
                "OPEN" => {
                    self.st.position = 100;
                    true
                }
                "CLOSE" => {
                    self.st.position = 0;
                    true
                }
                "STOP" => true,
                _ => false,
            },
            (DeviceKind::Cover, "position/command") if self.features.position => match text.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => {
                    self.st.position = p.round() as u8;
                    true
                }
                _ => false,
            },
            (DeviceKind::Fan, "speed_level/command") if self.features.speed => match text.parse::<i64>() {
                Ok(level) if (0..=100).contains(&level) => {
                    self.st.speed = level.clamp(1, 100) as u8;
                    true
                }
                // "Invalid speed level"
                _ => false,
            },
            (DeviceKind::Valve, "position/command") if self.features.position => match text.parse::<f64>() {
                Ok(p) if p.is_finite() => {
                    self.st.position = p.clamp(0.0, 100.0).round() as u8;
                    true
                }
                // "Invalid position value"
                _ => false,
            },
            (DeviceKind::Button, "command") => text == "PRESS",
            (DeviceKind::Climate, "fan_mode/command") if !self.features.fan_modes.is_empty() => {
                match self.esphome_fan_mode(text) {
                    Some(mode) => {
                        self.st.fan_mode = mode;
                        true
                    }
                    None => false,
                }
            }
            (DeviceKind::Climate, "target_temperature/command") => match text.parse::<f64>() {
                Ok(t) if t.is_finite() => {
                    self.st.target = t;
                    true
                }
                _ => false,
            },
            (DeviceKind::Climate, "mode/command") => match up.as_str() {
                "OFF" => {
                    self.st.on = false;
                    true
                }
                "HEAT" | "AUTO" | "HEAT_COOL" | "COOL" => {
                    self.st.on = true;
                    true
                }
                _ => false,
            },
            (DeviceKind::Lock, "command") => match up.as_str() {
                "LOCK" => {
                    self.st.locked = true;
                    true
                }
                "UNLOCK" | "OPEN" => {
                    self.st.locked = false;
                    true
                }
                _ => false,
            },
            _ => return Outcome::NotMine,
        };
        if ok { Outcome::Applied(self.esphome_state()) } else { Outcome::Rejected(vec![]) }
    }

    /// light_json_schema.cpp `parse_json`.
    pub(super) fn esphome_light(&mut self, o: &Map<String, Value>) -> bool {
        let mut any = false;
        if let Some(s) = o.get("state").and_then(Value::as_str) {
            match s.to_ascii_uppercase().as_str() {
                "ON" => self.st.on = true,
                "OFF" => self.st.on = false,
                "TOGGLE" => self.st.on = !self.st.on,
                _ => return false,
            }
            any = true;
        }
        if let Some(b) = o.get("brightness").and_then(Value::as_u64).filter(|b| *b <= 255) {
            self.st.level = b as f64 / 255.0;
            any = true;
        }
        if let Some(c) = o.get("color").and_then(Value::as_object)
            && self.features.color
        {
            let ch = |k: &str| c.get(k).and_then(Value::as_u64).filter(|n| *n <= 255).map(|n| n as u8);
            if let (Some(r), Some(g), Some(b)) = (ch("r"), ch("g"), ch("b")) {
                self.st.rgb = (r, g, b);
                self.st.color_mode_rgb = true;
                any = true;
            }
        }
        if let Some(t) = o.get("color_temp").and_then(Value::as_u64)
            && self.features.color_temp
        {
            self.st.mired = t as u32;
            self.st.color_mode_rgb = false;
            any = true;
        }
        any
    }

    /// State messages (ESPHome retains them by default).
    pub(super) fn esphome_state(&self) -> Vec<Msg> {
        let Dialect::Esphome { node, object_id } = &self.dialect else {
            return vec![];
        };
        let base = format!("{node}/{}/{object_id}", esphome_component(self.kind));
        let st = &self.st;
        let onoff = if st.on { "ON" } else { "OFF" };
        match self.kind {
            DeviceKind::Light => {
                let f = &self.features;
                let mode = if f.color && (st.color_mode_rgb || !f.color_temp) {
                    "rgb"
                } else if f.color_temp {
                    "color_temp"
                } else if f.dimmable {
                    "brightness"
                } else {
                    "onoff"
                };
                let mut o = json!({"color_mode": mode, "state": onoff});
                if mode != "onoff" {
                    o["brightness"] = json!((st.level * 255.0).round() as u32);
                }
                o["color"] = json!({});
                if mode == "rgb" {
                    o["color"] = json!({"r": st.rgb.0, "g": st.rgb.1, "b": st.rgb.2});
                }
                if mode == "color_temp" {
                    o["color_temp"] = json!(st.mired);
                }
                vec![m(format!("{base}/state"), o.to_string(), true)]
            }
            DeviceKind::Fan if self.features.speed => vec![
                m(format!("{base}/state"), onoff, true),
                m(format!("{base}/speed_level/state"), st.speed.to_string(), true),
            ],
            DeviceKind::Switch | DeviceKind::Fan | DeviceKind::BinarySensor => {
                vec![m(format!("{base}/state"), onoff, true)]
            }
            DeviceKind::Valve => {
                let mut v = Vec::new();
                if self.features.position {
                    v.push(m(format!("{base}/position/state"), st.position.to_string(), true));
                }
                let s = match st.position {
                    0 => "closed",
                    100 => "open",
                    _ if self.features.position => "open",
                    _ => "unknown",
                };
                v.push(m(format!("{base}/state"), s, true));
                v
            }
            DeviceKind::Cover => {
                if self.features.position {
                    vec![m(format!("{base}/position/state"), st.position.to_string(), true)]
                } else {
                    let s = match st.position {
                        100 => "open",
                        0 => "closed",
                        _ => "unknown",
                    };
                    vec![m(format!("{base}/state"), s, true)]
                }
            }
            DeviceKind::Climate => {
                let mut v = vec![
                    m(format!("{base}/mode/state"), if st.on { "heat" } else { "off" }, true),
                    m(format!("{base}/current_temperature/state"), format!("{:.1}", st.current), true),
                    m(format!("{base}/target_temperature/state"), format!("{:.1}", st.target), true),
                ];
                if !self.features.fan_modes.is_empty() {
                    v.push(m(format!("{base}/fan_mode/state"), self.esphome_fan_mode_state(), true));
                }
                v
            }
            DeviceKind::Lock => vec![m(format!("{base}/state"), if st.locked { "LOCKED" } else { "UNLOCKED" }, true)],
            DeviceKind::Sensor => vec![m(format!("{base}/state"), format!("{:.1}", st.current), true)],
            _ => vec![],
        }
    }
}

/// ESPHome's MQTT component of a kind: its names are Home Assistant's
/// domains (`light`, `valve`, `button`, ...).
pub(super) fn esphome_component(kind: DeviceKind) -> &'static str {
    kind.domain()
}
