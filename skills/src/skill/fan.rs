//! `HassFanSetSpeed` (fan speed in percent) and `HassClimateSetFanMode`.
use firmware_bridge::{Action, DeviceKind};

use super::StateLookup;
use crate::Understanding;
use crate::command;
use crate::handlers::{Plan, SkillError};
use crate::intent::Intent;
use crate::registry::Registry;
use crate::reply::{count_noun, the};
use crate::targets::{Targets, everywhere, targets};

pub(crate) fn fan_speed(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let percent = u
        .slots
        .extra_percent("percentage")?
        .ok_or(SkillError::MissingSlot { intent: Intent::HassFanSetSpeed, slot: "percentage" })?;
    let t = placed_or_all(u, reg, DeviceKind::Fan)?;
    let commands = t
        .devices
        .iter()
        .map(|d| command::for_device(d, Action::FanSpeed { percent }, state))
        .collect::<Result<Vec<_>, _>>()?;
    let reply = if percent == 0 {
        format!("Turned off {}.", describe(&t))
    } else {
        format!("Set {} to {percent}% speed.", describe(&t))
    };
    Ok(Plan { commands, reply, answer: None, op: None })
}

pub(crate) fn fan_mode(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let mode = u
        .slots
        .extra_text("fan_mode")
        .ok_or(SkillError::MissingSlot { intent: Intent::HassClimateSetFanMode, slot: "fan_mode" })?
        .to_lowercase();
    let t = placed_or_all(u, reg, DeviceKind::Climate)?;
    let commands = t
        .devices
        .iter()
        .map(|d| command::for_device(d, Action::FanMode { mode: mode.clone() }, state))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan { commands, reply: format!("Set the fan mode of {} to {mode}.", describe(&t)), answer: None, op: None })
}

fn describe(t: &Targets) -> String {
    match t.devices.as_slice() {
        [d] => the(&d.name),
        more => format!("{}{}", count_noun(more, more.len()), t.place),
    }
}

/// The devices of `kind` the request places, or every one in the home.
fn placed_or_all<'r>(u: &Understanding, reg: &'r Registry, kind: DeviceKind) -> Result<Targets<'r>, SkillError> {
    let t = if !u.entities.is_empty() || u.slots.has_target() {
        targets(u, reg, &[kind])?
    } else {
        everywhere(reg, &[kind])
    };
    if t.devices.is_empty() {
        return Err(SkillError::NoMatch { what: crate::reply::kind_noun(kind, true).into(), place: t.place });
    }
    Ok(t)
}
