//! What hubd announces to Home Assistant and the topics behind it: pure
//! functions from the hub's setup (cameras, rules) to discovery entities,
//! and from an incoming message to what it asks for.

use firmware_bridge::{Component, DiscoveryEntity, HubDevice};
use hub_skills::import::slug;
use serde_json::{Map, Value, json};

/// The hub's setup as far as discovery is concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub hub: HubDevice,
    /// `[mqtt] topic_prefix`: hubd's own state and command topics.
    pub topic_prefix: String,
    /// `[camera] mqtt_prefix`: where the camera code publishes `<camera>/motion`.
    pub camera_prefix: String,
    /// Camera ids and display names.
    pub cameras: Vec<(String, String)>,
}

/// An automation rule as a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSwitch {
    pub id: String,
    pub name: String,
    pub enabled: bool,
}

impl RuleSwitch {
    /// The rule's id as a topic level and object id.
    pub fn key(&self) -> String {
        slug(&self.id)
    }
}

impl Setup {
    fn t(&self, rest: &str) -> String {
        format!("{}/{rest}", self.topic_prefix)
    }
    pub fn last_command_topic(&self) -> String {
        self.t("last_command")
    }
    pub fn last_reply_topic(&self) -> String {
        self.t("last_reply")
    }
    pub fn outbox_depth_topic(&self) -> String {
        self.t("outbox_depth")
    }
    /// The `text` entity's command topic: a sentence for the pipeline.
    pub fn command_topic(&self) -> String {
        self.t("command")
    }
    pub fn rule_state_topic(&self, key: &str) -> String {
        self.t(&format!("automation/{key}/state"))
    }
    pub fn rule_set_topic(&self, key: &str) -> String {
        self.t(&format!("automation/{key}/set"))
    }
    pub fn person_topic(&self, camera: &str) -> String {
        self.t(&format!("camera/{camera}/person"))
    }
    /// The camera's latest frame as JPEG bytes (the `image` entity's
    /// `image_topic`: Home Assistant needs no token to show it).
    pub fn image_topic(&self, camera: &str) -> String {
        self.t(&format!("camera/{camera}/image"))
    }
    /// Home Assistant's birth topic.
    pub fn ha_status_topic(&self) -> String {
        format!("{}/status", self.hub.prefix)
    }
    /// The filters the announcer listens on.
    pub fn filters(&self) -> Vec<String> {
        vec![self.ha_status_topic(), self.command_topic(), self.t("automation/+/set")]
    }

    /// Every entity: the fixed ones, each camera's, each rule's.
    pub fn entities(&self, rules: &[RuleSwitch]) -> Vec<DiscoveryEntity> {
        let mut out = vec![
            entity(
                Component::Sensor,
                "last_command",
                "Last voice command",
                [("state_topic", json!(self.last_command_topic())), ("icon", json!("mdi:account-voice"))],
            ),
            entity(
                Component::Sensor,
                "last_reply",
                "Last reply",
                [("state_topic", json!(self.last_reply_topic())), ("icon", json!("mdi:message-reply-text"))],
            ),
            entity(
                Component::Sensor,
                "outbox_depth",
                "Commands in flight",
                [
                    ("state_topic", json!(self.outbox_depth_topic())),
                    ("state_class", json!("measurement")),
                    ("unit_of_measurement", json!("commands")),
                ],
            ),
            entity(
                Component::Text,
                "command",
                "Command",
                [
                    ("command_topic", json!(self.command_topic())),
                    ("state_topic", json!(self.last_command_topic())),
                    ("max", json!(255)),
                ],
            ),
        ];
        for (id, name) in &self.cameras {
            let key = slug(id);
            out.push(entity(
                Component::BinarySensor,
                &format!("{key}_motion"),
                &format!("{name} motion"),
                [
                    ("state_topic", json!(format!("{}/{id}/motion", self.camera_prefix))),
                    ("payload_on", json!("ON")),
                    ("payload_off", json!("OFF")),
                    ("device_class", json!("motion")),
                ],
            ));
            out.push(entity(
                Component::BinarySensor,
                &format!("{key}_person"),
                &format!("{name} person"),
                [
                    ("state_topic", json!(self.person_topic(id))),
                    ("payload_on", json!("ON")),
                    ("payload_off", json!("OFF")),
                    ("device_class", json!("occupancy")),
                ],
            ));
            out.push(entity(
                Component::Image,
                &format!("{key}_snapshot"),
                &format!("{name} snapshot"),
                [("image_topic", json!(self.image_topic(id))), ("content_type", json!("image/jpeg"))],
            ));
        }
        for r in rules {
            let key = r.key();
            out.push(entity(
                Component::Switch,
                &format!("automation_{key}"),
                &format!("Automation {}", r.name),
                [
                    ("command_topic", json!(self.rule_set_topic(&key))),
                    ("state_topic", json!(self.rule_state_topic(&key))),
                    ("payload_on", json!("ON")),
                    ("payload_off", json!("OFF")),
                    ("icon", json!("mdi:robot")),
                ],
            ));
        }
        out
    }

    /// What a message on one of [`Setup::filters`] asks for.
    pub fn incoming(&self, topic: &str, payload: &[u8]) -> Option<Incoming> {
        let text = std::str::from_utf8(payload).ok()?.trim();
        if topic == self.ha_status_topic() {
            return (text == "online").then_some(Incoming::HaOnline);
        }
        if topic == self.command_topic() {
            return (!text.is_empty()).then(|| Incoming::Say(text.to_string()));
        }
        let key = topic.strip_prefix(&self.t("automation/"))?.strip_suffix("/set")?;
        let on = match text {
            "ON" => true,
            "OFF" => false,
            _ => return None,
        };
        Some(Incoming::SetRule { key: key.to_string(), on })
    }
}

fn entity<const N: usize>(c: Component, object_id: &str, name: &str, opts: [(&str, Value); N]) -> DiscoveryEntity {
    let options: Map<String, Value> = opts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    DiscoveryEntity { component: c, object_id: object_id.to_string(), name: name.to_string(), options }
}

/// A request that came in over MQTT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// Home Assistant (re)started: announce everything again.
    HaOnline,
    /// A rule's switch was flipped.
    SetRule { key: String, on: bool },
    /// A sentence for the pipeline (the `text` entity).
    Say(String),
}

/// Live person events per camera (Frigate's `new`/`update` ... `end`).
#[derive(Debug, Default)]
pub struct PersonTracker {
    live: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl PersonTracker {
    /// Fold one camera event in; returns the camera's new person state when it changed.
    pub fn event(&mut self, camera: &str, id: &str, label: &str, event_type: &str) -> Option<bool> {
        if label != "person" {
            return None;
        }
        let set = self.live.entry(camera.to_string()).or_default();
        let before = !set.is_empty();
        if event_type == "end" {
            set.remove(id);
        } else {
            set.insert(id.to_string());
        }
        let after = !set.is_empty();
        (before != after).then_some(after)
    }

    pub fn on(&self, camera: &str) -> bool {
        self.live.get(camera).is_some_and(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests;
