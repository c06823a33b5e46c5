//! Targeting: which devices a request means, from `u.entities` when the NLU
//! resolved them, else from the `name` / `area` / `floor` / `domain` /
//! `device_class` slots.
use firmware_bridge::DeviceKind;

use crate::Understanding;
use crate::handlers::SkillError;
use crate::lookup::{find_area, find_devices, find_floor, fold};
use crate::registry::{Area, Device, Floor, Registry};
use crate::reply::{describe_with_area, place_of, plural_of, the};

/// The devices a request targets, plus how to describe them in a reply.
pub(crate) struct Targets<'r> {
    pub devices: Vec<&'r Device>,
    /// " in the kitchen" / " upstairs" / "".
    pub place: String,
    /// Whether the request named one device (reply uses its name).
    pub named: bool,
}

/// Resolve the request's targets. `default_domains` applies when neither a
/// name nor a domain was given (e.g. HassLightSet -> lights).
pub(crate) fn targets<'r>(
    u: &Understanding,
    reg: &'r Registry,
    default_domains: &[DeviceKind],
) -> Result<Targets<'r>, SkillError> {
    if !u.entities.is_empty() {
        let mut devices = Vec::new();
        for id in &u.entities {
            devices.push(reg.device(id).ok_or_else(|| SkillError::UnknownDevice(id.clone()))?);
        }
        let named = devices.len() == 1;
        let place = u
            .slots
            .area_text()
            .and_then(|a| find_area(reg, &a).map(|a| format!(" in {}", the(&a.name))))
            .unwrap_or_default();
        return Ok(Targets { devices, place, named });
    }
    let name = u.slots.name_text();
    let mut area = match u.slots.area_text() {
        Some(a) => Some(find_area(reg, &a).ok_or(SkillError::UnknownArea(a))?),
        None => None,
    };
    let floor = match u.slots.floor_text() {
        Some(f) => Some(find_floor(reg, &f).ok_or(SkillError::UnknownArea(f))?),
        None => None,
    };
    let domains = u.slots.domains()?;
    let device_class = u.slots.device_class_folded();

    let in_place = |d: &Device, area: Option<&Area>| -> bool {
        let area_ok = area.is_none_or(|a| d.area.as_deref() == Some(a.id.as_str()));
        let floor_ok = floor.is_none_or(|f| reg.device_floor(d).is_some_and(|df| df.id == f.id));
        area_ok && floor_ok
    };
    let kind_ok = |d: &Device, domains: &[DeviceKind]| -> bool {
        (domains.is_empty() || domains.contains(&d.kind))
            && device_class.as_ref().is_none_or(|c| d.device_class.as_deref().map(fold).as_ref() == Some(c))
    };

    if let Some(name) = &name {
        let by_name = find_devices(reg, name);
        if by_name.is_empty() {
            // "turn on the kitchen": a name that is an area.
            if area.is_none()
                && floor.is_none()
                && let Some(a) = find_area(reg, name)
            {
                area = Some(a);
                return group(reg, area, floor, &domains, default_domains, &in_place, &kind_ok);
            }
            return Err(SkillError::UnknownDevice(name.clone()));
        }
        let narrowed: Vec<&Device> =
            by_name.iter().copied().filter(|d| in_place(d, area) && kind_ok(d, &domains)).collect();
        return match narrowed.len() {
            0 => Err(SkillError::NoMatch {
                what: format!("{} called {name}", plural_of(&domains)),
                place: place_of(area, floor),
            }),
            1 => Ok(Targets { devices: narrowed, place: String::new(), named: true }),
            _ => Err(SkillError::Ambiguous {
                name: name.clone(),
                candidates: narrowed.iter().map(|d| describe_with_area(reg, d)).collect(),
            }),
        };
    }
    if area.is_none() && floor.is_none() && domains.is_empty() && device_class.is_none() {
        return Err(SkillError::MissingSlot { intent: u.intent.clone(), slot: "name" });
    }
    group(reg, area, floor, &domains, default_domains, &in_place, &kind_ok)
}

/// Every device in a place (area and/or floor) of the given kinds.
pub(crate) fn group<'r>(
    reg: &'r Registry,
    area: Option<&Area>,
    floor: Option<&Floor>,
    domains: &[DeviceKind],
    default_domains: &[DeviceKind],
    in_place: &dyn Fn(&Device, Option<&Area>) -> bool,
    kind_ok: &dyn Fn(&Device, &[DeviceKind]) -> bool,
) -> Result<Targets<'r>, SkillError> {
    let domains = if domains.is_empty() { default_domains } else { domains };
    let devices: Vec<&Device> = reg.devices.iter().filter(|d| in_place(d, area) && kind_ok(d, domains)).collect();
    let place = place_of(area, floor);
    if devices.is_empty() {
        return Err(SkillError::NoMatch { what: plural_of(domains), place });
    }
    Ok(Targets { devices, place, named: false })
}

/// Every device of `kinds` in the home (for requests with no target at all,
/// like "what is the temperature").
pub(crate) fn everywhere<'r>(reg: &'r Registry, kinds: &[DeviceKind]) -> Targets<'r> {
    let devices = reg.devices.iter().filter(|d| kinds.contains(&d.kind)).collect();
    Targets { devices, place: String::new(), named: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::tests::{demo, u};
    use serde_json::json;

    fn ids<'r>(t: &Targets<'r>) -> Vec<&'r str> {
        t.devices.iter().map(|d| d.id.as_str()).collect()
    }

    #[test]
    fn resolves_names_places_and_kinds() {
        let reg = demo();
        let t = targets(&u("HassTurnOn", &[("name", json!("Lamp")), ("area", json!("bedroom"))]), &reg, &[]).unwrap();
        assert_eq!((ids(&t), t.named), (vec!["light.bedroom_lamp"], true));
        let t = targets(&u("HassTurnOn", &[("floor", json!("upstairs"))]), &reg, &[DeviceKind::Light]).unwrap();
        assert_eq!((ids(&t), t.place.as_str()), (vec!["light.bedroom_lamp"], " on the first floor"));
        let t = targets(&u("HassTurnOn", &[("name", json!("kitchen"))]), &reg, &[DeviceKind::Switch]).unwrap();
        assert_eq!((ids(&t), t.place.as_str()), (vec!["switch.kettle"], " in the kitchen"));
        let e = targets(&u("HassTurnOn", &[("name", json!("Lamp"))]), &reg, &[]).err();
        assert!(matches!(e, Some(SkillError::Ambiguous { .. })));
    }
}
