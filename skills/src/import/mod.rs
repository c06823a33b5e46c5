//! Devices imported from MQTT discovery: Zigbee2MQTT's retained
//! `<base>/bridge/devices`, Home Assistant MQTT discovery configs (which
//! ESPHome, Tasmota and many bridges publish) and Tasmota's native
//! `tasmota/discovery/<mac>/config`.
//!
//! Pure: a retained payload in, device descriptions out ([`Parsed`]); the
//! daemon subscribes, keeps what each retained topic holds and rebuilds the
//! registry with [`merge`] (the config's devices win on an id clash). An
//! entity the registry cannot drive (a sensor read through a template, a
//! command template, custom cover payloads) is skipped with its reason.

mod ha;
mod merge;
mod tasmota;
mod z2m;

pub use ha::{HaTopic, parse_ha_config, parse_ha_topic};
pub use merge::merge;
pub use tasmota::parse_tasmota_config;
pub use z2m::parse_bridge_devices;

use thiserror::Error;

use crate::registry::Device;

/// Largest retained config read (Zigbee2MQTT's device list of a large
/// network is a few hundred KiB).
pub const MAX_CONFIG_PAYLOAD: usize = 2 * 1024 * 1024;

/// One imported device, with the area its source suggests (a name, matched
/// against the registry's areas by [`merge`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub device: Device,
    pub area: Option<String>,
}

/// What one retained config holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub devices: Vec<Imported>,
    /// Entities left out, each with why (for the log).
    pub skipped: Vec<String>,
}

#[derive(Debug, Error, PartialEq)]
pub enum ImportError {
    #[error("`{topic}`: {len} bytes is over the {limit}-byte limit for a discovery config")]
    TooLarge { topic: String, len: usize, limit: usize },
    #[error("`{topic}`: not a JSON discovery config ({reason})")]
    Json { topic: String, reason: String },
    #[error("`{topic}`: {reason}")]
    Shape { topic: String, reason: String },
}

/// The payload as a JSON value, within [`MAX_CONFIG_PAYLOAD`].
pub(crate) fn json(topic: &str, payload: &[u8]) -> Result<serde_json::Value, ImportError> {
    if payload.len() > MAX_CONFIG_PAYLOAD {
        return Err(ImportError::TooLarge { topic: topic.into(), len: payload.len(), limit: MAX_CONFIG_PAYLOAD });
    }
    serde_json::from_slice(payload).map_err(|e| ImportError::Json { topic: topic.into(), reason: e.to_string() })
}

/// Home Assistant's entity-id slug: lowercase letters and digits, anything
/// else one `_`, none at the ends.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        for (s, want) in [("Hall Lamp", "hall_lamp"), ("kitchen/floor_light", "kitchen_floor_light"), (" -x- ", "x")] {
            assert_eq!(super::slug(s), want);
        }
    }
}
