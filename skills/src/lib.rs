//! hub-skills: the intent schema, natural-language understanding over the
//! device registry (Home Assistant sentence templates), the skill handlers
//! that turn intents into device commands and replies, and automation rules.
//!
//! [`Assistant`] is the one facade the daemon calls per request:
//! understand (templates, then the grammar fallback), plan (skills, through
//! the one [`command::build`]er) and reply.
//!
//! Pure: no tokio, no sockets, no clock reads (`now` is passed in).

mod answer;
pub mod asr_prompt;
pub mod assistant;
pub mod automation;
pub mod clock;
pub mod command;
pub mod corpus;
pub mod grammar;
pub mod handlers;
pub mod import;
pub mod intent;
pub mod lists;
pub mod lookup;
pub mod media_library;
pub mod registry;
pub mod reply;
pub mod scene;
mod skill;
pub use skill::{default_kinds, domain_is_moot};
pub mod slots;
mod targets;
pub mod templates;
pub mod timers;
pub mod tools;

pub use assistant::{Assistant, ReplyStyle};
pub use handlers::{HubOp, Plan, SkillError, plan};
pub use intent::{Candidate, Intent, NluContext, Source, Understanding};
pub use registry::{Area, Device, Floor, Registry, RegistryError};
pub use slots::Slots;
