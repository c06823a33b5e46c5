//! `HassSetPosition`: cover and valve position in percent.
use firmware_bridge::Action;

use super::StateLookup;
use crate::Understanding;
use crate::command;
use crate::handlers::{Plan, SkillError};
use crate::registry::Registry;
use crate::reply::{count_noun, the};
use crate::targets::targets;

pub(crate) fn set_position(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let p =
        u.slots.percent("position")?.ok_or(SkillError::MissingSlot { intent: u.intent.clone(), slot: "position" })?;
    let t = targets(u, reg, super::default_kinds(&u.intent))?;
    let commands = t
        .devices
        .iter()
        .map(|d| command::for_device(d, Action::Position { percent: p }, state))
        .collect::<Result<Vec<_>, _>>()?;
    let target = if t.named {
        the(&t.devices[0].name)
    } else {
        format!("{}{}", count_noun(&t.devices, t.devices.len()), t.place)
    };
    Ok(Plan { commands, reply: format!("Set {target} to {p}%."), answer: None, op: None })
}
