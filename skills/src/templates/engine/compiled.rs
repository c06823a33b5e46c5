//! The compiled template graph (what `compile` builds and the matcher walks)
//! and the recognizer's results.

use std::collections::HashMap;

use serde_json::{Map, Value};

pub(crate) type NodeId = u32;

#[derive(Debug)]
pub(crate) struct TextNode {
    /// Lowercased chunk text (CJK whitespace removed when ignore_whitespace).
    pub folded: Box<str>,
    /// Bytes of leading whitespace in `folded`.
    pub lstrip: u32,
    /// Characters in `folded.trim()` (hassil's text_chunks_matched unit).
    pub chars: u32,
    /// The original chunk is "" (the empty branch of an optional).
    pub empty: bool,
    /// Ends with a space or an apostrophe (next text starts a word).
    pub ends_word: bool,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(TextNode),
    Seq(Vec<NodeId>),
    Alt(Vec<NodeId>),
    Perm(Vec<NodeId>),
    List { list: u32, slot: Box<str>, capture: bool, end_of_word: bool },
    Rule(u32),
}

#[derive(Debug)]
pub(crate) struct TextValue {
    pub input: NodeId,
    /// Lowercased, left-trimmed text of a plain value (index key); None for
    /// templates and values that do not fold cleanly.
    pub key: Option<Box<str>>,
    /// Plain value whose text is blank: never offered.
    pub blank: bool,
    /// Output value; None means "the matched text".
    pub out: Option<Value>,
    pub context: Option<Map<String, Value>>,
}

#[derive(Debug)]
pub(crate) struct RangeList {
    pub start: i64,
    pub stop: i64,
    pub step: i64,
    pub fractions: Vec<f64>,
    pub multiplier: Option<f64>,
    pub digits: bool,
    /// Number words enabled for the list (`words: true`, the default).
    pub words_enabled: bool,
    /// Number words (from the language's spellout rules), in hassil's trie
    /// order: shorter words first, then insertion order. Value already
    /// multiplied.
    pub words: Vec<(TextNode, f64)>,
}

impl RangeList {
    pub(crate) fn contains(&self, n: f64) -> bool {
        if self.step == 1 && self.fractions.is_empty() {
            return (self.start as f64) <= n && n <= (self.stop as f64);
        }
        let mut i = self.start;
        while i <= self.stop {
            if (i as f64) == n {
                return true;
            }
            for f in &self.fractions {
                if (i as f64) + f == n {
                    return true;
                }
            }
            i += self.step;
        }
        false
    }
}

#[derive(Debug)]
pub(crate) enum SlotList {
    Text(Vec<TextValue>),
    Range(RangeList),
    Wildcard,
}

#[derive(Debug)]
pub(crate) struct CompiledSentence {
    pub root: NodeId,
    /// The template as written (for diagnostics).
    #[allow(dead_code)]
    pub text: String,
    /// Required literal fragments in CNF (hassil `get_required_clauses`),
    /// as ids into `Compiled::fragments`.
    pub clauses: Vec<Vec<u32>>,
    pub only_wildcard: bool,
    pub starts_wildcard: bool,
    pub ends_wildcard: bool,
    /// Literal texts a match must start with (lowercased, left-trimmed);
    /// None when the start is not literal (lists of numbers, wildcards, an
    /// empty path). A cheap pre-check, sound like hassil's fragment filter.
    pub first: Option<Vec<Box<str>>>,
}

#[derive(Debug)]
pub(crate) struct CompiledData {
    pub sentences: Vec<CompiledSentence>,
    pub slots: Map<String, Value>,
    pub response: Option<String>,
    pub requires: Map<String, Value>,
    pub excludes: Map<String, Value>,
    pub local_rules: Vec<(u32, NodeId)>,
    pub local_lists: Vec<(u32, u32)>,
    pub required_keywords: Option<Vec<String>>,
    /// From a custom sentences file (`hass_custom_sentence` metadata).
    pub custom: bool,
}

#[derive(Debug)]
pub(crate) struct CompiledIntent {
    pub name: String,
    pub data: Vec<CompiledData>,
}

#[derive(Debug, Default)]
pub(crate) struct Compiled {
    pub nodes: Vec<Node>,
    pub lists: Vec<SlotList>,
    pub list_ids: HashMap<String, u32>,
    /// list name id -> index into `lists`.
    pub global_lists: Vec<Option<u32>>,
    pub rule_ids: HashMap<String, u32>,
    pub global_rules: Vec<Option<NodeId>>,
    pub intents: Vec<CompiledIntent>,
    pub skip_words: Vec<String>,
    pub ignore_ws: bool,
    /// Every distinct required fragment; tested once per input.
    pub fragments: Vec<String>,
}

/// One entity of a finished match.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MatchedEntity {
    pub name: String,
    pub value: Value,
    pub text: String,
    pub wildcard: bool,
}

/// The chosen result (hassil `RecognizeResult`, the parts we use).
#[derive(Debug, Clone)]
pub(crate) struct Recognized {
    pub intent: usize,
    pub data: usize,
    pub entities: Vec<MatchedEntity>,
    /// Context at the end of the match (satellite area + list value context).
    #[allow(dead_code)]
    pub context: Vec<(String, Value)>,
}
