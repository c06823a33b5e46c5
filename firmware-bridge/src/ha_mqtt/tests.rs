use crate::dialect::golden::{Golden, all_features, assert_golden, assert_unsupported};
use crate::{
    Action, BridgeError, DeviceCommand, DeviceKind, DeviceState, Dialect, Features, Rgb, encode, parse_state,
    state_topics,
};

fn dialect(json: bool) -> Dialect {
    Dialect::HaMqtt {
        command_topic: "homeassistant/light/kitchen/set".into(),
        state_topic: Some("homeassistant/light/kitchen/state".into()),
        json,
        payload_on: "ON".into(),
        payload_off: "OFF".into(),
    }
}

fn cmd(kind: DeviceKind, d: Dialect, action: Action) -> DeviceCommand {
    let features = Features { dimmable: true, color: true, color_temp: true, position: false, ..Default::default() };
    DeviceCommand { device_id: format!("{}.x", kind.domain()), kind, dialect: d, action, features }
}

/// Golden vectors from the light.mqtt / switch.mqtt pages: the documented
/// JSON light (`{"state": "ON", "brightness": 255}`) and the default
/// schema's `ON`/`OFF`, with custom payloads honoured.
#[test]
fn golden_commands() {
    let cases: Vec<(DeviceKind, Dialect, Action, &str)> = vec![
        (DeviceKind::Light, dialect(true), Action::TurnOn, r#"{"state":"ON"}"#),
        (DeviceKind::Light, dialect(true), Action::Brightness { percent: 100 }, r#"{"brightness":255,"state":"ON"}"#),
        (
            DeviceKind::Light,
            dialect(true),
            Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } },
            r#"{"color":{"b":0,"g":0,"r":255},"state":"ON"}"#,
        ),
        (DeviceKind::Light, dialect(false), Action::TurnOff, "OFF"),
        (
            DeviceKind::Switch,
            Dialect::HaMqtt {
                command_topic: "homeassistant/light/kitchen/set".into(),
                state_topic: None,
                json: false,
                payload_on: "1".into(),
                payload_off: "0".into(),
            },
            Action::TurnOn,
            "1",
        ),
        (DeviceKind::Cover, dialect(false), Action::TurnOff, "CLOSE"),
        (DeviceKind::Lock, dialect(false), Action::TurnOn, "LOCK"),
    ];
    for (kind, d, action, want) in cases {
        let out = encode(&cmd(kind, d, action.clone())).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].topic, "homeassistant/light/kitchen/set");
        assert_eq!(String::from_utf8_lossy(&out[0].payload), want, "{kind:?} {action:?}");
    }
    // Default-schema lights take no brightness here (no brightness_command_topic).
    assert!(encode(&cmd(DeviceKind::Light, dialect(false), Action::Brightness { percent: 5 })).is_err());
}

