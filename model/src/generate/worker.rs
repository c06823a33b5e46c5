//! The [`Generator`]: one dedicated OS thread per model copy behind a bounded
//! request queue, one streaming response channel per request, bounded sends
//! to slow readers, a generation deadline, and cancellation when the caller
//! drops its stream.

use super::*;

pub(super) struct Job {
    req: Request,
    events: mpsc::Sender<Event>,
}

/// Streaming response of one request. Dropping it cancels the request.
pub struct TokenStream {
    rx: mpsc::Receiver<Event>,
}

impl TokenStream {
    /// Next event; `None` after `Done`/`Error`.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
    /// Blocking variant for synchronous callers (not inside a runtime).
    pub fn blocking_next(&mut self) -> Option<Event> {
        self.rx.blocking_recv()
    }
    /// Collect the whole response.
    pub async fn finish(mut self) -> Result<Finished, GenerateError> {
        while let Some(e) = self.next().await {
            match e {
                Event::Done(f) => return Ok(f),
                Event::Error { message } => return Err(GenerateError::Failed(message)),
                Event::Text { .. } => {}
            }
        }
        Err(GenerateError::WorkerGone)
    }
}

/// Worker threads of a [`Generator`]; join them after the last handle drops.
pub struct Workers {
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Wait for the workers to finish their current request and exit (they
    /// exit once every [`Generator`] clone is dropped).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Counters kept by the workers (metrics, tests).
#[derive(Debug, Default)]
pub struct GeneratorStats {
    pub completed: std::sync::atomic::AtomicU64,
    /// Requests whose caller left (while queued or running) or stalled.
    pub cancelled: std::sync::atomic::AtomicU64,
    /// Of `cancelled`: callers that stopped reading for longer than the send timeout.
    pub stalled: std::sync::atomic::AtomicU64,
    /// Requests cut at the generation deadline (also counted as completed).
    pub deadline: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
    pub tokens: std::sync::atomic::AtomicU64,
}

/// Cloneable handle to the generation workers.
#[derive(Clone)]
pub struct Generator {
    jobs: mpsc::Sender<Job>,
    queue: usize,
    stream_buffer: usize,
    stats: Arc<GeneratorStats>,
    counter: Option<PromptCounter>,
}

/// Options for [`Generator::spawn`].
#[derive(Debug, Clone)]
pub struct GeneratorOptions {
    /// Requests waiting beyond the ones running (bounded queue).
    pub queue: usize,
    /// Events buffered per response before the worker waits for the reader.
    pub stream_buffer: usize,
    /// libtorch intra-op threads of each worker thread.
    pub threads: i32,
    /// Longest a worker waits for a reader whose buffer is full; a reader
    /// slower than that is cancelled, so one stalled client cannot hold the
    /// model for everyone.
    pub send_timeout: Duration,
    /// Longest one request may run once a worker has started it (`None`:
    /// no limit); the request then ends with [`FinishReason::Deadline`].
    pub deadline: Option<Duration>,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        GeneratorOptions {
            queue: 8,
            stream_buffer: 64,
            threads: 2,
            send_timeout: Duration::from_secs(2),
            deadline: Some(Duration::from_secs(600)),
        }
    }
}

/// Result of [`send_bounded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    /// The reader dropped its stream.
    Gone,
    /// The reader's buffer stayed full for the whole wait.
    Stalled,
}

/// Send `event` from a worker thread, waiting at most `wait` while the
/// reader's buffer is full. Never blocks longer than `wait`, whatever the
/// reader does.
pub fn send_bounded(tx: &mpsc::Sender<Event>, event: Event, wait: Duration) -> Sent {
    let until = Instant::now() + wait;
    let mut event = event;
    let mut pause = Duration::from_micros(500);
    loop {
        match tx.try_send(event) {
            Ok(()) => return Sent::Delivered,
            Err(mpsc::error::TrySendError::Closed(_)) => return Sent::Gone,
            Err(mpsc::error::TrySendError::Full(back)) => {
                let now = Instant::now();
                if now >= until {
                    return Sent::Stalled;
                }
                event = back;
                std::thread::sleep(pause.min(until - now));
                pause = (pause * 2).min(Duration::from_millis(10));
            }
        }
    }
}

