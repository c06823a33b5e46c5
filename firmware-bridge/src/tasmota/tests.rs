use super::*;
use crate::dialect::golden::{Golden as Row, assert_golden, assert_unsupported};
use crate::{Dialect, Features, encode, parse_state, state_topics};

fn cmd(kind: DeviceKind, relay: Option<u8>, features: Features, action: Action) -> DeviceCommand {
    DeviceCommand {
        device_id: format!("{}.t", kind.domain()),
        kind,
        dialect: Dialect::Tasmota { topic: "tasmota_A1B2C3".into(), relay },
        action,
        features,
    }
}

fn rgb_light() -> Features {
    Features { dimmable: true, color: true, color_temp: true, position: false, ..Default::default() }
}

/// Golden vectors: tasmota/docs MQTT.md ("cmnd/tasmota_A1B2C3/POWER"
/// examples) and Commands.md (Power, Dimmer, Color, CT, Shutter*).
/// Kind, relay, features, action, then the expected topic and payload.
type Golden = (DeviceKind, Option<u8>, Features, Action, &'static str, &'static str);

#[test]
fn golden_commands() {
    let none = Features::default();
    let shutter = Features { position: true, ..Default::default() };
    let cases: Vec<Golden> = vec![
        (DeviceKind::Switch, None, none.clone(), Action::TurnOn, "cmnd/tasmota_A1B2C3/POWER", "ON"),
        (DeviceKind::Switch, None, none.clone(), Action::TurnOff, "cmnd/tasmota_A1B2C3/POWER", "OFF"),
        (DeviceKind::Switch, None, none.clone(), Action::Toggle, "cmnd/tasmota_A1B2C3/POWER", "TOGGLE"),
        (DeviceKind::Switch, Some(2), none.clone(), Action::TurnOn, "cmnd/tasmota_A1B2C3/POWER2", "ON"),
        (DeviceKind::Light, None, rgb_light(), Action::Brightness { percent: 40 }, "cmnd/tasmota_A1B2C3/Dimmer", "40"),
        (
            DeviceKind::Light,
            None,
            rgb_light(),
            Action::Color { rgb: Rgb { r: 255, g: 128, b: 0 } },
            "cmnd/tasmota_A1B2C3/Color",
            "#FF8000",
        ),
        (DeviceKind::Light, None, rgb_light(), Action::ColorTemp { kelvin: 2700 }, "cmnd/tasmota_A1B2C3/CT", "370"),
        (
            DeviceKind::Cover,
            None,
            shutter.clone(),
            Action::Position { percent: 30 },
            "cmnd/tasmota_A1B2C3/ShutterPosition1",
            "30",
        ),
        (DeviceKind::Cover, None, shutter.clone(), Action::Open, "cmnd/tasmota_A1B2C3/ShutterOpen1", ""),
        (DeviceKind::Cover, Some(2), shutter.clone(), Action::TurnOff, "cmnd/tasmota_A1B2C3/ShutterClose2", ""),
    ];
    for (kind, relay, f, action, topic, payload) in cases {
        let out = encode(&cmd(kind, relay, f, action.clone())).unwrap();
        assert_eq!(out.len(), 1, "{action:?}");
        assert_eq!(out[0].topic, topic, "{action:?}");
        assert_eq!(String::from_utf8(out[0].payload.clone()).unwrap(), payload, "{action:?}");
    }
}

#[test]
fn unsupported_combinations() {
    // A colour on a relay (switch kind), and on a light without the colour feature.
    let red = Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } };
    for (kind, f) in [(DeviceKind::Switch, rgb_light()), (DeviceKind::Light, Features::default())] {
        let e = encode(&cmd(kind, None, f, red.clone())).unwrap_err();
        assert!(matches!(&e, BridgeError::Unsupported { dialect: "tasmota", .. }), "{e:?}");
        assert!(e.to_string().contains("colour #ff0000"), "{e}");
    }
    let e = encode(&cmd(DeviceKind::Lock, None, Features::default(), Action::Lock)).unwrap_err();
    assert!(matches!(e, BridgeError::Unsupported { .. }));
    let e = encode(&cmd(DeviceKind::Climate, None, Features::default(), Action::TargetTemperature { celsius: 20.0 }))
        .unwrap_err();
    assert!(matches!(e, BridgeError::Unsupported { .. }));
    // CT outside 153..500 mired.
    let e = encode(&cmd(DeviceKind::Light, None, rgb_light(), Action::ColorTemp { kelvin: 9000 })).unwrap_err();
    assert!(matches!(e, BridgeError::OutOfRange { field: "color_temp", .. }), "{e:?}");
}

