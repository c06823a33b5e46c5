//! The registry with imported devices: the config's devices first (they win
//! an id clash), then each import not already there, its suggested area
//! matched to an area by id, name or alias, or added as a new area.

use super::{Imported, slug};
use crate::registry::{Area, Registry, RegistryError};

fn same(a: &str, b: &str) -> bool {
    slug(a) == slug(b)
}

/// `base` (from the config) plus `imported`, in order.
pub fn merge<'a>(base: &Registry, imported: impl IntoIterator<Item = &'a Imported>) -> Result<Registry, RegistryError> {
    let mut areas = base.areas.clone();
    let mut devices = base.devices.clone();
    for imp in imported {
        if devices.iter().any(|d| d.id == imp.device.id) {
            continue;
        }
        let mut d = imp.device.clone();
        d.area = imp.area.as_deref().and_then(|hint| {
            let found = areas
                .iter()
                .find(|a| same(&a.id, hint) || same(&a.name, hint) || a.aliases.iter().any(|x| same(x, hint)));
            match found {
                Some(a) => Some(a.id.clone()),
                None if !slug(hint).is_empty() => {
                    let id = slug(hint);
                    areas.push(Area {
                        id: id.clone(),
                        name: hint.trim().to_string(),
                        floor: None,
                        aliases: Vec::new(),
                    });
                    Some(id)
                }
                None => None,
            }
        });
        devices.push(d);
    }
    let mut reg = Registry::new(base.floors.clone(), areas, devices)?;
    // Scenes and the media library are the config's own; imports never
    // change them.
    reg.scenes = base.scenes.clone();
    reg.media = base.media.clone();
    Ok(reg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Device, Origin};
    use firmware_bridge::{DeviceKind, Dialect};

    fn dev(id: &str, origin: Origin) -> Device {
        Device {
            id: id.into(),
            kind: DeviceKind::Light,
            name: id.into(),
            aliases: vec![],
            area: None,
            device_class: None,
            dialect: Some(Dialect::Zigbee2mqtt { friendly_name: id.into(), base_topic: "zigbee2mqtt".into() }),
            features: Default::default(),
            origin,
        }
    }

    #[test]
    fn config_wins_and_areas_are_matched_or_added() {
        let mut base = Registry::new(
            vec![],
            vec![Area { id: "kitchen".into(), name: "Kitchen".into(), floor: None, aliases: vec!["cookery".into()] }],
            vec![dev("light.hall", Origin::Config)],
        )
        .unwrap();
        let target = crate::scene::SceneTarget {
            entity_id: "light.hall".into(),
            actions: vec![firmware_bridge::Action::TurnOn],
        };
        base.scenes = vec![crate::scene::Scene { id: "scene.evening".into(), targets: vec![target] }];
        let imported = [
            Imported { device: dev("light.hall", Origin::Zigbee2mqtt), area: Some("Garage".into()) },
            Imported { device: dev("light.counter", Origin::HomeAssistant), area: Some("Cookery".into()) },
            Imported { device: dev("light.bench", Origin::Tasmota), area: Some("Garden Shed".into()) },
            Imported { device: dev("light.loose", Origin::Tasmota), area: Some(" / ".into()) },
        ];
        let reg = merge(&base, &imported).unwrap();
        let got: Vec<(&str, Option<&str>, Origin)> =
            reg.devices.iter().map(|d| (d.id.as_str(), d.area.as_deref(), d.origin)).collect();
        assert_eq!(
            got,
            vec![
                ("light.hall", None, Origin::Config),
                ("light.counter", Some("kitchen"), Origin::HomeAssistant),
                ("light.bench", Some("garden_shed"), Origin::Tasmota),
                ("light.loose", None, Origin::Tasmota),
            ]
        );
        assert_eq!(reg.area("garden_shed").map(|a| a.name.as_str()), Some("Garden Shed"));
        assert!(reg.area("garage").is_none(), "the clashing import added nothing");
        assert_eq!(reg.scenes, base.scenes, "the config's scenes are kept");
    }
}
