//! Generic JSON devices: hubd's own convention (see firmware-bridge
//! `generic.rs`): command JSON on `command_topic`, state JSON on `state_topic`.
//!
//! Per kind, with that convention's key names:
//! - lights, switches, covers, locks, climate: `state`, `brightness` (%),
//!   `color` {r,g,b}, `color_temp_kelvin`, `target_temperature`, `position`;
//!   climate also `fan_mode` (one of the device's `fan_modes`), and reports
//!   its on/off as `state` ON|OFF;
//! - fans: `state` ON|OFF|TOGGLE and, with `speed`, `percentage` 0..=100
//!   (0 is off; on without a speed starts at 100 %); state the same keys;
//! - valves: `state` OPEN|CLOSE|STOP, with `position` also `position`; state
//!   `open|closed` (and `position`);
//! - media players: `command` play|pause|next|previous, `volume` 0..=100,
//!   `muted` bool, `state` ON|OFF, `command` play_media with a
//!   `media_content_id` string and a `media_content_type` (it starts
//!   playing that, from its first track); state `state`
//!   playing|paused|idle|off, `volume`, `muted`, `media_track`,
//!   `media_content_id` once something was asked for;
//! - vacuums: `command` start|stop|pause|return_to_base, clean_segments with
//!   `segments` (string ids); state `state` cleaning|idle|paused|returning|docked;
//! - lawn mowers: `command` start_mowing|pause|dock; state `activity`
//!   mowing|paused|docked;
//! - buttons: `command` press; no state (the receipts count the presses);
//! - input_boolean: `state` ON|OFF (no toggle: its commands are retained);
//! - weather: no commands; fixed current conditions, retained, at birth.

use firmware_bridge::DeviceKind;
use serde_json::{Map, Value, json};

use super::{Msg, Outcome, VirtualDevice, m};

/// The weather a simulated weather station reports.
const WEATHER: (&str, f64, u32) = ("sunny", 21.5, 40);

