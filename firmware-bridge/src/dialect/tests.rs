use super::golden::{all_features, command};
use crate::{Action, DeviceKind, Dialect, encode, parse_state, state_topics};

fn dialects() -> Vec<Dialect> {
    vec![
        Dialect::Zigbee2mqtt { friendly_name: "dev".into(), base_topic: "zigbee2mqtt".into() },
        Dialect::Tasmota { topic: "dev".into(), relay: None },
        Dialect::Esphome { node: "node".into(), object_id: "dev".into() },
        Dialect::ShellyGen1 { device_id: "shelly1-AB".into(), relay: 0 },
        Dialect::GenericJson { command_topic: "dev/set".into(), state_topic: "dev".into() },
        Dialect::HaMqtt {
            command_topic: "dev/set".into(),
            state_topic: Some("dev".into()),
            json: false,
            payload_on: "ON".into(),
            payload_off: "OFF".into(),
        },
        Dialect::Valetudo { identifier: "dev".into(), prefix: "valetudo".into() },
    ]
}

/// One of each action the new kinds take (plus on/off).
fn actions() -> Vec<Action> {
    vec![
        Action::TurnOn,
        Action::TurnOff,
        Action::Toggle,
        Action::Open,
        Action::Close,
        Action::Stop,
        Action::Position { percent: 40 },
        Action::FanSpeed { percent: 40 },
        Action::FanMode { mode: "auto".into() },
        Action::Pause,
        Action::Play,
        Action::NextTrack,
        Action::PreviousTrack,
        Action::Volume { percent: 40 },
        Action::Mute { muted: true },
        Action::Start,
        Action::Dock,
        Action::CleanSegments { segments: vec!["1".into()] },
        Action::Press,
        Action::PlayMedia { id: "http://radio/jazz".into(), class: "channel".into() },
    ]
}

fn short(a: &Action) -> &'static str {
    match a {
        Action::TurnOn => "on",
        Action::TurnOff => "off",
        Action::Toggle => "toggle",
        Action::Open => "open",
        Action::Close => "close",
        Action::Stop => "stop",
        Action::Position { .. } => "position",
        Action::FanSpeed { .. } => "speed",
        Action::FanMode { .. } => "fan_mode",
        Action::Pause => "pause",
        Action::Play => "play",
        Action::NextTrack => "next",
        Action::PreviousTrack => "previous",
        Action::Volume { .. } => "volume",
        Action::Mute { .. } => "mute",
        Action::Start => "start",
        Action::Dock => "dock",
        Action::CleanSegments { .. } => "segments",
        Action::Press => "press",
        Action::PlayMedia { .. } => "play_media",
        _ => "?",
    }
}

/// The support matrix for the new kinds (and fan speed / climate fan
/// mode): dialect, kind, then the actions it encodes. Anything else is
/// `Unsupported`. A change here is a change of contract.
#[test]
fn support_matrix() {
    let kinds = [
        DeviceKind::Fan,
        DeviceKind::Climate,
        DeviceKind::Valve,
        DeviceKind::MediaPlayer,
        DeviceKind::Vacuum,
        DeviceKind::LawnMower,
        DeviceKind::Button,
        DeviceKind::InputBoolean,
        DeviceKind::Weather,
    ];
    let only_new = |k: DeviceKind, a: &Action| match k {
        // Existing on/off and climate support is covered elsewhere.
        DeviceKind::Fan => matches!(a, Action::FanSpeed { .. }),
        DeviceKind::Climate => matches!(a, Action::FanMode { .. }),
        _ => true,
    };
    let mut got = String::new();
    for d in dialects() {
        for kind in kinds {
            let ok: Vec<&str> = actions()
                .iter()
                .filter(|a| only_new(kind, a))
                .filter(|a| encode(&command(&d, kind, (*a).clone(), &all_features())).is_ok())
                .map(short)
                .collect();
            if !ok.is_empty() {
                got.push_str(&format!("{} {}: {}\n", d.name(), kind.domain(), ok.join(" ")));
            }
        }
    }
    let want = "\
zigbee2mqtt fan: speed
zigbee2mqtt climate: fan_mode
zigbee2mqtt valve: on off open close position
tasmota fan: speed
tasmota valve: on off open close
esphome fan: speed
esphome climate: fan_mode
esphome valve: on off open close stop position
esphome button: on press
shelly_gen1 valve: on off open close
generic_json fan: speed
generic_json climate: fan_mode
generic_json valve: on off open close stop position
generic_json media_player: on off toggle pause play next previous volume mute play_media
generic_json vacuum: on off stop pause start dock segments
generic_json lawn_mower: on off pause start dock
generic_json button: on press
generic_json input_boolean: on off
ha_mqtt valve: on off open close position
ha_mqtt vacuum: on off stop pause start dock
ha_mqtt lawn_mower: on off pause start dock
ha_mqtt button: on press
ha_mqtt input_boolean: on off
valetudo vacuum: on off stop pause start dock segments
";
    assert_eq!(got, want, "\n{got}");
}

/// Every message to a hub-held boolean is retained (a restart restores it,
/// hubd's own echo confirms it); nothing else is.
#[test]
fn retain_only_hub_held() {
    for d in dialects() {
        for kind in DeviceKind::ALL {
            for a in actions() {
                if let Ok(out) = encode(&command(&d, kind, a.clone(), &all_features())) {
                    for m in out {
                        assert_eq!(m.retain, kind == DeviceKind::InputBoolean, "{} {kind:?} {a:?}", d.name());
                    }
                }
            }
        }
    }
}

/// Buttons and hub-defined entities never have state topics; a kind a
/// dialect cannot command has none either (its commands would be acked on
/// PUBACK, but there are none).
#[test]
fn echoless_kinds() {
    for d in dialects() {
        for kind in [DeviceKind::Button, DeviceKind::Scene, DeviceKind::Script] {
            assert!(state_topics(&d, kind).is_empty(), "{} {kind:?}", d.name());
        }
        assert_eq!(parse_state(&d, DeviceKind::Scene, "dev", b"{}").unwrap(), None);
    }
}

#[test]
fn dialect_serde_names() {
    for (json, name) in [
        (r#"{"type":"valetudo","identifier":"robot"}"#, "valetudo"),
        (r#"{"type":"ha_mqtt","command_topic":"a/set"}"#, "ha_mqtt"),
        (r#"{"type":"generic_json","command_topic":"a/set","state_topic":"a"}"#, "generic_json"),
    ] {
        let d: Dialect = serde_json::from_str(json).unwrap();
        assert_eq!(d.name(), name);
    }
}

#[test]
fn three_speed_fans_are_awaited_at_the_speed_they_report() {
    let ds = dialects();
    let speed = crate::Features { speed: true, ..Default::default() };
    let snap =
        |d: &Dialect, p: u8| match crate::as_reported(d, DeviceKind::Fan, &speed, &Action::FanSpeed { percent: p }) {
            Action::FanSpeed { percent } => percent,
            other => panic!("{other:?}"),
        };
    for d in &ds[..2] {
        // Zigbee2MQTT fan_mode and the Tasmota iFan: low / medium / high.
        assert_eq!([0, 10, 33, 34, 50, 66, 67, 100].map(|p| snap(d, p)), [0, 33, 33, 66, 66, 66, 100, 100], "{d:?}");
    }
    // Continuous speeds stay as asked.
    assert_eq!(snap(&ds[4], 50), 50);
    let on = crate::as_reported(&ds[0], DeviceKind::Light, &speed, &Action::TurnOn);
    assert_eq!(on, Action::TurnOn);
}
