//! `HassTurnOn`, `HassTurnOff`, `HassToggle`: lights, switches, fans; covers
//! open/close and locks lock/unlock, as Home Assistant maps them.
use firmware_bridge::{Action, DeviceKind};

use super::StateLookup;
use crate::Understanding;
use crate::command;
use crate::handlers::{Plan, SkillError};
use crate::registry::Registry;
use crate::reply::{count_noun, past_tense, the};
use crate::targets::targets;

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum OnOff {
    On,
    Off,
    Toggle,
}

/// Kinds an area-wide "turn on/off" reaches when no domain is given. Locks
/// and covers are left out on purpose: "turn off the kitchen" must not
/// unlock a door or open the blinds.
const SWITCHABLE: &[DeviceKind] = &[DeviceKind::Light, DeviceKind::Switch, DeviceKind::Fan];

pub(crate) fn on_off(u: &Understanding, reg: &Registry, state: StateLookup, op: OnOff) -> Result<Plan, SkillError> {
    let t = targets(u, reg, SWITCHABLE)?;
    let mut commands = Vec::new();
    let mut verbs = Vec::new();
    for d in &t.devices {
        if !d.kind.is_actuator() {
            if t.named {
                return Err(SkillError::Unsupported { device: d.name.clone(), what: "be switched".into() });
            }
            continue;
        }
        let action = match op {
            OnOff::On => Action::TurnOn,
            OnOff::Off => Action::TurnOff,
            OnOff::Toggle => Action::Toggle,
        };
        let cmd = command::for_device(d, action, state)?;
        verbs.push(past_tense(&cmd.action));
        commands.push(cmd);
    }
    if commands.is_empty() {
        return Err(SkillError::NoMatch { what: "devices that can be switched".into(), place: t.place });
    }
    let verb = if verbs.iter().all(|v| *v == verbs[0]) { verbs[0] } else { "Switched" };
    let reply = if let (true, [d]) = (t.named || commands.len() == 1, t.devices.as_slice()) {
        format!("{verb} {}.", the(&d.name))
    } else {
        format!("{verb} {}{}.", count_noun(&t.devices, commands.len()), t.place)
    };
    Ok(Plan { commands, reply, answer: None, op: None })
}
