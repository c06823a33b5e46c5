//! Audio output: spoken replies and announcements through cpal.
//!
//! ```text
//! Player::play(clip) --bounded channel--> hubd-audio-play thread:
//!   mono f32 -> rubato to the device rate -> channels -> SPSC ring -> cpal callback
//! ```
//!
//! One OS thread owns the output stream (a cpal stream is not `Send` on
//! every host). It opens the device when a clip arrives and closes it
//! [`LINGER`] after the last clip has played, so an idle hub holds no
//! device. The data callback only pops the ring (zeros when it is empty)
//! and counts the samples it played; the thread learns from that count
//! when a clip really started.
//!
//! While a clip plays, and for `[audio] mute_tail_ms` after it, the
//! [`MuteGate`] tells the listener to skip the microphone: hubd does not
//! take its own voice for a command. From the moment a clip is queued until
//! it starts, the gate is closed too (the device may take a moment to open),
//! for at most the clip's length, the tail and [`OPEN_ALLOWANCE`].
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, channel, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{BufferSize, FromSample, SampleFormat, SizedSample, StreamConfig};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use tokio::sync::oneshot;

use super::AudioError;
use super::devices::{DeviceChoice, find_output_device};
use super::metrics::AudioMetrics;

/// The stream stays open this long after the last clip (back-to-back
/// replies do not reopen the device).
pub const LINGER: Duration = Duration::from_millis(300);
/// Clips waiting to be played.
pub const QUEUE: usize = 8;
/// A stream opened ahead of a reply ([`Player::warm`]) stays open this long.
pub const WARM: Duration = Duration::from_secs(5);
/// A device that consumes nothing for this long is given up on.
const STALL: Duration = Duration::from_secs(3);
const RING_SECONDS: f32 = 0.5;
/// What the device holds after the ring (two 20 ms periods).
const DEVICE_BUFFER: Duration = Duration::from_millis(40);
/// How long the microphone stays muted for a clip that has not started yet.
const OPEN_ALLOWANCE: Duration = Duration::from_secs(1);

/// "Is hubd speaking?", shared by the player (writer) and the listener.
#[derive(Debug)]
pub struct MuteGate {
    epoch: Instant,
    /// Muted from this many µs after `epoch` ...
    since_us: AtomicU64,
    /// ... until this many.
    until_us: AtomicU64,
}

impl MuteGate {
    pub fn new() -> Arc<MuteGate> {
        Arc::new(MuteGate { epoch: Instant::now(), since_us: AtomicU64::new(0), until_us: AtomicU64::new(0) })
    }

