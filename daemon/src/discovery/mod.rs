//! MQTT discovery, both ways.
//!
//! - Out ([`announce`]): hubd announces itself to Home Assistant as one
//!   device with retained discovery configs under `[mqtt] discovery_prefix`:
//!   the last voice command and reply, the commands in flight, per camera a
//!   motion and a person binary sensor and the latest frame as an `image`,
//!   each automation as a switch, and a `text` entity that sends a sentence
//!   to the pipeline. Every entity's availability is hubd's birth / last-will
//!   topic. The configs are published on every connect and again when Home
//!   Assistant publishes `online` on `<prefix>/status`; a removed rule's
//!   config is emptied. The entities are built by pure functions
//!   ([`entities`]) apart from the task that publishes them.
//! - In ([`import`]): devices from Zigbee2MQTT, Home Assistant discovery
//!   configs and Tasmota's native discovery join the registry without a
//!   restart (parsing in `hub_skills::import`).

pub mod announce;
pub mod entities;
pub mod import;

pub use entities::Setup;
