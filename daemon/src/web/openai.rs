//! OpenAI-compatible chat API on the hub's local LLM:
//! `POST /v1/chat/completions` (JSON, or Server-Sent Events with
//! `"stream": true`) and `GET /v1/models`. Any OpenAI client pointed at
//! `http://<hub>:8080/v1` works; the `model` field is accepted as given (the
//! hub serves one model and reports its id). Differences: `temperature`
//! defaults to 0 (greedy, reproducible); the model's `<think>` reasoning is
//! returned as `reasoning_content` beside `content`. A client that goes away
//! mid-stream cancels its generation. `response_format` `json_schema`
//! (structured outputs) constrains the reply to the schema with a grammar
//! over the vocabulary, so `content` always parses and validates.
//! Each completed request is remembered
//! as two dialogue turns (modality `api`, session = the completion id): the
//! last user message and the reply. Clients resend the whole history, so
//! earlier messages are not stored again.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use hub_model::chat_template::{Channel, ChatMessage};
use hub_model::generate::{Event, FinishReason, Finished, GenerateError, Prompt, Request, Sampling};
use serde::Deserialize;
use serde_json::json;
use warp::{Rejection, Reply};

use super::Api;
use super::errors::ApiError;

/// Largest `max_tokens` accepted.
pub const MAX_TOKENS: usize = 4096;
/// Default `max_tokens`.
const DEFAULT_MAX_TOKENS: usize = 256;
/// Most messages in one request.
const MAX_MESSAGES: usize = 256;

#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<MessageDto>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub max_tokens: Option<usize>,
    #[serde(default)]
    pub max_completion_tokens: Option<usize>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub stop: Option<Stop>,
    /// Only 1 is served.
    #[serde(default)]
    pub n: Option<u64>,
    /// Not served yet: refused by name rather than ignored.
    #[serde(default)]
    pub tools: Option<serde_json::Value>,
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
    #[serde(default)]
    pub functions: Option<serde_json::Value>,
    #[serde(default)]
    pub response_format: Option<serde_json::Value>,
}

/// Fields the hub does not serve, refused naming the field.
fn unsupported(body: &ChatCompletionRequest) -> Result<(), String> {
    if let Some(n) = body.n
        && n != 1
    {
        return Err(format!("`n` is {n}: only one choice (n = 1) is generated"));
    }
    let present = |v: &Option<serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    for (name, v) in [("tools", &body.tools), ("tool_choice", &body.tool_choice), ("functions", &body.functions)] {
        if present(v) {
            return Err(format!("`{name}` is not supported: tool calls are not implemented yet"));
        }
    }
    Ok(())
}

