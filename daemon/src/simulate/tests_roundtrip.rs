//! The bridge against the independently written firmware: each command is
//! encoded by `firmware_bridge::encode`, fed to the virtual device, and
//! every message the device publishes is parsed by
//! `firmware_bridge::parse_state` and folded into a fresh `DeviceState`,
//! which must satisfy the command (as the daemon awaits it: normalised and
//! `as_reported`). Each message of the command is applied exactly once.

use firmware_bridge::{Action, DeviceCommand, DeviceState, as_reported, encode, parse_state, state_topics};
use hub_skills::registry::Device;

use super::tests_domains::device;
use crate::simulate::*;

/// Run `actions` in order against one virtual device; each must be applied
/// and confirmed by the device's own answers.
fn round_trip(d: &Device, actions: &[Action]) {
    let dialect = d.dialect.clone().expect("a dialect");
    let mut v = VirtualDevice::new(d).expect("a simulated device");
    let parse = |topic: &str, payload: &[u8]| {
        parse_state(&dialect, d.kind, topic, payload).unwrap_or_else(|e| {
            panic!("{}: the bridge cannot parse {topic} {:?}: {e}", d.id, String::from_utf8_lossy(payload))
        })
    };
    for msg in v.birth() {
        parse(&msg.topic, &msg.payload);
    }
    let topics = state_topics(&dialect, d.kind);
    for action in actions {
        let what = format!("{} {action:?}", d.id);
        let cmd = DeviceCommand {
            device_id: d.id.clone(),
            kind: d.kind,
            dialect: dialect.clone(),
            action: action.clone(),
            features: d.features.clone(),
        };
        let out = encode(&cmd).unwrap_or_else(|e| panic!("{what}: {e}"));
        let applied = v.applied;
        let mut state = DeviceState::default();
        let mut echoed = false;
        for o in &out {
            let answers =
                v.handle(&o.topic, &o.payload).unwrap_or_else(|| panic!("{what}: {} not subscribed", o.topic));
            for msg in answers {
                if let Some(p) = parse(&msg.topic, &msg.payload) {
                    echoed |= p.reports_commandable_state();
                    state.apply(&p);
                }
            }
        }
        assert_eq!(v.applied, applied + out.len() as u64, "{what}: applied once each: {out:?}");
        let awaited = as_reported(&dialect, d.kind, &d.features, &d.kind.normalize(action));
        assert!(state.satisfies(&awaited), "{what}: {state:?} does not satisfy {awaited:?}");
        // A device with state topics confirms the command by a state report.
        assert_eq!(echoed, !topics.is_empty(), "{what}: echo");
    }
}

fn dev(id: &str, kind: DeviceKind, dialect: Dialect, features: Features) -> Device {
    device(id, kind, Some(dialect), features)
}

fn features(speed: bool, position: bool, fan_modes: &[&str]) -> Features {
    Features { speed, position, fan_modes: fan_modes.iter().map(|m| m.to_string()).collect(), ..Features::default() }
}

fn none() -> Features {
    Features::default()
}

fn generic(t: &str) -> Dialect {
    Dialect::GenericJson { command_topic: format!("{t}/set"), state_topic: t.into() }
}

fn segments(ids: &[&str]) -> Action {
    Action::CleanSegments { segments: ids.iter().map(|s| s.to_string()).collect() }
}

#[test]
fn valetudo_round_trip() {
    for prefix in ["valetudo", "home/robots"] {
        let d = Dialect::Valetudo { identifier: "rover".into(), prefix: prefix.into() };
        round_trip(
            &dev("vacuum.rover", DeviceKind::Vacuum, d, none()),
            &[
                Action::Start,
                Action::Pause,
                Action::Stop,
                Action::Dock,
                segments(&["20", "18"]),
                Action::TurnOff,
                Action::TurnOn,
            ],
        );
    }
}

#[test]
fn generic_round_trip() {
    let media = [
        Action::TurnOn,
        Action::Play,
        Action::NextTrack,
        Action::PreviousTrack,
        Action::Pause,
        Action::Volume { percent: 40 },
        Action::Mute { muted: true },
        Action::Mute { muted: false },
        Action::TurnOff,
    ];
    round_trip(&dev("media_player.tv", DeviceKind::MediaPlayer, generic("home/tv"), none()), &media);
    let vacuum = [Action::Start, Action::Pause, Action::Stop, Action::Dock, segments(&["20"]), Action::TurnOff];
    round_trip(&dev("vacuum.v", DeviceKind::Vacuum, generic("home/vac"), none()), &vacuum);
    let mower = [Action::Start, Action::Pause, Action::Dock, Action::TurnOn, Action::TurnOff];
    round_trip(&dev("lawn_mower.m", DeviceKind::LawnMower, generic("home/mower"), none()), &mower);
    let valve = [Action::Open, Action::Position { percent: 30 }, Action::Stop, Action::Close, Action::TurnOn];
    round_trip(&dev("valve.w", DeviceKind::Valve, generic("home/water"), features(false, true, &[])), &valve);
    round_trip(&dev("valve.p", DeviceKind::Valve, generic("home/p"), none()), &[Action::Open, Action::Close]);
    let fan = [Action::FanSpeed { percent: 40 }, Action::FanSpeed { percent: 0 }, Action::TurnOn, Action::TurnOff];
    round_trip(&dev("fan.f", DeviceKind::Fan, generic("home/fan"), features(true, false, &[])), &fan);
    let modes = features(false, false, &["auto", "low", "Quiet"]);
    let climate = [
        Action::FanMode { mode: "low".into() },
        Action::FanMode { mode: "QUIET".into() },
        Action::TurnOn,
        Action::TurnOff,
    ];
    round_trip(&dev("climate.ac", DeviceKind::Climate, generic("home/ac"), modes), &climate);
    round_trip(&dev("button.b", DeviceKind::Button, generic("home/b"), none()), &[Action::Press, Action::TurnOn]);
    let guests = [Action::TurnOn, Action::TurnOff];
    round_trip(&dev("input_boolean.guests", DeviceKind::InputBoolean, generic("home/guests"), none()), &guests);
}

