//! [`EmbedService`]: the sentence encoder as a model service. One thread
//! loads MiniLM (and hashes its weights for [`super::encoder_identity`])
//! and answers embedding requests over a bounded channel, a batch at a time.
//! With the heads on, that thread is the heads' own
//! ([`EmbedService::sharing`]): MiniLM is loaded once for both.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hub_model::bert::SentenceEncoder;
use tokio::sync::{mpsc, oneshot};

/// Vectors and the identity of the encoder that made them.
#[derive(Debug, Clone)]
pub struct Embedded {
    pub model: Arc<str>,
    /// One unit-length row per text, in order.
    pub vectors: Vec<Vec<f32>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EmbedError {
    /// The encoder did not load (or the service stopped): the message says why.
    #[error("the sentence encoder is not available: {0}")]
    Unavailable(String),
    #[error("embedding failed: {0}")]
    Failed(String),
}

/// Where an embedding is answered.
pub(crate) type EmbedReply = oneshot::Sender<Result<Embedded, EmbedError>>;

enum Msg {
    Embed { texts: Vec<String>, reply: EmbedReply },
    Stop,
}

/// Cloneable handle to the encoder thread.
#[derive(Clone)]
pub struct EmbedService {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    /// Its own thread, joined at [`EmbedService::shutdown`].
    Own { tx: mpsc::Sender<Msg>, thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>> },
    /// The heads' thread, joined with the heads.
    Heads(crate::heads::HeadsService),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EmbedService {
    /// Start the thread; the encoder loads on it, so the first request may
    /// wait for the load (about a second).
    pub fn spawn(dir: PathBuf) -> EmbedService {
        let (tx, rx) = mpsc::channel(16);
        let thread = std::thread::Builder::new().name("embed".into()).spawn(move || worker(dir, rx));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the sentence encoder's thread");
                None
            }
        };
        EmbedService { backend: Backend::Own { tx, thread: Arc::new(Mutex::new(thread)) } }
    }

    /// Embeddings from the heads' thread and its encoder (the same MiniLM
    /// directory), so the weights are loaded once.
    pub fn sharing(heads: crate::heads::HeadsService) -> EmbedService {
        EmbedService { backend: Backend::Heads(heads) }
    }

    /// Normalised embeddings of `texts`.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Embedded, EmbedError> {
        let (reply, rx) = oneshot::channel();
        let gone = || EmbedError::Unavailable("the encoder's thread has stopped".into());
        let sent = match &self.backend {
            Backend::Own { tx, .. } => tx.send(Msg::Embed { texts, reply }).await.is_ok(),
            Backend::Heads(h) => h.send_embed(texts, reply).await,
        };
        if !sent {
            return Err(gone());
        }
        rx.await.map_err(|_| gone())?
    }

    /// The encoder's identity ([`super::encoder_identity`]), once it loaded.
    pub async fn model(&self) -> Result<Arc<str>, EmbedError> {
        self.embed(Vec::new()).await.map(|e| e.model)
    }

    /// For a one-off command: start the encoder on `dir`, run `work` with
    /// it, then stop it (waiting up to 10 s for the thread).
    pub async fn scoped<T>(dir: PathBuf, work: impl AsyncFnOnce(&EmbedService) -> T) -> T {
        let embed = EmbedService::spawn(dir);
        let out = work(&embed).await;
        embed.shutdown(tokio::time::Instant::now() + std::time::Duration::from_secs(10)).await;
        out
    }

    /// Stop the thread (after the requests queued before this) and join
    /// it before `until`; a thread shared with the heads stops with them.
    pub async fn shutdown(&self, until: tokio::time::Instant) {
        let Backend::Own { tx, thread } = &self.backend else { return };
        let _ = tx.send(Msg::Stop).await;
        let Some(thread) = lock(thread).take() else { return };
        let join = tokio::task::spawn_blocking(move || thread.join());
        if tokio::time::timeout_at(until, join).await.is_err() {
            tracing::warn!("sentence encoder still busy at the shutdown deadline");
        }
    }
}

fn worker(dir: PathBuf, mut rx: mpsc::Receiver<Msg>) {
    let loaded = SentenceEncoder::load(&dir, tch::Device::Cpu)
        .map_err(|e| e.to_string())
        .and_then(|enc| super::encoder_identity(&dir).map(|id| (enc, Arc::<str>::from(id))).map_err(|e| e.to_string()))
        .map_err(|e| format!("{}: {e}", dir.display()));
    if let Err(e) = &loaded {
        tracing::warn!(error = %e, "the sentence encoder did not load; search by meaning is off");
    }
    while let Some(Msg::Embed { texts, reply }) = rx.blocking_recv() {
        let _ = reply.send(match &loaded {
            Err(e) => Err(EmbedError::Unavailable(e.clone())),
            Ok((enc, model)) => embed_with(enc, model, &texts),
        });
    }
}

/// `texts` through `enc` (identified as `model`); no texts: just the identity.
pub(crate) fn embed_with(enc: &SentenceEncoder, model: &Arc<str>, texts: &[String]) -> Result<Embedded, EmbedError> {
    if texts.is_empty() {
        return Ok(Embedded { model: model.clone(), vectors: Vec::new() });
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    enc.embed(&refs)
        .map(|vectors| Embedded { model: model.clone(), vectors })
        .map_err(|e| EmbedError::Failed(e.to_string()))
}
