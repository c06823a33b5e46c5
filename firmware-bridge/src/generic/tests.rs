use super::*;
use crate::dialect::golden::{Golden, all_features, assert_golden, assert_unsupported};
use crate::{Dialect, Features, encode, parse_state, state_topics};

fn d() -> Dialect {
    Dialect::GenericJson { command_topic: "diy/desk/set".into(), state_topic: "diy/desk".into() }
}

/// Round trip: every encoded command, echoed back as state by a device
/// that applies it, satisfies the command.
#[test]
fn round_trip() {
    let f = Features { dimmable: true, color: true, color_temp: true, position: true, ..Default::default() };
    for (kind, action) in [
        (DeviceKind::Light, Action::TurnOn),
        (DeviceKind::Light, Action::Brightness { percent: 30 }),
        (DeviceKind::Light, Action::Color { rgb: Rgb { r: 0, g: 255, b: 0 } }),
        (DeviceKind::Light, Action::ColorTemp { kelvin: 3000 }),
        (DeviceKind::Climate, Action::TargetTemperature { celsius: 19.5 }),
        (DeviceKind::Cover, Action::Position { percent: 70 }),
    ] {
        let cmd =
            DeviceCommand { device_id: "x.y".into(), kind, dialect: d(), action: action.clone(), features: f.clone() };
        let out = encode(&cmd).unwrap();
        assert_eq!(out[0].topic, "diy/desk/set");
        let mut echo: serde_json::Map<String, Value> = serde_json::from_slice(&out[0].payload).unwrap();
        if let Some(Value::String(s)) = echo.get("state")
            && s == "OPEN"
        {
            echo.insert("state".into(), "OPEN".into());
        }
        let patch = parse_state(&d(), kind, "diy/desk", Value::Object(echo).to_string().as_bytes()).unwrap().unwrap();
        let mut st = crate::DeviceState::default();
        st.apply(&patch);
        assert!(st.satisfies(&action), "{action:?} -> {st:?}");
    }
}

#[test]
fn bad() {
    for payload in [&b"[]"[..], b"{\"state\":\"MAYBE\"}", b"{\"locked\":1}", b"{\"color\":5}"] {
        let e = parse_state(&d(), DeviceKind::Lock, "diy/desk", payload).unwrap_err();
        assert!(matches!(&e, BridgeError::BadPayload { topic, .. } if topic == "diy/desk"), "{e:?}");
    }
}

