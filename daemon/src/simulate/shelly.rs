//! Shelly gen1 firmware (API docs "MQTT"): `shellies/<id>/online` true/false
//! retained, `relay/<n>` on/off, `roller/<n>` + `roller/<n>/pos`,
//! `light|color/<n>/status`. A valve (a solenoid on a relay) is a relay:
//! `on` opens it.

use firmware_bridge::{DeviceKind, Dialect};
use serde_json::{Value, json};

use super::{Msg, Outcome, SimState, VirtualDevice, m};

impl VirtualDevice {
    pub(super) fn shelly(&mut self, id: &str, n: u8, topic: &str, text: &str) -> Outcome {
        let root = format!("shellies/{id}/");
        let Some(leaf) = topic.strip_prefix(&root) else {
            return Outcome::NotMine;
        };
        let f = &self.features;
        let is_color = self.kind == DeviceKind::Light && f.color;
        let is_white = self.kind == DeviceKind::Light && !f.color && (f.dimmable || f.color_temp);
        let is_relay =
            matches!(self.kind, DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::Valve)
                && !is_color
                && !is_white;
        let nn = n.to_string();
        let parts: Vec<&str> = leaf.split('/').collect();
        let turn = |st: &mut SimState, w: &str| -> bool {
            match w {
                "on" => st.on = true,
                "off" => st.on = false,
                "toggle" => st.on = !st.on,
                _ => return false,
            }
            true
        };
        let ok = match parts.as_slice() {
            ["relay", i, "command"] if is_relay && *i == nn => turn(&mut self.st, text),
            ["light", i, "command"] if is_white && *i == nn => turn(&mut self.st, text),
            ["color", i, "command"] if is_color && *i == nn => turn(&mut self.st, text),
            [ch @ ("light" | "color"), i, "set"]
                if *i == nn && ((*ch == "light" && is_white) || (*ch == "color" && is_color)) =>
            {
                let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
                    return Outcome::Rejected(vec![]);
                };
                let mut any = false;
                if let Some(t) = o.get("turn").and_then(Value::as_str) {
                    any |= turn(&mut self.st, t);
                }
                let bkey = if *ch == "color" { "gain" } else { "brightness" };
                if let Some(b) = o.get(bkey).and_then(Value::as_u64).filter(|b| *b <= 100) {
                    self.st.level = b as f64 / 100.0;
                    any = true;
                }
                if let Some(k) = o.get("temp").and_then(Value::as_u64).filter(|k| (2700..=6500).contains(k)) {
                    self.st.mired = (1_000_000 / k) as u32;
                    any = true;
                }
                let c = |k: &str| o.get(k).and_then(Value::as_u64).filter(|v| *v <= 255).map(|v| v as u8);
                if let (Some(r), Some(g), Some(b)) = (c("red"), c("green"), c("blue")) {
                    self.st.rgb = (r, g, b);
                    any = true;
                }
                any
            }
            ["roller", i, "command"] if self.kind == DeviceKind::Cover && *i == nn => match text {
                "open" => {
                    self.st.position = 100;
                    true
                }
                "close" => {
                    self.st.position = 0;
                    true
                }
                "stop" => true,
                _ => false,
            },
            ["roller", i, "command", "pos"] if self.kind == DeviceKind::Cover && *i == nn => match text.parse::<u8>() {
                Ok(p) if p <= 100 => {
                    self.st.position = p;
                    true
                }
                _ => false,
            },
            _ => return Outcome::NotMine,
        };
        if ok { Outcome::Applied(self.shelly_state(id)) } else { Outcome::Rejected(vec![]) }
    }

    pub(super) fn shelly_state(&self, id: &str) -> Vec<Msg> {
        let Dialect::ShellyGen1 { relay: n, .. } = &self.dialect else {
            return vec![];
        };
        let r = format!("shellies/{id}");
        let st = &self.st;
        let onoff = if st.on { "on" } else { "off" };
        let f = &self.features;
        match self.kind {
            DeviceKind::Light if f.color => vec![
                m(format!("{r}/color/{n}"), onoff, false),
                m(
                    format!("{r}/color/{n}/status"),
                    json!({"ison": st.on, "mode": "color", "red": st.rgb.0, "green": st.rgb.1, "blue": st.rgb.2,
                           "white": 0, "gain": (st.level * 100.0).round() as u32, "effect": 0})
                    .to_string(),
                    false,
                ),
            ],
            DeviceKind::Light if f.dimmable || f.color_temp => vec![
                m(format!("{r}/light/{n}"), onoff, false),
                m(
                    format!("{r}/light/{n}/status"),
                    json!({"ison": st.on, "has_timer": false, "mode": "white",
                           "brightness": (st.level * 100.0).round() as u32, "temp": 1_000_000 / st.mired.max(1)})
                    .to_string(),
                    false,
                ),
            ],
            DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::Valve => {
                vec![m(format!("{r}/relay/{n}"), onoff, false)]
            }
            DeviceKind::Cover => vec![
                m(format!("{r}/roller/{n}"), "stop", false),
                m(format!("{r}/roller/{n}/pos"), st.position.to_string(), false),
            ],
            DeviceKind::Sensor => vec![m(format!("{r}/sensor/temperature"), format!("{:.2}", st.current), false)],
            _ => vec![],
        }
    }
}
