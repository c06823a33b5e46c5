//! Last known device state, and echo matching.
use serde::{Deserialize, Serialize};

use crate::color::{kelvin_to_mired, same_color};
use crate::{Action, Rgb};

/// What one state message says. Every field optional: a message carries only
/// what it carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatePatch {
    pub on: Option<bool>,
    pub brightness_pct: Option<u8>,
    pub rgb: Option<Rgb>,
    pub color_temp_kelvin: Option<u32>,
    pub current_temperature: Option<f32>,
    pub target_temperature: Option<f32>,
    /// Cover position, 0 = closed, 100 = open.
    pub position: Option<u8>,
    pub locked: Option<bool>,
    pub available: Option<bool>,
    /// Sensor reading or other scalar value.
    pub value: Option<serde_json::Value>,
    /// Fan speed, percent.
    pub fan_speed_pct: Option<u8>,
    /// Climate fan mode.
    pub fan_mode: Option<String>,
    /// Media player volume, percent.
    pub volume_pct: Option<u8>,
    pub muted: Option<bool>,
    /// What the device is doing, in Home Assistant's state words: vacuum
    /// `cleaning|docked|returning|paused|idle|error`, lawn mower
    /// `mowing|docked|returning|paused|error`, media player
    /// `playing|paused|idle|off`.
    pub activity: Option<String>,
}

/// Last known state of one device: the fold of its patches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceState {
    pub on: Option<bool>,
    pub brightness_pct: Option<u8>,
    pub rgb: Option<Rgb>,
    pub color_temp_kelvin: Option<u32>,
    pub current_temperature: Option<f32>,
    pub target_temperature: Option<f32>,
    pub position: Option<u8>,
    pub locked: Option<bool>,
    pub available: Option<bool>,
    pub value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_speed_pct: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_pct: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
}

impl StatePatch {
    /// Whether the patch says anything a command sets (on/off, brightness,
    /// colour, target temperature, position, lock), as opposed to only
    /// availability or a sensor reading: only such a report can confirm a
    /// command.
    pub fn reports_commandable_state(&self) -> bool {
        self.on.is_some()
            || self.brightness_pct.is_some()
            || self.rgb.is_some()
            || self.color_temp_kelvin.is_some()
            || self.target_temperature.is_some()
            || self.position.is_some()
            || self.locked.is_some()
            || self.fan_speed_pct.is_some()
            || self.fan_mode.is_some()
            || self.volume_pct.is_some()
            || self.muted.is_some()
            || self.activity.is_some()
    }
}

