use super::*;
use crate::dialect::golden::{all_features, assert_golden, assert_unsupported};
use crate::{Dialect, encode, parse_state, state_topics};

fn d(relay: u8) -> Dialect {
    Dialect::ShellyGen1 { device_id: "shelly1-B929CC".into(), relay }
}

fn cmd(kind: DeviceKind, relay: u8, features: Features, action: Action) -> DeviceCommand {
    DeviceCommand { device_id: format!("{}.s", kind.domain()), kind, dialect: d(relay), action, features }
}

/// Golden vectors: Shelly gen1 API docs, "MQTT" section of Shelly1
/// (relay), Shelly2.5 (roller), Dimmer (light/set) and RGBW2 (color/set).
#[test]
fn golden_commands() {
    let none = Features::default();
    let roller = Features { position: true, ..Default::default() };
    let dimmer = Features { dimmable: true, ..Default::default() };
    let rgbw = Features { dimmable: true, color: true, ..Default::default() };
    let cases: Vec<(DeviceKind, u8, Features, Action, &str, &str)> = vec![
        (DeviceKind::Switch, 0, none.clone(), Action::TurnOn, "shellies/shelly1-B929CC/relay/0/command", "on"),
        (DeviceKind::Switch, 1, none.clone(), Action::TurnOff, "shellies/shelly1-B929CC/relay/1/command", "off"),
        (DeviceKind::Light, 0, none.clone(), Action::Toggle, "shellies/shelly1-B929CC/relay/0/command", "toggle"),
        (DeviceKind::Cover, 0, roller.clone(), Action::Open, "shellies/shelly1-B929CC/roller/0/command", "open"),
        (DeviceKind::Cover, 0, roller.clone(), Action::Close, "shellies/shelly1-B929CC/roller/0/command", "close"),
        (DeviceKind::Cover, 0, roller.clone(), Action::Stop, "shellies/shelly1-B929CC/roller/0/command", "stop"),
        (
            DeviceKind::Cover,
            0,
            roller.clone(),
            Action::Position { percent: 60 },
            "shellies/shelly1-B929CC/roller/0/command/pos",
            "60",
        ),
        (
            DeviceKind::Light,
            0,
            dimmer.clone(),
            Action::Brightness { percent: 35 },
            "shellies/shelly1-B929CC/light/0/set",
            r#"{"brightness":35,"turn":"on"}"#,
        ),
        (DeviceKind::Light, 0, dimmer.clone(), Action::TurnOn, "shellies/shelly1-B929CC/light/0/command", "on"),
        (
            DeviceKind::Light,
            0,
            rgbw.clone(),
            Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } },
            "shellies/shelly1-B929CC/color/0/set",
            r#"{"blue":0,"green":0,"mode":"color","red":255,"turn":"on"}"#,
        ),
    ];
    for (kind, relay, f, action, topic, payload) in cases {
        let out = encode(&cmd(kind, relay, f, action.clone())).unwrap();
        assert_eq!(out[0].topic, topic, "{action:?}");
        let got = String::from_utf8(out[0].payload.clone()).unwrap();
        if payload.starts_with('{') {
            let g: Value = serde_json::from_str(&got).unwrap();
            let w: Value = serde_json::from_str(payload).unwrap();
            assert_eq!(g, w);
        } else {
            assert_eq!(got, payload);
        }
    }
    // A colour on a plain relay, a lock, a thermostat: unsupported.
    let e =
        encode(&cmd(DeviceKind::Switch, 0, none.clone(), Action::Color { rgb: Rgb { r: 1, g: 1, b: 1 } })).unwrap_err();
    assert!(matches!(e, BridgeError::Unsupported { dialect: "shelly_gen1", .. }));
    assert!(encode(&cmd(DeviceKind::Lock, 0, none.clone(), Action::Lock)).is_err());
}

