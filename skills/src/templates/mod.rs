//! Home Assistant sentence templates (hassil's language), parsed and matched
//! natively.
//!
//! - [`TemplateNlu::from_language_json`] loads one `home_assistant_intents`
//!   `data/<lang>.json` (intents, lists, expansion rules, skip words,
//!   responses) and fills the `name` / `area` / `floor` lists from the
//!   registry exactly as Home Assistant's default agent does (names and
//!   aliases; name values carry `domain` / `device_class` context).
//! - [`TemplateNlu::add_custom_yaml`] merges a custom-sentences YAML file the
//!   way Home Assistant does (`merge_dict`, custom sentences preferred).
//! - [`TemplateNlu::understand`] runs hassil's `recognize_best` semantics
//!   (the call Home Assistant makes: custom sentences first, then results with
//!   a `name`, longer names, fewer wildcards, more literal text) and resolves
//!   the slots against the registry; an ambiguous name returns candidates.
//! - [`TemplateNlu::response`] renders the language's response template.
//!
//! Pure: callers read files and pass strings.

// `TemplateError::Template` carries the template text and its location for
// the message; it only happens while loading, so its size does not matter.
#![allow(clippy::result_large_err)]

mod compile;
mod engine;
mod parse;
mod response;
mod text;

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::intent::{Candidate, Intent, NluContext, Source, Understanding};
use crate::registry::{Device, Registry};
use crate::slots::Slots;

use compile::RegistryLists;
use engine::Compiled;
pub use engine::{MAX_STEPS, SENTENCE_STEPS, TooComplex};
pub(crate) use parse::{Expr, ListRef, parse_sentence};

/// A problem in a language file or a custom sentences file.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TemplateError {
    /// The file is not valid JSON / YAML.
    #[error("{source_name}: {message}")]
    Syntax { source_name: String, message: String },
    /// A key has the wrong shape (`path` is e.g. `intents.HassTurnOn.data[2]`).
    #[error("{source_name}: {path}: {message}")]
    Schema { source_name: String, path: String, message: String },
    /// A template does not parse or refers to something missing.
    #[error(
        "{source_name}: {}{location}: template {template:?}, character {position}: {message}",
        intent.as_ref().map(|i| format!("intent {i}, ")).unwrap_or_default()
    )]
    Template {
        source_name: String,
        intent: Option<String>,
        /// Where the template sits, e.g. `intents.HassTurnOn.data[0].sentences[3]`
        /// (with `, line N` for YAML files when it can be found).
        location: String,
        template: String,
        /// Character offset of the problem inside the template.
        position: usize,
        message: String,
    },
}

/// One recognized slot, as hassil reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSlot {
    pub name: String,
    pub value: Value,
    /// The text it matched (empty for fixed and context slots).
    pub text: String,
}

/// The raw recognition result (hassil `RecognizeResult`, the parts Home
/// Assistant uses): intent, `entities_list`, response key.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateMatch {
    pub intent: String,
    pub slots: Vec<TemplateSlot>,
    pub response: Option<String>,
    pub custom: bool,
}

impl TemplateMatch {
    /// Slots as Home Assistant passes them to the intent handler
    /// (`{name: value}`, later entries win).
    pub fn slot_map(&self) -> BTreeMap<String, Value> {
        self.slots.iter().map(|s| (s.name.clone(), s.value.clone())).collect()
    }
}

/// The template-based understanding engine for one language.
#[derive(Debug)]
pub struct TemplateNlu {
    language: String,
    sources: Vec<(String, Map<String, Value>)>,
    merged: Map<String, Value>,
    registry: Registry,
    reg_lists: RegistryLists,
    compiled: Compiled,
    warnings: Vec<String>,
    numbers: compile::NumberWords,
}

impl std::fmt::Debug for RegistryLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryLists({} names, {} areas, {} floors)", self.names.len(), self.areas.len(), self.floors.len())
    }
}

/// Whether a configured language code is English (`en`, `en-GB`, …): the
/// language of the built-in grammar, the corpus's noise and number words,
/// and the values [`crate::tools::values_said`] reads.
pub fn is_english(language: &str) -> bool {
    language.to_ascii_lowercase().starts_with("en")
}

