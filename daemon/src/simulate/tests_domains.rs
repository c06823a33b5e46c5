//! The new kinds' firmware behaviour on plain vectors: each test feeds a
//! virtual device the (topic, payload) its firmware's docs describe and
//! checks what it publishes (see `tests_roundtrip.rs` for the same kinds
//! against firmware-bridge).

use crate::simulate::*;
use hub_skills::registry::Device;

pub(super) fn device(id: &str, kind: DeviceKind, dialect: Option<Dialect>, features: Features) -> Device {
    Device {
        id: id.into(),
        kind,
        name: id.into(),
        aliases: vec![],
        area: None,
        device_class: None,
        dialect,
        features,
        origin: Default::default(),
    }
}

fn dev(id: &str, kind: DeviceKind, dialect: Dialect, features: Features) -> VirtualDevice {
    VirtualDevice::new(&device(id, kind, Some(dialect), features)).expect("a simulated device")
}

/// The last payload on `topic`, as text.
fn text(msgs: &[Msg], topic: &str) -> Option<String> {
    msgs.iter().rev().find(|m| m.topic == topic).map(|m| String::from_utf8_lossy(&m.payload).into_owned())
}

fn json_at(msgs: &[Msg], topic: &str) -> Value {
    serde_json::from_str(&text(msgs, topic).unwrap_or_default()).unwrap_or(Value::Null)
}

fn retained(msgs: &[Msg], topic: &str) -> bool {
    msgs.iter().rev().find(|m| m.topic == topic).is_some_and(|m| m.retain)
}

fn counts(d: &VirtualDevice) -> (u64, u64) {
    (d.received, d.applied)
}

fn speed() -> Features {
    Features { speed: true, ..Features::default() }
}

fn position() -> Features {
    Features { position: true, ..Features::default() }
}

fn fan_modes(modes: &[&str]) -> Features {
    Features { fan_modes: modes.iter().map(|m| m.to_string()).collect(), ..Features::default() }
}

fn generic(t: &str) -> Dialect {
    Dialect::GenericJson { command_topic: format!("{t}/set"), state_topic: t.into() }
}

fn z2m(name: &str) -> Dialect {
    Dialect::Zigbee2mqtt { friendly_name: name.into(), base_topic: "zigbee2mqtt".into() }
}

fn esphome(object_id: &str) -> Dialect {
    Dialect::Esphome { node: "hall".into(), object_id: object_id.into() }
}

/// mqtt.md "Basic control", "Vacuum status", and the Homie `$state`.
#[test]
fn valetudo_basic_control_and_status() {
    let d = Dialect::Valetudo { identifier: "rover".into(), prefix: "valetudo".into() };
    let mut v = dev("vacuum.rover", DeviceKind::Vacuum, d, Features::default());
    let (op, status) =
        ("valetudo/rover/BasicControlCapability/operation", "valetudo/rover/StatusStateAttribute/status");
    assert_eq!(
        v.subscriptions(),
        vec![format!("{op}/set"), "valetudo/rover/MapSegmentationCapability/clean/set".to_string()]
    );
    assert_eq!(v.will(), Some(m("valetudo/rover/$state", "lost", true)));
    assert_eq!(v.instance_key(), "valetudo:valetudo/rover");
    let birth = v.birth();
    assert_eq!(text(&birth, "valetudo/rover/$state").as_deref(), Some("ready"));
    assert!(retained(&birth, "valetudo/rover/$state") && retained(&birth, status));
    assert_eq!(text(&birth, status).as_deref(), Some("docked"));
    assert_eq!(text(&birth, "valetudo/rover/StatusStateAttribute/flag").as_deref(), Some("none"));
    for (payload, want) in [("START", "cleaning"), ("PAUSE", "paused"), ("STOP", "idle"), ("HOME", "returning")] {
        let out = v.handle(&format!("{op}/set"), payload.as_bytes()).unwrap();
        assert_eq!(text(&out, status).as_deref(), Some(want), "{payload}");
        assert!(retained(&out, status));
        // The Homie command response: the payload, not retained.
        assert_eq!(text(&out, op).as_deref(), Some(payload));
        assert!(!retained(&out, op));
    }
    assert_eq!(counts(&v), (4, 4));
    // Not its topics: another robot, a read topic.
    assert_eq!(v.handle("valetudo/other/BasicControlCapability/operation/set", b"START"), None);
    assert_eq!(v.handle(status, b"cleaning"), None);
    // A Homie enum is exact: lower case, unknown and empty payloads do nothing.
    for bad in ["start", "DOCK", "", "{\"operation\":\"START\"}"] {
        let out = v.handle(&format!("{op}/set"), bad.as_bytes()).unwrap();
        assert_eq!(out.len(), 1, "{bad}: only the receipts");
    }
    assert_eq!(counts(&v), (8, 4));
    assert_eq!(json_at(&v.birth(), "hubd/sim/vacuum.rover/receipts"), json!({"received": 8, "applied": 4}));
}