impl VirtualDevice {
    pub(super) fn generic(&mut self, state_topic: &str, text: &str) -> Outcome {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
            return Outcome::Rejected(vec![]);
        };
        let ok = match self.kind {
            DeviceKind::MediaPlayer => self.generic_media(&o),
            DeviceKind::Vacuum => self.generic_vacuum(&o),
            DeviceKind::LawnMower => self.generic_mower(&o),
            DeviceKind::Fan => self.generic_fan(&o),
            DeviceKind::Valve => self.generic_valve(&o),
            DeviceKind::Button => o.get("command").and_then(Value::as_str) == Some("press"),
            DeviceKind::InputBoolean => match o.get("state").and_then(Value::as_str) {
                Some("ON") => {
                    self.st.on = true;
                    true
                }
                Some("OFF") => {
                    self.st.on = false;
                    true
                }
                _ => false,
            },
            // A weather station takes no commands.
            DeviceKind::Weather => false,
            _ => self.generic_basic(&o),
        };
        if ok {
            Outcome::Applied(self.generic_state_msg(state_topic).into_iter().collect())
        } else {
            Outcome::Rejected(vec![])
        }
    }

    /// Lights, switches, covers, locks, climate (and persons, sensors).
    fn generic_basic(&mut self, o: &Map<String, Value>) -> bool {
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
                _ => return false,
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
        if self.kind == DeviceKind::Climate
            && let Some(v) = o.get("fan_mode")
        {
            // One of the device's own modes (named as it names them).
            let mode = v.as_str().and_then(|m| self.features.fan_modes.iter().find(|f| f.eq_ignore_ascii_case(m)));
            match mode {
                Some(mode) => self.st.fan_mode = mode.clone(),
                None => return false,
            }
            any = true;
        }
        any
    }

    fn generic_fan(&mut self, o: &Map<String, Value>) -> bool {
        let mut on = self.st.on;
        let mut speed = self.st.speed;
        let mut any = false;
        if let Some(v) = o.get("state") {
            match v.as_str() {
                Some("ON") => on = true,
                Some("OFF") => on = false,
                Some("TOGGLE") => on = !on,
                _ => return false,
            }
            any = true;
        }
        if let Some(v) = o.get("percentage") {
            match v.as_u64() {
                Some(p) if self.features.speed && p <= 100 => {
                    speed = p as u8;
                    on = p > 0;
                }
                _ => return false,
            }
            any = true;
        }
        if on && speed == 0 && self.features.speed {
            speed = 100;
        }
        self.st.on = on;
        self.st.speed = speed;
        any
    }

    fn generic_valve(&mut self, o: &Map<String, Value>) -> bool {
        let mut position = self.st.position;
        let mut any = false;
        if let Some(v) = o.get("state") {
            match v.as_str() {
                Some("OPEN") => position = 100,
                Some("CLOSE") => position = 0,
                Some("STOP") => {}
                _ => return false,
            }
            any = true;
        }
        if let Some(v) = o.get("position") {
            match v.as_u64() {
                Some(p) if self.features.position && p <= 100 => position = p as u8,
                _ => return false,
            }
            any = true;
        }
        self.st.position = position;
        any
    }

    fn generic_media(&mut self, o: &Map<String, Value>) -> bool {
        let st = &mut self.st;
        let (mut activity, mut volume, mut muted, mut track) = (st.activity.clone(), st.volume, st.muted, st.track);
        let mut media = st.media.clone();
        let mut any = false;
        if let Some(v) = o.get("state") {
            match v.as_str() {
                Some("ON") if activity == "off" => activity = "idle".into(),
                Some("ON") => {}
                Some("OFF") => activity = "off".into(),
                _ => return false,
            }
            any = true;
        }
        if let Some(v) = o.get("command") {
            let off = activity == "off";
            match v.as_str() {
                Some("play") => activity = "playing".into(),
                // Nothing plays on a player that is off.
                Some("pause") if !off => activity = "paused".into(),
                Some("next") if !off => track += 1,
                Some("previous") if !off => track = track.saturating_sub(1).max(1),
                Some("play_media") => {
                    let id = o.get("media_content_id").and_then(Value::as_str).filter(|s| !s.trim().is_empty());
                    let (Some(id), Some(_)) = (id, o.get("media_content_type").and_then(Value::as_str)) else {
                        return false;
                    };
                    (activity, media, track) = ("playing".into(), id.to_string(), 1);
                }
                _ => return false,
            }
            any = true;
        }
        if let Some(v) = o.get("volume") {
            match v.as_u64() {
                Some(p) if p <= 100 => volume = p as u8,
                _ => return false,
            }
            any = true;
        }
        if let Some(v) = o.get("muted") {
            match v.as_bool() {
                Some(b) => muted = b,
                None => return false,
            }
            any = true;
        }
        (st.activity, st.volume, st.muted, st.track, st.media) = (activity, volume, muted, track, media);
        any
    }

    fn generic_vacuum(&mut self, o: &Map<String, Value>) -> bool {
        let activity = match o.get("command").and_then(Value::as_str) {
            Some("start") => "cleaning",
            Some("stop") => "idle",
            Some("pause") => "paused",
            Some("return_to_base") => "returning",
            Some("clean_segments") => {
                let ok = match o.get("segments") {
                    Some(Value::Array(ids)) => !ids.is_empty() && ids.iter().all(Value::is_string),
                    _ => false,
                };
                if !ok {
                    return false;
                }
                "cleaning"
            }
            _ => return false,
        };
        self.st.activity = activity.into();
        true
    }

    fn generic_mower(&mut self, o: &Map<String, Value>) -> bool {
        let activity = match o.get("command").and_then(Value::as_str) {
            Some("start_mowing") => "mowing",
            Some("pause") => "paused",
            Some("dock") => "docked",
            _ => return false,
        };
        self.st.activity = activity.into();
        true
    }

    /// The state message, if the kind has one (a button has none). A
    /// weather station's is retained: it is published once, at birth.
    pub(super) fn generic_state_msg(&self, state_topic: &str) -> Option<Msg> {
        match self.kind {
            DeviceKind::Button => None,
            DeviceKind::Weather => Some(m(state_topic, self.generic_state(), true)),
            _ => Some(m(state_topic, self.generic_state(), false)),
        }
    }

    pub(super) fn generic_state(&self) -> String {
        let st = &self.st;
        let onoff = if st.on { "ON" } else { "OFF" };
        let v = match self.kind {
            DeviceKind::Lock => json!({"state": if st.locked { "LOCKED" } else { "UNLOCKED" }}),
            DeviceKind::Cover => json!({"position": st.position}),
            DeviceKind::Climate => {
                let mut o = json!({"state": onoff, "target_temperature": st.target, "current_temperature": st.current});
                if !self.features.fan_modes.is_empty() {
                    o["fan_mode"] = json!(st.fan_mode);
                }
                o
            }
            DeviceKind::Sensor => json!({"temperature": st.current}),
            // Presence: someone is home until a presence message says otherwise.
            DeviceKind::Person => json!({"value": "home"}),
            DeviceKind::Light => {
                let mut o = json!({"state": onoff, "brightness": (st.level * 100.0).round() as u32});
                if self.features.color && st.color_mode_rgb {
                    o["color"] = json!({"r": st.rgb.0, "g": st.rgb.1, "b": st.rgb.2});
                }
                if self.features.color_temp && !st.color_mode_rgb {
                    o["color_temp_kelvin"] = json!(1_000_000 / st.mired.max(1));
                }
                o
            }
            DeviceKind::Fan if self.features.speed => {
                json!({"state": onoff, "percentage": if st.on { st.speed } else { 0 }})
            }
            DeviceKind::Valve => {
                let mut o = json!({"state": if st.position > 0 { "open" } else { "closed" }});
                if self.features.position {
                    o["position"] = json!(st.position);
                }
                o
            }
            DeviceKind::MediaPlayer => {
                let mut o =
                    json!({"state": st.activity, "volume": st.volume, "muted": st.muted, "media_track": st.track});
                if !st.media.is_empty() {
                    o["media_content_id"] = json!(st.media);
                }
                o
            }
            DeviceKind::Vacuum => json!({"state": st.activity}),
            DeviceKind::LawnMower => json!({"activity": st.activity}),
            DeviceKind::Weather => {
                let (condition, temperature, humidity) = WEATHER;
                json!({"condition": condition, "temperature": temperature, "humidity": humidity})
            }
            _ => json!({"state": onoff}),
        };
        v.to_string()
    }
}
