//! Valetudo (cloud-free firmware for robot vacuums), its own MQTT API.
//!
//! Sources: Hypfer/Valetudo `docs/_pages/integrations/mqtt.md` (the MQTT API
//! reference, valetudo.cloud/pages/integrations/mqtt.html) and the handles it
//! is generated from in `backend/lib/mqtt/`:
//! - topics are `<TOPIC PREFIX>/<IDENTIFIER>/...`, the prefix `valetudo` by
//!   default (`MqttController.js` `configDefaults.customizations.topicPrefix`);
//! - basic control (`capabilities/BasicControlCapabilityMqttHandle.js`):
//!   `…/BasicControlCapability/operation/set`, enum payload
//!   `START|STOP|PAUSE|HOME`;
//! - segment cleaning (`capabilities/MapSegmentationCapabilityMqttHandle.js`):
//!   `…/MapSegmentationCapability/clean/set`, the REST body
//!   `{"segment_ids":["20","18"],"iterations":1,"customOrder":true}` (ids are
//!   strings; `customOrder` keeps the given order);
//! - status (`status/StatusStateMqttHandle.js`):
//!   `…/StatusStateAttribute/status`, retained, one of
//!   `error|docked|idle|returning|cleaning|paused|manual_control|moving`.
//!   Mapped to Home Assistant's vacuum states as Valetudo's own
//!   `HA_STATE_MAPPINGS` does: `manual_control` and `moving` are `cleaning`;
//! - availability: the Homie `$state` topic `<prefix>/<identifier>/$state`,
//!   retained: `ready` (available; Valetudo's Home Assistant autoconf uses it
//!   as `payload_available`), `lost` (the last will) and `disconnected`
//!   (clean shutdown) are not; `init`, `sleeping` and `alert` say nothing
//!   (Home Assistant ignores them too).
//!
//! Commands are never retained: Valetudo discards retained messages on its
//! command topics (`MqttController.js`, "Received a retained MQTT message").
use serde_json::json;

use crate::payload::{self, bad, json_msg, msg};
use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing, StatePatch};

const D: &str = "valetudo";

pub(crate) fn encode(
    cmd: &DeviceCommand,
    action: &Action,
    prefix: &str,
    identifier: &str,
) -> Result<Vec<Outgoing>, BridgeError> {
    if cmd.kind != DeviceKind::Vacuum {
        return Err(payload::unsupported(D, cmd, action));
    }
    let base = format!("{prefix}/{identifier}");
    let operation = format!("{base}/BasicControlCapability/operation/set");
    let out = match action {
        Action::Start => msg(operation, "START"),
        Action::Stop => msg(operation, "STOP"),
        Action::Pause => msg(operation, "PAUSE"),
        Action::Dock => msg(operation, "HOME"),
        Action::CleanSegments { segments } => json_msg(
            format!("{base}/MapSegmentationCapability/clean/set"),
            &json!({"segment_ids": segments, "iterations": 1, "customOrder": true}),
        ),
        _ => return Err(payload::unsupported(D, cmd, action)),
    };
    Ok(vec![out])
}

pub(crate) fn state_topics(prefix: &str, identifier: &str, kind: DeviceKind) -> Vec<String> {
    if kind != DeviceKind::Vacuum {
        return Vec::new();
    }
    vec![format!("{prefix}/{identifier}/StatusStateAttribute/status"), format!("{prefix}/{identifier}/$state")]
}