/// The file name in `home_assistant_intents/data/` for a configured language
/// (`zh-cn` -> `zh-CN.json`, `sr-latn` -> `sr-Latn.json`, `en` -> `en.json`).
pub fn language_file_name(language: &str) -> String {
    let mut parts = language.trim().split(['-', '_']);
    let lang = parts.next().unwrap_or("").to_ascii_lowercase();
    let mut out = lang;
    for p in parts {
        out.push('-');
        if p.len() == 4 {
            let mut cs = p.chars();
            if let Some(f) = cs.next() {
                out.push(f.to_ascii_uppercase());
                out.push_str(&cs.as_str().to_ascii_lowercase());
            }
        } else {
            out.push_str(&p.to_ascii_uppercase());
        }
    }
    out.push_str(".json");
    out
}

fn registry_lists(reg: &Registry) -> RegistryLists {
    let mut names = Vec::new();
    for d in &reg.devices {
        let mut ctx = Map::new();
        ctx.insert("domain".into(), Value::String(d.kind.domain().into()));
        if let Some(dc) = &d.device_class {
            ctx.insert("device_class".into(), Value::String(dc.clone()));
        }
        for a in &d.aliases {
            let a = a.trim();
            if !a.is_empty() {
                names.push((a.to_string(), a.to_string(), ctx.clone()));
            }
        }
        names.push((d.name.clone(), d.name.clone(), ctx));
    }
    let mut areas = Vec::new();
    for a in &reg.areas {
        areas.push((a.name.clone(), a.name.clone()));
        for al in &a.aliases {
            let al = al.trim();
            if !al.is_empty() {
                areas.push((al.to_string(), al.to_string()));
            }
        }
    }
    let mut floors = Vec::new();
    for f in &reg.floors {
        floors.push((f.name.clone(), f.name.clone()));
        for al in &f.aliases {
            let al = al.trim();
            if !al.is_empty() {
                floors.push((al.to_string(), f.name.clone()));
            }
        }
    }
    RegistryLists { names, areas, floors }
}

/// Find the 1-based line of `needle` in `text` (for YAML error locations).
fn line_of(text: &str, needle: &str) -> Option<usize> {
    let probe = needle.trim();
    if probe.is_empty() {
        return None;
    }
    text.lines().position(|l| l.contains(probe)).map(|i| i + 1)
}

fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

fn value_strs(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).map(String::from).collect()),
        _ => None,
    }
}

impl TemplateNlu {
    /// Load `data/<lang>.json` from the `home-assistant-intents` package.
    pub fn from_language_json(json: &str, reg: &Registry) -> Result<Self, TemplateError> {
        Self::from_language_json_named("language data", json, reg)
    }

    /// Same, naming the source in errors (e.g. the file path).
    pub fn from_language_json_named(source_name: &str, json: &str, reg: &Registry) -> Result<Self, TemplateError> {
        let doc: Value = serde_json::from_str(json)
            .map_err(|e| TemplateError::Syntax { source_name: source_name.to_string(), message: e.to_string() })?;
        let Value::Object(mut doc) = doc else {
            return Err(TemplateError::Schema {
                source_name: source_name.to_string(),
                path: String::new(),
                message: "expected a JSON object".into(),
            });
        };
        let language = doc.get("language").and_then(Value::as_str).unwrap_or("").to_string();
        compile::tag_sources(&mut doc, source_name, false);
        let reg_lists = registry_lists(reg);
        let sources = vec![(source_name.to_string(), doc.clone())];
        let numbers = compile::NumberWords::new();
        let (compiled, warnings) = compile::build(&doc, &sources, &reg_lists, &numbers)?;
        Ok(TemplateNlu {
            language,
            sources,
            merged: doc,
            registry: reg.clone(),
            reg_lists,
            compiled,
            warnings,
            numbers,
        })
    }

