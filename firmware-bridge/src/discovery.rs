//! Home Assistant MQTT discovery for the hub's own entities.
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

/// The retained config message for one entity.
pub fn discovery_config(entity: &DiscoveryEntity, hub_version: &str) -> Outgoing {
    let _ = (entity, hub_version);
    unimplemented!("discovery_config")
}