#[test]
fn golden_state() {
    let sw = |topic: &str, payload: &[u8]| parse_state(&d(0), DeviceKind::Switch, topic, payload);
    assert_eq!(sw("shellies/shelly1-B929CC/relay/0", b"on").unwrap().unwrap().on, Some(true));
    assert_eq!(sw("shellies/shelly1-B929CC/relay/0", b"off").unwrap().unwrap().on, Some(false));
    assert_eq!(sw("shellies/shelly1-B929CC/relay/1", b"on").unwrap(), None);
    assert_eq!(sw("shellies/shelly1-B929CC/relay/0/power", b"12.5").unwrap(), None);
    assert_eq!(sw("shellies/shelly1-B929CC/online", b"false").unwrap().unwrap().available, Some(false));
    let cv = |topic: &str, payload: &[u8]| parse_state(&d(0), DeviceKind::Cover, topic, payload);
    assert_eq!(cv("shellies/shelly1-B929CC/roller/0/pos", b"60").unwrap().unwrap().position, Some(60));
    assert_eq!(cv("shellies/shelly1-B929CC/roller/0/pos", b"-1").unwrap(), None);
    assert_eq!(cv("shellies/shelly1-B929CC/roller/0", b"stop").unwrap(), None);
    let p = parse_state(
        &d(0),
        DeviceKind::Light,
        "shellies/shelly1-B929CC/light/0/status",
        br#"{"ison":true,"has_timer":false,"mode":"white","brightness":35}"#,
    )
    .unwrap()
    .unwrap();
    assert_eq!((p.on, p.brightness_pct), (Some(true), Some(35)));
    assert_eq!(
        state_topics(&d(0), DeviceKind::Cover),
        vec![
            "shellies/shelly1-B929CC/roller/0",
            "shellies/shelly1-B929CC/roller/0/pos",
            "shellies/shelly1-B929CC/online"
        ]
    );
    // Errors name the topic.
    for (topic, payload) in
        [("shellies/shelly1-B929CC/relay/0", &b"ON!"[..]), ("shellies/shelly1-B929CC/online", b"yes")]
    {
        let e = sw(topic, payload).unwrap_err();
        assert!(matches!(&e, BridgeError::BadPayload { topic: t, .. } if t == topic), "{e:?}");
    }
    assert!(matches!(cv("shellies/shelly1-B929CC/roller/0/pos", b"101"), Err(BridgeError::OutOfRange { .. })));
}

/// Golden vectors: a valve on a Shelly relay (`relay/<i>/command` on =
/// open, off = closed; the relay state reports it).
#[test]
fn golden_new_kinds() {
    let c = "shellies/shelly1-B929CC/relay/1/command";
    assert_golden(
        &d(1),
        &all_features(),
        vec![
            (DeviceKind::Valve, Action::Open, vec![(c, "on", false)]),
            (DeviceKind::Valve, Action::TurnOn, vec![(c, "on", false)]),
            (DeviceKind::Valve, Action::Close, vec![(c, "off", false)]),
            (DeviceKind::Valve, Action::TurnOff, vec![(c, "off", false)]),
        ],
    );
    assert_unsupported(
        &d(0),
        &all_features(),
        vec![
            (DeviceKind::Valve, Action::Stop),
            (DeviceKind::Valve, Action::Position { percent: 40 }),
            (DeviceKind::Valve, Action::Toggle),
            (DeviceKind::Fan, Action::FanSpeed { percent: 40 }),
            (DeviceKind::Climate, Action::FanMode { mode: "auto".into() }),
            (DeviceKind::Vacuum, Action::Start),
            (DeviceKind::Vacuum, Action::Stop),
            (DeviceKind::LawnMower, Action::Start),
            (DeviceKind::Button, Action::Press),
            (DeviceKind::MediaPlayer, Action::Play),
            (DeviceKind::InputBoolean, Action::TurnOn),
        ],
    );
    assert_eq!(
        state_topics(&d(1), DeviceKind::Valve),
        vec!["shellies/shelly1-B929CC/relay/1", "shellies/shelly1-B929CC/online"]
    );
    for kind in [DeviceKind::Button, DeviceKind::Vacuum, DeviceKind::InputBoolean, DeviceKind::Weather] {
        assert!(state_topics(&d(0), kind).is_empty(), "{kind:?}");
    }
    for (payload, action) in [("on", Action::Open), ("off", Action::Close)] {
        let p = parse_state(&d(1), DeviceKind::Valve, "shellies/shelly1-B929CC/relay/1", payload.as_bytes())
            .unwrap()
            .unwrap();
        let mut st = crate::DeviceState::default();
        st.apply(&p);
        assert!(st.satisfies(&action), "{action:?} by {payload}");
    }
    let e = parse_state(&d(1), DeviceKind::Valve, "shellies/shelly1-B929CC/relay/1", b"open").unwrap_err();
    assert!(matches!(e, BridgeError::BadPayload { .. }));
}