#[test]
fn states_parse_and_confirm() {
    let t = "homeassistant/light/kitchen/state";
    let p =
        parse_state(&dialect(true), DeviceKind::Light, t, br#"{"state": "ON", "brightness": 255}"#).unwrap().unwrap();
    let mut st = DeviceState::default();
    st.apply(&p);
    assert!(st.satisfies(&Action::Brightness { percent: 100 }));
    let p = parse_state(&dialect(false), DeviceKind::Switch, t, b"OFF").unwrap().unwrap();
    assert_eq!(p.on, Some(false));
    assert!(parse_state(&dialect(false), DeviceKind::Switch, t, b"MAYBE").is_err());
    assert_eq!(parse_state(&dialect(false), DeviceKind::Switch, "other/topic", b"ON").unwrap(), None);
    let p = parse_state(&dialect(false), DeviceKind::Cover, t, b"open").unwrap().unwrap();
    assert_eq!(p.on, Some(true));
}

fn platform(command: &str, state: &str) -> Dialect {
    Dialect::HaMqtt {
        command_topic: command.into(),
        state_topic: Some(state.into()),
        json: false,
        payload_on: "ON".into(),
        payload_off: "OFF".into(),
    }
}

/// Golden vectors from valve.mqtt (payload_open/close, or the position with
/// reports_position), vacuum.mqtt (the payload_* defaults on command_topic),
/// lawn_mower.mqtt (`start_mowing`/`pause`/`dock`, one topic as in its
/// single-topic example), button.mqtt (payload_press `PRESS`) and the
/// hub-held input_boolean (switch payloads, retained).
#[test]
fn golden_new_kinds() {
    let c = "home/x/set";
    let d = platform(c, "home/x/state");
    let one = |p: &'static str| vec![(c, p, false)];
    let no_position = Features::default();
    assert_golden(
        &d,
        &no_position,
        vec![
            (DeviceKind::Valve, Action::Open, one("OPEN")),
            (DeviceKind::Valve, Action::TurnOn, one("OPEN")),
            (DeviceKind::Valve, Action::Close, one("CLOSE")),
            (DeviceKind::Valve, Action::TurnOff, one("CLOSE")),
        ],
    );
    let rows: Vec<Golden> = vec![
        (DeviceKind::Valve, Action::Open, one("100")),
        (DeviceKind::Valve, Action::Close, one("0")),
        (DeviceKind::Valve, Action::Position { percent: 40 }, one("40")),
        (DeviceKind::Vacuum, Action::Start, one("start")),
        (DeviceKind::Vacuum, Action::TurnOn, one("start")),
        (DeviceKind::Vacuum, Action::Pause, one("pause")),
        (DeviceKind::Vacuum, Action::Stop, one("stop")),
        (DeviceKind::Vacuum, Action::Dock, one("return_to_base")),
        (DeviceKind::LawnMower, Action::Start, one("start_mowing")),
        (DeviceKind::LawnMower, Action::Pause, one("pause")),
        (DeviceKind::LawnMower, Action::Dock, one("dock")),
        (DeviceKind::LawnMower, Action::TurnOff, one("dock")),
        (DeviceKind::Button, Action::Press, one("PRESS")),
        (DeviceKind::InputBoolean, Action::TurnOn, vec![(c, "ON", true)]),
        (DeviceKind::InputBoolean, Action::TurnOff, vec![(c, "OFF", true)]),
    ];
    assert_golden(&d, &all_features(), rows);
    let custom = Dialect::HaMqtt {
        command_topic: c.into(),
        state_topic: Some(c.into()),
        json: false,
        payload_on: "1".into(),
        payload_off: "0".into(),
    };
    assert_golden(&custom, &no_position, vec![(DeviceKind::InputBoolean, Action::TurnOn, vec![(c, "1", true)])]);
    assert_unsupported(
        &d,
        &all_features(),
        vec![
            // valve.mqtt's payload_stop has no default.
            (DeviceKind::Valve, Action::Stop),
            // Needs clean_segments_command_topic / percentage_command_topic /
            // fan_mode_command_topic, which the dialect does not carry.
            (DeviceKind::Vacuum, Action::CleanSegments { segments: vec!["1".into()] }),
            (DeviceKind::Fan, Action::FanSpeed { percent: 50 }),
            (DeviceKind::Climate, Action::FanMode { mode: "auto".into() }),
            (DeviceKind::MediaPlayer, Action::Play),
            (DeviceKind::MediaPlayer, Action::TurnOn),
            (DeviceKind::MediaPlayer, Action::Volume { percent: 5 }),
            (DeviceKind::InputBoolean, Action::Toggle),
            (DeviceKind::Weather, Action::TurnOn),
        ],
    );
    assert!(state_topics(&d, DeviceKind::Button).is_empty());
    assert_eq!(state_topics(&d, DeviceKind::Vacuum), vec!["home/x/state"]);
}

#[test]
fn golden_state_new_kinds() {
    let t = "home/x/state";
    let d = platform("home/x/set", t);
    let parse = |kind: DeviceKind, payload: &str| parse_state(&d, kind, t, payload.as_bytes());
    assert_eq!(parse(DeviceKind::Valve, "open").unwrap().unwrap().on, Some(true));
    assert_eq!(parse(DeviceKind::Valve, "closed").unwrap().unwrap().on, Some(false));
    assert_eq!(parse(DeviceKind::Valve, "opening").unwrap(), None);
    let p = parse(DeviceKind::Valve, "40").unwrap().unwrap();
    assert_eq!((p.position, p.on), (Some(40), Some(true)));
    let p = parse(DeviceKind::Valve, r#"{"state": "opening", "position": 10}"#).unwrap().unwrap();
    assert_eq!(p.position, Some(10));
    // Vacuum: the documented JSON state message.
    let p = parse(DeviceKind::Vacuum, r#"{"state":"docked","fan_speed":"off","segments":{"1":"Kitchen"}}"#)
        .unwrap()
        .unwrap();
    assert_eq!(p.activity.as_deref(), Some("docked"));
    assert_eq!(parse(DeviceKind::Vacuum, "null").unwrap(), None);
    assert_eq!(parse(DeviceKind::LawnMower, "mowing").unwrap().unwrap().activity.as_deref(), Some("mowing"));
    assert_eq!(parse(DeviceKind::LawnMower, "none").unwrap(), None);
    assert_eq!(parse(DeviceKind::Weather, "sunny").unwrap().unwrap().value, Some("sunny".into()));
    assert_eq!(parse(DeviceKind::InputBoolean, "ON").unwrap().unwrap().on, Some(true));
    for (kind, payload) in [
        (DeviceKind::Valve, "ajar"),
        (DeviceKind::Valve, r#"{"state":3}"#),
        (DeviceKind::Vacuum, "docked"),
        (DeviceKind::Vacuum, r#"{"fan_speed":"max"}"#),
        (DeviceKind::Vacuum, r#"{"state":"vacuuming"}"#),
        (DeviceKind::LawnMower, "flying"),
        (DeviceKind::InputBoolean, "MAYBE"),
    ] {
        let e = parse(kind, payload).unwrap_err();
        assert!(matches!(&e, BridgeError::BadPayload { topic, .. } if topic == t), "{payload}: {e:?}");
    }
    assert!(matches!(parse(DeviceKind::Valve, "140"), Err(BridgeError::OutOfRange { .. })));
    // Each command's echo confirms it; the hub-held boolean's echo is its
    // own retained message coming back.
    for (kind, action, echo) in [
        (DeviceKind::Valve, Action::Open, "open"),
        (DeviceKind::Valve, Action::Position { percent: 40 }, "40"),
        (DeviceKind::Vacuum, Action::Start, r#"{"state":"cleaning"}"#),
        (DeviceKind::Vacuum, Action::Dock, r#"{"state":"returning"}"#),
        (DeviceKind::LawnMower, Action::Pause, "paused"),
        (DeviceKind::InputBoolean, Action::TurnOn, "ON"),
    ] {
        let mut st = DeviceState::default();
        st.apply(&parse(kind, echo).unwrap().unwrap());
        assert!(st.satisfies(&action), "{action:?} by {echo}");
    }
}