/// Golden vectors for hubd's generic JSON convention (the module docs):
/// one JSON object on the command topic, HA's words for commands.
#[test]
fn golden_new_kinds() {
    let t = "diy/desk/set";
    let one = |body: &'static str| vec![(t, body, false)];
    let rows: Vec<Golden> = vec![
        (DeviceKind::Fan, Action::FanSpeed { percent: 40 }, one(r#"{"state":"ON","percentage":40}"#)),
        (DeviceKind::Fan, Action::FanSpeed { percent: 0 }, one(r#"{"state":"OFF"}"#)),
        (DeviceKind::Climate, Action::FanMode { mode: "Auto".into() }, one(r#"{"fan_mode":"auto"}"#)),
        (DeviceKind::Valve, Action::Open, one(r#"{"state":"OPEN"}"#)),
        (DeviceKind::Valve, Action::TurnOff, one(r#"{"state":"CLOSE"}"#)),
        (DeviceKind::Valve, Action::Stop, one(r#"{"state":"STOP"}"#)),
        (DeviceKind::Valve, Action::Position { percent: 60 }, one(r#"{"position":60}"#)),
        (DeviceKind::MediaPlayer, Action::Play, one(r#"{"command":"play"}"#)),
        (DeviceKind::MediaPlayer, Action::Pause, one(r#"{"command":"pause"}"#)),
        (DeviceKind::MediaPlayer, Action::NextTrack, one(r#"{"command":"next"}"#)),
        (DeviceKind::MediaPlayer, Action::PreviousTrack, one(r#"{"command":"previous"}"#)),
        (DeviceKind::MediaPlayer, Action::Volume { percent: 30 }, one(r#"{"volume":30}"#)),
        (DeviceKind::MediaPlayer, Action::Mute { muted: true }, one(r#"{"muted":true}"#)),
        (DeviceKind::MediaPlayer, Action::TurnOff, one(r#"{"state":"OFF"}"#)),
        (
            DeviceKind::MediaPlayer,
            Action::PlayMedia { id: "http://radio.local/jazz.mp3".into(), class: "channel".into() },
            one(
                r#"{"command":"play_media","media_content_id":"http://radio.local/jazz.mp3","media_content_type":"channel"}"#,
            ),
        ),
        (DeviceKind::Vacuum, Action::Start, one(r#"{"command":"start"}"#)),
        (DeviceKind::Vacuum, Action::TurnOn, one(r#"{"command":"start"}"#)),
        (DeviceKind::Vacuum, Action::Stop, one(r#"{"command":"stop"}"#)),
        (DeviceKind::Vacuum, Action::Pause, one(r#"{"command":"pause"}"#)),
        (DeviceKind::Vacuum, Action::Dock, one(r#"{"command":"return_to_base"}"#)),
        (DeviceKind::Vacuum, Action::TurnOff, one(r#"{"command":"return_to_base"}"#)),
        (
            DeviceKind::Vacuum,
            Action::CleanSegments { segments: vec!["16".into(), "18".into()] },
            one(r#"{"command":"clean_segments","segments":["16","18"]}"#),
        ),
        (DeviceKind::LawnMower, Action::Start, one(r#"{"command":"start_mowing"}"#)),
        (DeviceKind::LawnMower, Action::Pause, one(r#"{"command":"pause"}"#)),
        (DeviceKind::LawnMower, Action::Dock, one(r#"{"command":"dock"}"#)),
        (DeviceKind::Button, Action::Press, one(r#"{"command":"press"}"#)),
        // Hub-held: retained.
        (DeviceKind::InputBoolean, Action::TurnOn, vec![(t, r#"{"state":"ON"}"#, true)]),
        (DeviceKind::InputBoolean, Action::TurnOff, vec![(t, r#"{"state":"OFF"}"#, true)]),
    ];
    assert_golden(&d(), &all_features(), rows);
    assert_unsupported(
        &d(),
        &all_features(),
        vec![
            (DeviceKind::InputBoolean, Action::Toggle),
            (DeviceKind::LawnMower, Action::Stop),
            (DeviceKind::LawnMower, Action::CleanSegments { segments: vec!["1".into()] }),
            (DeviceKind::Vacuum, Action::Play),
            (DeviceKind::Vacuum, Action::CleanSegments { segments: vec![] }),
            (DeviceKind::Button, Action::TurnOff),
            (DeviceKind::MediaPlayer, Action::Stop),
            (DeviceKind::MediaPlayer, Action::PlayMedia { id: " ".into(), class: "music".into() }),
            (DeviceKind::Vacuum, Action::PlayMedia { id: "x".into(), class: "music".into() }),
            (DeviceKind::Weather, Action::TurnOn),
            (DeviceKind::Climate, Action::FanMode { mode: "turbo".into() }),
        ],
    );
    assert!(state_topics(&d(), DeviceKind::Button).is_empty());
    assert_eq!(state_topics(&d(), DeviceKind::Vacuum), vec!["diy/desk"]);
}

#[test]
fn golden_state_new_kinds() {
    let parse = |kind: DeviceKind, payload: &str| parse_state(&d(), kind, "diy/desk", payload.as_bytes());
    let p = parse(DeviceKind::Vacuum, r#"{"state":"cleaning","battery_level":80}"#).unwrap().unwrap();
    assert_eq!(p.activity.as_deref(), Some("cleaning"));
    let p = parse(DeviceKind::MediaPlayer, r#"{"state":"playing","volume":35,"muted":false}"#).unwrap().unwrap();
    assert_eq!(
        (p.activity.as_deref(), p.on, p.volume_pct, p.muted),
        (Some("playing"), Some(true), Some(35), Some(false))
    );
    let p = parse(DeviceKind::MediaPlayer, r#"{"state":"off"}"#).unwrap().unwrap();
    assert_eq!((p.activity.as_deref(), p.on), (Some("off"), Some(false)));
    let p = parse(DeviceKind::LawnMower, r#"{"activity":"mowing"}"#).unwrap().unwrap();
    assert_eq!(p.activity.as_deref(), Some("mowing"));
    let w = r#"{"condition":"sunny","temperature":21.5,"humidity":60,"wind_speed":12}"#;
    let p = parse(DeviceKind::Weather, w).unwrap().unwrap();
    assert_eq!(p.current_temperature, Some(21.5));
    assert_eq!(p.value, Some(serde_json::from_str::<Value>(w).unwrap()));
    let p = parse(DeviceKind::Valve, r#"{"state":"open"}"#).unwrap().unwrap();
    assert_eq!(p.on, Some(true));
    let p = parse(DeviceKind::Valve, r#"{"state":"closing"}"#).unwrap().unwrap();
    assert_eq!(p.on, Some(false));
    let p = parse(DeviceKind::Fan, r#"{"state":"ON","percentage":40}"#).unwrap().unwrap();
    assert_eq!((p.on, p.fan_speed_pct), (Some(true), Some(40)));
    let p = parse(DeviceKind::Fan, r#"{"percentage":0}"#).unwrap().unwrap();
    assert_eq!((p.on, p.fan_speed_pct), (Some(false), None));
    let p = parse(DeviceKind::Climate, r#"{"fan_mode":"low","target_temperature":21}"#).unwrap().unwrap();
    assert_eq!(p.fan_mode.as_deref(), Some("low"));
    let p = parse(DeviceKind::InputBoolean, r#"{"state":"ON"}"#).unwrap().unwrap();
    assert_eq!(p.on, Some(true));
    for (kind, payload) in [
        (DeviceKind::Vacuum, r#"{"state":"vacuuming"}"#),
        (DeviceKind::Vacuum, r#"{"state":1}"#),
        (DeviceKind::MediaPlayer, r#"{"state":"ON"}"#),
        (DeviceKind::MediaPlayer, r#"{"muted":"yes"}"#),
        (DeviceKind::LawnMower, r#"{"activity":"flying"}"#),
        (DeviceKind::Fan, r#"{"percentage":"x"}"#),
        (DeviceKind::Climate, r#"{"fan_mode":2}"#),
        (DeviceKind::Weather, r#"{"temperature":"warm"}"#),
        (DeviceKind::Weather, "[]"),
    ] {
        let e = parse(kind, payload).unwrap_err();
        assert!(matches!(&e, BridgeError::BadPayload { topic, .. } if topic == "diy/desk"), "{payload}: {e:?}");
    }
    for (kind, payload) in [(DeviceKind::MediaPlayer, r#"{"volume":101}"#), (DeviceKind::Fan, r#"{"percentage":120}"#)]
    {
        assert!(matches!(parse(kind, payload), Err(BridgeError::OutOfRange { .. })), "{payload}");
    }
    // Each command's echo confirms it.
    for (kind, action, echo) in [
        (DeviceKind::Vacuum, Action::Start, r#"{"state":"cleaning"}"#),
        (DeviceKind::Vacuum, Action::Dock, r#"{"state":"returning"}"#),
        (DeviceKind::Vacuum, Action::Pause, r#"{"state":"paused"}"#),
        (DeviceKind::LawnMower, Action::Start, r#"{"activity":"mowing"}"#),
        (DeviceKind::LawnMower, Action::Dock, r#"{"activity":"docked"}"#),
        (DeviceKind::MediaPlayer, Action::Play, r#"{"state":"playing"}"#),
        (DeviceKind::MediaPlayer, Action::Pause, r#"{"state":"paused"}"#),
        (DeviceKind::MediaPlayer, Action::Volume { percent: 30 }, r#"{"volume":30}"#),
        (DeviceKind::MediaPlayer, Action::Mute { muted: true }, r#"{"muted":true}"#),
        (DeviceKind::Fan, Action::FanSpeed { percent: 40 }, r#"{"state":"ON","percentage":40}"#),
        (DeviceKind::Fan, Action::FanSpeed { percent: 0 }, r#"{"state":"OFF"}"#),
        (DeviceKind::Climate, Action::FanMode { mode: "auto".into() }, r#"{"fan_mode":"auto"}"#),
        (DeviceKind::Valve, Action::Open, r#"{"state":"OPEN"}"#),
        (DeviceKind::Valve, Action::Position { percent: 60 }, r#"{"position":60}"#),
        (DeviceKind::InputBoolean, Action::TurnOff, r#"{"state":"OFF"}"#),
    ] {
        let mut st = crate::DeviceState::default();
        st.apply(&parse(kind, echo).unwrap().unwrap());
        assert!(st.satisfies(&action), "{action:?} by {echo}");
    }
}
