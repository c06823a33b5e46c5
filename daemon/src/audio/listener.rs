//! The audio processing thread: ring buffer -> frontend (mono, 16 kHz) ->
//! Silero VAD (the gate) -> endpointer -> bounded event channel.
//!
//! One OS thread owns the VAD model (tch `CModule`), the resampler and the
//! endpointer. It polls the capture ring every [`POLL`] (the capture
//! callback must not block, so it cannot wake us; 5 ms of polling latency is
//! far below a VAD frame). Each new capture stream (first open, reconnect)
//! resets the frontend, the VAD state and the endpointer.
//!
//! **Drop policy of the event channel** (capacity `queue`, default 8): the
//! thread never waits for the consumer. A full channel drops the event; a
//! dropped utterance is counted in `utterances_dropped` and logged. The ASR
//! consumer is the slow side, so a burst of speech while Whisper is busy
//! loses whole utterances rather than delaying every later one.
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hub_model::vad::{CHUNK_MS, CHUNK_SAMPLES, SileroVad};
use ringbuf::HeapCons;
use ringbuf::traits::{Consumer, Observer};
use tokio::sync::mpsc;

use super::AudioError;
use super::capture::{CaptureFormat, CaptureOptions, CaptureSession, CaptureThread};
use super::endpoint::{EndReason, EndpointConfig, EndpointEvent, Endpointer, Segment};
use super::frontend::Frontend;
use super::metrics::AudioMetrics;
use super::output::MuteGate;

/// Ring polling interval when it is empty.
pub const POLL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
pub struct ListenerOptions {
    pub capture: CaptureOptions,
    pub endpoint: EndpointConfig,
    /// `silero_vad.jit`; `None` = the `silero-vad` package in the venv.
    pub vad_path: Option<PathBuf>,
    /// Event channel capacity.
    pub queue: usize,
    /// Muted while hubd speaks: those frames are not scored (see
    /// [`super::output`]), unless `barge_in`.
    pub mute: Option<Arc<MuteGate>>,
    /// Keep listening while hubd speaks: utterances that overlap its
    /// speech come out with [`Utterance::over_speech`] set (the voice loop
    /// takes only a stop phrase from them).
    pub barge_in: bool,
}

/// An endpointed utterance, 16 kHz mono.
#[derive(Debug, Clone)]
pub struct Utterance {
    /// Sequence number since the listener started.
    pub seq: u64,
    pub samples: Vec<f32>,
    /// Wall-clock estimate of the end of speech (last speech frame's end).
    pub speech_end: Instant,
    /// When the endpointer decided the utterance was over.
    pub decided: Instant,
    /// Speech duration (first to last speech frame).
    pub speech_ms: u32,
    /// Stream frame index one past the last speech frame: with the sample
    /// count, identifies a tentative utterance and the final one it becomes.
    pub end_frame: u64,
    pub reason: EndReason,
    /// Device it came from.
    pub device: String,
    /// Part of it was captured while hubd was speaking (barge-in mode).
    pub over_speech: bool,
}

impl Utterance {
    /// An endpointer segment as utterance `seq`; `at` maps frame indices to instants.
    fn from_segment(seg: Segment, seq: u64, at: &dyn Fn(u64) -> Instant, device: &str, over: bool) -> Utterance {
        Utterance {
            over_speech: over,
            seq,
            speech_end: at(seg.speech_end_frame),
            decided: at(seg.decided_frame),
            speech_ms: ((seg.speech_end_frame - seg.speech_start_frame) * u64::from(CHUNK_MS)) as u32,
            end_frame: seg.speech_end_frame,
            reason: seg.reason,
            device: device.to_string(),
            samples: seg.samples,
        }
    }

    pub fn duration_ms(&self) -> u32 {
        (self.samples.len() as u64 * 1000 / 16_000) as u32
    }
}

