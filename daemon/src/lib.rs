//! hubd library: the daemon's subsystems. Each subsystem is a task that owns
//! its state and hands out a cloneable handle over a bounded channel
//! (`shared/STYLE.md`, daemon rules). Errors are typed per module.

pub mod api_client;
pub mod audio;
pub mod automation;
pub mod broker;
pub mod camera;
/// The configuration file: the `hub-config` crate (no libtorch; fuzzed on its own).
pub use hub_config as config;
pub mod discovery;
pub mod events;
pub mod heads;
pub mod latency;
pub mod llm;
pub mod llm_tools;
pub mod mqtt;
pub mod mqtt_tls;
pub mod outbox;
pub mod pipeline;
pub mod private_fs;
pub mod reload;
pub mod retention;
pub mod runtime;
pub mod runtime_file;
pub mod search;
pub mod services;
pub mod simulate;
pub mod speech;
pub mod store;
pub mod testing;
pub mod text_gate;
pub mod timers;
pub mod tts;
pub mod vlm;
pub mod wav;
pub mod web;
pub mod wyoming;
