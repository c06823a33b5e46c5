//! Generic JSON devices: hubd's own convention (see firmware-bridge
//! `generic.rs`): command JSON on `command_topic`, state JSON on `state_topic`.

use firmware_bridge::DeviceKind;
use serde_json::{Value, json};

use super::{Outcome, VirtualDevice, m};

impl VirtualDevice {
    pub(super) fn generic(&mut self, state_topic: &str, text: &str) -> Outcome {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
            return Outcome::Rejected(vec![]);
        };
        let st = &mut self.st;
        let mut any = false;
        if let Some(s) = o.get("state").and_then(Value::as_str) {
            match s {
                "ON" => st.on = true,
                "OFF" => st.on = false,
                "TOGGLE" => st.on = !st.on,
                "OPEN" => st.position = 100,
                "CLOSE" => st.position = 0,
                "STOP" => {}
                "LOCK" => st.locked = true,
                "UNLOCK" => st.locked = false,
                _ => return Outcome::Rejected(vec![]),
            }
            any = true;
        }
        if let Some(b) = o.get("brightness").and_then(Value::as_u64).filter(|b| *b <= 100) {
            st.level = b as f64 / 100.0;
            any = true;
        }
        if let Some(c) = o.get("color").and_then(Value::as_object) {
            let ch = |k: &str| c.get(k).and_then(Value::as_u64).filter(|v| *v <= 255).map(|v| v as u8);
            if let (Some(r), Some(g), Some(b)) = (ch("r"), ch("g"), ch("b")) {
                st.rgb = (r, g, b);
                st.color_mode_rgb = true;
                any = true;
            }
        }
        if let Some(k) = o.get("color_temp_kelvin").and_then(Value::as_u64).filter(|k| *k > 0) {
            st.mired = (1_000_000 / k) as u32;
            st.color_mode_rgb = false;
            any = true;
        }
        if let Some(t) = o.get("target_temperature").and_then(Value::as_f64) {
            st.target = t;
            any = true;
        }
        if let Some(p) = o.get("position").and_then(Value::as_u64).filter(|p| *p <= 100) {
            st.position = p as u8;
            any = true;
        }
        if any {
            Outcome::Applied(vec![m(state_topic, self.generic_state(), false)])
        } else {
            Outcome::Rejected(vec![])
        }
    }

    pub(super) fn generic_state(&self) -> String {
        let st = &self.st;
        let v = match self.kind {
            DeviceKind::Lock => json!({"state": if st.locked { "LOCKED" } else { "UNLOCKED" }}),
            DeviceKind::Cover => json!({"position": st.position}),
            DeviceKind::Climate => {
                json!({"target_temperature": st.target, "current_temperature": st.current})
            }
            DeviceKind::Sensor => json!({"temperature": st.current}),
            // Presence: someone is home until a presence message says otherwise.
            DeviceKind::Person => json!({"value": "home"}),
            DeviceKind::Light => {
                let mut o =
                    json!({"state": if st.on { "ON" } else { "OFF" }, "brightness": (st.level * 100.0).round() as u32});
                if self.features.color && st.color_mode_rgb {
                    o["color"] = json!({"r": st.rgb.0, "g": st.rgb.1, "b": st.rgb.2});
                }
                if self.features.color_temp && !st.color_mode_rgb {
                    o["color_temp_kelvin"] = json!(1_000_000 / st.mired.max(1));
                }
                o
            }
            _ => json!({"state": if st.on { "ON" } else { "OFF" }}),
        };
        v.to_string()
    }
}
