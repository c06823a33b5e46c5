//! hub-skills: the intent schema, natural-language understanding over the
//! device registry (Home Assistant sentence templates), the skill handlers
//! that turn intents into device commands and replies, and automation rules.
//!
//! Pure: no tokio, no sockets, no clock reads (`now` is passed in).

pub mod asr_prompt;
pub mod grammar;
pub mod handlers;
pub mod intent;
pub mod registry;
pub mod templates;

pub use intent::{Candidate, NluContext, Source, Understanding};
pub use registry::{Area, Device, Floor, Registry, RegistryError};
