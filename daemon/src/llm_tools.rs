//! The language model as the last stage of understanding (`[nlu]
//! llm_fallback`): what the templates and the grammar do not understand is
//! put to the LLM with the home's tools ([`hub_skills::tools::Toolbox`]),
//! and the decoder is constrained by a grammar compiled from the call
//! schema, whose enums are the registry's names: it can only write a valid
//! call to a tool that exists, naming things that exist. The call is then
//! checked against the registry again before the skills plan it.
use std::sync::{Arc, Mutex};

use hub_model::chat_template::ChatMessage;
use hub_model::constrain::{Grammar, schema};
use hub_model::generate::Request;
use hub_skills::tools::{Said, ToolError, Toolbox};
use hub_skills::{Registry, Understanding};

use crate::llm::{LlmError, LlmService};

/// Longest tool call generated, in tokens.
const MAX_CALL_TOKENS: usize = 96;

#[derive(Debug, thiserror::Error)]
pub enum ToolCallError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("the tool-call grammar: {0}")]
    Schema(#[from] schema::SchemaError),
    #[error("generating the tool call: {0}")]
    Generate(#[from] hub_model::generate::GenerateError),
    #[error("the model's tool call is not JSON ({0})")]
    NotJson(String),
    #[error(transparent)]
    Refused(#[from] ToolError),
}

/// The tools (sorted intents; empty: all) and values a narrowed grammar allows.
type Choice = (Vec<String>, Option<Said>);

/// The tools, grammar and prompt of one registry.
struct Prepared {
    registry: Registry,
    toolbox: Toolbox,
    grammar: Arc<Grammar>,
    /// Grammars over part of the tools and the values said
    /// ([`ToolCaller::understand_among`]), by their sorted intents and values.
    narrowed: Mutex<std::collections::HashMap<Choice, Arc<Grammar>>>,
    system: String,
    /// Worked examples in the home's names ([`hub_skills::tools::examples`])
    /// the grammar accepts, shown as earlier turns of the conversation.
    examples: Vec<(String, String)>,
}

impl Prepared {
    fn new(reg: &Registry) -> Result<Prepared, schema::SchemaError> {
        let toolbox = Toolbox::new(reg);
        let grammar = Arc::new(Grammar::new(&schema::compile(&toolbox.call_schema())?));
        let mut system = String::from(
            "You are the voice assistant of a home. Answer every request with one tool call as JSON: \
             {\"name\": tool, \"arguments\": {...}}. Use the tool \"none\" when the request is not an action \
             on this home or a question about it.\n\nTools:\n",
        );
        for t in toolbox.tools() {
            system.push_str(&format!("- {}: {}\n", t.intent, t.description));
        }
        system.push('\n');
        system.push_str(toolbox.context());
        let examples = hub_skills::tools::examples(reg);
        let examples = examples.into_iter().filter(|(_, c)| grammar.accepts(c.as_bytes())).collect();
        Ok(Prepared { registry: reg.clone(), toolbox, grammar, narrowed: Default::default(), system, examples })
    }

    /// The grammar over the tools of `intents` and `none` (all of them
    /// when `intents` is empty), with the value arguments narrowed to
    /// `said` when given; compiled once per choice (the cache is emptied
    /// when it reaches [`GRAMMARS_KEPT`]).
    fn grammar_for(&self, intents: &[String], said: Option<&Said>) -> Result<Arc<Grammar>, schema::SchemaError> {
        if intents.is_empty() && said.is_none() {
            return Ok(self.grammar.clone());
        }
        let mut key = intents.to_vec();
        key.sort();
        key.dedup();
        let key = (key, said.cloned());
        let mut cache = self.narrowed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = cache.get(&key) {
            return Ok(g.clone());
        }
        let schema = match said {
            Some(s) => self.toolbox.call_schema_said(&key.0, s),
            None => self.toolbox.call_schema_among(&key.0),
        };
        let g = Arc::new(Grammar::new(&schema::compile(&schema)?));
        if cache.len() >= GRAMMARS_KEPT {
            cache.clear();
        }
        cache.insert(key, g.clone());
        Ok(g)
    }
}

/// Narrowed grammars kept ([`Prepared::grammar_for`]).
const GRAMMARS_KEPT: usize = 256;

/// Cloneable handle: the LLM service and the prepared tools of the current
/// registry (rebuilt when a reload changes it).
#[derive(Clone)]
pub struct ToolCaller {
    llm: LlmService,
    prepared: Arc<Mutex<Option<Arc<Prepared>>>>,
    reuse_prefix: bool,
}

impl ToolCaller {
    pub fn new(llm: LlmService) -> ToolCaller {
        ToolCaller { llm, prepared: Arc::new(Mutex::new(None)), reuse_prefix: true }
    }

    /// Whether the system prompt's KV cache is kept between requests (on by
    /// default; the benchmark turns it off to measure what it saves).
    pub fn with_prefix_reuse(mut self, on: bool) -> ToolCaller {
        self.reuse_prefix = on;
        self
    }

    fn prepared(&self, reg: &Registry) -> Result<Arc<Prepared>, schema::SchemaError> {
        let mut slot = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = slot.as_ref().filter(|p| p.registry == *reg) {
            return Ok(p.clone());
        }
        let p = Arc::new(Prepared::new(reg)?);
        *slot = Some(p.clone());
        Ok(p)
    }

    /// The request for `text`: the system prompt (tools and entities) and
    /// the worked examples, the same for every request, then the user's
    /// words; greedy, constrained.
    fn request(&self, p: &Prepared, text: &str) -> Request {
        let mut messages = vec![ChatMessage::system(p.system.clone())];
        for (said, call) in &p.examples {
            messages.push(ChatMessage::user(said.clone()));
            messages.push(ChatMessage::assistant(call.clone()));
        }
        messages.push(ChatMessage::user(text));
        let mut req = Request::chat(messages, MAX_CALL_TOKENS);
        req.grammar = Some(p.grammar.clone());
        req.reuse_prefix = self.reuse_prefix;
        req
    }

    /// The model's call for `text`, checked: `Ok(None)` when it chose no tool.
    pub async fn understand(&self, text: &str, reg: &Registry) -> Result<Option<Understanding>, ToolCallError> {
        self.understand_among(text, reg, &[], None).await
    }

    /// [`ToolCaller::understand`] with the choice of tool narrowed to
    /// `intents` (and `none`; every tool when it is empty): the heads'
    /// likeliest readings of a request they were not sure enough of to
    /// act on; and with `said`, the values the request says
    /// ([`crate::pipeline::Nlu::said`]), the only ones a brightness,
    /// position, temperature or colour may take. The prompt is the same,
    /// so its cached prefix still serves.
    pub async fn understand_among(
        &self,
        text: &str,
        reg: &Registry,
        intents: &[String],
        said: Option<&Said>,
    ) -> Result<Option<Understanding>, ToolCallError> {
        let p = self.prepared(reg)?;
        let loaded = self.llm.get().await?;
        let mut req = self.request(&p, text);
        req.grammar = Some(p.grammar_for(intents, said)?);
        let stream = loaded.generator.generate(req).await?;
        let done = stream.finish().await?;
        let call: serde_json::Value =
            serde_json::from_str(done.text.trim()).map_err(|e| ToolCallError::NotJson(e.to_string()))?;
        tracing::debug!(%call, tokens = done.generated_tokens, "LLM tool call");
        Ok(p.toolbox.understand(text, &call, &p.registry)?)
    }

    /// The raw text of the model's call (tests and benchmarks).
    pub async fn raw_call(
        &self,
        text: &str,
        reg: &Registry,
        seed: u64,
        temperature: f32,
    ) -> Result<String, ToolCallError> {
        let p = self.prepared(reg)?;
        let loaded = self.llm.get().await?;
        let mut req = self.request(&p, text);
        req.sampling.temperature = temperature;
        req.sampling.seed = seed;
        let done = loaded.generator.generate(req).await?.finish().await?;
        Ok(done.text)
    }
}

#[cfg(test)]
mod tests;
