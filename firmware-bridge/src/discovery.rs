//! Home Assistant MQTT discovery for the hub's own entities.
//!
//! Source: home-assistant/home-assistant.io `source/_integrations/mqtt.markdown`
//! ("MQTT Discovery"): config topic
//! `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`, JSON
//! payload, retained; an empty retained payload removes the entity; a
//! `device` block ties the entities to one device; `availability` lists the
//! topics (with their payloads) that say whether the entity is reachable;
//! `origin` names the software that announced it. The per-component keys
//! (`state_topic`, `command_topic`, `url_topic`, ...) are the entity's own
//! (`sensor.mqtt.markdown`, `binary_sensor.mqtt`, `switch.mqtt`,
//! `image.mqtt`, `text.mqtt`).
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Outgoing;

/// The Home Assistant components the hub announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Sensor,
    BinarySensor,
    Switch,
    Image,
    Text,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Sensor => "sensor",
            Component::BinarySensor => "binary_sensor",
            Component::Switch => "switch",
            Component::Image => "image",
            Component::Text => "text",
        }
    }
}

/// The device every hub entity belongs to, and where they are announced.
#[derive(Debug, Clone, PartialEq)]
pub struct HubDevice {
    /// `homeassistant` by default.
    pub prefix: String,
    /// The node id in config topics, unique ids and the device identifier.
    pub node_id: String,
    pub name: String,
    pub sw_version: String,
    pub model: String,
    /// The hub's birth / last-will topic (retained `online` / `offline`).
    pub availability_topic: String,
}

/// One entity the hub announces.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryEntity {
    pub component: Component,
    pub object_id: String,
    pub name: String,
    /// The component's own keys: topics, payloads, device class, unit, icon...
    pub options: Map<String, Value>,
}

impl HubDevice {
    pub fn config_topic(&self, e: &DiscoveryEntity) -> String {
        format!("{}/{}/{}/{}/config", self.prefix, e.component.as_str(), self.node_id, e.object_id)
    }

    /// `<node>_<object>`, stable across restarts.
    pub fn unique_id(&self, e: &DiscoveryEntity) -> String {
        format!("{}_{}", self.node_id, e.object_id)
    }
}

/// The retained config message for one entity.
pub fn discovery_config(hub: &HubDevice, e: &DiscoveryEntity) -> Outgoing {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(e.name.clone()));
    m.insert("unique_id".into(), Value::String(hub.unique_id(e)));
    for (k, v) in &e.options {
        m.insert(k.clone(), v.clone());
    }
    m.insert(
        "availability".into(),
        json!([{"topic": hub.availability_topic, "payload_available": "online", "payload_not_available": "offline"}]),
    );
    m.insert(
        "device".into(),
        json!({
            "identifiers": [hub.node_id],
            "name": hub.name,
            "manufacturer": "hubd project",
            "model": hub.model,
            "sw_version": hub.sw_version,
        }),
    );
    m.insert("origin".into(), json!({"name": "hubd", "sw_version": hub.sw_version}));
    Outgoing { topic: hub.config_topic(e), payload: Value::Object(m).to_string().into_bytes(), retain: true }
}

/// The empty retained message that removes the entity from Home Assistant.
pub fn discovery_remove(hub: &HubDevice, e: &DiscoveryEntity) -> Outgoing {
    Outgoing { topic: hub.config_topic(e), payload: Vec::new(), retain: true }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_message() {
        let hub = HubDevice {
            prefix: "homeassistant".into(),
            node_id: "hubd".into(),
            name: "hubd".into(),
            sw_version: "0.1.0".into(),
            model: "hubd".into(),
            availability_topic: "hubd/status".into(),
        };
        let mut options = Map::new();
        options.insert("state_topic".into(), "hubd/last_command".into());
        let e = DiscoveryEntity {
            component: Component::Sensor,
            object_id: "last_command".into(),
            name: "Last command".into(),
            options,
        };
        let out = discovery_config(&hub, &e);
        assert_eq!(out.topic, "homeassistant/sensor/hubd/last_command/config");
        assert!(out.retain);
        let v: Value = serde_json::from_slice(&out.payload).unwrap();
        assert_eq!(v["unique_id"], "hubd_last_command");
        assert_eq!(v["state_topic"], "hubd/last_command");
        assert_eq!(v["availability"][0]["topic"], "hubd/status");
        assert_eq!(v["device"]["identifiers"][0], "hubd");
        assert_eq!(v["device"]["sw_version"], "0.1.0");
        assert_eq!(v["origin"]["name"], "hubd");
        assert!(v.get("command_topic").is_none());
        let rm = discovery_remove(&hub, &e);
        assert_eq!((rm.topic.as_str(), rm.payload.is_empty(), rm.retain), (out.topic.as_str(), true, true));
    }
}
