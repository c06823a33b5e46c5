//! Helpers for the per-dialect golden-vector tables.
use serde_json::Value;

use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Dialect, Features, Outgoing, encode};

/// Every capability on: dimmable colour lights, positioned covers and
/// valves, speed fans, climate fan modes `auto|low|high|Quiet`.
pub(crate) fn all_features() -> Features {
    Features {
        dimmable: true,
        color: true,
        color_temp: true,
        position: true,
        speed: true,
        fan_modes: vec!["auto".into(), "low".into(), "high".into(), "Quiet".into()],
        ..Default::default()
    }
}

pub(crate) fn command(d: &Dialect, kind: DeviceKind, action: Action, features: &Features) -> DeviceCommand {
    DeviceCommand {
        device_id: format!("{}.golden", kind.domain()),
        kind,
        dialect: d.clone(),
        action,
        features: features.clone(),
    }
}

/// One expected message: topic, payload (compared as JSON when it is an
/// object), retain.
pub(crate) type Msg = (&'static str, &'static str, bool);

/// A golden row: kind, action, the messages it must produce.
pub(crate) type Golden = (DeviceKind, Action, Vec<Msg>);

pub(crate) fn assert_msgs(got: &[Outgoing], want: &[Msg], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?}");
    for (g, (topic, payload, retain)) in got.iter().zip(want) {
        assert_eq!(g.topic, *topic, "{what}");
        assert_eq!(g.retain, *retain, "{what}: retain");
        let text = String::from_utf8(g.payload.clone()).unwrap();
        if payload.starts_with('{') {
            let g: Value = serde_json::from_str(&text).unwrap();
            let w: Value = serde_json::from_str(payload).unwrap();
            assert_eq!(g, w, "{what}");
        } else {
            assert_eq!(text, *payload, "{what}");
        }
    }
}

/// Encode every row and compare with its expected messages.
pub(crate) fn assert_golden(d: &Dialect, features: &Features, rows: Vec<Golden>) {
    for (kind, action, want) in rows {
        let what = format!("{} {kind:?} {action:?}", d.name());
        let got = encode(&command(d, kind, action, features)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_msgs(&got, &want, &what);
    }
}

/// Every row is a typed `Unsupported` naming the dialect.
pub(crate) fn assert_unsupported(d: &Dialect, features: &Features, rows: Vec<(DeviceKind, Action)>) {
    for (kind, action) in rows {
        let got = encode(&command(d, kind, action.clone(), features));
        assert!(
            matches!(&got, Err(BridgeError::Unsupported { dialect, .. }) if *dialect == d.name()),
            "{} {kind:?} {action:?}: {got:?}",
            d.name()
        );
    }
}
