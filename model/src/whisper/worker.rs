//! [`AsrHandle`]: Whisper on a dedicated OS thread behind a bounded queue
//! (STYLE.md model rule 5; mistral.rs-style ready handshake so load failures
//! reach the caller). Dropping every handle stops the thread after the
//! queued jobs; each job carries its own oneshot reply.
use std::path::PathBuf;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::{DecodeOptions, LoadOptions, Transcript, Whisper, WhisperError};

/// Worker settings.
#[derive(Debug, Clone)]
pub struct AsrOptions {
    pub load: LoadOptions,
    /// Jobs that may wait; further `transcribe` calls wait for room, `try_transcribe` fails with `Busy`.
    pub queue: usize,
    /// libtorch intra-op threads for the Whisper thread (None = all cores).
    pub threads: Option<usize>,
    /// Decode options used when a job gives none.
    pub decode: DecodeOptions,
}

impl Default for AsrOptions {
    fn default() -> Self {
        Self { load: LoadOptions::default(), queue: 4, threads: None, decode: DecodeOptions::default() }
    }
}

struct Job {
    pcm: Vec<f32>,
    opts: Option<DecodeOptions>,
    reply: oneshot::Sender<Result<Transcript, WhisperError>>,
}

/// Cloneable async handle to the Whisper worker thread.
#[derive(Debug, Clone)]
pub struct AsrHandle {
    jobs: mpsc::Sender<Job>,
    capacity: usize,
}

impl AsrHandle {
    /// Load the model on a new thread and wait (blocking) until it is ready
    /// or failed. Call from a blocking context (`spawn_blocking`) in async code.
    pub fn spawn(dir: PathBuf, opts: AsrOptions) -> Result<(Self, JoinHandle<()>), WhisperError> {
        let capacity = opts.queue.max(1);
        let (tx, mut rx) = mpsc::channel::<Job>(capacity);
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), WhisperError>>(1);
        let thread = std::thread::Builder::new()
            .name("whisper".into())
            .spawn(move || {
                crate::threads::pin(opts.threads.unwrap_or_else(crate::threads::available));
                let mut whisper = match Whisper::load_with(&dir, &opts.load) {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(()));
                        w
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Some(job) = rx.blocking_recv() {
                    if job.reply.is_closed() {
                        continue; // caller gave up; don't spend the CPU
                    }
                    let o = job.opts.as_ref().unwrap_or(&opts.decode);
                    let r = whisper.transcribe(&job.pcm, o);
                    let _ = job.reply.send(r);
                }
                tracing::debug!("whisper worker stopping: all handles dropped");
            })
            .map_err(|e| WhisperError::Io { path: PathBuf::from("<whisper thread>"), source: e })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((Self { jobs: tx, capacity }, thread)),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(WhisperError::WorkerGone)
            }
        }
    }

    /// Queue a clip (16 kHz mono) and await its transcript; waits for queue room.
    pub async fn transcribe(&self, pcm: Vec<f32>, opts: Option<DecodeOptions>) -> Result<Transcript, WhisperError> {
        let (reply, rx) = oneshot::channel();
        self.jobs.send(Job { pcm, opts, reply }).await.map_err(|_| WhisperError::WorkerGone)?;
        rx.await.map_err(|_| WhisperError::WorkerGone)?
    }

    /// Like [`Self::transcribe`] but fails with [`WhisperError::Busy`] instead of waiting for room.
    pub async fn try_transcribe(&self, pcm: Vec<f32>, opts: Option<DecodeOptions>) -> Result<Transcript, WhisperError> {
        let (reply, rx) = oneshot::channel();
        self.jobs.try_send(Job { pcm, opts, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => WhisperError::Busy { capacity: self.capacity },
            mpsc::error::TrySendError::Closed(_) => WhisperError::WorkerGone,
        })?;
        rx.await.map_err(|_| WhisperError::WorkerGone)?
    }
}
