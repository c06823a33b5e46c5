//! Tasmota firmware (tasmota/docs `MQTT.md`, `Commands.md`): `cmnd/<t>/<Command>`,
//! answers on `stat/<t>/RESULT` + `stat/<t>/POWER<n>`, `tele/<t>/LWT`
//! Online/Offline retained, `tele/<t>/STATE`, `{"Command":"Unknown"}`.
//!
//! A fan with `speed` is a Sonoff iFan02/03 (Commands.md `FanSpeed`,
//! `xdrv_22_sonoff_ifan.ino` `CmndFanspeed`): `FanSpeed 0..3` (0 = off), `+`
//! and `-` step and wrap around, an empty payload asks; every answer, an
//! out-of-range value too (which changes nothing), is `{"FanSpeed":n}` on
//! `stat/<t>/RESULT`, and `tele/<t>/STATE` carries `"FanSpeed":n`. Its
//! `POWER` is the iFan's light, not the fan. A valve is a relay: `POWER ON`
//! opens it.

use firmware_bridge::{DeviceKind, Dialect};
use serde_json::{Map, Value, json};

use super::{Msg, Outcome, VirtualDevice, m, sim_hex};

impl VirtualDevice {
    pub(super) fn tasmota(&mut self, t: &str, relay: Option<u8>, topic: &str, text: &str) -> Outcome {
        let Some(cmd) = topic.strip_prefix(&format!("cmnd/{t}/")) else {
            return Outcome::NotMine;
        };
        let lc = cmd.to_ascii_lowercase();
        let ifan = self.kind == DeviceKind::Fan && self.features.speed;
        let is_relay_kind =
            matches!(self.kind, DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::Valve) && !ifan;
        if ifan && lc == "fanspeed" {
            return self.tasmota_fanspeed(t, text);
        }
        let my_index = relay.unwrap_or(1);
        let shutter = format!("{}", relay.unwrap_or(1));
        // Which command family, and is it addressed to this device?
        if is_relay_kind && lc.starts_with("power") {
            let idx: u8 = if lc == "power" {
                1
            } else {
                match lc.get("power".len()..).map(str::parse::<u8>) {
                    Some(Ok(i)) => i,
                    _ => return Outcome::NotMine,
                }
            };
            if idx != my_index {
                return Outcome::NotMine;
            }
            let key = if relay.is_some() { format!("POWER{my_index}") } else { "POWER".to_string() };
            let applied = match text.to_ascii_uppercase().as_str() {
                "" => None,
                "ON" | "1" => Some(true),
                "OFF" | "0" => Some(false),
                "TOGGLE" | "2" => Some(!self.st.on),
                _ => {
                    return Outcome::Rejected(vec![m(format!("stat/{t}/RESULT"), r#"{"Command":"Error"}"#, false)]);
                }
            };
            if let Some(on) = applied {
                self.st.on = on;
            }
            let word = if self.st.on { "ON" } else { "OFF" };
            let msgs = vec![
                m(format!("stat/{t}/RESULT"), json!({ key.clone(): word }).to_string(), false),
                m(format!("stat/{t}/{key}"), word, false),
            ];
            return if applied.is_some() { Outcome::Applied(msgs) } else { Outcome::Query(msgs) };
        }
        if self.kind == DeviceKind::Light && matches!(lc.as_str(), "dimmer" | "color" | "ct") {
            let ok = match lc.as_str() {
                "dimmer" if self.features.dimmable || self.features.color || self.features.color_temp => {
                    match text.parse::<u32>() {
                        Ok(d) if d <= 100 => {
                            self.st.level = f64::from(d) / 100.0;
                            self.st.on = d > 0;
                            true
                        }
                        _ => false,
                    }
                }
                "color" if self.features.color => match sim_hex(text).or_else(|| sim_decimal(text)) {
                    Some(rgb) => {
                        self.st.rgb = rgb;
                        self.st.color_mode_rgb = true;
                        self.st.on = true;
                        true
                    }
                    None => false,
                },
                "ct" if self.features.color_temp => match text.parse::<u32>() {
                    Ok(ct) if (153..=500).contains(&ct) => {
                        self.st.mired = ct;
                        self.st.color_mode_rgb = false;
                        self.st.on = true;
                        true
                    }
                    _ => false,
                },
                // A light without that channel: Tasmota does not know the command.
                _ => {
                    return Outcome::Rejected(vec![m(format!("stat/{t}/RESULT"), r#"{"Command":"Unknown"}"#, false)]);
                }
            };
            if text.is_empty() {
                return Outcome::Query(vec![m(
                    format!("stat/{t}/RESULT"),
                    self.tasmota_state_json(false).to_string(),
                    false,
                )]);
            }
            if !ok {
                return Outcome::Rejected(vec![m(format!("stat/{t}/RESULT"), r#"{"Command":"Error"}"#, false)]);
            }
            let mut msgs = vec![m(format!("stat/{t}/RESULT"), self.tasmota_state_json(false).to_string(), false)];
            let key = if relay.is_some() { format!("POWER{my_index}") } else { "POWER".to_string() };
            msgs.push(m(format!("stat/{t}/{key}"), if self.st.on { "ON" } else { "OFF" }, false));
            return Outcome::Applied(msgs);
        }
        if self.kind == DeviceKind::Cover {
            let act = if lc == format!("shutterposition{shutter}") {
                match text.to_ascii_uppercase().as_str() {
                    "UP" | "OPEN" => Some(100),
                    "DOWN" | "CLOSE" => Some(0),
                    "STOP" => Some(self.st.position),
                    s => match s.parse::<u8>() {
                        Ok(p) if p <= 100 => Some(p),
                        _ => {
                            return Outcome::Rejected(vec![m(
                                format!("stat/{t}/RESULT"),
                                r#"{"Command":"Error"}"#,
                                false,
                            )]);
                        }
                    },
                }
            } else if lc == format!("shutteropen{shutter}") {
                Some(100)
            } else if lc == format!("shutterclose{shutter}") {
                Some(0)
            } else if lc == format!("shutterstop{shutter}") {
                Some(self.st.position)
            } else {
                None
            };
            if let Some(p) = act {
                self.st.position = p;
                return Outcome::Applied(vec![self.tasmota_shutter_result(t)]);
            }
        }
        Outcome::NotMine
    }

    /// `CmndFanspeed`: speeds 0..=3 (`MaxFanspeed()` is 4).
    fn tasmota_fanspeed(&mut self, t: &str, text: &str) -> Outcome {
        let current = self.st.speed;
        let wanted: Option<i64> = match text {
            "" | "?" => None,
            // Only the first character counts: `-1` is a step down too.
            s if s.starts_with('+') => Some(if current >= 3 { 0 } else { i64::from(current) + 1 }),
            s if s.starts_with('-') => Some(if current == 0 { 3 } else { i64::from(current) - 1 }),
            s => Some(s.parse::<i64>().unwrap_or(-99)),
        };
        let applied = match wanted {
            Some(n) if (0..=3).contains(&n) => {
                self.st.speed = n as u8;
                true
            }
            _ => false,
        };
        let answer = vec![m(format!("stat/{t}/RESULT"), json!({"FanSpeed": self.st.speed}).to_string(), false)];
        match (wanted, applied) {
            (None, _) => Outcome::Query(answer),
            (Some(_), true) => Outcome::Applied(answer),
            (Some(_), false) => Outcome::Rejected(answer),
        }
    }

    pub(super) fn tasmota_state_json(&self, tele: bool) -> Value {
        let mut o = Map::new();
        if tele {
            o.insert("Time".into(), json!("2024-01-01T00:00:00"));
            o.insert("Uptime".into(), json!("0T00:00:01"));
        }
        if self.kind == DeviceKind::Fan && self.features.speed {
            o.insert("FanSpeed".into(), json!(self.st.speed));
            return Value::Object(o);
        }
        let key = match &self.dialect {
            Dialect::Tasmota { relay: Some(n), .. } => format!("POWER{n}"),
            _ => "POWER".to_string(),
        };
        o.insert(key, json!(if self.st.on { "ON" } else { "OFF" }));
        if self.kind == DeviceKind::Light && (self.features.dimmable || self.features.color || self.features.color_temp)
        {
            o.insert("Dimmer".into(), json!((self.st.level * 100.0).round() as u32));
            if self.features.color {
                let (r, g, b) = self.st.rgb;
                o.insert("Color".into(), json!(format!("{r:02X}{g:02X}{b:02X}")));
            }
            if self.features.color_temp {
                o.insert("CT".into(), json!(self.st.mired));
            }
        }
        Value::Object(o)
    }

    pub(super) fn tasmota_shutter_result(&self, t: &str) -> Msg {
        let n = match &self.dialect {
            Dialect::Tasmota { relay: Some(n), .. } => *n,
            _ => 1,
        };
        let p = self.st.position;
        m(
            format!("stat/{t}/RESULT"),
            json!({ format!("Shutter{n}"): {"Position": p, "Direction": 0, "Target": p, "Tilt": 0} }).to_string(),
            false,
        )
    }

    pub(super) fn tasmota_shutter(&self, t: &str) -> Msg {
        let mut msg = self.tasmota_shutter_result(t);
        msg.topic = format!("tele/{t}/SENSOR");
        msg
    }

    pub(super) fn tasmota_sensor(&self, t: &str) -> Msg {
        m(
            format!("tele/{t}/SENSOR"),
            json!({"Time": "2024-01-01T00:00:00", "DS18B20": {"Id": "01144A0CB2AA", "Temperature": self.st.current}, "TempUnit": "C"})
                .to_string(),
            false,
        )
    }
}

/// Tasmota `r,g,b`.
fn sim_decimal(s: &str) -> Option<(u8, u8, u8)> {
    let v: Vec<u8> = s.split(',').map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
    match v.as_slice() {
        [r, g, b, ..] => Some((*r, *g, *b)),
        _ => None,
    }
}

/// Tasmota answers a command nobody on the topic knows with `{"Command":"Unknown"}`.
pub(super) fn tasmota_unknown(key: &str, topic: &str) -> Option<Msg> {
    let t = key.strip_prefix("tasmota:")?;
    topic.strip_prefix(&format!("cmnd/{t}/"))?;
    Some(m(format!("stat/{t}/RESULT"), r#"{"Command":"Unknown"}"#, false))
}