pub(crate) fn parse(
    prefix: &str,
    identifier: &str,
    kind: DeviceKind,
    topic: &str,
    text: &str,
) -> Result<Option<StatePatch>, BridgeError> {
    if kind != DeviceKind::Vacuum {
        return Ok(None);
    }
    let Some(leaf) = topic.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) else {
        return Ok(None);
    };
    let Some(leaf) = leaf.strip_prefix(identifier).and_then(|r| r.strip_prefix('/')) else {
        return Ok(None);
    };
    if text.is_empty() {
        // A cleared retained topic says nothing.
        return Ok(None);
    }
    let mut p = StatePatch::default();
    match leaf {
        "$state" => {
            p.available = Some(match text {
                "ready" => true,
                "lost" | "disconnected" => false,
                "init" | "sleeping" | "alert" => return Ok(None),
                other => {
                    return Err(bad(
                        topic,
                        format!(
                            "$state should be init|ready|disconnected|sleeping|lost|alert, got `{}`",
                            payload::clip(other)
                        ),
                    ));
                }
            });
        }
        "StatusStateAttribute/status" => {
            let ha = match text {
                "manual_control" | "moving" => "cleaning",
                "error" | "docked" | "idle" | "returning" | "cleaning" | "paused" => text,
                other => {
                    return Err(bad(
                        topic,
                        format!(
                            "status should be error|docked|idle|returning|cleaning|paused|manual_control|moving, \
                             got `{}`",
                            payload::clip(other)
                        ),
                    ));
                }
            };
            p.activity = Some(ha.to_string());
        }
        _ => return Ok(None),
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::{Action, BridgeError, DeviceCommand, DeviceKind, DeviceState, Dialect, Features};
    use crate::{encode, parse_state, state_topics};

    fn d() -> Dialect {
        Dialect::Valetudo { identifier: "RobotVac".into(), prefix: "valetudo".into() }
    }

    fn cmd(kind: DeviceKind, action: Action) -> DeviceCommand {
        DeviceCommand {
            device_id: format!("{}.robot", kind.domain()),
            kind,
            dialect: d(),
            action,
            features: Features::default(),
        }
    }

    /// Golden vectors: docs/_pages/integrations/mqtt.md, "Basic control
    /// (`BasicControlCapability`)" and "Segment cleaning
    /// (`MapSegmentationCapability`)" (its sample payload).
    #[test]
    fn golden_commands() {
        let op = "valetudo/RobotVac/BasicControlCapability/operation/set";
        let cases: Vec<(Action, &str, &str)> = vec![
            (Action::Start, op, "START"),
            (Action::TurnOn, op, "START"),
            (Action::Stop, op, "STOP"),
            (Action::Pause, op, "PAUSE"),
            (Action::Dock, op, "HOME"),
            (Action::TurnOff, op, "HOME"),
            (
                Action::CleanSegments { segments: vec!["20".into(), "18".into(), "16".into()] },
                "valetudo/RobotVac/MapSegmentationCapability/clean/set",
                r#"{"segment_ids":["20","18","16"],"iterations":1,"customOrder":true}"#,
            ),
        ];
        for (action, topic, payload) in cases {
            let out = encode(&cmd(DeviceKind::Vacuum, action.clone())).unwrap();
            assert_eq!(out.len(), 1, "{action:?}");
            assert_eq!(out[0].topic, topic, "{action:?}");
            assert!(!out[0].retain, "Valetudo drops retained commands");
            if payload.starts_with('{') {
                let got: Value = serde_json::from_slice(&out[0].payload).unwrap();
                assert_eq!(got, serde_json::from_str::<Value>(payload).unwrap());
            } else {
                assert_eq!(out[0].payload, payload.as_bytes(), "{action:?}");
            }
        }
        // A custom prefix (serde default is `valetudo`).
        let custom: Dialect = serde_json::from_str(r#"{"type":"valetudo","identifier":"Rocky"}"#).unwrap();
        assert_eq!(custom, Dialect::Valetudo { identifier: "Rocky".into(), prefix: "valetudo".into() });
        let mut c = cmd(DeviceKind::Vacuum, Action::Start);
        c.dialect = Dialect::Valetudo { identifier: "Rocky".into(), prefix: "home/robots".into() };
        assert_eq!(encode(&c).unwrap()[0].topic, "home/robots/Rocky/BasicControlCapability/operation/set");
    }

    #[test]
    fn unsupported() {
        for (kind, action) in [
            (DeviceKind::Vacuum, Action::Play),
            (DeviceKind::Vacuum, Action::Open),
            (DeviceKind::Vacuum, Action::CleanSegments { segments: vec![] }),
            (DeviceKind::LawnMower, Action::Start),
            (DeviceKind::Switch, Action::TurnOn),
        ] {
            let e = encode(&cmd(kind, action.clone())).unwrap_err();
            assert!(matches!(e, BridgeError::Unsupported { dialect: "valetudo", .. }), "{kind:?} {action:?}: {e:?}");
        }
        assert!(state_topics(&d(), DeviceKind::LawnMower).is_empty());
    }

    #[test]
    fn golden_state() {
        let s = "valetudo/RobotVac/StatusStateAttribute/status";
        let a = "valetudo/RobotVac/$state";
        assert_eq!(state_topics(&d(), DeviceKind::Vacuum), vec![s, a]);
        let parse = |topic: &str, payload: &str| parse_state(&d(), DeviceKind::Vacuum, topic, payload.as_bytes());
        for (status, ha) in [
            ("cleaning", "cleaning"),
            ("docked", "docked"),
            ("idle", "idle"),
            ("returning", "returning"),
            ("paused", "paused"),
            ("error", "error"),
            ("manual_control", "cleaning"),
            ("moving", "cleaning"),
        ] {
            assert_eq!(parse(s, status).unwrap().unwrap().activity.as_deref(), Some(ha), "{status}");
        }
        assert_eq!(parse(a, "ready").unwrap().unwrap().available, Some(true));
        assert_eq!(parse(a, "lost").unwrap().unwrap().available, Some(false));
        assert_eq!(parse(a, "disconnected").unwrap().unwrap().available, Some(false));
        assert_eq!(parse(a, "init").unwrap(), None);
        assert_eq!(parse(s, "").unwrap(), None);
        assert_eq!(parse("valetudo/RobotVac/BatteryStateAttribute/level", "42").unwrap(), None);
        assert_eq!(parse("valetudo/Other/StatusStateAttribute/status", "docked").unwrap(), None);
        for (topic, payload) in [(s, "vacuuming"), (a, "online")] {
            let e = parse(topic, payload).unwrap_err();
            assert!(matches!(&e, BridgeError::BadPayload { topic: t, .. } if t == topic), "{e:?}");
        }
        // The echo of each command confirms it.
        for (action, status) in [
            (Action::Start, "cleaning"),
            (Action::Dock, "returning"),
            (Action::Dock, "docked"),
            (Action::Pause, "paused"),
            (Action::CleanSegments { segments: vec!["1".into()] }, "moving"),
        ] {
            let mut st = DeviceState::default();
            st.apply(&parse(s, status).unwrap().unwrap());
            assert!(st.satisfies(&action), "{action:?} by {status}");
        }
    }
}