#[test]
fn golden_state() {
    let d = Dialect::Tasmota { topic: "tasmota_A1B2C3".into(), relay: None };
    let light = |topic: &str, payload: &str| parse_state(&d, DeviceKind::Light, topic, payload.as_bytes());
    // MQTT.md: "stat/tasmota_A1B2C3/RESULT = {"POWER":"ON"}" and "stat/tasmota_A1B2C3/POWER = ON".
    assert_eq!(light("stat/tasmota_A1B2C3/RESULT", r#"{"POWER":"ON"}"#).unwrap().unwrap().on, Some(true));
    assert_eq!(light("stat/tasmota_A1B2C3/POWER", "OFF").unwrap().unwrap().on, Some(false));
    let p = light(
        "stat/tasmota_A1B2C3/RESULT",
        r#"{"POWER":"ON","Dimmer":40,"Color":"FF800000","HSBColor":"30,100,40","Channel":[100,50,0,0],"CT":370}"#,
    )
    .unwrap()
    .unwrap();
    assert_eq!(p.brightness_pct, Some(40));
    assert_eq!(p.rgb, Some(Rgb { r: 255, g: 128, b: 0 }));
    assert_eq!(p.color_temp_kelvin, Some(2703));
    let p = light("stat/tasmota_A1B2C3/RESULT", r#"{"Color":"255,0,0"}"#).unwrap().unwrap();
    assert_eq!(p.rgb, Some(Rgb { r: 255, g: 0, b: 0 }));
    let p = light(
        "tele/tasmota_A1B2C3/STATE",
        r#"{"Time":"2024-01-01T10:00:00","Uptime":"0T01:00:00","POWER":"OFF","Dimmer":100,"Wifi":{"RSSI":80}}"#,
    )
    .unwrap()
    .unwrap();
    assert_eq!((p.on, p.brightness_pct), (Some(false), Some(100)));
    assert_eq!(light("tele/tasmota_A1B2C3/LWT", "Online").unwrap().unwrap().available, Some(true));
    assert_eq!(light("tele/tasmota_A1B2C3/LWT", "Offline").unwrap().unwrap().available, Some(false));
    // Unrelated RESULTs say nothing.
    assert_eq!(light("stat/tasmota_A1B2C3/RESULT", r#"{"TelePeriod":300}"#).unwrap(), None);
    assert_eq!(light("stat/tasmota_A1B2C3/RESULT", r#"{"Command":"Unknown"}"#).unwrap(), None);
    assert_eq!(light("stat/other/RESULT", r#"{"POWER":"ON"}"#).unwrap(), None);
    // Multi-relay: POWER2 belongs to relay 2 only.
    let d2 = Dialect::Tasmota { topic: "tasmota_A1B2C3".into(), relay: Some(2) };
    let p = parse_state(&d2, DeviceKind::Switch, "stat/tasmota_A1B2C3/RESULT", br#"{"POWER1":"ON","POWER2":"OFF"}"#)
        .unwrap()
        .unwrap();
    assert_eq!(p.on, Some(false));
    assert_eq!(parse_state(&d2, DeviceKind::Switch, "stat/tasmota_A1B2C3/POWER1", b"ON").unwrap(), None);
    // Shutter (Blinds-and-Shutters.md).
    let p = parse_state(
        &d,
        DeviceKind::Cover,
        "stat/tasmota_A1B2C3/RESULT",
        br#"{"Shutter1":{"Position":30,"Direction":0,"Target":30,"Tilt":0}}"#,
    )
    .unwrap()
    .unwrap();
    assert_eq!(p.position, Some(30));
    // SENSOR (DS18B20 example in the docs).
    let p = parse_state(
        &d,
        DeviceKind::Sensor,
        "tele/tasmota_A1B2C3/SENSOR",
        br#"{"Time":"2024-01-01T10:00:00","DS18B20":{"Id":"01144A0CB2AA","Temperature":21.5},"TempUnit":"C"}"#,
    )
    .unwrap()
    .unwrap();
    assert_eq!(p.current_temperature, Some(21.5));
    assert_eq!(
        state_topics(&d, DeviceKind::Light),
        vec![
            "stat/tasmota_A1B2C3/RESULT",
            "stat/tasmota_A1B2C3/POWER",
            "tele/tasmota_A1B2C3/STATE",
            "tele/tasmota_A1B2C3/LWT"
        ]
    );
}

#[test]
fn bad_state() {
    let d = Dialect::Tasmota { topic: "tasmota_A1B2C3".into(), relay: None };
    for (topic, payload) in [
        ("stat/tasmota_A1B2C3/POWER", &b"MAYBE"[..]),
        ("stat/tasmota_A1B2C3/RESULT", b"{\"POWER\":"),
        ("stat/tasmota_A1B2C3/RESULT", b"{\"Color\":\"zz\"}"),
        ("tele/tasmota_A1B2C3/LWT", b"online?"),
        ("stat/tasmota_A1B2C3/POWER", b"\xc3\x28"),
    ] {
        let e = parse_state(&d, DeviceKind::Light, topic, payload).unwrap_err();
        assert!(matches!(&e, BridgeError::BadPayload { topic: t, .. } if t == topic), "{e:?}");
    }
    assert!(matches!(
        parse_state(&d, DeviceKind::Light, "stat/tasmota_A1B2C3/RESULT", br#"{"Dimmer":150}"#),
        Err(BridgeError::OutOfRange { .. })
    ));
}

fn t(relay: Option<u8>) -> Dialect {
    Dialect::Tasmota { topic: "tasmota_A1B2C3".into(), relay }
}

/// Golden vectors: Commands.md `FanSpeed` (iFan02/iFan03: 0 = off, 1..3),
/// percent -> speed as homeassistant/components/tasmota/fan.py does
/// (util/percentage.py over low|medium|high; turn on = medium), and a valve
/// on a relay (`POWER<n>` ON = open).
#[test]
fn golden_new_kinds() {
    let ifan = Features { speed: true, ..Default::default() };
    let f = "cmnd/tasmota_A1B2C3/FanSpeed";
    let rows: Vec<Row> = vec![
        (DeviceKind::Fan, Action::FanSpeed { percent: 0 }, vec![(f, "0", false)]),
        (DeviceKind::Fan, Action::FanSpeed { percent: 1 }, vec![(f, "1", false)]),
        (DeviceKind::Fan, Action::FanSpeed { percent: 33 }, vec![(f, "1", false)]),
        (DeviceKind::Fan, Action::FanSpeed { percent: 50 }, vec![(f, "2", false)]),
        (DeviceKind::Fan, Action::FanSpeed { percent: 66 }, vec![(f, "2", false)]),
        (DeviceKind::Fan, Action::FanSpeed { percent: 67 }, vec![(f, "3", false)]),
        (DeviceKind::Fan, Action::FanSpeed { percent: 100 }, vec![(f, "3", false)]),
        (DeviceKind::Fan, Action::TurnOn, vec![(f, "2", false)]),
        (DeviceKind::Fan, Action::TurnOff, vec![(f, "0", false)]),
    ];
    assert_golden(&t(None), &ifan, rows);
    // A fan without `speed` is a relay.
    assert_golden(
        &t(None),
        &Features::default(),
        vec![(DeviceKind::Fan, Action::TurnOn, vec![("cmnd/tasmota_A1B2C3/POWER", "ON", false)])],
    );
    let p2 = "cmnd/tasmota_A1B2C3/POWER2";
    let valve = Features { position: true, ..Default::default() };
    assert_golden(
        &t(Some(2)),
        &valve,
        vec![
            (DeviceKind::Valve, Action::Open, vec![(p2, "ON", false)]),
            (DeviceKind::Valve, Action::TurnOn, vec![(p2, "ON", false)]),
            (DeviceKind::Valve, Action::Close, vec![(p2, "OFF", false)]),
            (DeviceKind::Valve, Action::TurnOff, vec![(p2, "OFF", false)]),
        ],
    );
}

#[test]
fn unsupported_new_kinds() {
    let all = crate::dialect::golden::all_features();
    assert_unsupported(
        &t(None),
        &all,
        vec![
            (DeviceKind::Valve, Action::Stop),
            (DeviceKind::Valve, Action::Position { percent: 50 }),
            (DeviceKind::Fan, Action::Toggle),
            // A vacuum's stop must not become ShutterStop.
            (DeviceKind::Vacuum, Action::Stop),
            (DeviceKind::Vacuum, Action::Start),
            (DeviceKind::LawnMower, Action::Pause),
            (DeviceKind::Button, Action::Press),
            (DeviceKind::MediaPlayer, Action::Play),
            (DeviceKind::MediaPlayer, Action::Mute { muted: true }),
            (DeviceKind::InputBoolean, Action::TurnOn),
            (DeviceKind::Climate, Action::FanMode { mode: "auto".into() }),
        ],
    );
    for kind in [DeviceKind::Button, DeviceKind::Vacuum, DeviceKind::LawnMower, DeviceKind::InputBoolean] {
        assert!(state_topics(&t(None), kind).is_empty(), "{kind:?}");
    }
}

#[test]
fn golden_state_new_kinds() {
    let d = t(None);
    let fan = |topic: &str, payload: &str| parse_state(&d, DeviceKind::Fan, topic, payload.as_bytes());
    let r = "stat/tasmota_A1B2C3/RESULT";
    let p = fan(r, r#"{"FanSpeed":2}"#).unwrap().unwrap();
    assert_eq!((p.on, p.fan_speed_pct), (Some(true), Some(66)));
    let p = fan(r, r#"{"FanSpeed":0}"#).unwrap().unwrap();
    assert_eq!((p.on, p.fan_speed_pct), (Some(false), None));
    let p = fan("tele/tasmota_A1B2C3/STATE", r#"{"Uptime":"0T01:00:00","POWER1":"ON","FanSpeed":3}"#).unwrap().unwrap();
    assert_eq!((p.on, p.fan_speed_pct), (Some(true), Some(100)));
    assert!(matches!(fan(r, r#"{"FanSpeed":4}"#), Err(BridgeError::OutOfRange { field: "FanSpeed", .. })));
    assert!(matches!(fan(r, r#"{"FanSpeed":"fast"}"#), Err(BridgeError::BadPayload { .. })));
    let valve = |topic: &str, payload: &str| parse_state(&d, DeviceKind::Valve, topic, payload.as_bytes());
    assert_eq!(valve("stat/tasmota_A1B2C3/POWER", "ON").unwrap().unwrap().on, Some(true));
    assert_eq!(valve(r, r#"{"POWER":"OFF"}"#).unwrap().unwrap().on, Some(false));
    assert_eq!(state_topics(&d, DeviceKind::Valve), state_topics(&d, DeviceKind::Switch));
    // Each command's echo confirms it.
    for (kind, action, echo) in [
        (DeviceKind::Fan, Action::FanSpeed { percent: 66 }, r#"{"FanSpeed":2}"#),
        (DeviceKind::Fan, Action::FanSpeed { percent: 100 }, r#"{"FanSpeed":3}"#),
        (DeviceKind::Fan, Action::FanSpeed { percent: 0 }, r#"{"FanSpeed":0}"#),
        (DeviceKind::Fan, Action::TurnOn, r#"{"FanSpeed":2}"#),
        (DeviceKind::Valve, Action::Open, r#"{"POWER":"ON"}"#),
        (DeviceKind::Valve, Action::Close, r#"{"POWER":"OFF"}"#),
    ] {
        let mut st = crate::DeviceState::default();
        st.apply(&parse_state(&d, kind, r, echo.as_bytes()).unwrap().unwrap());
        assert!(st.satisfies(&action), "{action:?} by {echo}");
    }
}