/// mqtt.md "Segment cleaning": its sample payload, and malformed ones.
#[test]
fn valetudo_segment_cleaning() {
    let d = Dialect::Valetudo { identifier: "rover".into(), prefix: "home/robots".into() };
    let mut v = dev("vacuum.rover", DeviceKind::Vacuum, d, Features::default());
    let clean = "home/robots/rover/MapSegmentationCapability/clean/set";
    let sample = r#"{"segment_ids":["20","18","16"],"iterations":2,"customOrder":true}"#;
    let out = v.handle(clean, sample.as_bytes()).unwrap();
    assert_eq!(text(&out, "home/robots/rover/StatusStateAttribute/status").as_deref(), Some("cleaning"));
    assert_eq!(text(&out, "home/robots/rover/StatusStateAttribute/flag").as_deref(), Some("segment"));
    assert_eq!(text(&out, "home/robots/rover/MapSegmentationCapability/clean").as_deref(), Some(sample));
    // `iterations` and `customOrder` are optional.
    v.handle(clean, br#"{"segment_ids":["1"]}"#).unwrap();
    assert_eq!(counts(&v), (2, 2));
    for bad in [
        "{not json",
        "[]",
        r#"{"segment_ids":[]}"#,
        r#"{"segment_ids":[20,18]}"#,
        r#"{"segment_ids":"20"}"#,
        r#"{"segment_ids":["20"],"iterations":0}"#,
        r#"{"segment_ids":["20"],"customOrder":"yes"}"#,
        r#"{"segments":["20"]}"#,
    ] {
        let out = v.handle(clean, bad.as_bytes()).unwrap();
        assert_eq!(out.len(), 1, "{bad}: only the receipts");
    }
    assert_eq!(counts(&v), (10, 2));
    // Non-UTF-8 garbage is a bad payload too, never a panic.
    v.handle(clean, &[0xff, 0xfe, 0x00]).unwrap();
    assert_eq!(counts(&v), (11, 2));
}

/// Which registry devices get a virtual device at all.
#[test]
fn kinds_without_firmware_are_not_simulated() {
    let valetudo = Dialect::Valetudo { identifier: "r".into(), prefix: "valetudo".into() };
    let hub_held = Dialect::HaMqtt {
        command_topic: "hubd/input_boolean/guests".into(),
        state_topic: Some("hubd/input_boolean/guests".into()),
        json: false,
        payload_on: "ON".into(),
        payload_off: "OFF".into(),
    };
    let none: Vec<(DeviceKind, Option<Dialect>)> = vec![
        (DeviceKind::Scene, None),
        (DeviceKind::Script, None),
        (DeviceKind::Scene, Some(generic("scene"))),
        (DeviceKind::InputBoolean, None),
        (DeviceKind::InputBoolean, Some(hub_held)),
        (DeviceKind::LawnMower, Some(valetudo.clone())),
        (DeviceKind::Vacuum, Some(z2m("robot"))),
        (DeviceKind::Button, Some(Dialect::Tasmota { topic: "b".into(), relay: None })),
        (DeviceKind::Weather, Some(esphome("w"))),
        (DeviceKind::Vacuum, Some(Dialect::ShellyGen1 { device_id: "s".into(), relay: 0 })),
    ];
    for (kind, dialect) in none {
        let what = format!("{kind:?} {dialect:?}");
        assert!(VirtualDevice::new(&device("x.y", kind, dialect, Features::default())).is_none(), "{what}");
    }
    for (kind, dialect) in [
        (DeviceKind::Vacuum, valetudo),
        (DeviceKind::InputBoolean, generic("home/guests")),
        (DeviceKind::Weather, generic("home/weather")),
        (DeviceKind::Button, esphome("chime")),
        (DeviceKind::Valve, z2m("water")),
    ] {
        assert!(
            VirtualDevice::new(&device("x.y", kind, Some(dialect.clone()), Features::default())).is_some(),
            "{kind:?} {dialect:?}"
        );
    }
}

#[test]
fn generic_media_player() {
    let mut tv = dev("media_player.tv", DeviceKind::MediaPlayer, generic("home/tv"), Features::default());
    let s = |out: &[Msg]| json_at(out, "home/tv");
    assert_eq!(s(&tv.birth()), json!({"state": "off", "volume": 30, "muted": false, "media_track": 1}));
    // Nothing to pause or skip while off.
    for bad in [r#"{"command":"pause"}"#, r#"{"command":"next"}"#] {
        assert_eq!(tv.handle("home/tv/set", bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    assert_eq!(s(&tv.handle("home/tv/set", br#"{"state":"ON"}"#).unwrap())["state"], "idle");
    assert_eq!(s(&tv.handle("home/tv/set", br#"{"command":"play"}"#).unwrap())["state"], "playing");
    assert_eq!(s(&tv.handle("home/tv/set", br#"{"command":"next"}"#).unwrap())["media_track"], 2);
    assert_eq!(s(&tv.handle("home/tv/set", br#"{"command":"previous"}"#).unwrap())["media_track"], 1);
    assert_eq!(s(&tv.handle("home/tv/set", br#"{"command":"pause"}"#).unwrap())["state"], "paused");
    assert_eq!(s(&tv.handle("home/tv/set", br#"{"volume":40}"#).unwrap())["volume"], 40);
    assert_eq!(s(&tv.handle("home/tv/set", br#"{"muted":true}"#).unwrap())["muted"], true);
    assert_eq!(counts(&tv), (9, 7));
    for bad in [r#"{"volume":101}"#, r#"{"volume":"loud"}"#, r#"{"muted":"yes"}"#, r#"{"command":"rewind"}"#, "play"] {
        assert_eq!(tv.handle("home/tv/set", bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    let out = tv.handle("home/tv/set", br#"{"state":"OFF"}"#).unwrap();
    assert_eq!(s(&out), json!({"state": "off", "volume": 40, "muted": true, "media_track": 1}));
    assert_eq!(counts(&tv), (15, 8));
    // play_media starts the item from its first track, even from off.
    let play = br#"{"command":"play_media","media_content_id":"http://r/jazz","media_content_type":"channel"}"#;
    let out = tv.handle("home/tv/set", play).unwrap();
    assert_eq!(
        s(&out),
        json!({"state": "playing", "volume": 40, "muted": true, "media_track": 1, "media_content_id": "http://r/jazz"})
    );
    for bad in [
        r#"{"command":"play_media","media_content_id":"","media_content_type":"music"}"#,
        r#"{"command":"play_media","media_content_id":"http://r/x"}"#,
    ] {
        assert_eq!(tv.handle("home/tv/set", bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    assert_eq!(counts(&tv), (18, 9));
}

#[test]
fn generic_vacuum_and_mower() {
    let mut vac = dev("vacuum.v", DeviceKind::Vacuum, generic("home/vac"), Features::default());
    assert_eq!(json_at(&vac.birth(), "home/vac"), json!({"state": "docked"}));
    for (cmd, want) in [
        (r#"{"command":"start"}"#, "cleaning"),
        (r#"{"command":"pause"}"#, "paused"),
        (r#"{"command":"stop"}"#, "idle"),
        (r#"{"command":"return_to_base"}"#, "returning"),
        (r#"{"command":"clean_segments","segments":["20","18"]}"#, "cleaning"),
    ] {
        assert_eq!(json_at(&vac.handle("home/vac/set", cmd.as_bytes()).unwrap(), "home/vac"), json!({"state": want}));
    }
    for bad in [
        r#"{"command":"clean_segments","segments":[]}"#,
        r#"{"command":"clean_segments"}"#,
        r#"{"command":"clean_segments","segments":[20]}"#,
        r#"{"command":"start_mowing"}"#,
        r#"{"state":"ON"}"#,
    ] {
        assert_eq!(vac.handle("home/vac/set", bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    assert_eq!(counts(&vac), (10, 5));

    let mut mower = dev("lawn_mower.m", DeviceKind::LawnMower, generic("home/mower"), Features::default());
    assert_eq!(json_at(&mower.birth(), "home/mower"), json!({"activity": "docked"}));
    for (cmd, want) in [("start_mowing", "mowing"), ("pause", "paused"), ("dock", "docked")] {
        let out = mower.handle("home/mower/set", json!({"command": cmd}).to_string().as_bytes()).unwrap();
        assert_eq!(json_at(&out, "home/mower"), json!({"activity": want}));
    }
    assert_eq!(mower.handle("home/mower/set", br#"{"command":"start"}"#).unwrap().len(), 1);
    assert_eq!(counts(&mower), (4, 3));
}

#[test]
fn generic_valve_fan_and_climate_fan_mode() {
    let mut valve = dev("valve.w", DeviceKind::Valve, generic("home/water"), position());
    assert_eq!(json_at(&valve.birth(), "home/water"), json!({"state": "closed", "position": 0}));
    let s = |out: Vec<Msg>| json_at(&out, "home/water");
    assert_eq!(
        s(valve.handle("home/water/set", br#"{"state":"OPEN"}"#).unwrap()),
        json!({"state": "open", "position": 100})
    );
    assert_eq!(
        s(valve.handle("home/water/set", br#"{"position":30}"#).unwrap()),
        json!({"state": "open", "position": 30})
    );
    assert_eq!(s(valve.handle("home/water/set", br#"{"state":"STOP"}"#).unwrap())["position"], 30);
    assert_eq!(s(valve.handle("home/water/set", br#"{"state":"CLOSE"}"#).unwrap())["state"], "closed");
    for bad in [r#"{"position":130}"#, r#"{"state":"ON"}"#, r#"{"state":"OPEN","position":-1}"#] {
        assert_eq!(valve.handle("home/water/set", bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    assert_eq!(counts(&valve), (7, 4));
    let mut plain = dev("valve.p", DeviceKind::Valve, generic("home/p"), Features::default());
    assert_eq!(plain.handle("home/p/set", br#"{"position":30}"#).unwrap().len(), 1);
    assert_eq!(
        json_at(&plain.handle("home/p/set", br#"{"state":"OPEN"}"#).unwrap(), "home/p"),
        json!({"state": "open"})
    );

    let mut fan = dev("fan.f", DeviceKind::Fan, generic("home/fan"), speed());
    let f = |out: Vec<Msg>| json_at(&out, "home/fan");
    assert_eq!(
        f(fan.handle("home/fan/set", br#"{"state":"ON","percentage":40}"#).unwrap()),
        json!({"state": "ON", "percentage": 40})
    );
    assert_eq!(f(fan.handle("home/fan/set", br#"{"state":"OFF"}"#).unwrap()), json!({"state": "OFF", "percentage": 0}));
    // On again at the last speed.
    assert_eq!(f(fan.handle("home/fan/set", br#"{"state":"ON"}"#).unwrap())["percentage"], 40);
    assert_eq!(f(fan.handle("home/fan/set", br#"{"percentage":0}"#).unwrap())["state"], "OFF");
    assert_eq!(fan.handle("home/fan/set", br#"{"percentage":150}"#).unwrap().len(), 1);
    assert_eq!(counts(&fan), (5, 4));
    let mut relay_fan = dev("fan.r", DeviceKind::Fan, generic("home/rf"), Features::default());
    assert_eq!(relay_fan.handle("home/rf/set", br#"{"percentage":40}"#).unwrap().len(), 1);
    assert_eq!(
        json_at(&relay_fan.handle("home/rf/set", br#"{"state":"ON"}"#).unwrap(), "home/rf"),
        json!({"state": "ON"})
    );

    let mut ac = dev("climate.ac", DeviceKind::Climate, generic("home/ac"), fan_modes(&["Auto", "low", "high"]));
    assert_eq!(json_at(&ac.birth(), "home/ac")["fan_mode"], "Auto");
    // Named as the device names its modes.
    assert_eq!(json_at(&ac.handle("home/ac/set", br#"{"fan_mode":"LOW"}"#).unwrap(), "home/ac")["fan_mode"], "low");
    assert_eq!(ac.handle("home/ac/set", br#"{"fan_mode":"turbo"}"#).unwrap().len(), 1);
    assert_eq!(counts(&ac), (2, 1));
}

#[test]
fn generic_button_input_boolean_and_weather() {
    let mut chime = dev("button.chime", DeviceKind::Button, generic("home/chime"), Features::default());
    let birth = chime.birth();
    assert_eq!(text(&birth, "home/chime"), None, "a button has no state");
    for _ in 0..2 {
        let out = chime.handle("home/chime/set", br#"{"command":"press"}"#).unwrap();
        assert_eq!(out.iter().map(|m| m.topic.as_str()).collect::<Vec<_>>(), ["hubd/sim/button.chime/receipts"]);
    }
    chime.handle("home/chime/set", br#"{"command":"PRESS"}"#).unwrap();
    chime.handle("home/chime/set", b"press").unwrap();
    assert_eq!(counts(&chime), (4, 2), "two presses counted");

    let mut guests = dev("input_boolean.guests", DeviceKind::InputBoolean, generic("home/guests"), Features::default());
    assert_eq!(
        json_at(&guests.handle("home/guests/set", br#"{"state":"ON"}"#).unwrap(), "home/guests"),
        json!({"state": "ON"})
    );
    assert_eq!(guests.handle("home/guests/set", br#"{"state":"TOGGLE"}"#).unwrap().len(), 1);
    assert_eq!(counts(&guests), (2, 1));

    let mut weather = dev("weather.home", DeviceKind::Weather, generic("home/weather"), Features::default());
    let birth = weather.birth();
    assert_eq!(json_at(&birth, "home/weather"), json!({"condition": "sunny", "temperature": 21.5, "humidity": 40}));
    assert!(retained(&birth, "home/weather"), "published once, so retained");
    let out = weather.handle("home/weather/set", br#"{"state":"ON"}"#).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(counts(&weather), (1, 0));
}

/// zigbee2mqtt.io exposes: a water valve's on/off `state` and `position`;
/// a Fan Control fan's `fan_mode`/`fan_state` (zhc `tz.fan_mode`); a
/// thermostat's `fan_mode`.
#[test]
fn z2m_valve_fan_and_thermostat() {
    let mut valve = dev("valve.w", DeviceKind::Valve, z2m("water"), position());
    let s = |out: Vec<Msg>| json_at(&out, "zigbee2mqtt/water");
    assert_eq!(s(valve.birth())["state"], "OFF");
    let out = s(valve.handle("zigbee2mqtt/water/set", br#"{"state":"ON"}"#).unwrap());
    assert_eq!((out["state"].as_str(), out["position"].as_u64()), (Some("ON"), Some(100)));
    let out = s(valve.handle("zigbee2mqtt/water/set", br#"{"position":25}"#).unwrap());
    assert_eq!((out["state"].as_str(), out["position"].as_u64()), (Some("ON"), Some(25)));
    let out = s(valve.handle("zigbee2mqtt/water/set/state", b"OFF").unwrap());
    assert_eq!((out["state"].as_str(), out["position"].as_u64()), (Some("OFF"), Some(0)));
    // No stop, no cover words.
    for bad in [r#"{"state":"STOP"}"#, r#"{"state":"OPEN"}"#, r#"{"position":101}"#] {
        assert_eq!(valve.handle("zigbee2mqtt/water/set", bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    assert_eq!(counts(&valve), (6, 3));
    let mut plain = dev("valve.p", DeviceKind::Valve, z2m("plain"), Features::default());
    let out = json_at(&plain.handle("zigbee2mqtt/plain/set", br#"{"state":"ON"}"#).unwrap(), "zigbee2mqtt/plain");
    assert_eq!((out["state"].as_str(), out.get("position")), (Some("ON"), None));

    let mut fan = dev("fan.c", DeviceKind::Fan, z2m("ceiling"), speed());
    let f = |out: Vec<Msg>| {
        let o = json_at(&out, "zigbee2mqtt/ceiling");
        (o["fan_mode"].as_str().map(String::from), o["fan_state"].as_str().map(String::from))
    };
    let want = |mode: &str, st: &str| (Some(mode.to_string()), Some(st.to_string()));
    assert_eq!(f(fan.birth()), want("off", "OFF"));
    assert_eq!(f(fan.handle("zigbee2mqtt/ceiling/set", br#"{"fan_mode":"medium"}"#).unwrap()), want("medium", "ON"));
    assert_eq!(f(fan.handle("zigbee2mqtt/ceiling/set", br#"{"fan_mode":"HIGH"}"#).unwrap()), want("high", "ON"));
    assert_eq!(f(fan.handle("zigbee2mqtt/ceiling/set", br#"{"fan_state":"OFF"}"#).unwrap()), want("off", "OFF"));
    // `fan_state` ON is the ZCL mode `on`.
    assert_eq!(f(fan.handle("zigbee2mqtt/ceiling/set", br#"{"fan_state":"ON"}"#).unwrap()), want("on", "ON"));
    // Not a ZCL mode; and a Fan Control fan's on/off is `fan_state`, not `state`.
    for bad in [r#"{"fan_mode":"turbo"}"#, r#"{"fan_mode":2}"#, r#"{"state":"ON"}"#] {
        assert_eq!(fan.handle("zigbee2mqtt/ceiling/set", bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    assert_eq!(counts(&fan), (7, 4));

    let mut trv = dev("climate.t", DeviceKind::Climate, z2m("trv"), fan_modes(&["auto", "low", "high"]));
    assert_eq!(json_at(&trv.birth(), "zigbee2mqtt/trv")["fan_mode"], "auto");
    let out = trv.handle("zigbee2mqtt/trv/set", br#"{"fan_mode":"LOW"}"#).unwrap();
    assert_eq!(json_at(&out, "zigbee2mqtt/trv")["fan_mode"], "low");
    assert_eq!(trv.handle("zigbee2mqtt/trv/set", br#"{"fan_mode":"breeze"}"#).unwrap().len(), 1);
    // A thermostat without fan control has no `fan_mode`.
    let mut bare = dev("climate.b", DeviceKind::Climate, z2m("bare"), Features::default());
    assert_eq!(json_at(&bare.birth(), "zigbee2mqtt/bare").get("fan_mode"), None);
    assert_eq!(bare.handle("zigbee2mqtt/bare/set", br#"{"fan_mode":"low"}"#).unwrap().len(), 1);
}

/// `mqtt_valve.cpp`, `mqtt_button.cpp`, `mqtt_fan.cpp` speed levels and
/// `mqtt_climate.cpp` fan modes.
#[test]
fn esphome_valve_button_fan_and_climate() {
    let mut valve = dev("valve.w", DeviceKind::Valve, esphome("water"), position());
    let base = "hall/valve/water";
    assert_eq!(valve.subscriptions(), [format!("{base}/command"), format!("{base}/position/command")]);
    let st = |out: &[Msg]| (text(out, &format!("{base}/position/state")), text(out, &format!("{base}/state")));
    let want = |p: &str, s: &str| (Some(p.to_string()), Some(s.to_string()));
    assert_eq!(st(&valve.birth()), want("0", "closed"));
    assert_eq!(st(&valve.handle(&format!("{base}/command"), b"OPEN").unwrap()), want("100", "open"));
    assert_eq!(st(&valve.handle(&format!("{base}/position/command"), b"30").unwrap()), want("30", "open"));
    assert_eq!(st(&valve.handle(&format!("{base}/command"), b"stop").unwrap()), want("30", "open"));
    // Out of range is clamped, not refused.
    assert_eq!(st(&valve.handle(&format!("{base}/position/command"), b"150").unwrap()), want("100", "open"));
    assert_eq!(st(&valve.handle(&format!("{base}/command"), b"close").unwrap()), want("0", "closed"));
    assert!(retained(&valve.birth(), &format!("{base}/state")));
    for (leaf, bad) in [("command", "TOGGLE"), ("command", "HALF"), ("position/command", "abc")] {
        assert_eq!(valve.handle(&format!("{base}/{leaf}"), bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    assert_eq!(counts(&valve), (8, 5));
    let mut plain = dev("valve.p", DeviceKind::Valve, esphome("plain"), Features::default());
    assert_eq!(plain.subscriptions(), ["hall/valve/plain/command"]);
    assert_eq!(plain.handle("hall/valve/plain/position/command", b"30"), None);
    let out = plain.handle("hall/valve/plain/command", b"OPEN").unwrap();
    assert_eq!((text(&out, "hall/valve/plain/state").as_deref(), out.len()), (Some("open"), 2));

    let mut chime = dev("button.chime", DeviceKind::Button, esphome("chime"), Features::default());
    assert_eq!(chime.subscriptions(), ["hall/button/chime/command"]);
    assert_eq!(chime.birth().len(), 2, "status and receipts: a button has no state");
    assert_eq!(chime.handle("hall/button/chime/command", b"PRESS").unwrap().len(), 1);
    assert_eq!(chime.handle("hall/button/chime/command", b"press").unwrap().len(), 1);
    assert_eq!(counts(&chime), (2, 1));

    let mut fan = dev("fan.f", DeviceKind::Fan, esphome("fan"), speed());
    assert!(fan.subscriptions().contains(&"hall/fan/fan/speed_level/command".to_string()));
    let fs = |out: &[Msg]| (text(out, "hall/fan/fan/state"), text(out, "hall/fan/fan/speed_level/state"));
    let want = |s: &str, l: &str| (Some(s.to_string()), Some(l.to_string()));
    assert_eq!(fs(&fan.birth()), want("OFF", "0"));
    // A speed alone does not switch the fan on.
    assert_eq!(fs(&fan.handle("hall/fan/fan/speed_level/command", b"40").unwrap()), want("OFF", "40"));
    assert_eq!(fs(&fan.handle("hall/fan/fan/command", b"ON").unwrap()), want("ON", "40"));
    // Level 0 is clamped to 1.
    assert_eq!(fs(&fan.handle("hall/fan/fan/speed_level/command", b"0").unwrap()), want("ON", "1"));
    for bad in ["101", "4.5", "fast", "-1"] {
        assert_eq!(fan.handle("hall/fan/fan/speed_level/command", bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    assert_eq!(counts(&fan), (7, 3));
    // Switched on with no speed yet: full speed.
    let mut fresh = dev("fan.g", DeviceKind::Fan, esphome("fresh"), speed());
    assert_eq!(fs_of(&fresh.handle("hall/fan/fresh/command", b"ON").unwrap()), Some("100".into()));

    let mut ac = dev("climate.ac", DeviceKind::Climate, esphome("ac"), fan_modes(&["AUTO", "low", "Turbo Boost"]));
    assert!(ac.subscriptions().contains(&"hall/climate/ac/fan_mode/command".to_string()));
    let fm = "hall/climate/ac/fan_mode/state";
    assert_eq!(text(&ac.birth(), fm).as_deref(), Some("auto"));
    assert_eq!(text(&ac.handle("hall/climate/ac/fan_mode/command", b"LOW").unwrap(), fm).as_deref(), Some("low"));
    let out = ac.handle("hall/climate/ac/fan_mode/command", b"Turbo Boost").unwrap();
    assert_eq!(text(&out, fm).as_deref(), Some("Turbo Boost"));
    // A custom mode is matched exactly; a built-in the device lacks is refused.
    for bad in ["turbo boost", "medium", ""] {
        assert_eq!(ac.handle("hall/climate/ac/fan_mode/command", bad.as_bytes()).unwrap().len(), 1, "{bad}");
    }
    assert_eq!(counts(&ac), (5, 2));
}

fn fs_of(out: &[Msg]) -> Option<String> {
    text(out, "hall/fan/fresh/speed_level/state")
}

/// Commands.md `FanSpeed` (iFan02/03) and a valve on a relay.
#[test]
fn tasmota_ifan_and_valve() {
    let t = |relay| Dialect::Tasmota { topic: "ifan".into(), relay };
    let mut fan = dev("fan.i", DeviceKind::Fan, t(None), speed());
    let state = json_at(&fan.birth(), "tele/ifan/STATE");
    assert_eq!((state["FanSpeed"].as_u64(), state.get("POWER")), (Some(0), None));
    let r = |out: Vec<Msg>| json_at(&out, "stat/ifan/RESULT");
    assert_eq!(r(fan.handle("cmnd/ifan/FanSpeed", b"2").unwrap()), json!({"FanSpeed": 2}));
    assert_eq!(r(fan.handle("cmnd/ifan/fanspeed", b"+").unwrap()), json!({"FanSpeed": 3}));
    assert_eq!(r(fan.handle("cmnd/ifan/FanSpeed", b"+").unwrap()), json!({"FanSpeed": 0}), "wraps around");
    assert_eq!(r(fan.handle("cmnd/ifan/FanSpeed", b"-").unwrap()), json!({"FanSpeed": 3}));
    // A query answers and counts nothing.
    assert_eq!(r(fan.handle("cmnd/ifan/FanSpeed", b"").unwrap()), json!({"FanSpeed": 3}));
    assert_eq!(counts(&fan), (4, 4));
    // Out of range: answered with the speed it keeps.
    for bad in ["4", "fast", "12"] {
        assert_eq!(r(fan.handle("cmnd/ifan/FanSpeed", bad.as_bytes()).unwrap()), json!({"FanSpeed": 3}), "{bad}");
    }
    assert_eq!(counts(&fan), (7, 4));
    // The iFan's POWER is its light, another device.
    assert_eq!(fan.handle("cmnd/ifan/POWER", b"ON"), None);

    let mut valve = dev(
        "valve.v",
        DeviceKind::Valve,
        Dialect::Tasmota { topic: "garden".into(), relay: Some(2) },
        Features::default(),
    );
    let out = valve.handle("cmnd/garden/POWER2", b"ON").unwrap();
    assert_eq!(text(&out, "stat/garden/RESULT").as_deref(), Some(r#"{"POWER2":"ON"}"#));
    assert_eq!(text(&out, "stat/garden/POWER2").as_deref(), Some("ON"));
    assert_eq!(valve.handle("cmnd/garden/POWER2", b"OPEN").unwrap().len(), 2, "error and receipts");
    assert_eq!(counts(&valve), (2, 1));
}

#[test]
fn shelly_valve_is_a_relay() {
    let mut valve = dev(
        "valve.s",
        DeviceKind::Valve,
        Dialect::ShellyGen1 { device_id: "shelly1-w".into(), relay: 0 },
        Features::default(),
    );
    assert_eq!(text(&valve.birth(), "shellies/shelly1-w/relay/0").as_deref(), Some("off"));
    let out = valve.handle("shellies/shelly1-w/relay/0/command", b"on").unwrap();
    assert_eq!(text(&out, "shellies/shelly1-w/relay/0").as_deref(), Some("on"));
    assert_eq!(valve.handle("shellies/shelly1-w/relay/0/command", b"open").unwrap().len(), 1);
    assert_eq!(valve.handle("shellies/shelly1-w/roller/0/command", b"open"), None);
    assert_eq!(counts(&valve), (2, 1));
}
