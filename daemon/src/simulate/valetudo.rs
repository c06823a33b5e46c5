//! Valetudo firmware (robot vacuums), from Hypfer/Valetudo
//! `docs/_pages/integrations/mqtt.md`, the MQTT API reference:
//! - `<prefix>/<identifier>/BasicControlCapability/operation/set`, a Homie
//!   enum (`START`, `STOP`, `PAUSE`, `HOME`), echoed on the command response
//!   topic `…/BasicControlCapability/operation`, not retained;
//! - `…/MapSegmentationCapability/clean/set`, "a JSON object identical to the
//!   one used by the REST API" (`{"segment_ids":["20","18"],"iterations":2,
//!   "customOrder":true}`, ids are strings), echoed on `…/clean`;
//! - `…/StatusStateAttribute/status` (retained): `error|docked|idle|returning|
//!   cleaning|paused|manual_control|moving`, and `…/flag` (retained):
//!   `none|zone|segment|spot|target|resumable|mapping`;
//! - the Homie device state `…/$state`: `ready` (retained), `lost` as the last
//!   will.
//!
//! The robot moves in no time: START and a segment clean go to `cleaning`,
//! PAUSE to `paused`, STOP to `idle`, HOME to `returning` (and it stays
//! there: the simulator has no clock to dock it by).

use serde_json::Value;

use super::{Msg, Outcome, VirtualDevice, m};

impl VirtualDevice {
    pub(super) fn valetudo(&mut self, prefix: &str, id: &str, topic: &str, text: &str) -> Outcome {
        let base = format!("{prefix}/{id}/");
        let Some(leaf) = topic.strip_prefix(&base) else {
            return Outcome::NotMine;
        };
        let (status, segment_job) = match leaf {
            // A Homie enum: exactly one of the listed payloads.
            "BasicControlCapability/operation/set" => match text {
                "START" => ("cleaning", false),
                "STOP" => ("idle", false),
                "PAUSE" => ("paused", self.st.segment_job),
                "HOME" => ("returning", false),
                // Valetudo logs the invalid payload and does nothing.
                _ => return Outcome::Rejected(vec![]),
            },
            "MapSegmentationCapability/clean/set" => {
                if !valid_segment_clean(text) {
                    return Outcome::Rejected(vec![]);
                }
                ("cleaning", true)
            }
            _ => return Outcome::NotMine,
        };
        self.st.activity = status.to_string();
        self.st.segment_job = segment_job;
        let response = topic.strip_suffix("/set").unwrap_or(topic);
        let mut out = vec![m(response, text, false)];
        out.extend(self.valetudo_state(prefix, id));
        Outcome::Applied(out)
    }

    /// The retained status and flag.
    pub(super) fn valetudo_state(&self, prefix: &str, id: &str) -> Vec<Msg> {
        let flag = if self.st.segment_job { "segment" } else { "none" };
        vec![
            m(format!("{prefix}/{id}/StatusStateAttribute/status"), self.st.activity.as_str(), true),
            m(format!("{prefix}/{id}/StatusStateAttribute/flag"), flag, true),
        ]
    }
}

/// The REST body of a segment clean: `segment_ids` a non-empty list of
/// string ids, `iterations` (optional) a positive integer, `customOrder`
/// (optional) a boolean.
fn valid_segment_clean(text: &str) -> bool {
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    let ids_ok = match o.get("segment_ids") {
        Some(Value::Array(ids)) => !ids.is_empty() && ids.iter().all(|i| i.as_str().is_some_and(|s| !s.is_empty())),
        _ => false,
    };
    let iterations_ok = o.get("iterations").is_none_or(|v| v.as_u64().is_some_and(|n| n >= 1));
    let order_ok = o.get("customOrder").is_none_or(Value::is_boolean);
    ids_ok && iterations_ok && order_ok
}