impl DeviceState {
    /// Fold a patch into the state: every field the patch carries replaces
    /// the old value; absent fields keep theirs.
    pub fn apply(&mut self, patch: &StatePatch) {
        fn set<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
            if let Some(v) = src {
                *dst = Some(v.clone());
            }
        }
        set(&mut self.on, &patch.on);
        set(&mut self.brightness_pct, &patch.brightness_pct);
        set(&mut self.rgb, &patch.rgb);
        set(&mut self.color_temp_kelvin, &patch.color_temp_kelvin);
        set(&mut self.current_temperature, &patch.current_temperature);
        set(&mut self.target_temperature, &patch.target_temperature);
        set(&mut self.position, &patch.position);
        set(&mut self.locked, &patch.locked);
        set(&mut self.available, &patch.available);
        set(&mut self.value, &patch.value);
        set(&mut self.fan_speed_pct, &patch.fan_speed_pct);
        set(&mut self.fan_mode, &patch.fan_mode);
        set(&mut self.volume_pct, &patch.volume_pct);
        set(&mut self.muted, &patch.muted);
        set(&mut self.activity, &patch.activity);
    }

    /// Whether this state shows the effect of `action` (the echo that acks a
    /// command). Toggle is never satisfied (it must be resolved first).
    ///
    /// Tolerances cover what the firmware's own scales lose: brightness ±1 %
    /// (0..254 / 0..255 steps), colour by CIE xy chromaticity (Zigbee lights
    /// report xy, not RGB), colour temperature ±2 mired, target temperature
    /// ±0.5 °C (thermostats round to their step). Open/close are satisfied
    /// by position 100/0, or by the open/closed flag (`on`) when the cover
    /// reports no position. Stop has no observable end state and is
    /// satisfied by any state, as are momentary actions (next track, press).
    /// Start is satisfied by `cleaning`/`mowing`, dock by `docked` or
    /// `returning`, pause by `paused`, play by `playing`.
    pub fn satisfies(&self, action: &Action) -> bool {
        match action {
            Action::TurnOn => self.on == Some(true),
            Action::TurnOff => self.on == Some(false),
            Action::Toggle => false,
            Action::Brightness { percent: 0 } => self.on == Some(false),
            Action::Brightness { percent } => {
                self.on != Some(false) && self.brightness_pct.is_some_and(|b| b.abs_diff(*percent) <= 1)
            }
            Action::Color { rgb } => self.on != Some(false) && self.rgb.is_some_and(|c| same_color(c, *rgb)),
            Action::ColorTemp { kelvin } => {
                self.on != Some(false)
                    && self
                        .color_temp_kelvin
                        .is_some_and(|k| kelvin_to_mired(k).abs_diff(kelvin_to_mired(*kelvin)) <= 2)
            }
            Action::TargetTemperature { celsius } => {
                self.target_temperature.is_some_and(|t| (t - celsius).abs() <= 0.5)
            }
            Action::Position { percent } => self.position.is_some_and(|p| p.abs_diff(*percent) <= 1),
            Action::Open => match self.position {
                Some(p) => p == 100,
                None => self.on == Some(true),
            },
            Action::Close => match self.position {
                Some(p) => p == 0,
                None => self.on == Some(false),
            },
            Action::Stop => true,
            Action::Lock => self.locked == Some(true),
            Action::Unlock => self.locked == Some(false),
            Action::FanSpeed { percent: 0 } => self.on == Some(false),
            Action::FanSpeed { percent } => {
                self.on != Some(false) && self.fan_speed_pct.is_some_and(|s| s.abs_diff(*percent) <= 1)
            }
            Action::FanMode { mode } => self.fan_mode.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(mode)),
            Action::Volume { percent } => self.volume_pct.is_some_and(|v| v.abs_diff(*percent) <= 1),
            Action::Mute { muted } => self.muted == Some(*muted),
            Action::Pause => self.activity_is(&["paused"]),
            Action::Play | Action::PlayMedia { .. } => self.activity_is(&["playing"]),
            Action::Start | Action::CleanSegments { .. } => self.activity_is(&["cleaning", "mowing"]),
            Action::Dock => self.activity_is(&["docked", "returning"]),
            Action::NextTrack | Action::PreviousTrack | Action::Press => true,
        }
    }

    fn activity_is(&self, any: &[&str]) -> bool {
        self.activity.as_deref().is_some_and(|a| any.contains(&a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_and_readings_are_not_commandable_state() {
        assert!(!StatePatch { available: Some(true), ..Default::default() }.reports_commandable_state());
        assert!(!StatePatch { current_temperature: Some(21.0), ..Default::default() }.reports_commandable_state());
        assert!(StatePatch { on: Some(false), ..Default::default() }.reports_commandable_state());
        assert!(StatePatch { position: Some(40), ..Default::default() }.reports_commandable_state());
    }

    #[test]
    fn apply_folds_only_present_fields() {
        let mut s = DeviceState::default();
        s.apply(&StatePatch { on: Some(true), brightness_pct: Some(40), ..Default::default() });
        s.apply(&StatePatch { available: Some(true), ..Default::default() });
        assert_eq!((s.on, s.brightness_pct, s.available), (Some(true), Some(40), Some(true)));
        s.apply(&StatePatch { on: Some(false), ..Default::default() });
        assert_eq!((s.on, s.brightness_pct), (Some(false), Some(40)));
    }

    #[test]
    fn satisfies_table() {
        let on40 = DeviceState { on: Some(true), brightness_pct: Some(40), ..Default::default() };
        let off = DeviceState { on: Some(false), ..Default::default() };
        let red = DeviceState { on: Some(true), rgb: Some(Rgb { r: 255, g: 1, b: 0 }), ..Default::default() };
        let warm = DeviceState { on: Some(true), color_temp_kelvin: Some(2703), ..Default::default() };
        let cover = DeviceState { position: Some(100), on: Some(true), ..Default::default() };
        let locked = DeviceState { locked: Some(true), ..Default::default() };
        let heat = DeviceState { target_temperature: Some(21.5), ..Default::default() };
        let unknown = DeviceState::default();
        let cases: Vec<(&DeviceState, Action, bool)> = vec![
            (&on40, Action::TurnOn, true),
            (&on40, Action::TurnOff, false),
            (&on40, Action::Toggle, false),
            (&off, Action::TurnOff, true),
            (&on40, Action::Brightness { percent: 40 }, true),
            (&on40, Action::Brightness { percent: 41 }, true),
            (&on40, Action::Brightness { percent: 60 }, false),
            (&off, Action::Brightness { percent: 0 }, true),
            (&off, Action::Brightness { percent: 40 }, false),
            (&red, Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } }, true),
            (&red, Action::Color { rgb: Rgb { r: 0, g: 0, b: 255 } }, false),
            (&on40, Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } }, false),
            (&warm, Action::ColorTemp { kelvin: 2700 }, true),
            (&warm, Action::ColorTemp { kelvin: 4000 }, false),
            (&cover, Action::Open, true),
            (&cover, Action::Close, false),
            (&cover, Action::Position { percent: 100 }, true),
            (&cover, Action::Position { percent: 50 }, false),
            (&locked, Action::Lock, true),
            (&locked, Action::Unlock, false),
            (&heat, Action::TargetTemperature { celsius: 21.5 }, true),
            (&heat, Action::TargetTemperature { celsius: 23.0 }, false),
            (&unknown, Action::TurnOn, false),
        ];
        for (st, a, want) in cases {
            assert_eq!(st.satisfies(&a), want, "{st:?} {a:?}");
        }
    }

    #[test]
    fn satisfies_table_new_actions() {
        let fan40 = DeviceState { on: Some(true), fan_speed_pct: Some(40), ..Default::default() };
        let fan_off = DeviceState { on: Some(false), fan_speed_pct: Some(40), ..Default::default() };
        let fan_auto = DeviceState { fan_mode: Some("auto".into()), ..Default::default() };
        let valve_open = DeviceState { on: Some(true), ..Default::default() };
        let valve_half = DeviceState { position: Some(50), on: Some(true), ..Default::default() };
        let playing = DeviceState {
            on: Some(true),
            activity: Some("playing".into()),
            volume_pct: Some(30),
            muted: Some(false),
            ..Default::default()
        };
        let act = |a: &str| DeviceState { activity: Some(a.into()), ..Default::default() };
        let (cleaning, mowing, docked, returning, paused, idle) =
            (act("cleaning"), act("mowing"), act("docked"), act("returning"), act("paused"), act("idle"));
        let unknown = DeviceState::default();
        let cases: Vec<(&DeviceState, Action, bool)> = vec![
            (&fan40, Action::FanSpeed { percent: 40 }, true),
            (&fan40, Action::FanSpeed { percent: 41 }, true),
            (&fan40, Action::FanSpeed { percent: 66 }, false),
            (&fan_off, Action::FanSpeed { percent: 40 }, false),
            (&fan_off, Action::FanSpeed { percent: 0 }, true),
            (&fan40, Action::FanSpeed { percent: 0 }, false),
            (&fan_auto, Action::FanMode { mode: "AUTO".into() }, true),
            (&fan_auto, Action::FanMode { mode: "low".into() }, false),
            (&unknown, Action::FanMode { mode: "auto".into() }, false),
            // Valves: the open flag when no position is reported, else 100/0.
            (&valve_open, Action::Open, true),
            (&valve_open, Action::Close, false),
            (&valve_half, Action::Open, false),
            (&valve_half, Action::Position { percent: 50 }, true),
            (&playing, Action::Play, true),
            (&playing, Action::Pause, false),
            (&playing, Action::Volume { percent: 30 }, true),
            (&playing, Action::Volume { percent: 31 }, true),
            (&playing, Action::Volume { percent: 50 }, false),
            (&playing, Action::Mute { muted: false }, true),
            (&playing, Action::Mute { muted: true }, false),
            (&unknown, Action::Mute { muted: false }, false),
            (&paused, Action::Pause, true),
            (&playing, Action::PlayMedia { id: "http://radio/jazz".into(), class: "channel".into() }, true),
            (&paused, Action::PlayMedia { id: "http://radio/jazz".into(), class: "channel".into() }, false),
            (&cleaning, Action::Start, true),
            (&mowing, Action::Start, true),
            (&cleaning, Action::CleanSegments { segments: vec!["16".into()] }, true),
            (&idle, Action::Start, false),
            (&docked, Action::Start, false),
            (&docked, Action::Dock, true),
            (&returning, Action::Dock, true),
            (&cleaning, Action::Dock, false),
            (&unknown, Action::Start, false),
            // Events and stop: any state report confirms them.
            (&unknown, Action::NextTrack, true),
            (&unknown, Action::PreviousTrack, true),
            (&unknown, Action::Press, true),
            (&cleaning, Action::Stop, true),
        ];
        for (st, a, want) in cases {
            assert_eq!(st.satisfies(&a), want, "{st:?} {a:?}");
        }
    }
}
