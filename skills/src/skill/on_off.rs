//! `HassTurnOn`, `HassTurnOff`, `HassToggle`: lights, switches, fans; covers
//! open/close and locks lock/unlock, as Home Assistant maps them.
use firmware_bridge::{Action, DeviceKind};

use super::StateLookup;
use crate::Understanding;
use crate::command;
use crate::handlers::{HubOp, Plan, SkillError};
use crate::registry::Device;
use crate::registry::Registry;
use crate::reply::{count_noun, past_tense, the};
use crate::targets::targets;

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum OnOff {
    On,
    Off,
    Toggle,
}

pub(crate) fn on_off(u: &Understanding, reg: &Registry, state: StateLookup, op: OnOff) -> Result<Plan, SkillError> {
    let t = targets(u, reg, super::default_kinds(&u.intent))?;
    if let [d] = t.devices.as_slice()
        && d.kind.is_hub_defined()
    {
        return activate(d, reg, state, op);
    }
    let mut commands = Vec::new();
    let mut verbs = Vec::new();
    for d in &t.devices {
        if !d.kind.is_actuator() || d.kind.is_hub_defined() {
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

/// "Turn on movie night": a scene's commands, or a script run by the hub.
fn activate(d: &Device, reg: &Registry, state: StateLookup, op: OnOff) -> Result<Plan, SkillError> {
    if d.kind == DeviceKind::Todo {
        return Err(SkillError::Unsupported { device: d.name.clone(), what: "be switched (it is a list)".into() });
    }
    if op != OnOff::On {
        return Err(SkillError::Unsupported { device: d.name.clone(), what: "be turned off".into() });
    }
    if d.kind == DeviceKind::Script {
        let reply = format!("Started {}.", the(&d.name));
        return Ok(Plan { commands: vec![], reply, answer: None, op: Some(HubOp::Script(d.id.clone())) });
    }
    let scene = reg.scene(&d.id).ok_or_else(|| SkillError::UnknownDevice(d.id.clone()))?;
    let mut commands = Vec::new();
    for t in &scene.targets {
        for a in &t.actions {
            commands.push(command::build(reg, &t.entity_id, a.clone(), state)?);
        }
    }
    Ok(Plan { commands, reply: format!("Activated {}.", the(&d.name)), answer: None, op: None })
}