/// `response_format`: plain text (none, `text`), or `json_schema`, whose
/// schema becomes the grammar that constrains the reply (structured outputs;
/// see [`hub_model::constrain::schema`] for the keywords served).
fn response_grammar(f: Option<&serde_json::Value>) -> Result<Option<hub_model::constrain::Grammar>, String> {
    let Some(f) = f.filter(|f| !f.is_null()) else { return Ok(None) };
    match f.get("type").and_then(|t| t.as_str()) {
        Some("text") => Ok(None),
        Some("json_schema") => {
            let schema = f
                .get("json_schema")
                .and_then(|j| j.get("schema"))
                .ok_or("`response_format.json_schema.schema` is missing")?;
            let expr = hub_model::constrain::schema::compile(schema)
                .map_err(|e| format!("`response_format.json_schema.schema`: {e}"))?;
            Ok(Some(hub_model::constrain::Grammar::new(&expr)))
        }
        other => Err(format!(
            "`response_format` type {}: only `text` and `json_schema` are served",
            other.map_or_else(|| "none".to_string(), |t| format!("`{t}`"))
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct MessageDto {
    pub role: String,
    pub content: Content,
}

/// `"text"` or `[{"type":"text","text":"..."}, ...]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<serde_json::Value>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

fn bad(msg: String) -> Rejection {
    ApiError::BadRequest(msg).rejection()
}

/// Validate the body into a generation request; errors name the field.
pub fn to_request(body: &ChatCompletionRequest) -> Result<Request, String> {
    unsupported(body)?;
    if body.messages.is_empty() {
        return Err("`messages` is empty".into());
    }
    if body.messages.len() > MAX_MESSAGES {
        return Err(format!("`messages` has {} entries (at most {MAX_MESSAGES})", body.messages.len()));
    }
    let mut messages = Vec::with_capacity(body.messages.len());
    for (i, m) in body.messages.iter().enumerate() {
        let role = match m.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            other => return Err(format!("`messages[{i}].role` is `{other}`: expected system, user or assistant")),
        };
        let content = match &m.content {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => {
                let mut text = String::new();
                for (j, p) in parts.iter().enumerate() {
                    match (p.get("type").and_then(|t| t.as_str()), p.get("text").and_then(|t| t.as_str())) {
                        (Some("text"), Some(t)) => text.push_str(t),
                        (kind, _) => {
                            return Err(format!(
                                "`messages[{i}].content[{j}]` has type {}: only text parts are supported",
                                kind.map_or_else(|| "none".to_string(), |k| format!("`{k}`"))
                            ));
                        }
                    }
                }
                text
            }
        };
        messages.push(ChatMessage::new(role, content));
    }
    let max = body.max_completion_tokens.or(body.max_tokens).unwrap_or(DEFAULT_MAX_TOKENS);
    if max == 0 || max > MAX_TOKENS {
        return Err(format!("`max_tokens` is {max}: expected 1 to {MAX_TOKENS}"));
    }
    let temperature = body.temperature.unwrap_or(0.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(format!("`temperature` is {temperature}: expected 0 to 2"));
    }
    let top_p = body.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(format!("`top_p` is {top_p}: expected more than 0 and at most 1"));
    }
    let stop = match &body.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(v)) => v.clone(),
    };
    if stop.len() > 4 || stop.iter().any(|s| s.is_empty()) {
        return Err("`stop` must be at most 4 non-empty strings".into());
    }
    let grammar = response_grammar(body.response_format.as_ref())?.map(std::sync::Arc::new);
    Ok(Request {
        sampling: Sampling { temperature, top_p, repetition_penalty: 1.0, seed: body.seed.unwrap_or(0) },
        stop_strings: stop,
        grammar,
        ..Request::chat(messages, max)
    })
}

fn finish_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Length | FinishReason::Deadline => "length",
        FinishReason::StopToken | FinishReason::StopString | FinishReason::Cancelled => "stop",
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn completion_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("chatcmpl-{:x}{:08x}", NEXT.fetch_add(1, Ordering::Relaxed), nanos)
}

/// Store the last user message and the reply; a store error is logged, the
/// client already has its answer.
async fn remember(api: Api, id: String, user: Option<String>, f: Finished) {
    use crate::store::{Modality, NewTurn, Role};
    let mut turns = Vec::with_capacity(2);
    if let Some(u) = user {
        turns.push(NewTurn { correlation: Some(id.clone()), ..NewTurn::new(id.clone(), Role::User, Modality::Api, u) });
    }
    let timings = json!({"prefill_ms": f.prefill_secs * 1e3, "decode_ms": f.decode_secs * 1e3,
                         "prompt_tokens": f.prompt_tokens, "completion_tokens": f.generated_tokens});
    turns.push(NewTurn {
        correlation: Some(id.clone()),
        reasoning: (!f.reasoning.is_empty()).then(|| f.reasoning.clone()),
        timings: Some(timings),
        ..NewTurn::new(id.clone(), Role::Assistant, Modality::Api, f.text.clone())
    });
    if let Err(e) = api.pipeline.remember_turns(&turns).await {
        tracing::warn!(error = %e, completion = %id, "could not store the chat turns");
    }
}

