//! Home Assistant MQTT discovery for the hub's own entities.
//!
//! Source: home-assistant/home-assistant.io `source/_integrations/mqtt.markdown`
//! ("MQTT Discovery"): config topic
//! `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`, JSON
//! payload, retained; an empty retained payload removes the entity;
//! abbreviated keys (`stat_t`, `cmd_t`, `avty_t`, `uniq_id`, `dev_cla`,
//! `unit_of_meas`, `dev` {`ids`, `name`, `mf`, `mdl`, `sw`}, `o` origin
//! {`name`, `sw`, `url`}).
use serde_json::{Map, Value, json};

use crate::Outgoing;

/// One entity the hub announces to Home Assistant.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryEntity {
    /// `homeassistant` by default.
    pub prefix: String,
    /// HA component, e.g. `sensor`, `binary_sensor`, `switch`.
    pub component: String,
    pub object_id: String,
    pub name: String,
    pub state_topic: String,
    pub command_topic: Option<String>,
    pub availability_topic: Option<String>,
    pub device_class: Option<String>,
    pub unit: Option<String>,
}

/// The hub's node id in discovery topics and unique ids.
const NODE: &str = "hubd";

fn config_topic(entity: &DiscoveryEntity) -> String {
    format!("{}/{}/{NODE}/{}/config", entity.prefix, entity.component, entity.object_id)
}

/// The retained config message for one entity.
pub fn discovery_config(entity: &DiscoveryEntity, hub_version: &str) -> Outgoing {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(entity.name.clone()));
    m.insert("uniq_id".into(), Value::String(format!("{NODE}_{}", entity.object_id)));
    m.insert("obj_id".into(), Value::String(format!("{NODE}_{}", entity.object_id)));
    m.insert("stat_t".into(), Value::String(entity.state_topic.clone()));
    if let Some(t) = &entity.command_topic {
        m.insert("cmd_t".into(), Value::String(t.clone()));
    }
    if let Some(t) = &entity.availability_topic {
        m.insert("avty_t".into(), Value::String(t.clone()));
    }
    if let Some(c) = &entity.device_class {
        m.insert("dev_cla".into(), Value::String(c.clone()));
    }
    if let Some(u) = &entity.unit {
        m.insert("unit_of_meas".into(), Value::String(u.clone()));
    }
    m.insert(
        "dev".into(),
        json!({"ids": [NODE], "name": "hubd", "mf": "hubd project", "mdl": "hubd", "sw": hub_version}),
    );
    m.insert("o".into(), json!({"name": "hubd", "sw": hub_version}));
    Outgoing { topic: config_topic(entity), payload: Value::Object(m).to_string().into_bytes(), retain: true }
}

/// The empty retained message that removes the entity from Home Assistant.
pub fn discovery_remove(entity: &DiscoveryEntity) -> Outgoing {
    Outgoing { topic: config_topic(entity), payload: Vec::new(), retain: true }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_message() {
        let e = DiscoveryEntity {
            prefix: "homeassistant".into(),
            component: "sensor".into(),
            object_id: "last_command".into(),
            name: "Last command".into(),
            state_topic: "hubd/last_command".into(),
            command_topic: None,
            availability_topic: Some("hubd/status".into()),
            device_class: None,
            unit: None,
        };
        let out = discovery_config(&e, "0.1.0");
        assert_eq!(out.topic, "homeassistant/sensor/hubd/last_command/config");
        assert!(out.retain);
        let v: Value = serde_json::from_slice(&out.payload).unwrap();
        assert_eq!(v["uniq_id"], "hubd_last_command");
        assert_eq!(v["stat_t"], "hubd/last_command");
        assert_eq!(v["avty_t"], "hubd/status");
        assert_eq!(v["dev"]["ids"][0], "hubd");
        assert_eq!(v["dev"]["sw"], "0.1.0");
        assert_eq!(v["o"]["name"], "hubd");
        assert!(v.get("cmd_t").is_none());
        let rm = discovery_remove(&e);
        assert_eq!((rm.topic.as_str(), rm.payload.is_empty(), rm.retain), (out.topic.as_str(), true, true));
    }
}
