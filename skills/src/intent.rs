//! The result of understanding one utterance, in Home Assistant's terms.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which path produced an understanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Home Assistant sentence templates (home-assistant-intents / custom sentences).
    Template,
    /// The registry grammar fallback.
    Grammar,
    /// The model's intent/slot heads.
    Model,
    /// The LLM decoder's tool call.
    Llm,
}

/// One candidate entity when a request is ambiguous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub entity_id: String,
    pub name: String,
    pub area: Option<String>,
}

/// An intent with Home Assistant's name (`HassTurnOn`, ...) and slots
/// (`name`, `area`, `floor`, `domain`, `device_class`, `brightness`, `color`,
/// `temperature`, `position`, ...). Slot values are the registry's names
/// (as hassil returns them); `entities` holds the resolved entity ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Understanding {
    pub text: String,
    pub intent: String,
    pub slots: BTreeMap<String, serde_json::Value>,
    /// Entity ids the request targets, resolved against the registry.
    #[serde(default)]
    pub entities: Vec<String>,
    /// Non-empty when the request matched several entities it should not
    /// have (ambiguous name): the caller asks instead of guessing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    pub confidence: f32,
    pub source: Source,
    /// Key into the language's `responses` for the spoken reply, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

/// Where an utterance came from, for resolving what it leaves unsaid: "turn
/// on the light" said at the kitchen satellite means the kitchen light.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NluContext {
    /// Area id (or name) of the satellite / session that heard the request.
    #[serde(default)]
    pub area: Option<String>,
}
