//! Last known device state, and echo matching.
use serde::{Deserialize, Serialize};

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
}

impl DeviceState {
    /// Fold a patch into the state.
    pub fn apply(&mut self, patch: &StatePatch) {
        let _ = patch;
        unimplemented!("DeviceState::apply")
    }

    /// Whether this state shows the effect of `action` (the echo that acks a
    /// command). Toggle is never satisfied (it must be resolved first).
    pub fn satisfies(&self, action: &Action) -> bool {
        let _ = action;
        unimplemented!("DeviceState::satisfies")
    }
}
