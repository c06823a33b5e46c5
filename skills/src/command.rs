//! The one command builder: every [`DeviceCommand`] the hub sends is made
//! here, whether it comes from a spoken request ([`crate::handlers::plan`]),
//! `POST /api/commands`, an automation or an LLM tool call.
//!
//! It owns two decisions: a toggle becomes an explicit turn on/off (or
//! lock/unlock, open/close) from the device's known state, so a resent
//! command is idempotent and no `Action::Toggle` ever leaves this module; and
//! the action is checked against the device's firmware dialect once, so an
//! unsupported combination is an error before anything is enqueued. Encoding
//! to MQTT messages stays with the outbox.
use firmware_bridge::{Action, BridgeError, DeviceCommand, DeviceKind, DeviceState, encode};

use crate::handlers::SkillError;
use crate::registry::{Device, Registry};

/// Build the command for `device_id`. `state` gives the last known state of
/// a device (needed for [`Action::Toggle`]).
pub fn build(
    reg: &Registry,
    device_id: &str,
    action: Action,
    state: &dyn Fn(&str) -> Option<DeviceState>,
) -> Result<DeviceCommand, SkillError> {
    let d = reg.device(device_id).ok_or_else(|| SkillError::UnknownDevice(device_id.to_string()))?;
    for_device(d, action, state)
}

/// [`build`] for a device already looked up.
pub fn for_device(
    d: &Device,
    action: Action,
    state: &dyn Fn(&str) -> Option<DeviceState>,
) -> Result<DeviceCommand, SkillError> {
    let dialect = d.dialect.clone().ok_or_else(|| SkillError::ReadOnly(d.name.clone()))?;
    let action = match action {
        Action::Toggle => resolve_toggle(d, state)?,
        other => other,
    };
    let action = firmware_bridge::as_reported(&dialect, d.kind, &d.features, &d.kind.normalize(&action));
    let cmd = DeviceCommand { device_id: d.id.clone(), kind: d.kind, dialect, action, features: d.features.clone() };
    match encode(&cmd) {
        Ok(_) => Ok(cmd),
        Err(BridgeError::Unsupported { action, .. }) => {
            Err(SkillError::Unsupported { device: d.name.clone(), what: format!("do {action}") })
        }
        Err(e) => Err(SkillError::Bridge(e)),
    }
}

/// Whether a device is "on" in the sense a toggle flips: a lock is on when
/// locked, a cover when open at all. `None` when the state is not known.
pub fn is_on(d: &Device, st: &DeviceState) -> Option<bool> {
    match d.kind {
        DeviceKind::Lock => st.locked,
        DeviceKind::Cover | DeviceKind::Valve => st.position.map(|p| p > 0).or(st.on),
        _ => st.on,
    }
}

/// A toggle as the explicit opposite of the known state (before the kind's
/// normalisation: a lock's `TurnOff` is `Unlock`).
fn resolve_toggle(d: &Device, state: &dyn Fn(&str) -> Option<DeviceState>) -> Result<Action, SkillError> {
    let st = state(&d.id).unwrap_or_default();
    match is_on(d, &st) {
        Some(true) => Ok(Action::TurnOff),
        Some(false) => Ok(Action::TurnOn),
        None => Err(SkillError::UnknownState(d.name.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::tests::{demo, states};
    use firmware_bridge::Rgb;

    #[test]
    fn table() {
        let reg = demo();
        let cases: Vec<(&str, Action, Result<Action, SkillError>)> = vec![
            ("light.kitchen_light", Action::TurnOn, Ok(Action::TurnOn)),
            ("light.kitchen_light", Action::Toggle, Ok(Action::TurnOff)),
            ("light.kitchen_spots", Action::Toggle, Ok(Action::TurnOn)),
            ("lock.front_door", Action::Toggle, Ok(Action::Unlock)),
            ("lock.front_door", Action::TurnOn, Ok(Action::Lock)),
            ("cover.living_room_blinds", Action::Toggle, Ok(Action::Close)),
            ("cover.living_room_blinds", Action::Position { percent: 10 }, Ok(Action::Position { percent: 10 })),
            ("light.kitchen_light", Action::Brightness { percent: 40 }, Ok(Action::Brightness { percent: 40 })),
            ("switch.kettle", Action::Toggle, Err(SkillError::UnknownState("Kettle".into()))),
            ("sensor.bedroom_temperature", Action::TurnOn, Err(SkillError::ReadOnly("Bedroom Temperature".into()))),
            ("light.nope", Action::TurnOn, Err(SkillError::UnknownDevice("light.nope".into()))),
        ];
        for (id, action, want) in cases {
            let got = build(&reg, id, action.clone(), &states).map(|c| c.action);
            assert_eq!(got, want, "{id} {action:?}");
        }
        let e = build(&reg, "light.kitchen_spots", Action::Color { rgb: Rgb { r: 1, g: 2, b: 3 } }, &states);
        assert!(matches!(e, Err(SkillError::Unsupported { .. })), "{e:?}");
    }

    /// No command handed out carries a toggle, whatever the device and state.
    #[test]
    fn never_hands_out_a_toggle() {
        let reg = demo();
        type Lookup<'a> = &'a dyn Fn(&str) -> Option<DeviceState>;
        let lookups: [Lookup; 4] = [
            &states,
            &|_| None,
            &|_| Some(DeviceState { on: Some(true), locked: Some(false), position: Some(0), ..Default::default() }),
            &|_| Some(DeviceState { on: Some(false), locked: Some(true), position: Some(100), ..Default::default() }),
        ];
        for d in &reg.devices {
            for state in lookups {
                for action in [Action::Toggle, Action::TurnOn, Action::TurnOff] {
                    if let Ok(c) = build(&reg, &d.id, action, state) {
                        assert_ne!(c.action, Action::Toggle, "{}", d.id);
                    }
                }
            }
        }
    }
}