#[derive(Debug, Clone)]
pub enum ListenEvent {
    /// A capture stream started (first open or after a reconnect).
    Stream(CaptureFormat),
    SpeechStart {
        at: Instant,
    },
    /// Speech paused for the post-padding: if the silence holds, the next
    /// `Utterance` will have these samples (start recognising now). `seq`
    /// is the number the utterance will get.
    Tentative(Utterance),
    Utterance(Utterance),
    /// Speech too short to keep.
    Discarded {
        speech_ms: u32,
    },
}

/// Listener options from the `[audio]` and `[model]` sections.
pub fn listener_options(cfg: &crate::config::Config) -> ListenerOptions {
    let mut endpoint = EndpointConfig::default();
    let t = cfg.audio.vad_threshold;
    if t.is_finite() && t > 0.0 && t < 1.0 {
        endpoint.start_threshold = t;
        endpoint.stop_threshold = (t - 0.15).max(0.01);
    }
    ListenerOptions {
        capture: CaptureOptions { device: cfg.audio.device.clone(), period_frames: None },
        endpoint,
        vad_path: cfg.model.vad_path.as_deref().map(|p| cfg.resolve_path(p)),
        queue: 8,
        mute: None,
        barge_in: cfg.audio.barge_in,
    }
}

/// Running capture + processing threads. Stops on [`Listener::stop`] or drop.
pub struct Listener {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
    capture: Option<CaptureThread>,
    metrics: Arc<AudioMetrics>,
}

impl Listener {
    /// Load the VAD, start capture and processing. Fails only on a VAD or
    /// endpoint configuration problem; a missing microphone is *not* an
    /// error (capture retries in the background and logs why).
    pub fn start(
        opts: ListenerOptions,
        metrics: Arc<AudioMetrics>,
    ) -> Result<(Listener, mpsc::Receiver<ListenEvent>), AudioError> {
        let endpointer = Endpointer::new(opts.endpoint.clone(), CHUNK_SAMPLES, CHUNK_MS as f32)?;
        let vad = match &opts.vad_path {
            Some(p) => SileroVad::load(p),
            None => SileroVad::load_default(),
        }
        .map_err(|e| AudioError::Vad(e.to_string()))?;
        tracing::info!(path = %vad.path().display(), "Silero VAD loaded");
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let (sess_tx, sess_rx) = sync_channel::<CaptureSession>(1);
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            vad,
            endpointer,
            metrics: metrics.clone(),
            tx,
            sessions: sess_rx,
            stop: stop.clone(),
            seq: 0,
            start_threshold: opts.endpoint.start_threshold,
            mute: opts.mute.clone(),
            muted: false,
            barge_in: opts.barge_in,
            overlap: Overlap::default(),
        };
        let join = std::thread::Builder::new()
            .name("hubd-audio-vad".into())
            .spawn(move || {
                // One 32 ms chunk is far too small to split across cores, and
                // a second OpenMP team would compete with Whisper's.
                hub_model::threads::pin(1);
                worker.run()
            })
            .map_err(AudioError::Thread)?;
        let capture = CaptureThread::spawn(opts.capture, metrics.clone(), sess_tx)?;
        Ok((Listener { stop, join: Some(join), capture: Some(capture), metrics }, rx))
    }

    pub fn metrics(&self) -> &Arc<AudioMetrics> {
        &self.metrics
    }

    /// Stop both threads and wait for them (bounded by their 100 ms checks).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(c) = self.capture.take() {
            c.stop();
        }
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Session {
    format: CaptureFormat,
    consumer: HeapCons<f32>,
    frontend: Frontend,
}

struct Worker {
    vad: SileroVad,
    endpointer: Endpointer,
    metrics: Arc<AudioMetrics>,
    tx: mpsc::Sender<ListenEvent>,
    sessions: Receiver<CaptureSession>,
    stop: Arc<AtomicBool>,
    seq: u64,
    start_threshold: f32,
    mute: Option<Arc<MuteGate>>,
    /// The last chunk was muted.
    muted: bool,
    barge_in: bool,
    overlap: Overlap,
}

