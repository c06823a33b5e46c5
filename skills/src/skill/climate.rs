//! `HassClimateSetTemperature` and `HassClimateGetTemperature`.
use firmware_bridge::{Action, DeviceKind};
use serde_json::{Value, json};

use super::StateLookup;
use crate::Understanding;
use crate::command;
use crate::handlers::{Plan, SkillError};
use crate::registry::Registry;
use crate::reply::{celsius_str, count_noun, lower, round1, the};
use crate::targets::{Targets, everywhere, targets};

pub(crate) fn climate_set(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let c = u
        .slots
        .number("temperature")?
        .ok_or(SkillError::MissingSlot { intent: u.intent.clone(), slot: "temperature" })?;
    if !(4.0..=35.0).contains(&c) {
        return Err(SkillError::BadSlot {
            slot: "temperature",
            value: c.to_string(),
            reason: "thermostats take 4 to 35 °C".into(),
        });
    }
    let t = climate_targets(u, reg)?;
    let celsius = c as f32;
    let commands = t
        .devices
        .iter()
        .map(|d| command::for_device(d, Action::TargetTemperature { celsius }, state))
        .collect::<Result<Vec<_>, _>>()?;
    let target = if t.devices.len() == 1 {
        the(&t.devices[0].name)
    } else {
        format!("{}{}", count_noun(&t.devices, t.devices.len()), t.place)
    };
    Ok(Plan { commands, reply: format!("Set {target} to {}.", celsius_str(celsius)), answer: None, op: None })
}

/// Climate targets; with no target at all, every thermostat in the home.
fn climate_targets<'r>(u: &Understanding, reg: &'r Registry) -> Result<Targets<'r>, SkillError> {
    if !u.entities.is_empty() || u.slots.has_target() {
        return targets(u, reg, super::default_kinds(&u.intent));
    }
    let t = everywhere(reg, &[DeviceKind::Climate]);
    if t.devices.is_empty() {
        return Err(SkillError::NoMatch { what: "thermostats".into(), place: String::new() });
    }
    Ok(t)
}

pub(crate) fn climate_get(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let t = if !u.entities.is_empty() || u.slots.has_target() {
        targets(u, reg, super::default_kinds(&u.intent))?
    } else {
        // No place given: every thermostat and temperature sensor in the home.
        everywhere(reg, &[DeviceKind::Climate, DeviceKind::Sensor])
    };
    let mut readings = Vec::new();
    for d in &t.devices {
        let is_temp_sensor =
            d.kind == DeviceKind::Sensor && d.device_class.as_deref().is_none_or(|c| c == "temperature");
        if d.kind != DeviceKind::Climate && !is_temp_sensor {
            continue;
        }
        let st = state(&d.id).unwrap_or_default();
        let reading = st.current_temperature.or_else(|| st.value.as_ref().and_then(Value::as_f64).map(|v| v as f32));
        if let Some(c) = reading {
            readings.push((d, c));
        }
    }
    // Prefer the thermostat's own sensor; otherwise the first sensor.
    readings.sort_by_key(|(d, _)| if d.kind == DeviceKind::Climate { 0 } else { 1 });
    let Some((d, c)) = readings.first().copied() else {
        let who = if t.named { the(&t.devices[0].name) } else { format!("the temperature{}", t.place) };
        return Err(SkillError::UnknownState(who));
    };
    let subject = match (t.named, d.area.as_deref().and_then(|a| reg.area(a))) {
        (true, _) => format!("The {} temperature", lower(&d.name)),
        (false, Some(a)) if !t.place.is_empty() || reg.areas.len() > 1 => {
            format!("The {} temperature", lower(&a.name))
        }
        _ => "The temperature".to_string(),
    };
    let st = state(&d.id).unwrap_or_default();
    let mut answer = json!({"entity_id": d.id, "temperature": round1(c)});
    let mut reply = format!("{subject} is {}.", celsius_str(c));
    if let (DeviceKind::Climate, Some(target)) = (d.kind, st.target_temperature) {
        answer["target_temperature"] = json!(round1(target));
        if (target - c).abs() >= 0.5 {
            reply = format!("{subject} is {}, set to {}.", celsius_str(c), celsius_str(target));
        }
    }
    Ok(Plan { commands: vec![], reply, answer: Some(answer), op: None })
}