    /// Add a custom sentences file (Home Assistant's YAML format:
    /// `language`, `intents: {Name: {data: [{sentences, slots, ...}]}}`,
    /// `lists`, `expansion_rules`, `skip_words`, `responses`). On error the
    /// engine is unchanged.
    pub fn add_custom_yaml(&mut self, source_name: &str, yaml: &str) -> Result<(), TemplateError> {
        let v: Value = serde_yaml::from_str(yaml)
            .map_err(|e| TemplateError::Syntax { source_name: source_name.to_string(), message: e.to_string() })?;
        let Value::Object(mut doc) = v else {
            return Err(TemplateError::Schema {
                source_name: source_name.to_string(),
                path: String::new(),
                message: "expected a mapping with `intents`".into(),
            });
        };
        if let Some(lang) = doc.get("language").and_then(Value::as_str)
            && !self.language.is_empty()
            && !lang.eq_ignore_ascii_case(&self.language)
        {
            return Err(TemplateError::Schema {
                source_name: source_name.to_string(),
                path: "language".into(),
                message: format!("file is for language `{lang}`, the hub speaks `{}`", self.language),
            });
        }
        match doc.get("intents") {
            Some(Value::Object(_)) => {}
            Some(_) => {
                return Err(TemplateError::Schema {
                    source_name: source_name.to_string(),
                    path: "intents".into(),
                    message: "must be a mapping of intent name to {data: [...]}".into(),
                });
            }
            None if doc.get("lists").is_none() && doc.get("expansion_rules").is_none() => {
                return Err(TemplateError::Schema {
                    source_name: source_name.to_string(),
                    path: "intents".into(),
                    message: "missing `intents`".into(),
                });
            }
            None => {}
        }
        if let Some(Value::Object(intents)) = doc.get("intents") {
            for (name, i) in intents {
                if !matches!(i.get("data"), Some(Value::Array(_))) {
                    return Err(TemplateError::Schema {
                        source_name: source_name.to_string(),
                        path: format!("intents.{name}"),
                        message: "an intent needs a `data` list".into(),
                    });
                }
            }
        }
        doc.remove("language");
        compile::tag_sources(&mut doc, source_name, true);
        let mut merged = self.merged.clone();
        compile::merge_dict(&mut merged, doc.clone());
        let mut sources = self.sources.clone();
        sources.push((source_name.to_string(), doc));
        let (compiled, warnings) =
            compile::build(&merged, &sources, &self.reg_lists, &self.numbers).map_err(|e| match e {
                TemplateError::Template { source_name: s, intent, location, template, position, message }
                    if s == source_name =>
                {
                    let location = match line_of(yaml, &template) {
                        Some(l) => format!("{location}, line {l}"),
                        None => location,
                    };
                    TemplateError::Template { source_name: s, intent, location, template, position, message }
                }
                other => other,
            })?;
        self.merged = merged;
        self.sources = sources;
        self.compiled = compiled;
        self.warnings = warnings;
        Ok(())
    }

    /// Number words for range lists ("set brightness to fifty percent"), as
    /// hassil gets them from unicode-rbnf's spellout rules for the language:
    /// `{"language": "de", "numbers": {"1": ["eins", "ein", ...], "2.5":
    /// [...], "7": null}}` (keys are Python `str(n)`; null = no spellout).
    /// `scripts/peers/hassil_parity.py numbers --lang <lang>` writes it.
    pub fn set_number_words(&mut self, json: &str) -> Result<(), TemplateError> {
        #[derive(serde::Deserialize)]
        struct Table {
            #[serde(default)]
            language: Option<String>,
            numbers: std::collections::HashMap<String, Option<Vec<String>>>,
        }
        let t: Table = serde_json::from_str(json)
            .map_err(|e| TemplateError::Syntax { source_name: "number words".into(), message: e.to_string() })?;
        if let Some(l) = &t.language
            && !self.language.is_empty()
            && !l.eq_ignore_ascii_case(&self.language)
        {
            return Err(TemplateError::Schema {
                source_name: "number words".into(),
                path: "language".into(),
                message: format!("number words for `{l}`, the templates are `{}`", self.language),
            });
        }
        let (compiled, warnings) = compile::build(&self.merged, &self.sources, &self.reg_lists, &t.numbers)?;
        self.numbers = t.numbers;
        self.compiled = compiled;
        self.warnings = warnings;
        Ok(())
    }