    fn us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Whether hubd was speaking at `t` (now, or when a frame was
    /// captured: a listener that runs behind judges each frame by its own
    /// time). Only the last stretch of speech is kept.
    pub fn muted(&self, t: Instant) -> bool {
        let t = self.us(t);
        self.since_us.load(Ordering::Relaxed) <= t && t < self.until_us.load(Ordering::Relaxed)
    }

    /// Start (or keep) a stretch of speech now, muted until `t`.
    fn mute_until(&self, t: Instant) {
        self.start_stretch();
        self.until_us.store(self.us(t).max(1), Ordering::Relaxed);
    }

    /// Keep muted until at least `t`.
    fn extend_until(&self, t: Instant) {
        self.start_stretch();
        self.until_us.fetch_max(self.us(t), Ordering::Relaxed);
    }

    /// A new stretch starts now unless one is running.
    fn start_stretch(&self) {
        let now = self.us(Instant::now());
        if self.until_us.load(Ordering::Relaxed) <= now {
            self.since_us.store(now, Ordering::Relaxed);
        }
    }

    fn open(&self) {
        self.until_us.store(0, Ordering::Relaxed);
    }
}

/// A clip that started playing.
#[derive(Debug, Clone)]
pub struct Played {
    /// When its first sample reached the device.
    pub started: Instant,
    /// Its length.
    pub audio: Duration,
    /// The output device.
    pub device: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PlayError {
    #[error("audio output: {0}")]
    Device(String),
    #[error("audio output busy: {QUEUE} clips are waiting")]
    Busy,
    #[error("audio output stopped")]
    Stopped,
    #[error("clip is not playable: {0}")]
    Clip(String),
    #[error("speech interrupted (stop phrase)")]
    Interrupted,
}

struct Job {
    /// Mono samples at `rate`.
    samples: Vec<f32>,
    rate: u32,
    /// [`Player::generation`] when it was asked for: an interrupt since
    /// then drops it.
    generation: u64,
    reply: oneshot::Sender<Result<Played, PlayError>>,
}

enum Msg {
    Play(Job),
    /// Open the device now: a reply is coming.
    Warm,
}

/// Handle to the playback thread (cheap to clone).
#[derive(Clone)]
pub struct Player {
    tx: SyncSender<Msg>,
    gate: Arc<MuteGate>,
    /// Interrupts so far ([`Player::interrupt`]).
    cuts: Arc<AtomicU64>,
}

/// The thread itself; [`PlayerThread::stop`] ends it.
pub struct PlayerThread {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl PlayerThread {
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Player {
    /// Start the playback thread for `device` (`"default"` or a name, see
    /// [`find_output_device`]); the device is opened only when needed.
    pub fn spawn(
        device: String,
        tail: Duration,
        gate: Arc<MuteGate>,
        metrics: Arc<AudioMetrics>,
    ) -> Result<(Player, PlayerThread), AudioError> {
        let (tx, rx) = sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicU64::new(0));
        let worker = Worker {
            device,
            tail,
            gate: gate.clone(),
            metrics,
            stop: stop.clone(),
            out: None,
            failing: false,
            keep_until: None,
            cuts: cuts.clone(),
            cuts_seen: 0,
        };
        let join = std::thread::Builder::new()
            .name("hubd-audio-play".into())
            .spawn(move || worker.run(rx))
            .map_err(AudioError::Thread)?;
        Ok((Player { tx, gate, cuts }, PlayerThread { stop, join: Some(join) }))
    }

    pub fn gate(&self) -> &Arc<MuteGate> {
        &self.gate
    }

    /// Open the device ahead of a clip (the voice loop calls this when an
    /// utterance ends, while Whisper and the pipeline work), so the reply
    /// does not wait for it. Best effort.
    pub fn warm(&self) {
        let _ = self.tx.try_send(Msg::Warm);
    }

    /// Interrupts so far: a clip asked for at this generation is dropped by
    /// the next [`Player::interrupt`].
    pub fn generation(&self) -> u64 {
        self.cuts.load(Ordering::Acquire)
    }

    /// Stop speaking now (a stop phrase was heard): the clip playing is cut
    /// (what the device already holds still plays, about 40 ms) and every
    /// clip asked for before this call is dropped with
    /// [`PlayError::Interrupted`]. Returns whether hubd was speaking.
    pub fn interrupt(&self) -> bool {
        let speaking = self.gate.muted(Instant::now());
        self.cuts.fetch_add(1, Ordering::AcqRel);
        speaking
    }

    /// Queue mono `samples` at `rate` Hz; resolves when the clip starts.
    pub async fn play(&self, samples: Vec<f32>, rate: u32) -> Result<Played, PlayError> {
        self.play_from(self.generation(), samples, rate).await
    }