#[test]
fn z2m_round_trip() {
    let z = |name: &str| Dialect::Zigbee2mqtt { friendly_name: name.into(), base_topic: "zigbee2mqtt".into() };
    let valve = [Action::Open, Action::Position { percent: 25 }, Action::Close, Action::TurnOn, Action::TurnOff];
    round_trip(&dev("valve.w", DeviceKind::Valve, z("water"), features(false, true, &[])), &valve);
    round_trip(&dev("valve.p", DeviceKind::Valve, z("plain"), none()), &[Action::Open, Action::Close]);
    // Three speeds: 40 % runs (and is awaited) as medium, 66 %.
    let mut fan = [10, 40, 100, 0].map(|percent| Action::FanSpeed { percent }).to_vec();
    // Switched with `fan_state`, as the firmware's Fan expose has it.
    fan.extend([Action::TurnOn, Action::TurnOff]);
    round_trip(&dev("fan.c", DeviceKind::Fan, z("ceiling"), features(true, false, &[])), &fan);
    let climate = [Action::FanMode { mode: "low".into() }, Action::TurnOff, Action::FanMode { mode: "AUTO".into() }];
    round_trip(&dev("climate.t", DeviceKind::Climate, z("trv"), features(false, false, &["auto", "low"])), &climate);
}

#[test]
fn esphome_round_trip() {
    let e = |id: &str| Dialect::Esphome { node: "hall".into(), object_id: id.into() };
    let valve = [Action::Open, Action::Position { percent: 30 }, Action::Stop, Action::Close, Action::TurnOn];
    round_trip(&dev("valve.w", DeviceKind::Valve, e("water"), features(false, true, &[])), &valve);
    round_trip(&dev("valve.p", DeviceKind::Valve, e("plain"), none()), &[Action::Open, Action::Stop, Action::Close]);
    round_trip(&dev("button.chime", DeviceKind::Button, e("chime"), none()), &[Action::Press, Action::TurnOn]);
    // A speed is two messages (the level, then ON).
    let fan = [
        Action::FanSpeed { percent: 40 },
        Action::FanSpeed { percent: 0 },
        Action::TurnOn,
        Action::FanSpeed { percent: 100 },
    ];
    round_trip(&dev("fan.f", DeviceKind::Fan, e("fan"), features(true, false, &[])), &fan);
    let modes = features(false, false, &["auto", "low", "Quiet", "Turbo Boost"]);
    let mut climate = ["low", "quiet", "Turbo Boost", "auto"].map(|m| Action::FanMode { mode: m.into() }).to_vec();
    climate.extend([Action::TurnOn, Action::TurnOff]);
    round_trip(&dev("climate.ac", DeviceKind::Climate, e("ac"), modes), &climate);
}

#[test]
fn tasmota_and_shelly_round_trip() {
    let ifan = [
        Action::FanSpeed { percent: 40 },
        Action::FanSpeed { percent: 100 },
        Action::FanSpeed { percent: 0 },
        Action::TurnOn,
        Action::TurnOff,
    ];
    for relay in [None, Some(1)] {
        let d = Dialect::Tasmota { topic: "ifan".into(), relay };
        round_trip(&dev("fan.i", DeviceKind::Fan, d, features(true, false, &[])), &ifan);
    }
    for relay in [None, Some(1), Some(2)] {
        let d = Dialect::Tasmota { topic: "garden".into(), relay };
        round_trip(&dev("valve.t", DeviceKind::Valve, d, none()), &[Action::Open, Action::Close, Action::TurnOn]);
    }
    let d = Dialect::ShellyGen1 { device_id: "shelly1-w".into(), relay: 0 };
    round_trip(&dev("valve.s", DeviceKind::Valve, d, none()), &[Action::Open, Action::Close, Action::TurnOff]);
}

/// A weather station takes no commands; its birth is its current
/// conditions, which the bridge reads as the value and temperature.
#[test]
fn generic_weather_is_read_by_the_bridge() {
    let d = dev("weather.home", DeviceKind::Weather, generic("home/weather"), none());
    let v = VirtualDevice::new(&d).expect("simulated");
    let dialect = d.dialect.clone().expect("dialect");
    let mut state = DeviceState::default();
    for msg in v.birth() {
        if let Some(p) = parse_state(&dialect, d.kind, &msg.topic, &msg.payload).expect("parses") {
            state.apply(&p);
        }
    }
    assert_eq!(state.current_temperature, Some(21.5));
    assert_eq!(state.value, Some(json!({"condition": "sunny", "temperature": 21.5, "humidity": 40})));
    let cmd = DeviceCommand { device_id: d.id, kind: d.kind, dialect, action: Action::TurnOn, features: none() };
    assert!(encode(&cmd).is_err(), "weather is read-only");
}
