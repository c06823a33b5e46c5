//! Devices described by a Home Assistant MQTT discovery config (imported by
//! hubd's discovery): command and state topics as the config names them.
//!
//! Sources: home-assistant/home-assistant.io `source/_integrations/`
//! `switch.mqtt.markdown`, `light.mqtt.markdown` (default and `json`
//! schemas), `fan.mqtt.markdown`, `cover.mqtt.markdown`, `lock.mqtt.markdown`:
//! - default schema: `payload_on`/`payload_off` (defaults `ON`/`OFF`) on the
//!   command topic; the state topic carries `state_on`/`state_off`, which
//!   default to the payloads;
//! - `json` schema lights: `{"state":"ON","brightness":0..255,"color":{r,g,b},
//!   "color_temp":mired}` both ways (as ESPHome's lights);
//! - covers: `OPEN`/`CLOSE`/`STOP` commands, states `open`/`closed`/`opening`/
//!   `closing`/`stopped`; locks: `LOCK`/`UNLOCK`, states `LOCKED`/`UNLOCKED`/...
use serde_json::Value;

use crate::esphome::{json_light_body, parse_json_light};
use crate::payload::{self, bad, json_msg, msg};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, StatePatch};

const D: &str = "ha_mqtt";

pub(crate) fn encode(
    cmd: &DeviceCommand,
    action: &Action,
    command_topic: &str,
    json: bool,
    on: &str,
    off: &str,
) -> Result<Vec<Outgoing>, BridgeError> {
    let out = match (cmd.kind, action) {
        (DeviceKind::Light, _) if json => match json_light_body(action)? {
            Some(body) => json_msg(command_topic, &body),
            None => return Err(payload::unsupported(D, cmd, action)),
        },
        (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan, Action::TurnOn) => msg(command_topic, on),
        (DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan, Action::TurnOff) => msg(command_topic, off),
        (DeviceKind::Cover, Action::Open) => msg(command_topic, "OPEN"),
        (DeviceKind::Cover, Action::Close) => msg(command_topic, "CLOSE"),
        (DeviceKind::Cover, Action::Stop) => msg(command_topic, "STOP"),
        (DeviceKind::Lock, Action::Lock) => msg(command_topic, "LOCK"),
        (DeviceKind::Lock, Action::Unlock) => msg(command_topic, "UNLOCK"),
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![out])
}

pub(crate) fn parse(
    state_topic: &str,
    json: bool,
    on: &str,
    off: &str,
    kind: DeviceKind,
    topic: &str,
    text: &str,
) -> Result<Option<StatePatch>, BridgeError> {
    if topic != state_topic || text.is_empty() {
        return Ok(None);
    }
    let mut p = StatePatch::default();
    match kind {
        DeviceKind::Light if json => return parse_json_light(topic, text).map(Some),
        DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::BinarySensor => {
            p.on = Some(if text == on {
                true
            } else if text == off {
                false
            } else {
                return Err(bad(topic, format!("expected `{on}` or `{off}`, got `{}`", payload::clip(text))));
            });
        }
        DeviceKind::Cover => match text {
            "open" | "opening" => p.on = Some(true),
            "closed" | "closing" => p.on = Some(false),
            "stopped" => {}
            other => return Err(bad(topic, format!("unknown cover state `{}`", payload::clip(other)))),
        },
        DeviceKind::Lock => match text {
            "LOCKED" => p.locked = Some(true),
            "UNLOCKED" => p.locked = Some(false),
            "LOCKING" | "UNLOCKING" | "JAMMED" | "OPEN" | "OPENING" => {}
            other => return Err(bad(topic, format!("unknown lock state `{}`", payload::clip(other)))),
        },
        DeviceKind::Sensor => {
            p.value = Some(match text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                Some(n) => Value::Number(n),
                None => Value::String(text.to_string()),
            });
        }
        DeviceKind::Climate | DeviceKind::MediaPlayer | DeviceKind::Person => return Ok(None),
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use crate::{Action, DeviceCommand, DeviceKind, DeviceState, Dialect, Features, Rgb, encode, parse_state};

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
        let features = Features { dimmable: true, color: true, color_temp: true, position: false };
        DeviceCommand { device_id: format!("{}.x", kind.domain()), kind, dialect: d, action, features }
    }

    /// Golden vectors from the light.mqtt / switch.mqtt pages: the documented
    /// JSON light (`{"state": "ON", "brightness": 255}`) and the default
    /// schema's `ON`/`OFF`, with custom payloads honoured.
    #[test]
    fn golden_commands() {
        let cases: Vec<(DeviceKind, Dialect, Action, &str)> = vec![
            (DeviceKind::Light, dialect(true), Action::TurnOn, r#"{"state":"ON"}"#),
            (
                DeviceKind::Light,
                dialect(true),
                Action::Brightness { percent: 100 },
                r#"{"brightness":255,"state":"ON"}"#,
            ),
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
        let p = parse_state(&dialect(true), DeviceKind::Light, t, br#"{"state": "ON", "brightness": 255}"#)
            .unwrap()
            .unwrap();
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
}
