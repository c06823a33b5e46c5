//! Firmware state parsers (`firmware_bridge::parse_state`) for every dialect
//! and device kind, on the dialect's own state topics and on arbitrary ones.
//! Whatever parses must fold into a `DeviceState` that survives the JSON
//! round trip the outbox stores it through, and answer `satisfies`.
#![no_main]

use firmware_bridge::{Action, DeviceKind, DeviceState, Dialect, Rgb};
use libfuzzer_sys::fuzz_target;

const KINDS: &[DeviceKind] = &DeviceKind::ALL;

fn dialects() -> Vec<Dialect> {
    vec![
        Dialect::Zigbee2mqtt { friendly_name: "Lamp".into(), base_topic: "zigbee2mqtt".into() },
        Dialect::Tasmota { topic: "plug".into(), relay: None },
        Dialect::Tasmota { topic: "strip".into(), relay: Some(2) },
        Dialect::Esphome { node: "node".into(), object_id: "obj".into() },
        Dialect::ShellyGen1 { device_id: "shelly1-AB".into(), relay: 0 },
        Dialect::GenericJson { command_topic: "dev/set".into(), state_topic: "dev/state".into() },
        Dialect::Valetudo { identifier: "rover".into(), prefix: "valetudo".into() },
        Dialect::HaMqtt {
            command_topic: "ha/set".into(),
            state_topic: Some("ha/state".into()),
            json: false,
            payload_on: "ON".into(),
            payload_off: "OFF".into(),
        },
        Dialect::HaMqtt {
            command_topic: "ha/json/set".into(),
            state_topic: Some("ha/json".into()),
            json: true,
            payload_on: "ON".into(),
            payload_off: "OFF".into(),
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    let [d, k, t, rest @ ..] = data else { return };
    let dialects = dialects();
    let dialect = &dialects[usize::from(*d) % dialects.len()];
    let kind = KINDS[usize::from(*k) % KINDS.len()];
    let topics = firmware_bridge::state_topics(dialect, kind);
    // High bit: the topic is the payload's first line, else one of the dialect's.
    let (topic, payload) = if *t & 0x80 != 0 || topics.is_empty() {
        let cut = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        (String::from_utf8_lossy(&rest[..cut]).into_owned(), rest.get(cut + 1..).unwrap_or_default())
    } else {
        (topics[usize::from(*t) % topics.len()].replace('+', "x").replace('#', "y"), rest)
    };
    let Ok(Some(patch)) = firmware_bridge::parse_state(dialect, kind, &topic, payload) else { return };
    let mut st = DeviceState::default();
    st.apply(&patch);
    let _ = patch.reports_commandable_state();
    for a in [
        Action::TurnOn,
        Action::TurnOff,
        Action::Brightness { percent: 50 },
        Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } },
        Action::ColorTemp { kelvin: 2700 },
        Action::TargetTemperature { celsius: 21.0 },
        Action::Position { percent: 40 },
        Action::Open,
        Action::Close,
        Action::Lock,
        Action::Unlock,
    ] {
        let _ = st.satisfies(&a);
    }
    let stored = serde_json::to_value(&st).expect("a parsed state serialises");
    let back: DeviceState = serde_json::from_value(stored.clone())
        .unwrap_or_else(|e| panic!("stored state does not read back ({e}): {stored}"));
    assert_eq!(serde_json::to_value(&back).ok(), Some(stored), "state changed through the store");
});