/// Barge-in: does the utterance in progress overlap hubd's own speech?
#[derive(Debug, Default)]
struct Overlap {
    current: bool,
}

impl Overlap {
    /// A chunk captured while hubd spoke (`muted`), pushed to an endpointer
    /// that was inside an utterance (`in_speech`) or not: returns whether
    /// the utterance it belongs to overlaps so far.
    fn chunk(&mut self, muted: bool, in_speech: bool) -> bool {
        if !in_speech {
            self.current = false;
        }
        self.current |= muted;
        self.current
    }
}

impl Worker {
    fn run(mut self) {
        let mut session: Option<Session> = None;
        let mut buf = vec![0.0f32; 8192];
        let mut chunks: Vec<f32> = Vec::with_capacity(CHUNK_SAMPLES * 8);
        let mut events = Vec::new();
        // Per event: it overlapped hubd's speech.
        let mut overs: Vec<bool> = Vec::new();
        let mut vad_error_logged = false;
        while !self.stop.load(Ordering::Relaxed) {
            if let Ok(s) = self.sessions.try_recv() {
                match Frontend::new(s.format.rate, s.format.channels, CHUNK_SAMPLES) {
                    Ok(frontend) => {
                        if let Err(e) = self.vad.reset() {
                            tracing::error!(error = %e, "VAD reset failed");
                        }
                        self.endpointer.reset();
                        let _ = self.tx.try_send(ListenEvent::Stream(s.format.clone()));
                        session = Some(Session { format: s.format, consumer: s.consumer, frontend });
                    }
                    Err(e) => {
                        tracing::error!(error = %e, device = %s.format.device, "unusable capture format");
                        session = None;
                    }
                }
            }
            let Some(sess) = session.as_mut() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let n = sess.consumer.pop_slice(&mut buf);
            if n == 0 {
                std::thread::sleep(POLL);
                continue;
            }
            chunks.clear();
            if let Err(e) = sess.frontend.push(&buf[..n], |c| chunks.extend_from_slice(c)) {
                tracing::error!(error = %e, "audio frontend failed; waiting for the next stream");
                session = None;
                continue;
            }
            // Audio still queued behind what we are processing: the decision
            // point was captured that long ago.
            let backlog_frames = sess.consumer.occupied_len() / usize::from(sess.format.channels.max(1));
            let backlog = Duration::from_secs_f64(backlog_frames as f64 / f64::from(sess.format.rate.max(1)));
            let device = sess.format.device.clone();
            // When each chunk was captured: the last one ended `backlog`
            // ago, the others one chunk earlier each.
            let captured_end = Instant::now().checked_sub(backlog);
            let n_chunks = chunks.len() / CHUNK_SAMPLES;
            let chunk_len = Duration::from_millis(u64::from(CHUNK_MS));
            for (j, chunk) in chunks.chunks_exact(CHUNK_SAMPLES).enumerate() {
                let back = chunk_len * (n_chunks - 1 - j) as u32;
                let at = captured_end.and_then(|t| t.checked_sub(back)).unwrap_or_else(Instant::now);
                let muted = self.gated(at);
                if muted && !self.barge_in {
                    continue;
                }
                let p = match self.vad.prob(chunk) {
                    Ok(p) => p,
                    Err(e) => {
                        if !vad_error_logged {
                            tracing::error!(error = %e, "VAD failed on a chunk; treating it as silence");
                            vad_error_logged = true;
                        }
                        0.0
                    }
                };
                AudioMetrics::inc(&self.metrics.frames);
                if p >= self.start_threshold {
                    AudioMetrics::inc(&self.metrics.speech_frames);
                }
                let over = self.overlap.chunk(muted, self.endpointer.in_speech());
                let before = events.len();
                self.endpointer.push(chunk, p, &mut events);
                overs.extend(std::iter::repeat_n(over, events.len() - before));
            }
            let now = Instant::now();
            let captured_now = now.checked_sub(backlog).unwrap_or(now);
            let frames_now = self.endpointer.frames();
            for (ev, over) in events.drain(..).zip(overs.drain(..)) {
                self.emit(ev, captured_now, frames_now, &device, over);
            }
        }
    }