    /// The language code of the loaded data (`en`, `de`, `zh-CN`, ...).
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The merged intents document (language JSON + custom sentences), for
    /// the training-corpus generator.
    pub(crate) fn document(&self) -> &Map<String, Value> {
        &self.merged
    }

    /// Load-time warnings (e.g. intents without sentences).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Number of intents and sentence templates loaded.
    pub fn counts(&self) -> (usize, usize) {
        let sentences = self.compiled.intents.iter().flat_map(|i| &i.data).map(|d| d.sentences.len()).sum();
        (self.compiled.intents.len(), sentences)
    }

    fn intent_context(&self, ctx: &NluContext) -> Vec<(String, Value)> {
        let Some(a) = ctx.area.as_deref() else { return Vec::new() };
        let name = self
            .registry
            .area(a)
            .or_else(|| self.registry.areas.iter().find(|x| fold(&x.name) == fold(a)))
            .map_or_else(|| a.to_string(), |x| x.name.clone());
        let mut m = Map::new();
        m.insert("value".into(), Value::String(name.clone()));
        m.insert("text".into(), Value::String(name));
        vec![("area".to_string(), Value::Object(m))]
    }

    /// The raw match, as hassil's `recognize_best` returns it when Home
    /// Assistant calls it (slots in `entities_list` order). `None` also when
    /// the search is [`TooComplex`] (see [`TemplateNlu::try_recognize`]).
    pub fn recognize(&self, text: &str, ctx: &NluContext) -> Option<TemplateMatch> {
        self.try_recognize(text, ctx).ok().flatten()
    }

    /// [`TemplateNlu::recognize`], telling a search that gave up after
    /// [`MAX_STEPS`] (a hostile input or custom template) from no match.
    pub fn try_recognize(&self, text: &str, ctx: &NluContext) -> Result<Option<TemplateMatch>, TooComplex> {
        let ictx = self.intent_context(ctx);
        let Some(r) = self.compiled.recognize(text, &ictx)? else { return Ok(None) };
        Ok(self.to_match(r))
    }

    fn to_match(&self, r: engine::Recognized) -> Option<TemplateMatch> {
        let intent = self.compiled.intents.get(r.intent)?;
        let data = intent.data.get(r.data)?;
        Some(TemplateMatch {
            intent: intent.name.clone(),
            slots: r
                .entities
                .into_iter()
                .map(|e| TemplateSlot { name: e.name, value: e.value, text: e.text })
                .collect(),
            response: Some(data.response.clone().unwrap_or_else(|| "default".to_string())),
            custom: data.custom,
        })
    }

    /// Understand one utterance. `ctx.area` (an area id or name) is the
    /// satellite's area: "turn on the lights" from the kitchen means the
    /// kitchen.
    pub fn understand(&self, text: &str, ctx: &NluContext) -> Option<Understanding> {
        let m = self.recognize(text, ctx)?;
        let slots = m.slot_map();
        let (entities, candidates) = self.resolve(&slots, ctx);
        Some(Understanding {
            text: text.to_string(),
            intent: Intent::from_name(&m.intent),
            slots: Slots::from_map(slots),
            entities,
            candidates,
            confidence: 1.0,
            source: Source::Template,
            response: m.response,
        })
    }