/// The last user message of a validated request (its text parts already
/// joined by [`to_request`]).
fn last_user_message(req: &Request) -> Option<String> {
    match &req.prompt {
        Prompt::Chat(messages) => messages.iter().rev().find(|m| m.role == "user").map(|m| m.content.clone()),
        Prompt::Text(_) | Prompt::Tokens(_) => None,
    }
}

fn unavailable(e: impl std::fmt::Display) -> Rejection {
    ApiError::Unavailable(format!("the language model is not available: {e}")).rejection()
}

/// Refuse a prompt that cannot fit the model's context before it is queued
/// (OpenAI's `context_length_exceeded`). Tokenizing runs on a blocking thread.
async fn check_context(generator: &hub_model::generate::Generator, req: &Request) -> Result<(), Rejection> {
    let Some(counter) = generator.prompt_counter().cloned() else { return Ok(()) };
    let prompt = req.prompt.clone();
    let checked = tokio::task::spawn_blocking(move || counter.check(&prompt))
        .await
        .map_err(|e| ApiError::Internal(format!("prompt check: {e}")).rejection())?;
    match checked {
        Ok(_) => Ok(()),
        Err(GenerateError::PromptTooLong { tokens, max }) => Err(ApiError::Invalid {
            code: "context_length_exceeded",
            message: format!(
                "This model's maximum context length is {max} tokens. However, your messages resulted in {tokens} \
                 tokens. Please reduce the length of the messages."
            ),
        }
        .rejection()),
        Err(e) => Err(bad(format!("`messages`: {e}"))),
    }
}

