//! The device registry: floors, areas and devices, built by the daemon from
//! `[[floor]]`, `[[area]]`, `[[device]]` config and discovery.
use firmware_bridge::{DeviceKind, Dialect};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A floor (`[[floor]]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Floor {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub level: Option<i32>,
}

/// An area (`[[area]]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub floor: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Optional capabilities of a device (what its firmware accepts). Defined in
/// `firmware-bridge` because `DeviceCommand` carries it for the bridge's
/// capability checks.
pub use firmware_bridge::Features;

/// Where a device entered the registry: the config file, or one of the
/// MQTT discovery sources hubd imports from (`hub_skills::import`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A `[[device]]` of the configuration.
    #[default]
    Config,
    /// Zigbee2MQTT's retained `<base>/bridge/devices`.
    Zigbee2mqtt,
    /// A Home Assistant MQTT discovery config (`homeassistant/.../config`).
    HomeAssistant,
    /// Tasmota's native discovery (`tasmota/discovery/<mac>/config`).
    Tasmota,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Zigbee2mqtt => "zigbee2mqtt",
            Origin::HomeAssistant => "homeassistant",
            Origin::Tasmota => "tasmota",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Home Assistant entity id, `<domain>.<object>`, e.g. `light.kitchen`.
    pub id: String,
    pub kind: DeviceKind,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub area: Option<String>,
    /// HA device class: window, curtain, garage_door, temperature, ...
    #[serde(default)]
    pub device_class: Option<String>,
    /// None for read-only entities (sensors fed by topics, persons).
    #[serde(default)]
    pub dialect: Option<Dialect>,
    #[serde(default)]
    pub features: Features,
    /// Where it came from (the config unless imported).
    #[serde(default)]
    pub origin: Origin,
}

#[derive(Debug, Error, PartialEq)]
pub enum RegistryError {
    #[error("duplicate {what} id `{id}`")]
    Duplicate { what: &'static str, id: String },
    #[error("{what} `{id}` refers to unknown {target} `{target_id}`")]
    Dangling { what: &'static str, id: String, target: &'static str, target_id: String },
    #[error("device id `{id}` must be `<domain>.<name>` with domain `{domain}`")]
    BadEntityId { id: String, domain: &'static str },
}

/// The registry. Built once, validated, then read-only (rebuilt on change).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    pub floors: Vec<Floor>,
    pub areas: Vec<Area>,
    pub devices: Vec<Device>,
    /// What each `scene.*` device sets (its device entry gives the name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenes: Vec<crate::scene::Scene>,
    /// The media library `HassMediaSearchAndPlay` searches (`[[media]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<crate::media_library::MediaItem>,
}

impl Registry {
    /// Validate ids and references.
    pub fn new(floors: Vec<Floor>, areas: Vec<Area>, devices: Vec<Device>) -> Result<Self, RegistryError> {
        let reg = Registry { floors, areas, devices, scenes: Vec::new(), media: Vec::new() };
        reg.validate()?;
        Ok(reg)
    }

    fn validate(&self) -> Result<(), RegistryError> {
        let mut seen = std::collections::HashSet::new();
        for f in &self.floors {
            if !seen.insert(("floor", f.id.as_str())) {
                return Err(RegistryError::Duplicate { what: "floor", id: f.id.clone() });
            }
        }
        for a in &self.areas {
            if !seen.insert(("area", a.id.as_str())) {
                return Err(RegistryError::Duplicate { what: "area", id: a.id.clone() });
            }
            if let Some(fl) = &a.floor
                && self.floor(fl).is_none()
            {
                return Err(RegistryError::Dangling {
                    what: "area",
                    id: a.id.clone(),
                    target: "floor",
                    target_id: fl.clone(),
                });
            }
        }
        for d in &self.devices {
            if !seen.insert(("device", d.id.as_str())) {
                return Err(RegistryError::Duplicate { what: "device", id: d.id.clone() });
            }
            let domain = d.kind.domain();
            match d.id.split_once('.') {
                Some((dom, obj)) if dom == domain && !obj.is_empty() => {}
                _ => return Err(RegistryError::BadEntityId { id: d.id.clone(), domain }),
            }
            if let Some(ar) = &d.area
                && self.area(ar).is_none()
            {
                return Err(RegistryError::Dangling {
                    what: "device",
                    id: d.id.clone(),
                    target: "area",
                    target_id: ar.clone(),
                });
            }
        }
        Ok(())
    }

    pub fn floor(&self, id: &str) -> Option<&Floor> {
        self.floors.iter().find(|f| f.id == id)
    }
    pub fn area(&self, id: &str) -> Option<&Area> {
        self.areas.iter().find(|a| a.id == id)
    }
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.id == id)
    }
    pub fn scene(&self, id: &str) -> Option<&crate::scene::Scene> {
        self.scenes.iter().find(|s| s.id == id)
    }
    /// Floor of a device, through its area.
    pub fn device_floor(&self, d: &Device) -> Option<&Floor> {
        d.area.as_deref().and_then(|a| self.area(a)).and_then(|a| a.floor.as_deref()).and_then(|f| self.floor(f))
    }
}
