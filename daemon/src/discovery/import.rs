//! The importing task: listens on the retained discovery topics of the
//! sources `[mqtt] import` names, keeps what each retained topic holds, and
//! after each burst of changes hands the whole set to the [`Reloader`],
//! which merges it with the config's devices and swaps the registry in place
//! (the NLU, the outbox's state topics and the API see it at once). An
//! emptied retained config removes its devices.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use hub_skills::import::{self, Imported, Parsed};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::ImportSource;
use crate::mqtt::MqttLink;
use crate::reload::Reloader;

/// The tap id of the importer's subscriptions.
const TAP: u64 = 0xD15C_0002;
/// Retained configs arrive in a burst after subscribing: apply once it is quiet.
const SETTLE: Duration = Duration::from_millis(300);
/// Zigbee2MQTT's default base topic.
pub const Z2M_BASE: &str = "zigbee2mqtt";

/// Which retained topics to read and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Sources {
    pub sources: Vec<ImportSource>,
    pub discovery_prefix: String,
    /// hubd's own configs carry this origin name and are not imported.
    pub own_origin: String,
}

impl Sources {
    pub fn filters(&self) -> Vec<String> {
        let mut f = Vec::new();
        for s in &self.sources {
            match s {
                ImportSource::Zigbee2mqtt => f.push(format!("{Z2M_BASE}/bridge/devices")),
                ImportSource::Homeassistant => {
                    f.push(format!("{}/+/+/config", self.discovery_prefix));
                    f.push(format!("{}/+/+/+/config", self.discovery_prefix));
                }
                ImportSource::Tasmota => f.push("tasmota/discovery/+/config".into()),
            }
        }
        f
    }

    /// Parse one message on [`Sources::filters`]; `None` for a topic that is
    /// not one of them.
    pub fn parse(&self, topic: &str, payload: &[u8]) -> Option<Result<Parsed, import::ImportError>> {
        let on = |s: ImportSource| self.sources.contains(&s);
        if on(ImportSource::Zigbee2mqtt) && topic == format!("{Z2M_BASE}/bridge/devices") {
            return Some(import::parse_bridge_devices(Z2M_BASE, topic, payload));
        }
        if on(ImportSource::Tasmota) && topic.starts_with("tasmota/discovery/") && topic.ends_with("/config") {
            return Some(import::parse_tasmota_config(topic, payload));
        }
        if on(ImportSource::Homeassistant) && import::parse_ha_topic(&self.discovery_prefix, topic).is_some() {
            return Some(import::parse_ha_config(&self.discovery_prefix, topic, payload, &self.own_origin));
        }
        None
    }
}

/// What each retained topic holds.
#[derive(Debug, Default)]
pub struct Held {
    by_topic: BTreeMap<String, Vec<Imported>>,
}

impl Held {
    /// Fold one retained message in; true when the devices changed.
    pub fn update(&mut self, sources: &Sources, topic: &str, payload: &[u8]) -> bool {
        if payload.is_empty() {
            return self.by_topic.remove(topic).is_some_and(|d| !d.is_empty());
        }
        match sources.parse(topic, payload) {
            None => false,
            Some(Ok(parsed)) => {
                for s in &parsed.skipped {
                    tracing::debug!(topic, reason = %s, "discovery: entity not imported");
                }
                let changed = self.by_topic.get(topic) != Some(&parsed.devices);
                self.by_topic.insert(topic.to_string(), parsed.devices);
                changed
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "discovery: config not imported");
                false
            }
        }
    }

    /// Every imported device, in topic order.
    pub fn devices(&self) -> Vec<Imported> {
        self.by_topic.values().flatten().cloned().collect()
    }
}

/// Start importing into `reloader`'s registry.
pub fn spawn(sources: Sources, link: MqttLink, reloader: Reloader, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::channel::<(String, Bytes)>(256);
        if let Err(e) = link.tap(TAP, sources.filters(), tx) {
            tracing::warn!(error = %e, "discovery: cannot listen for devices to import");
        }
        let mut held = Held::default();
        let mut dirty = false;
        loop {
            let wait = dirty;
            let quiet =
                async move { if wait { tokio::time::sleep(SETTLE).await } else { std::future::pending().await } };
            let apply = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                m = rx.recv() => {
                    let Some((topic, payload)) = m else { break };
                    dirty |= held.update(&sources, &topic, &payload);
                    false
                }
                _ = quiet => true,
            };
            if apply {
                dirty = false;
                let devices = held.devices();
                let n = devices.len();
                match reloader.apply_imports(devices).await {
                    Ok(()) => tracing::info!(imported = n, "discovery: registry updated"),
                    Err(e) => tracing::warn!(error = %e, "discovery: imported devices not applied"),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(s: Vec<ImportSource>) -> Sources {
        Sources { sources: s, discovery_prefix: "homeassistant".into(), own_origin: "hubd".into() }
    }

    const SWITCH: &[u8] =
        br#"{"~": "homeassistant/switch/irrigation", "name": "garden", "cmd_t": "~/set", "stat_t": "~/state"}"#;

    #[test]
    fn filters_follow_the_sources() {
        let all = sources(vec![ImportSource::Zigbee2mqtt, ImportSource::Homeassistant, ImportSource::Tasmota]);
        assert_eq!(
            all.filters(),
            vec![
                "zigbee2mqtt/bridge/devices",
                "homeassistant/+/+/config",
                "homeassistant/+/+/+/config",
                "tasmota/discovery/+/config"
            ]
        );
        let z2m = sources(vec![ImportSource::Zigbee2mqtt]);
        assert!(z2m.parse("homeassistant/switch/irrigation/config", SWITCH).is_none(), "not a source of this hub");
        assert!(z2m.parse("zigbee2mqtt/bridge/devices", b"[]").is_some());
    }

    /// A retained config adds its devices, the same config again changes
    /// nothing, an empty one removes them; a broken one keeps what was there.
    #[test]
    fn held_configs_come_and_go() {
        let s = sources(vec![ImportSource::Homeassistant]);
        let mut held = Held::default();
        let t = "homeassistant/switch/irrigation/config";
        assert!(held.update(&s, t, SWITCH));
        assert!(!held.update(&s, t, SWITCH));
        assert_eq!(held.devices().iter().map(|d| d.device.id.as_str()).collect::<Vec<_>>(), vec!["switch.garden"]);
        assert!(!held.update(&s, t, b"{not json"));
        assert_eq!(held.devices().len(), 1);
        assert!(held.update(&s, t, b""));
        assert!(held.devices().is_empty());
        assert!(!held.update(&s, t, b""), "removing twice changes nothing");
    }
}
