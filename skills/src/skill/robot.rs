//! Vacuums and lawn mowers: `HassVacuumStart`, `HassVacuumReturnToBase`,
//! `HassVacuumCleanArea`, `HassLawnMowerStartMowing`, `HassLawnMowerDock`.
//!
//! Without a name the home's only robot of the kind is meant; with several,
//! the hub asks which. "Vacuum the kitchen" cleans the map segments the
//! vacuum's `[device.features] segments` table gives for that area (Valetudo
//! segment ids), so the area names the room to clean, not where the robot
//! lives.
use firmware_bridge::{Action, DeviceKind};

use super::StateLookup;
use crate::Understanding;
use crate::command;
use crate::handlers::{Plan, SkillError};
use crate::intent::Intent;
use crate::lookup::{find_area, find_devices};
use crate::registry::{Device, Registry};
use crate::reply::{describe_with_area, the};
use crate::targets::{everywhere, targets};

pub(crate) fn robot(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let (kind, action) = match &u.intent {
        Intent::HassVacuumStart => (DeviceKind::Vacuum, Action::Start),
        Intent::HassVacuumReturnToBase => (DeviceKind::Vacuum, Action::Dock),
        Intent::HassLawnMowerStartMowing => (DeviceKind::LawnMower, Action::Start),
        Intent::HassLawnMowerDock => (DeviceKind::LawnMower, Action::Dock),
        Intent::HassVacuumCleanArea => return clean_area(u, reg, state),
        other => return Err(SkillError::UnknownIntent(other.to_string())),
    };
    let devices = if !u.entities.is_empty() || u.slots.has_target() {
        targets(u, reg, &[kind])?.devices
    } else {
        only_one(reg, kind)?
    };
    let mut commands = Vec::new();
    for d in &devices {
        if d.kind != kind {
            return Err(SkillError::Unsupported { device: d.name.clone(), what: action.describe() });
        }
        commands.push(command::for_device(d, action.clone(), state)?);
    }
    let names: Vec<String> = devices.iter().map(|d| the(&d.name)).collect();
    let who = crate::reply::and_list(&names);
    let reply = match (kind, &action) {
        (DeviceKind::Vacuum, Action::Start) => format!("Started {who}."),
        (DeviceKind::Vacuum, _) => format!("Sending {who} back to its base."),
        (_, Action::Start) => format!("Started mowing with {who}."),
        _ => format!("Sending {who} to its dock."),
    };
    Ok(Plan { commands, reply, answer: None, op: None })
}

/// The home's only device of `kind`; several: which one?
fn only_one(reg: &Registry, kind: DeviceKind) -> Result<Vec<&Device>, SkillError> {
    let all = everywhere(reg, &[kind]).devices;
    match all.len() {
        0 => Err(SkillError::NoMatch { what: crate::reply::kind_noun(kind, true).into(), place: String::new() }),
        1 => Ok(all),
        _ => Err(SkillError::Ambiguous {
            name: crate::reply::kind_noun(kind, false).into(),
            candidates: all.iter().map(|d| describe_with_area(reg, d)).collect(),
        }),
    }
}

/// "Vacuum the kitchen": the area's segments on the named vacuum, or on the
/// vacuum that has a segment for it, or on the only vacuum.
fn clean_area(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let area_name = u.slots.area_text().ok_or(SkillError::MissingSlot { intent: u.intent.clone(), slot: "area" })?;
    let area = find_area(reg, &area_name).ok_or_else(|| SkillError::UnknownArea(area_name.clone()))?;
    let segments_of = |d: &Device| d.features.segments.get(&area.id).cloned();
    let vacuum: &Device = if let Some(id) = u.entities.first() {
        reg.device(id).ok_or_else(|| SkillError::UnknownDevice(id.clone()))?
    } else if let Some(name) = u.slots.name_text() {
        let found: Vec<&Device> =
            find_devices(reg, &name).into_iter().filter(|d| d.kind == DeviceKind::Vacuum).collect();
        match found.as_slice() {
            [d] => d,
            [] => return Err(SkillError::UnknownDevice(name)),
            more => {
                return Err(SkillError::Ambiguous {
                    name,
                    candidates: more.iter().map(|d| describe_with_area(reg, d)).collect(),
                });
            }
        }
    } else {
        let all = everywhere(reg, &[DeviceKind::Vacuum]).devices;
        let mapped: Vec<&Device> = all.iter().copied().filter(|d| segments_of(d).is_some()).collect();
        match (mapped.as_slice(), all.as_slice()) {
            ([d], _) | ([], [d]) => d,
            ([], []) => return Err(SkillError::NoMatch { what: "vacuums".into(), place: String::new() }),
            ([], more) | (more, _) => {
                return Err(SkillError::Ambiguous {
                    name: "vacuum".into(),
                    candidates: more.iter().map(|d| describe_with_area(reg, d)).collect(),
                });
            }
        }
    };
    let Some(segments) = segments_of(vacuum) else {
        return Err(SkillError::Unsupported {
            device: vacuum.name.clone(),
            what: format!("clean {} (its `features.segments` has no `{}`)", the(&area.name), area.id),
        });
    };
    let cmd = command::for_device(vacuum, Action::CleanSegments { segments }, state)?;
    Ok(Plan { commands: vec![cmd], reply: format!("Cleaning {}.", the(&area.name)), answer: None, op: None })
}
