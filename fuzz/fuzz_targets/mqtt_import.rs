//! MQTT payloads from other systems that hubd takes in: Zigbee2MQTT's
//! `bridge/devices`, Home Assistant discovery configs (entity and device
//! form, any topic), Tasmota's native discovery. What parses is merged into
//! a registry, and every imported device's commands are encoded (its topics
//! and payload words come from the fuzzed config).
#![no_main]

use firmware_bridge::{Action, DeviceCommand, Rgb};
use hub_skills::Registry;
use hub_skills::import::{self, Parsed};
use libfuzzer_sys::fuzz_target;

const HA_TOPICS: &[&str] = &[
    "homeassistant/light/node/obj/config",
    "homeassistant/switch/obj/config",
    "homeassistant/cover/n/c/config",
    "homeassistant/device/dev1/config",
    "homeassistant/climate/n/t/config",
    "homeassistant/lock/n/l/config",
];

fuzz_target!(|data: &[u8]| {
    let [sel, rest @ ..] = data else { return };
    let parsed: Result<Parsed, _> = match sel % 4 {
        0 => import::parse_bridge_devices("zigbee2mqtt", "zigbee2mqtt/bridge/devices", rest),
        1 => import::parse_ha_config("homeassistant", HA_TOPICS[usize::from(*sel / 4) % HA_TOPICS.len()], rest, "hubd"),
        2 => {
            // The topic is the first line.
            let cut = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            let topic = String::from_utf8_lossy(&rest[..cut]).into_owned();
            let _ = import::parse_ha_topic("homeassistant", &topic);
            import::parse_ha_config("homeassistant", &topic, rest.get(cut + 1..).unwrap_or_default(), "hubd")
        }
        _ => import::parse_tasmota_config("tasmota/discovery/AABBCCDDEEFF/config", rest),
    };
    let Ok(parsed) = parsed else { return };
    let _ = import::merge(&Registry::default(), &parsed.devices);
    for imp in &parsed.devices {
        let d = &imp.device;
        let Some(dialect) = &d.dialect else { continue };
        let _ = firmware_bridge::state_topics(dialect, d.kind);
        for action in [
            Action::TurnOn,
            Action::TurnOff,
            Action::Brightness { percent: 30 },
            Action::Color { rgb: Rgb { r: 1, g: 2, b: 3 } },
            Action::ColorTemp { kelvin: 4000 },
            Action::Position { percent: 70 },
            Action::TargetTemperature { celsius: 19.5 },
            Action::Lock,
        ] {
            let cmd = DeviceCommand {
                device_id: d.id.clone(),
                kind: d.kind,
                dialect: dialect.clone(),
                action,
                features: d.features.clone(),
            };
            let _ = firmware_bridge::encode(&cmd);
        }
    }
});