/// `GET /v1/models`.
pub async fn models(api: Api) -> Result<impl Reply, Rejection> {
    let data: Vec<_> = api
        .llm
        .model_id()
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "hubd"}))
        .collect();
    Ok(warp::reply::json(&json!({"object": "list", "data": data})))
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(body: ChatCompletionRequest, api: Api) -> Result<warp::reply::Response, Rejection> {
    let req = to_request(&body).map_err(bad)?;
    let user = last_user_message(&req);
    let loaded = api.llm.get().await.map_err(unavailable)?;
    check_context(&loaded.generator, &req).await?;
    let stream = loaded.generator.try_generate(req).map_err(|e| match e {
        GenerateError::QueueFull(n) => {
            ApiError::Busy(format!("the language model is busy ({n} requests queued); retry later")).rejection()
        }
        other => unavailable(other),
    })?;
    let id = completion_id();
    let created = unix_now();
    let model = loaded.model_id;
    if !body.stream {
        let f = stream.finish().await.map_err(|e| ApiError::Internal(format!("generation: {e}")).rejection())?;
        remember(api.clone(), id.clone(), user, f.clone()).await;
        let mut message = json!({"role": "assistant", "content": f.text});
        if !f.reasoning.is_empty() {
            message["reasoning_content"] = json!(f.reasoning);
        }
        let body = json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(f.reason)}],
            "usage": {"prompt_tokens": f.prompt_tokens, "completion_tokens": f.generated_tokens,
                      "total_tokens": f.prompt_tokens + f.generated_tokens},
        });
        return Ok(warp::reply::json(&body).into_response());
    }
    let remember_id = id.clone();
    let chunk = move |delta: serde_json::Value, finish: Option<&str>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let first = chunk(json!({"role": "assistant", "content": ""}), None);
    // Events -> SSE data lines; the stream ends after the finish chunk and
    // `[DONE]`. Dropping it (client gone) drops the TokenStream: cancelled.
    let events = futures_util::stream::unfold(Some((stream, user)), move |state| {
        let chunk = chunk.clone();
        let (api, rid) = (api.clone(), remember_id.clone());
        async move {
            let (mut s, user) = state?;
            let out = match s.next().await {
                Some(Event::Text { channel: Channel::Answer, text }) => {
                    vec![chunk(json!({"content": text}), None).to_string()]
                }
                Some(Event::Text { channel: Channel::Reasoning, text }) => {
                    vec![chunk(json!({"reasoning_content": text}), None).to_string()]
                }
                Some(Event::Done(f)) => {
                    api.tracker.spawn(remember(api.clone(), rid, user, f.clone()));
                    let usage_chunk = chunk(json!({}), Some(finish_reason(f.reason)));
                    return Some((vec![usage_chunk.to_string(), "[DONE]".to_string()], None));
                }
                Some(Event::Error { message }) => {
                    let e = json!({"error": {"code": "internal", "message": message}});
                    return Some((vec![e.to_string(), "[DONE]".to_string()], None));
                }
                None => return None,
            };
            Some((out, Some((s, user))))
        }
    });
    let head = futures_util::stream::iter(vec![vec![first.to_string()]]);
    let sse = head.chain(events).flat_map(|lines| {
        futures_util::stream::iter(lines.into_iter().map(|l| Ok::<_, Infallible>(warp::sse::Event::default().data(l))))
    });
    Ok(warp::sse::reply(warp::sse::keep_alive().stream(sse)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<Request, String> {
        let body: ChatCompletionRequest = serde_json::from_value(v).map_err(|e| e.to_string())?;
        to_request(&body)
    }

    #[test]
    fn valid_requests_map_to_generation_requests() {
        let r = parse(json!({"model": "x", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}
        ], "max_tokens": 12, "temperature": 0.5, "stop": "END"}))
        .unwrap();
        assert_eq!(r.max_new_tokens, 12);
        assert_eq!(r.sampling.temperature, 0.5);
        assert_eq!(r.stop_strings, vec!["END".to_string()]);
        match r.prompt {
            hub_model::generate::Prompt::Chat(m) => {
                assert_eq!(m.len(), 2);
                assert_eq!(m[1].content, "Hi there");
            }
            other => panic!("{other:?}"),
        }
        let r = parse(json!({"messages": [{"role": "user", "content": "x"}]})).unwrap();
        assert_eq!((r.max_new_tokens, r.sampling.temperature), (DEFAULT_MAX_TOKENS, 0.0));
        // What clients send by default is still served.
        let r = parse(json!({"messages": [{"role": "user", "content": "x"}], "n": 1, "tools": [],
                             "response_format": {"type": "text"}}));
        assert!(r.as_ref().is_ok_and(|r| r.grammar.is_none()), "{r:?}");
        let schema =
            json!({"type": "object", "required": ["room"], "properties": {"room": {"enum": ["kitchen", "hall"]}}});
        let r = parse(json!({"messages": [{"role": "user", "content": "x"}],
                             "response_format": {"type": "json_schema", "json_schema": {"name": "room", "schema": schema}}}))
        .unwrap();
        let g = r.grammar.expect("a grammar");
        assert!(g.accepts(br#"{"room":"hall"}"#) && !g.accepts(br#"{"room":"garage"}"#));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let cases = [
            (json!({"messages": []}), "`messages` is empty"),
            (json!({"messages": [{"role": "robot", "content": "x"}]}), "`messages[0].role`"),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}),
                "`messages[0].content[0]`",
            ),
            (json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}), "`max_tokens`"),
            (json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}), "`max_tokens`"),
            (json!({"messages": [{"role": "user", "content": "x"}], "temperature": 7}), "`temperature`"),
            (json!({"messages": [{"role": "user", "content": "x"}], "top_p": 0}), "`top_p`"),
            (json!({"messages": [{"role": "user", "content": "x"}], "stop": ["", "a"]}), "`stop`"),
            (json!({"model": "x"}), "messages"),
            (json!({"messages": [{"role": "user", "content": "x"}], "n": 2}), "`n`"),
            (json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}), "`tools`"),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}),
                "`response_format` type `json_object`",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema",
                       "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"t": {"type": "number"}}}}}}),
                "`response_format.json_schema.schema`: JSON schema at /properties/t: type `number` is not supported",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}}),
                "`response_format.json_schema.schema` is missing",
            ),
        ];
        for (body, want) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
    }
}
