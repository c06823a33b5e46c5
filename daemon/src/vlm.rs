//! The vision-language model behind `hubd ask-camera`: a GLM-4.1V
//! checkpoint (`[model] vlm_path`) on the local decoder
//! ([`hub_model::glm4v_chat`]). Like [`crate::llm::LlmService`] it is owned
//! by the runtime's [`crate::services::ModelServices`], loads on the first
//! question (on its own thread, which then owns the model and answers one
//! question at a time) and is joined at shutdown.
//!
//! The learned fusion gate (`hubd train-gate`, `vlm-gate.safetensors`
//! beside the database) is read before each question when the file changed,
//! so a newly trained gate applies without a restart; a picture it closes
//! on is left out of the prompt. [`FusionCounters`] count open, closed and
//! ungated pictures for `/metrics` and `hubd status`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::SystemTime;

use hub_model::fusion_gate::FusionGate;
use hub_model::glm4v_chat::{Answer, Glm4vChat};

/// Questions waiting beyond the one being answered (more are refused as busy).
const QUEUE: usize = 2;

#[derive(Debug, Clone, thiserror::Error)]
pub enum VlmError {
    #[error(
        "no vision-language model is configured: set `vlm_path` in the `[model]` section to a GLM-4.1V checkpoint \
         directory (config.json, the safetensors weights and tokenizer.json, e.g. a download of \
         THUDM/GLM-4.1V-9B-Thinking), then restart hubd"
    )]
    NotConfigured,
    #[error("loading the vision-language model {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("the vision-language model failed: {0}")]
    Failed(String),
    #[error("the vision-language model is busy with other questions; try again")]
    Busy,
    #[error("the vision-language model is shutting down")]
    Stopped,
}

struct Job {
    rgb: Vec<u8>,
    width: usize,
    height: usize,
    question: String,
    max_new: usize,
    reply: tokio::sync::oneshot::Sender<Result<Answer, String>>,
}

enum Slot {
    Empty,
    Ready(SyncSender<Job>, std::thread::JoinHandle<()>),
    Failed(VlmError),
    Closed,
}

/// Pictures the fusion gate let into the prompt, left out, or that met no
/// gate (none trained).
#[derive(Debug, Default)]
pub struct FusionCounters {
    pub open: AtomicU64,
    pub closed: AtomicU64,
    pub ungated: AtomicU64,
}

impl FusionCounters {
    fn record(&self, a: &Answer) {
        let c = match (a.image_gate, a.image_used) {
            (None, _) => &self.ungated,
            (Some(_), true) => &self.open,
            (Some(_), false) => &self.closed,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// `(open, closed, ungated)`.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (self.open.load(Ordering::Relaxed), self.closed.load(Ordering::Relaxed), self.ungated.load(Ordering::Relaxed))
    }
}

/// GLM-4.1V, loaded once on its worker thread.
#[derive(Clone)]
pub struct VlmService {
    path: Option<PathBuf>,
    gate: PathBuf,
    slot: Arc<tokio::sync::Mutex<Slot>>,
    counters: Arc<FusionCounters>,
}

impl VlmService {
    /// `path`: the checkpoint directory, `None` when not configured; `gate`:
    /// where a trained fusion gate is (it need not exist).
    pub fn new(path: Option<PathBuf>, gate: PathBuf) -> VlmService {
        VlmService {
            path,
            gate,
            slot: Arc::new(tokio::sync::Mutex::new(Slot::Empty)),
            counters: Arc::new(FusionCounters::default()),
        }
    }

    pub fn counters(&self) -> &FusionCounters {
        &self.counters
    }

    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// The worker's queue, loading the model on the first call. A failed
    /// load is remembered and returned to every later caller.
    async fn queue(&self) -> Result<SyncSender<Job>, VlmError> {
        let mut slot = self.slot.lock().await;
        match &*slot {
            Slot::Ready(tx, _) => return Ok(tx.clone()),
            Slot::Failed(e) => return Err(e.clone()),
            Slot::Closed => return Err(VlmError::Stopped),
            Slot::Empty => {}
        }
        let Some(path) = self.path.clone() else {
            *slot = Slot::Failed(VlmError::NotConfigured);
            return Err(VlmError::NotConfigured);
        };
        let t0 = std::time::Instant::now();
        let (p, gate, counters) = (path.clone(), self.gate.clone(), self.counters.clone());
        let res = tokio::task::spawn_blocking(move || spawn_worker(p, gate, counters)).await;
        let (next, out) = match res {
            Ok(Ok((tx, thread))) => {
                tracing::info!(path = %path.display(), load_s = t0.elapsed().as_secs_f64(), "GLM-4.1V loaded");
                (Slot::Ready(tx.clone(), thread), Ok(tx))
            }
            Ok(Err(reason)) => {
                let e = VlmError::Load { path, reason };
                (Slot::Failed(e.clone()), Err(e))
            }
            Err(e) => {
                let e = VlmError::Load { path, reason: format!("loader thread: {e}") };
                (Slot::Failed(e.clone()), Err(e))
            }
        };
        *slot = next;
        out
    }