/// Run one job on a worker: events go out through [`send_bounded`], the
/// deadline is checked at every event, and the counters are kept.
pub(super) fn run_job<R: Runner>(runner: &mut R, job: Job, stats: &GeneratorStats, opts: &GeneratorOptions) {
    use std::sync::atomic::Ordering::Relaxed;
    if job.events.is_closed() {
        // The caller left while the request was queued.
        stats.cancelled.fetch_add(1, Relaxed);
        return;
    }
    let events = job.events;
    let deadline = opts.deadline.map(|d| Instant::now() + d);
    let mut ended: Option<Sent> = None;
    let mut late = false;
    let mut sink = |e: Event| {
        if ended.is_some() || late {
            return false;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            late = true;
            return false;
        }
        match send_bounded(&events, e, opts.send_timeout) {
            Sent::Delivered => true,
            other => {
                ended = Some(other);
                false
            }
        }
    };
    let out = runner.run(&job.req, &mut sink);
    let last = match out {
        Ok(mut f) => {
            stats.tokens.fetch_add(f.generated_tokens as u64, Relaxed);
            if late && f.reason == FinishReason::Cancelled {
                f.reason = FinishReason::Deadline;
            }
            match f.reason {
                FinishReason::Cancelled => {
                    stats.cancelled.fetch_add(1, Relaxed);
                    if ended == Some(Sent::Stalled) {
                        stats.stalled.fetch_add(1, Relaxed);
                        tracing::info!(tokens = f.generated_tokens, "generation cancelled: the client stopped reading");
                    }
                }
                FinishReason::Deadline => {
                    stats.deadline.fetch_add(1, Relaxed);
                    stats.completed.fetch_add(1, Relaxed);
                    tracing::info!(tokens = f.generated_tokens, "generation stopped at its deadline");
                }
                _ => {
                    stats.completed.fetch_add(1, Relaxed);
                }
            }
            Event::Done(f)
        }
        Err(e) => {
            stats.failed.fetch_add(1, Relaxed);
            tracing::warn!(error = %e, "generation failed");
            Event::Error { message: e.to_string() }
        }
    };
    if ended.is_none() {
        let _ = send_bounded(&events, last, opts.send_timeout);
    }
}

impl Generator {
    /// Start `copies` worker threads; worker `i` builds its engine with
    /// `load(i)` (so each replica loads onto its own device). Blocks until
    /// every worker reports ready, and returns the first load error.
    pub fn spawn<F, R>(copies: usize, opts: GeneratorOptions, load: F) -> Result<(Generator, Workers), GenerateError>
    where
        F: Fn(usize) -> Result<R, GenerateError> + Send + Sync + 'static,
        R: Runner,
    {
        let (tx, rx) = mpsc::channel::<Job>(opts.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let load = Arc::new(load);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Option<PromptCounter>, String>>();
        let stats = Arc::new(GeneratorStats::default());
        let mut threads = Vec::new();
        let n_threads = opts.threads.max(1) as usize;
        for i in 0..copies.max(1) {
            let rx = rx.clone();
            let load = load.clone();
            let ready = ready_tx.clone();
            let stats = stats.clone();
            let opts = opts.clone();
            let th = std::thread::Builder::new()
                .name(format!("llm-{i}"))
                .spawn(move || {
                    crate::threads::pin(n_threads);
                    let mut runner = match load(i) {
                        Ok(r) => {
                            let _ = ready.send(Ok(r.prompt_counter()));
                            r
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e.to_string()));
                            return;
                        }
                    };
                    drop(ready);
                    loop {
                        // The lock is held only while waiting for the next
                        // job, never while generating.
                        let job = match rx.lock() {
                            Ok(mut guard) => guard.blocking_recv(),
                            Err(_) => None,
                        };
                        let Some(job) = job else { break };
                        run_job(&mut runner, job, &stats, &opts);
                    }
                })
                .map_err(|e| GenerateError::Load(format!("cannot start worker thread: {e}")))?;
            threads.push(th);
        }
        drop(ready_tx);
        let mut first_err = None;
        let mut counter = None;
        for _ in 0..threads.len() {
            match ready_rx.recv() {
                Ok(Ok(c)) => {
                    if counter.is_none() {
                        counter = c;
                    }
                }
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert_with(|| "worker exited during load".to_string());
                }
            }
        }
        let generator =
            Generator { jobs: tx, queue: opts.queue.max(1), stream_buffer: opts.stream_buffer.max(1), stats, counter };
        let workers = Workers { threads };
        if let Some(e) = first_err {
            drop(generator);
            workers.join();
            return Err(GenerateError::Load(e));
        }
        Ok((generator, workers))
    }

    /// The prompt counter of the loaded model (`None` for runners without a tokenizer).
    pub fn prompt_counter(&self) -> Option<&PromptCounter> {
        self.counter.as_ref()
    }

    /// Worker counters.
    pub fn stats(&self) -> &GeneratorStats {
        &self.stats
    }

    /// Queue a request (waits while the queue is full).
    pub async fn generate(&self, req: Request) -> Result<TokenStream, GenerateError> {
        let (tx, rx) = mpsc::channel(self.stream_buffer);
        self.jobs.send(Job { req, events: tx }).await.map_err(|_| GenerateError::WorkerGone)?;
        Ok(TokenStream { rx })
    }

    /// Queue a request without waiting: `QueueFull` when the queue is full.
    pub fn try_generate(&self, req: Request) -> Result<TokenStream, GenerateError> {
        let (tx, rx) = mpsc::channel(self.stream_buffer);
        self.jobs.try_send(Job { req, events: tx }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => GenerateError::QueueFull(self.queue),
            mpsc::error::TrySendError::Closed(_) => GenerateError::WorkerGone,
        })?;
        Ok(TokenStream { rx })
    }

    /// Blocking variant for synchronous callers (not inside a runtime).
    pub fn blocking_generate(&self, req: Request) -> Result<TokenStream, GenerateError> {
        let (tx, rx) = mpsc::channel(self.stream_buffer);
        self.jobs.blocking_send(Job { req, events: tx }).map_err(|_| GenerateError::WorkerGone)?;
        Ok(TokenStream { rx })
    }
}
