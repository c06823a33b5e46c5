//! `HassLightSet`: brightness %, colour name, colour temperature in kelvin.
use firmware_bridge::Action;

use super::StateLookup;
use crate::Understanding;
use crate::command;
use crate::handlers::{Plan, SkillError};
use crate::registry::Registry;
use crate::reply::{count_noun, lower, the};
use crate::targets::targets;

pub(crate) fn light_set(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let brightness = u.slots.percent("brightness")?;
    let color = u.slots.color_rgb()?;
    let kelvin = match u.slots.number("temperature")? {
        None => None,
        Some(k) if (1000.0..=10000.0).contains(&k) => Some(k.round() as u32),
        Some(k) => {
            return Err(SkillError::BadSlot {
                slot: "temperature",
                value: k.to_string(),
                reason: "colour temperature is 1000 to 10000 K".into(),
            });
        }
    };
    if brightness.is_none() && color.is_none() && kelvin.is_none() {
        return Err(SkillError::MissingSlot { intent: u.intent.clone(), slot: "brightness" });
    }
    let t = targets(u, reg, super::default_kinds(&u.intent))?;
    let mut commands = Vec::new();
    for d in &t.devices {
        if let Some((_, rgb)) = &color {
            commands.push(command::for_device(d, Action::Color { rgb: *rgb }, state)?);
        }
        if let Some(k) = kelvin {
            commands.push(command::for_device(d, Action::ColorTemp { kelvin: k }, state)?);
        }
        if let Some(p) = brightness {
            commands.push(command::for_device(d, Action::Brightness { percent: p }, state)?);
        }
    }
    let mut what = Vec::new();
    if let Some((name, _)) = &color {
        what.push(lower(name));
    }
    if let Some(k) = kelvin {
        what.push(format!("{k} K"));
    }
    if let Some(p) = brightness {
        what.push(format!("{p}%"));
    }
    let target = if t.named {
        the(&t.devices[0].name)
    } else {
        format!("{}{}", count_noun(&t.devices, t.devices.len()), t.place)
    };
    Ok(Plan { commands, reply: format!("Set {target} to {}.", what.join(" at ")), answer: None, op: None })
}