    /// True when hubd was speaking as the chunk was `captured`. Without
    /// barge-in the chunk is skipped (not scored): speech in progress when
    /// the gate closes is dropped, and the VAD starts afresh when it opens.
    fn gated(&mut self, captured: Instant) -> bool {
        let muted = self.mute.as_ref().is_some_and(|g| g.muted(captured));
        if self.barge_in {
            if muted {
                AudioMetrics::inc(&self.metrics.frames_muted);
            }
            self.muted = muted;
            return muted;
        }
        if muted {
            AudioMetrics::inc(&self.metrics.frames_muted);
            if !self.muted {
                self.endpointer.reset();
            }
        } else if self.muted
            && let Err(e) = self.vad.reset()
        {
            tracing::error!(error = %e, "VAD reset failed");
        }
        self.muted = muted;
        muted
    }

    fn emit(&mut self, ev: EndpointEvent, captured_now: Instant, frames_now: u64, device: &str, over: bool) {
        let frame = Duration::from_millis(u64::from(CHUNK_MS));
        let at = |f: u64| {
            let back = frame * (frames_now.saturating_sub(f)) as u32;
            captured_now.checked_sub(back).unwrap_or(captured_now)
        };
        let out = match ev {
            EndpointEvent::SpeechStart { frame } => ListenEvent::SpeechStart { at: at(frame) },
            EndpointEvent::Discarded { speech_frames, .. } => {
                AudioMetrics::inc(&self.metrics.utterances_discarded);
                ListenEvent::Discarded { speech_ms: (speech_frames * u64::from(CHUNK_MS)) as u32 }
            }
            EndpointEvent::Tentative(seg) => {
                ListenEvent::Tentative(Utterance::from_segment(seg, self.seq + 1, &at, device, over))
            }
            EndpointEvent::Utterance(seg) => {
                AudioMetrics::inc(&self.metrics.utterances);
                self.seq += 1;
                ListenEvent::Utterance(Utterance::from_segment(seg, self.seq, &at, device, over))
            }
        };
        if matches!(out, ListenEvent::Tentative(_)) {
            // Best effort: a full queue just means no head start.
            let _ = self.tx.try_send(out);
            return;
        }
        let is_utt = matches!(out, ListenEvent::Utterance(_));
        match self.tx.try_send(out) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) if is_utt => {
                AudioMetrics::inc(&self.metrics.utterances_dropped);
                tracing::warn!("utterance dropped: the speech recogniser is still busy with earlier ones");
            }
            Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.stop.store(true, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Overlap;

    #[test]
    fn an_utterance_overlaps_when_any_of_its_chunks_was_heard_while_hubd_spoke() {
        let mut o = Overlap::default();
        // (muted, endpointer inside an utterance before the chunk)
        let run =
            |o: &mut Overlap, chunks: &[(bool, bool)]| chunks.iter().map(|&(m, s)| o.chunk(m, s)).collect::<Vec<_>>();
        // hubd speaks over silence, then stops; speech after it is clean.
        assert_eq!(
            run(&mut o, &[(true, false), (true, false), (false, false), (false, true)]),
            [true, true, false, false]
        );
        // Speech that starts while hubd speaks stays overlapping after it stops.
        assert_eq!(
            run(&mut o, &[(false, false), (true, true), (false, true), (false, true)]),
            [false, true, true, true]
        );
        // The next utterance starts afresh once the endpointer is idle.
        assert_eq!(run(&mut o, &[(false, false), (false, true)]), [false, false]);
    }
}