    /// Resolve slots to entity ids (Home Assistant's `async_match_targets`,
    /// simplified to what the registry knows): a name picks the entities with
    /// that name or alias; area/floor/domain/device_class narrow. Several
    /// entities with one name are ambiguous unless the satellite's area
    /// decides: they come back as candidates, not entities.
    fn resolve(&self, slots: &BTreeMap<String, Value>, ctx: &NluContext) -> (Vec<String>, Vec<Candidate>) {
        let reg = &self.registry;
        let name = slots.get("name").and_then(Value::as_str);
        let domains = value_strs(slots.get("domain"));
        let classes = value_strs(slots.get("device_class"));
        if name.is_none() && domains.is_none() && classes.is_none() {
            return (Vec::new(), Vec::new());
        }
        let area_ids: Option<Vec<&str>> = slots.get("area").and_then(Value::as_str).map(|a| {
            let fa = fold(a);
            reg.areas
                .iter()
                .filter(|x| fold(&x.name) == fa || x.aliases.iter().any(|al| fold(al) == fa))
                .map(|x| x.id.as_str())
                .collect()
        });
        let floor_ids: Option<Vec<&str>> = slots.get("floor").and_then(Value::as_str).map(|f| {
            let ff = fold(f);
            reg.floors
                .iter()
                .filter(|x| fold(&x.name) == ff || x.aliases.iter().any(|al| fold(al) == ff))
                .map(|x| x.id.as_str())
                .collect()
        });
        let fits = |d: &Device| -> bool {
            if let Some(ds) = &domains
                && !ds.iter().any(|x| x == d.kind.domain())
            {
                return false;
            }
            if let Some(cs) = &classes
                && !d.device_class.as_ref().is_some_and(|c| cs.contains(c))
            {
                return false;
            }
            if let Some(ids) = &area_ids
                && !d.area.as_deref().is_some_and(|a| ids.contains(&a))
            {
                return false;
            }
            if let Some(ids) = &floor_ids {
                let fl = reg.device_floor(d).map(|f| f.id.as_str());
                if !fl.is_some_and(|f| ids.contains(&f)) {
                    return false;
                }
            }
            true
        };
        match name {
            Some(n) => {
                let fnm = fold(n);
                let mut hits: Vec<&Device> = reg
                    .devices
                    .iter()
                    .filter(|d| fold(&d.name) == fnm || d.aliases.iter().any(|a| fold(a) == fnm))
                    .filter(|d| fits(d))
                    .collect();
                if hits.len() > 1 {
                    // The satellite's area breaks the tie.
                    if let Some(here) = ctx.area.as_deref() {
                        let here_id = reg
                            .area(here)
                            .or_else(|| reg.areas.iter().find(|a| fold(&a.name) == fold(here)))
                            .map(|a| a.id.as_str());
                        let local: Vec<&Device> = hits
                            .iter()
                            .copied()
                            .filter(|d| d.area.as_deref().is_some() && d.area.as_deref() == here_id)
                            .collect();
                        if !local.is_empty() {
                            hits = local;
                        }
                    }
                }
                if hits.len() > 1 {
                    let cands = hits
                        .iter()
                        .map(|d| Candidate { entity_id: d.id.clone(), name: d.name.clone(), area: d.area.clone() })
                        .collect();
                    (Vec::new(), cands)
                } else {
                    (hits.iter().map(|d| d.id.clone()).collect(), Vec::new())
                }
            }
            None => (reg.devices.iter().filter(|d| fits(d)).map(|d| d.id.clone()).collect(), Vec::new()),
        }
    }

    /// The spoken reply from the language's `responses` for `u` (rendered
    /// with `slots`; `state`/`query` come from `extra` when given, e.g.
    /// `{"state": {"name": "Kitchen", "state": "on"}, "query": {"matched": [...]}}`).
    /// None when the language has no such response or it needs data the
    /// caller did not give.
    pub fn response(&self, u: &Understanding, extra: Option<&Value>) -> Option<String> {
        self.response_with(u, &serde_json::Map::new(), extra)
    }

    /// [`Self::response`] with slots the hub adds (`canceled`, `timers`,
    /// `time`, `date`: what it did), kept as values while the request's own
    /// slots are rendered as said.
    pub fn response_with(
        &self,
        u: &Understanding,
        hub: &serde_json::Map<String, Value>,
        extra: Option<&Value>,
    ) -> Option<String> {
        let key = u.response.as_deref()?;
        let tmpl = self.merged.get("responses")?.get("intents")?.get(u.intent.as_str())?.get(key)?.as_str()?;
        response::render(tmpl, &u.slots.to_map(), hub, extra)
    }

    /// An error reply from the language's `responses.errors` (`no_intent`,
    /// `no_area`, ...), rendered with `args`.
    pub fn error_response(&self, key: &str, args: &Value) -> Option<String> {
        let tmpl = self.merged.get("responses")?.get("errors")?.get(key)?.as_str()?;
        response::render_args(tmpl, args)
    }
}