    /// [`Player::play`] for a clip asked for at `generation` (before its
    /// synthesis began: an interrupt during synthesis drops it too).
    pub async fn play_from(&self, generation: u64, samples: Vec<f32>, rate: u32) -> Result<Played, PlayError> {
        if samples.is_empty() || !(1000..=768_000).contains(&rate) {
            return Err(PlayError::Clip(format!("{} samples at {rate} Hz", samples.len())));
        }
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Msg::Play(Job { samples, rate, generation, reply })) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(PlayError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(PlayError::Stopped),
        }
        rx.await.unwrap_or(Err(PlayError::Stopped))
    }
}

/// An open output stream.
struct Output {
    _stream: cpal::Stream,
    prod: HeapProd<f32>,
    /// Samples the callback took from the ring (or dropped on `flush`).
    popped: Arc<AtomicU64>,
    /// Set to make the callback drop everything in the ring.
    flush: Arc<AtomicBool>,
    pushed: u64,
    rate: u32,
    channels: usize,
    label: String,
    errors: Receiver<cpal::Error>,
    /// When everything pushed had been played.
    drained_at: Option<Instant>,
}

struct Worker {
    device: String,
    tail: Duration,
    gate: Arc<MuteGate>,
    metrics: Arc<AudioMetrics>,
    stop: Arc<AtomicBool>,
    out: Option<Output>,
    /// The last open failed (warn once per outage).
    failing: bool,
    /// Warmed: stay open until then even when idle.
    keep_until: Option<Instant>,
    /// [`Player::interrupt`]s asked for, and those acted on.
    cuts: Arc<AtomicU64>,
    cuts_seen: u64,
}

impl Worker {
    fn run(mut self, rx: Receiver<Msg>) {
        super::capture::silence_alsa_errors();
        while !self.stop.load(Ordering::Relaxed) {
            self.cut_if_asked();
            let wait = if self.out.is_some() { Duration::from_millis(10) } else { Duration::from_millis(100) };
            match rx.recv_timeout(wait) {
                Ok(Msg::Play(job)) => self.play(job),
                Ok(Msg::Warm) => self.warm(),
                Err(RecvTimeoutError::Timeout) => self.idle(),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.gate.open();
    }

    /// An interrupt since the last look: drop what waits in the ring and
    /// open the gate once the device buffer has played.
    fn cut_if_asked(&mut self) -> bool {
        let cuts = self.cuts.load(Ordering::Acquire);
        if cuts == self.cuts_seen {
            return false;
        }
        self.cuts_seen = cuts;
        cut(self.out.as_ref(), &self.gate, self.tail);
        true
    }

    fn warm(&mut self) {
        self.keep_until = Some(Instant::now() + WARM);
        if self.out.is_none() {
            match open(&self.device) {
                Ok(o) => self.out = Some(o),
                Err(e) => tracing::debug!(device = %self.device, error = %e, "audio output not opened ahead"),
            }
        }
    }

    /// Close the stream once it has been quiet for [`LINGER`] (and any
    /// warm-up has run out).
    fn idle(&mut self) {
        let Some(o) = self.out.as_mut() else { return };
        let now = Instant::now();
        if o.popped.load(Ordering::Relaxed) < o.pushed {
            o.drained_at = None;
            hold(&self.gate, o, now, self.tail);
            return;
        }
        if self.keep_until.is_some_and(|t| now < t) {
            return;
        }
        let since = *o.drained_at.get_or_insert(now);
        if now.duration_since(since) >= LINGER || o.errors.try_recv().is_ok() {
            self.out = None;
        }
    }

    fn play(&mut self, job: Job) {
        self.cut_if_asked();
        if job.generation < self.cuts_seen {
            let _ = job.reply.send(Err(PlayError::Interrupted));
            return;
        }
        // Until the clip starts (the device may take a moment to open);
        // set exactly once it does.
        let len = Duration::from_secs_f64(job.samples.len() as f64 / f64::from(job.rate));
        self.gate.mute_until(Instant::now() + len + self.tail + OPEN_ALLOWANCE);
        let result = self.play_inner(&job.samples, job.rate);
        match &result {
            // play_inner set the gate when the clip started and holds it
            // while the clip drains.
            Ok(_) => AudioMetrics::inc(&self.metrics.clips_played),
            // cut_if_asked set the gate.
            Err(PlayError::Interrupted) => {}
            Err(e) => {
                AudioMetrics::inc(&self.metrics.play_failures);
                self.gate.open();
                if !self.failing {
                    tracing::warn!(device = %self.device, error = %e, "cannot play speech");
                }
                self.failing = matches!(e, PlayError::Device(_));
                self.out = None;
            }
        }
        let _ = job.reply.send(result);
    }

    /// Push the clip; returns once it started. The rest of a clip longer
    /// than the ring is pushed before returning too (the callback drains
    /// it in real time).
    fn play_inner(&mut self, mono: &[f32], rate: u32) -> Result<Played, PlayError> {
        if self.out.is_none() {
            self.out = Some(open(&self.device).map_err(|e| PlayError::Device(e.to_string()))?);
            if self.failing {
                tracing::info!(device = %self.device, "audio output is back");
                self.failing = false;
            }
        }
        let Some(o) = self.out.as_mut() else { return Err(PlayError::Stopped) };
        let pcm = to_device(mono, rate, o.rate, o.channels).map_err(PlayError::Clip)?;
        let audio = Duration::from_secs_f64(mono.len() as f64 / f64::from(rate));
        let base = o.pushed;
        let (mut pos, mut started) = (0usize, None);
        let mut progress = (o.popped.load(Ordering::Relaxed), Instant::now());
        while pos < pcm.len() || started.is_none() {
            let room = o.prod.vacant_len() / o.channels * o.channels;
            let n = o.prod.push_slice(&pcm[pos..(pos + room).min(pcm.len())]);
            pos += n;
            o.pushed += n as u64;
            let popped = o.popped.load(Ordering::Relaxed);
            let now = Instant::now();
            if started.is_none() && popped > base {
                started = Some(now);
                self.gate.mute_until(now + audio + self.tail);
            }
            if started.is_some() {
                hold(&self.gate, o, now, self.tail);
            }
            if pos >= pcm.len() && started.is_some() {
                break;
            }
            if popped != progress.0 {
                progress = (popped, now);
            } else if now.duration_since(progress.1) > STALL {
                return Err(PlayError::Device(format!("{} played nothing for {}s", o.label, STALL.as_secs())));
            }
            if let Ok(e) = o.errors.try_recv()
                && !matches!(e.kind(), cpal::ErrorKind::Xrun)
            {
                return Err(PlayError::Device(format!("{}: {e}", o.label)));
            }
            if self.stop.load(Ordering::Relaxed) {
                return Err(PlayError::Stopped);
            }
            let cuts = self.cuts.load(Ordering::Acquire);
            if cuts != self.cuts_seen {
                self.cuts_seen = cuts;
                cut(Some(o), &self.gate, self.tail);
                // As much as was heard (the gate opens after it).
                let Some(at) = started else { return Err(PlayError::Interrupted) };
                return Ok(Played { started: at, audio: now.duration_since(at), device: o.label.clone() });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        o.drained_at = None;
        self.keep_until = None;
        let started = started.unwrap_or_else(Instant::now);
        Ok(Played { started, audio, device: o.label.clone() })
    }
}

/// Drop what waits in the ring (the callback clears it on its next period,
/// 20 ms; a stream that stopped calling it is given up on later anyway) and
/// open a closed gate once the device buffer has played.
fn cut(out: Option<&Output>, gate: &MuteGate, tail: Duration) {
    // Only a ring with audio in it: a flush left pending on a stream that
    // calls back rarely would eat the start of the next clip.
    if let Some(o) = out.filter(|o| o.popped.load(Ordering::Relaxed) < o.pushed) {
        o.flush.store(true, Ordering::Release);
        let t0 = Instant::now();
        while o.flush.load(Ordering::Acquire) && t0.elapsed() < Duration::from_millis(200) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let now = Instant::now();
    if gate.muted(now) {
        gate.mute_until(now + DEVICE_BUFFER + tail);
    }
}

/// While audio waits in the ring, the microphone stays muted until it has
/// played, plus the device's buffer and the tail: a device (or a loaded
/// machine) that plays behind real time keeps the gate closed as long.
fn hold(gate: &MuteGate, o: &Output, now: Instant, tail: Duration) {
    let queued = o.pushed.saturating_sub(o.popped.load(Ordering::Relaxed));
    let left = Duration::from_secs_f64(queued as f64 / (f64::from(o.rate) * o.channels as f64));
    gate.extend_until(now + left + DEVICE_BUFFER + tail);
}

/// Mono `samples` at `rate_in` → interleaved `channels` at `rate_out`.
pub fn to_device(samples: &[f32], rate_in: u32, rate_out: u32, channels: usize) -> Result<Vec<f32>, String> {
    let resampled = if rate_in == rate_out {
        samples.to_vec()
    } else {
        let mut r = Fft::<f32>::new(rate_in as usize, rate_out as usize, 1024, 1, FixedSync::Input)
            .map_err(|e| format!("resampler {rate_in} -> {rate_out} Hz: {e}"))?;
        let need = r.process_all_needed_output_len(samples.len());
        let mut out = vec![0.0f32; need];
        let inp = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| e.to_string())?;
        let mut outp = InterleavedSlice::new_mut(&mut out[..], 1, need).map_err(|e| e.to_string())?;
        let (_, written) =
            r.process_all_into_buffer(&inp, &mut outp, samples.len(), None).map_err(|e| e.to_string())?;
        out.truncate(written);
        out
    };
    let ch = channels.max(1);
    let mut v = Vec::with_capacity(resampled.len() * ch);
    for s in resampled {
        v.extend(std::iter::repeat_n(s.clamp(-1.0, 1.0), ch));
    }
    Ok(v)
}

fn open(wanted: &str) -> Result<Output, AudioError> {
    let DeviceChoice { device, label } = find_output_device(wanted)?;
    let dev_err = |op: &'static str, e: String| AudioError::Device { device: label.clone(), op, message: e };
    let supported = device.default_output_config().map_err(|e| dev_err("default output config", e.to_string()))?;
    let (rate, channels, format) = (supported.sample_rate(), supported.channels(), supported.sample_format());
    let ch = usize::from(channels.max(1));
    let ring = ((rate as f32 * RING_SECONDS) as usize).max(1024) * ch;
    let mut last = String::from("no configuration worked");
    // A 20 ms period keeps the reply's start prompt; the device's own
    // default when it refuses that.
    for buffer_size in [BufferSize::Fixed((rate / 50).max(64)), BufferSize::Default] {
        let config = StreamConfig { channels, sample_rate: rate, buffer_size };
        let (prod, cons) = HeapRb::<f32>::new(ring).split();
        let popped = Arc::new(AtomicU64::new(0));
        let flush = Arc::new(AtomicBool::new(false));
        let (etx, erx) = channel();
        let ring = Ring { cons, popped: popped.clone(), flush: flush.clone() };
        let built = match format {
            SampleFormat::F32 => build::<f32>(&device, config, ring, etx),
            SampleFormat::I16 => build::<i16>(&device, config, ring, etx),
            SampleFormat::I32 => build::<i32>(&device, config, ring, etx),
            SampleFormat::U16 => build::<u16>(&device, config, ring, etx),
            SampleFormat::U8 => build::<u8>(&device, config, ring, etx),
            other => return Err(dev_err("sample format", format!("{other} is not supported for playback"))),
        };
        match built {
            Ok(stream) => {
                stream.play().map_err(|e| dev_err("start stream", e.to_string()))?;
                tracing::debug!(device = %label, rate, channels, %format, "audio output open");
                return Ok(Output {
                    _stream: stream,
                    prod,
                    popped,
                    flush,
                    pushed: 0,
                    rate,
                    channels: ch,
                    label,
                    errors: erx,
                    drained_at: None,
                });
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(dev_err("open output stream", last))
}

/// The callback's side of the ring.
struct Ring {
    cons: HeapCons<f32>,
    popped: Arc<AtomicU64>,
    flush: Arc<AtomicBool>,
}

/// The callback: pop, convert, count; zeros when the ring is empty; the
/// whole ring dropped (and counted) when `flush` is set.
fn build<T>(
    device: &cpal::Device,
    config: StreamConfig,
    ring: Ring,
    errors: std::sync::mpsc::Sender<cpal::Error>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let Ring { mut cons, popped, flush } = ring;
    let data_cb = move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
        let mut tmp = [0.0f32; 1024];
        let mut n_total = 0u64;
        if flush.swap(false, Ordering::AcqRel) {
            n_total += cons.clear() as u64;
        }
        for piece in data.chunks_mut(tmp.len()) {
            let n = cons.pop_slice(&mut tmp[..piece.len()]);
            for (d, s) in piece.iter_mut().zip(&tmp[..n]) {
                *d = T::from_sample_(*s);
            }
            for d in &mut piece[n..] {
                *d = T::EQUILIBRIUM;
            }
            n_total += n as u64;
        }
        popped.fetch_add(n_total, Ordering::Relaxed);
    };
    let err_cb = move |e: cpal::Error| {
        let _ = errors.send(e);
    };
    device.build_output_stream::<T, _, _>(config, data_cb, err_cb, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_and_fans_out_to_the_device_channels() {
        let rate = 22_050;
        let tone: Vec<f32> =
            (0..rate).map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin()).collect();
        let out = to_device(&tone, rate as u32, 48_000, 2).unwrap();
        let frames = out.len() / 2;
        assert!((47_000..=49_000).contains(&frames), "{frames} frames for one second");
        assert!(out.chunks_exact(2).all(|f| f[0] == f[1]), "both channels carry the clip");
        let ups = out.chunks_exact(2).map(|f| f[0]).collect::<Vec<_>>();
        let crossings = ups.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        assert!((430..=450).contains(&crossings), "still 440 Hz: {crossings}");
        assert_eq!(to_device(&[0.25, 2.0], 16_000, 16_000, 1).unwrap(), vec![0.25, 1.0], "clipped, not resampled");
    }

    #[test]
    fn gate_mutes_until_the_end_and_opens() {
        let g = MuteGate::new();
        let now = Instant::now();
        assert!(!g.muted(now));
        g.mute_until(now + Duration::from_millis(500));
        assert!(g.muted(now + Duration::from_millis(499)));
        assert!(!g.muted(now + Duration::from_millis(501)));
        g.extend_until(now + Duration::from_millis(100));
        assert!(g.muted(now + Duration::from_millis(499)), "extending never shortens");
        g.extend_until(now + Duration::from_millis(800));
        assert!(g.muted(now + Duration::from_millis(799)));
        g.open();
        assert!(!g.muted(now));
        // A stretch of speech covers from when it started, not before.
        let before = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        g.mute_until(Instant::now() + Duration::from_millis(100));
        assert!(!g.muted(before), "captured before hubd spoke");
        assert!(g.muted(Instant::now()));
    }

    #[tokio::test]
    async fn a_missing_device_fails_the_clip_and_opens_the_gate() {
        let gate = MuteGate::new();
        let m = Arc::new(AudioMetrics::default());
        let (p, t) = Player::spawn("no such speaker".into(), Duration::ZERO, gate.clone(), m.clone()).unwrap();
        let e = p.play(vec![0.1; 1600], 16_000).await.unwrap_err();
        assert!(matches!(e, PlayError::Device(_)), "{e}");
        assert!(e.to_string().contains("no such speaker"), "{e}");
        assert!(!gate.muted(Instant::now()));
        assert_eq!(m.play_failures.load(Ordering::Relaxed), 1);
        assert!(matches!(p.play(Vec::new(), 16_000).await, Err(PlayError::Clip(_))));
        tokio::task::spawn_blocking(move || t.stop()).await.unwrap();
        assert!(matches!(p.play(vec![0.1; 10], 16_000).await, Err(PlayError::Stopped)));
    }
}