    /// Ask `question` about an RGB picture; at most `max_new` tokens.
    pub async fn ask(
        &self,
        rgb: Vec<u8>,
        width: usize,
        height: usize,
        question: String,
        max_new: usize,
    ) -> Result<Answer, VlmError> {
        let tx = self.queue().await?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        match tx.try_send(Job { rgb, width, height, question, max_new, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(VlmError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(VlmError::Stopped),
        }
        answer.await.map_err(|_| VlmError::Stopped)?.map_err(VlmError::Failed)
    }

    /// Refuse new questions and join the worker before `until`.
    pub async fn shutdown(&self, until: tokio::time::Instant) {
        let prev = std::mem::replace(&mut *self.slot.lock().await, Slot::Closed);
        if let Slot::Ready(tx, thread) = prev {
            drop(tx);
            let join = tokio::task::spawn_blocking(move || thread.join());
            if tokio::time::timeout_at(until, join).await.is_err() {
                tracing::warn!("GLM-4.1V worker still busy at the shutdown deadline");
            }
        }
    }
}

/// Start the worker thread and wait until it has loaded the model.
fn spawn_worker(
    path: PathBuf,
    gate: PathBuf,
    counters: Arc<FusionCounters>,
) -> Result<(SyncSender<Job>, std::thread::JoinHandle<()>), String> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
    let (loaded_tx, loaded_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let thread = std::thread::Builder::new()
        .name("vlm".into())
        .spawn(move || match Glm4vChat::load(&path) {
            Ok(chat) => {
                let _ = loaded_tx.send(Ok(()));
                let gate = GateFile { path: gate, checkpoint: path.display().to_string(), seen: None };
                serve(chat, rx, gate, &counters);
            }
            Err(e) => {
                let _ = loaded_tx.send(Err(e.to_string()));
            }
        })
        .map_err(|e| format!("cannot start the model thread: {e}"))?;
    match loaded_rx.recv() {
        Ok(Ok(())) => Ok((tx, thread)),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err("the model thread ended while loading".into())
        }
    }
}

/// The gate file and the modification time last read (`None`: not read or
/// absent); `checkpoint` is the VLM's path, which the gate must name.
struct GateFile {
    path: PathBuf,
    checkpoint: String,
    seen: Option<SystemTime>,
}

impl GateFile {
    /// Install the file's gate in `chat` when it changed since the last look
    /// (removed: no gate). A bad file is logged and leaves no gate.
    fn refresh(&mut self, chat: &mut Glm4vChat) {
        let mtime = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if mtime == self.seen {
            return;
        }
        self.seen = mtime;
        let gate = match mtime {
            None => None,
            Some(_) => match FusionGate::load(&self.path) {
                Ok(g) if g.checkpoint() != self.checkpoint => {
                    tracing::warn!(
                        trained_for = g.checkpoint(),
                        vlm = %self.checkpoint,
                        "fusion gate not used: trained for another model; run `hubd train-gate` again"
                    );
                    None
                }
                Ok(g) => Some(g),
                Err(e) => {
                    tracing::warn!(error = %e, "fusion gate not used; run `hubd train-gate` again");
                    None
                }
            },
        };
        let loaded = gate.is_some();
        if let Err(e) = chat.set_gate(gate) {
            tracing::warn!(path = %self.path.display(), error = %e, "fusion gate not used; run `hubd train-gate` again");
            let _ = chat.set_gate(None);
        } else if loaded {
            tracing::info!(path = %self.path.display(), "fusion gate loaded");
        }
    }
}

fn serve(mut chat: Glm4vChat, rx: Receiver<Job>, mut gate: GateFile, counters: &FusionCounters) {
    while let Ok(job) = rx.recv() {
        if job.reply.is_closed() {
            continue;
        }
        gate.refresh(&mut chat);
        let t0 = std::time::Instant::now();
        let res = chat.ask(&job.rgb, job.width, job.height, &job.question, job.max_new).map_err(|e| e.to_string());
        if let Ok(a) = &res {
            counters.record(a);
            tracing::info!(
                image_tokens = a.image_tokens,
                image_gate = a.image_gate,
                new_tokens = a.tokens.len(),
                secs = t0.elapsed().as_secs_f64(),
                "camera question answered"
            );
        }
        let _ = job.reply.send(res);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn not_configured_names_the_key_on_every_question() {
        let svc = VlmService::new(None, PathBuf::from("/nonexistent/gate"));
        for _ in 0..2 {
            let e = svc.ask(vec![0; 12], 2, 2, "?".into(), 4).await.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("`vlm_path`") && e.contains("`[model]`"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_directory_without_a_checkpoint_is_a_load_error() {
        let dir = tempfile::tempdir().unwrap();
        let svc = VlmService::new(Some(dir.path().to_path_buf()), dir.path().join("gate"));
        let e = svc.ask(vec![0; 12], 2, 2, "?".into(), 4).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("tokenizer.json") && e.contains(&dir.path().display().to_string()), "{e}");
    }
}
