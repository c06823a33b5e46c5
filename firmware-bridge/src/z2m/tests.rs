use super::*;
use crate::dialect::golden::{Golden, Msg, all_features, assert_golden, assert_unsupported};
use crate::{Dialect, Features, Rgb, encode, parse_state, state_topics};

fn dialect() -> Dialect {
    Dialect::Zigbee2mqtt { friendly_name: "kitchen_light".into(), base_topic: "zigbee2mqtt".into() }
}

fn cmd(kind: DeviceKind, action: Action) -> DeviceCommand {
    DeviceCommand {
        device_id: format!("{}.x", kind.domain()),
        kind,
        dialect: dialect(),
        action,
        features: Features { dimmable: true, color: true, color_temp: true, position: true, ..Default::default() },
    }
}

/// Golden vectors: docs/guide/usage/mqtt_topics_and_messages.md
/// ("zigbee2mqtt/FRIENDLY_NAME/set" section) and the light/cover/lock/
/// climate exposes in docs/guide/usage/exposes.md.
#[test]
fn golden_commands() {
    let t = "zigbee2mqtt/kitchen_light/set";
    let cases: Vec<(DeviceKind, Action, &str)> = vec![
        (DeviceKind::Light, Action::TurnOn, r#"{"state":"ON"}"#),
        (DeviceKind::Light, Action::TurnOff, r#"{"state":"OFF"}"#),
        (DeviceKind::Light, Action::Toggle, r#"{"state":"TOGGLE"}"#),
        (DeviceKind::Switch, Action::TurnOn, r#"{"state":"ON"}"#),
        // brightness 0..254: 100 % -> 254, 50 % -> 127.
        (DeviceKind::Light, Action::Brightness { percent: 100 }, r#"{"brightness":254,"state":"ON"}"#),
        (DeviceKind::Light, Action::Brightness { percent: 50 }, r#"{"brightness":127,"state":"ON"}"#),
        (DeviceKind::Light, Action::Brightness { percent: 0 }, r#"{"state":"OFF"}"#),
        (
            DeviceKind::Light,
            Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } },
            r#"{"color":{"b":0,"g":0,"r":255},"state":"ON"}"#,
        ),
        // color_temp in mired: 1e6 / 2700 K = 370.
        (DeviceKind::Light, Action::ColorTemp { kelvin: 2700 }, r#"{"color_temp":370,"state":"ON"}"#),
        (DeviceKind::Cover, Action::Position { percent: 40 }, r#"{"position":40}"#),
        (DeviceKind::Cover, Action::Open, r#"{"state":"OPEN"}"#),
        (DeviceKind::Cover, Action::TurnOff, r#"{"state":"CLOSE"}"#),
        (DeviceKind::Cover, Action::Stop, r#"{"state":"STOP"}"#),
        (DeviceKind::Lock, Action::Lock, r#"{"state":"LOCK"}"#),
        (DeviceKind::Lock, Action::Unlock, r#"{"state":"UNLOCK"}"#),
        (DeviceKind::Climate, Action::TargetTemperature { celsius: 21.5 }, r#"{"occupied_heating_setpoint":21.5}"#),
        (DeviceKind::Climate, Action::TurnOff, r#"{"system_mode":"off"}"#),
    ];
    for (kind, action, want) in cases {
        let out = encode(&cmd(kind, action.clone())).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].topic, t);
        assert!(!out[0].retain);
        let got: Value = serde_json::from_slice(&out[0].payload).unwrap();
        let want: Value = serde_json::from_str(want).unwrap();
        assert_eq!(got, want, "{kind:?} {action:?}");
    }
}

#[test]
fn golden_state() {
    let d = dialect();
    let t = "zigbee2mqtt/kitchen_light";
    // The example from the docs.
    let p =
        parse_state(&d, DeviceKind::Light, t, br#"{"state":"ON","brightness":215,"color_temp":325}"#).unwrap().unwrap();
    assert_eq!(p.on, Some(true));
    assert_eq!(p.brightness_pct, Some(85));
    assert_eq!(p.color_temp_kelvin, Some(3077));
    let p = parse_state(
        &d,
        DeviceKind::Light,
        t,
        br#"{"state":"ON","color_mode":"xy","color":{"x":0.7006,"y":0.2993},"brightness":254}"#,
    )
    .unwrap()
    .unwrap();
    assert_eq!(p.rgb, Some(Rgb { r: 255, g: 0, b: 0 }));
    let p = parse_state(&d, DeviceKind::Lock, t, br#"{"state":"LOCK","lock_state":"locked"}"#).unwrap().unwrap();
    assert_eq!(p.locked, Some(true));
    let p = parse_state(&d, DeviceKind::Cover, t, br#"{"position":40,"state":"OPEN"}"#).unwrap().unwrap();
    assert_eq!((p.position, p.on), (Some(40), Some(true)));
    let p = parse_state(
        &d,
        DeviceKind::Climate,
        t,
        br#"{"local_temperature":19.5,"occupied_heating_setpoint":21,"system_mode":"heat"}"#,
    )
    .unwrap()
    .unwrap();
    assert_eq!((p.current_temperature, p.target_temperature, p.on), (Some(19.5), Some(21.0), Some(true)));
    let p =
        parse_state(&d, DeviceKind::Sensor, t, br#"{"temperature":22.3,"humidity":41,"battery":90}"#).unwrap().unwrap();
    assert_eq!(p.current_temperature, Some(22.3));
    // Availability, legacy and JSON forms.
    let a = "zigbee2mqtt/kitchen_light/availability";
    for (payload, want) in [
        (&b"online"[..], true),
        (b"offline", false),
        (br#"{"state":"online"}"#, true),
        (br#"{"state":"offline"}"#, false),
    ] {
        let p = parse_state(&d, DeviceKind::Light, a, payload).unwrap().unwrap();
        assert_eq!(p.available, Some(want));
    }
    // Messages that say nothing.
    assert_eq!(parse_state(&d, DeviceKind::Light, t, br#"{"linkquality":120}"#).unwrap(), None);
    assert_eq!(parse_state(&d, DeviceKind::Light, t, b"").unwrap(), None);
    assert_eq!(parse_state(&d, DeviceKind::Light, "zigbee2mqtt/other", br#"{"state":"ON"}"#).unwrap(), None);
    assert_eq!(state_topics(&d, DeviceKind::Light), vec![t.to_string(), a.to_string()]);
}

#[test]
fn errors() {
    let d = dialect();
    let t = "zigbee2mqtt/kitchen_light";
    for bad_payload in
        [&b"not json"[..], b"[1,2]", br#"{"state":5}"#, br#"{"state":"MAYBE"}"#, br#"{"brightness":"x"}"#]
    {
        let e = parse_state(&d, DeviceKind::Light, t, bad_payload).unwrap_err();
        assert!(matches!(&e, BridgeError::BadPayload { topic, .. } if topic == t), "{e:?}");
    }
    assert!(matches!(
        parse_state(&d, DeviceKind::Light, t, br#"{"brightness":300}"#),
        Err(BridgeError::OutOfRange { field: "brightness", .. })
    ));
    assert!(matches!(
        parse_state(&d, DeviceKind::Light, &format!("{t}/availability"), b"maybe"),
        Err(BridgeError::BadPayload { .. })
    ));
    assert!(matches!(
        encode(&cmd(DeviceKind::Light, Action::Brightness { percent: 101 })),
        Err(BridgeError::OutOfRange { .. })
    ));
    assert!(matches!(
        encode(&cmd(DeviceKind::Climate, Action::TargetTemperature { celsius: f32::NAN })),
        Err(BridgeError::OutOfRange { .. })
    ));
    assert!(matches!(
        encode(&cmd(DeviceKind::Light, Action::ColorTemp { kelvin: 200 })),
        Err(BridgeError::OutOfRange { .. })
    ));
    // A colour on a light without the colour feature.
    let mut c = cmd(DeviceKind::Light, Action::Color { rgb: Rgb { r: 1, g: 2, b: 3 } });
    c.features.color = false;
    assert!(matches!(encode(&c), Err(BridgeError::Unsupported { dialect: "zigbee2mqtt", .. })));
    assert!(matches!(encode(&cmd(DeviceKind::Sensor, Action::TurnOn)), Err(BridgeError::Unsupported { .. })));
}

/// Golden vectors for fans, climate fan modes and valves: the "Fan" and
/// "Climate" exposes (`fan_mode` off|low|medium|high|..., property
/// `fan_mode`), water valves' switch expose (`state` ON = open) and the
/// cover-style `position`. Percent -> fan mode as HA's util/percentage.py
/// (1..=33 low, 34..=66 medium, 67..=100 high).
#[test]
fn golden_new_kinds() {
    let t = "zigbee2mqtt/kitchen_light/set";
    let fan = |body: &'static str| -> Vec<Msg> { vec![(t, body, false)] };
    let (off, low, medium, high) =
        (r#"{"fan_mode":"off"}"#, r#"{"fan_mode":"low"}"#, r#"{"fan_mode":"medium"}"#, r#"{"fan_mode":"high"}"#);
    let rows: Vec<Golden> = vec![
        (DeviceKind::Fan, Action::FanSpeed { percent: 0 }, fan(off)),
        (DeviceKind::Fan, Action::FanSpeed { percent: 1 }, fan(low)),
        (DeviceKind::Fan, Action::FanSpeed { percent: 33 }, fan(low)),
        (DeviceKind::Fan, Action::FanSpeed { percent: 34 }, fan(medium)),
        (DeviceKind::Fan, Action::FanSpeed { percent: 66 }, fan(medium)),
        (DeviceKind::Fan, Action::FanSpeed { percent: 67 }, fan(high)),
        (DeviceKind::Fan, Action::FanSpeed { percent: 100 }, fan(high)),
        // A fan-control fan switches with `fan_state` (exposes.ts `class Fan`).
        (DeviceKind::Fan, Action::TurnOn, fan(r#"{"fan_state":"ON"}"#)),
        (DeviceKind::Fan, Action::TurnOff, fan(r#"{"fan_state":"OFF"}"#)),
        (DeviceKind::Climate, Action::FanMode { mode: "AUTO".into() }, fan(r#"{"fan_mode":"auto"}"#)),
        (DeviceKind::Climate, Action::FanMode { mode: "quiet".into() }, vec![(t, r#"{"fan_mode":"Quiet"}"#, false)]),
        (DeviceKind::Valve, Action::Open, vec![(t, r#"{"state":"ON"}"#, false)]),
        (DeviceKind::Valve, Action::TurnOn, vec![(t, r#"{"state":"ON"}"#, false)]),
        (DeviceKind::Valve, Action::Close, vec![(t, r#"{"state":"OFF"}"#, false)]),
        (DeviceKind::Valve, Action::TurnOff, vec![(t, r#"{"state":"OFF"}"#, false)]),
        (DeviceKind::Valve, Action::Position { percent: 30 }, vec![(t, r#"{"position":30}"#, false)]),
    ];
    assert_golden(&dialect(), &all_features(), rows);
}

#[test]
fn unsupported_new_kinds() {
    assert_unsupported(
        &dialect(),
        &all_features(),
        vec![
            (DeviceKind::Valve, Action::Stop),
            (DeviceKind::Vacuum, Action::Start),
            (DeviceKind::Vacuum, Action::Stop),
            (DeviceKind::Vacuum, Action::CleanSegments { segments: vec!["1".into()] }),
            (DeviceKind::LawnMower, Action::Dock),
            (DeviceKind::Button, Action::Press),
            (DeviceKind::InputBoolean, Action::TurnOn),
            (DeviceKind::MediaPlayer, Action::Play),
            (DeviceKind::MediaPlayer, Action::Volume { percent: 20 }),
            (DeviceKind::Weather, Action::TurnOn),
            (DeviceKind::Climate, Action::FanMode { mode: "turbo".into() }),
            (DeviceKind::Fan, Action::Toggle),
        ],
    );
    // A fan without the `speed` feature.
    assert_unsupported(&dialect(), &Features::default(), vec![(DeviceKind::Fan, Action::FanSpeed { percent: 50 })]);
    for kind in [DeviceKind::Vacuum, DeviceKind::LawnMower, DeviceKind::Button, DeviceKind::InputBoolean] {
        assert!(state_topics(&dialect(), kind).is_empty(), "{kind:?}");
        assert_eq!(parse_state(&dialect(), kind, "zigbee2mqtt/kitchen_light", br#"{"state":"ON"}"#).unwrap(), None);
    }
}

#[test]
fn golden_state_new_kinds() {
    let d = dialect();
    let t = "zigbee2mqtt/kitchen_light";
    let parse = |kind: DeviceKind, payload: &str| parse_state(&d, kind, t, payload.as_bytes());
    let p = parse(DeviceKind::Fan, r#"{"fan_state":"ON","fan_mode":"medium","linkquality":80}"#).unwrap().unwrap();
    assert_eq!((p.on, p.fan_speed_pct), (Some(true), Some(66)));
    let p = parse(DeviceKind::Fan, r#"{"fan_mode":"off"}"#).unwrap().unwrap();
    assert_eq!((p.on, p.fan_speed_pct), (Some(false), None));
    let p = parse(DeviceKind::Fan, r#"{"fan_mode":"smart"}"#).unwrap().unwrap();
    assert_eq!((p.on, p.fan_speed_pct), (Some(true), None));
    // A fan with a light on the same endpoint: `state` is the light's.
    let p = parse(DeviceKind::Fan, r#"{"state":"ON","fan_state":"OFF"}"#).unwrap().unwrap();
    assert_eq!(p.on, Some(false));
    let p = parse(DeviceKind::Climate, r#"{"fan_mode":"high","system_mode":"cool","local_temperature":24}"#)
        .unwrap()
        .unwrap();
    assert_eq!((p.fan_mode.as_deref(), p.on), (Some("high"), Some(true)));
    let p = parse(DeviceKind::Valve, r#"{"state":"ON","battery":100}"#).unwrap().unwrap();
    assert_eq!(p.on, Some(true));
    let p = parse(DeviceKind::Valve, r#"{"position":100}"#).unwrap().unwrap();
    assert_eq!(p.position, Some(100));
    for (kind, payload) in [
        (DeviceKind::Fan, r#"{"fan_state":5}"#),
        (DeviceKind::Fan, r#"{"fan_state":"MAYBE"}"#),
        (DeviceKind::Climate, r#"{"fan_mode":3}"#),
        (DeviceKind::Valve, r#"{"state":"AJAR"}"#),
    ] {
        let e = parse(kind, payload).unwrap_err();
        assert!(matches!(&e, BridgeError::BadPayload { topic, .. } if topic == t), "{payload}: {e:?}");
    }
    // Each command's echo confirms it.
    for (kind, action, echo) in [
        (DeviceKind::Fan, Action::FanSpeed { percent: 66 }, r#"{"fan_state":"ON","fan_mode":"medium"}"#),
        (DeviceKind::Fan, Action::FanSpeed { percent: 0 }, r#"{"fan_state":"OFF","fan_mode":"off"}"#),
        (DeviceKind::Climate, Action::FanMode { mode: "auto".into() }, r#"{"fan_mode":"auto"}"#),
        (DeviceKind::Valve, Action::Open, r#"{"state":"ON"}"#),
        (DeviceKind::Valve, Action::Close, r#"{"state":"OFF"}"#),
        (DeviceKind::Valve, Action::Position { percent: 30 }, r#"{"position":30}"#),
    ] {
        let mut st = crate::DeviceState::default();
        st.apply(&parse(kind, echo).unwrap().unwrap());
        assert!(st.satisfies(&action), "{action:?} by {echo}");
    }
}
