//! Microphone capture: a dedicated thread owning the cpal input stream.
//!
//! ```text
//! cpal callback --(lock-free SPSC ring, f32 interleaved)--> processing thread
//! ```
//!
//! The data callback converts the device's samples to f32 and pushes them
//! into a `ringbuf` SPSC ring (`HeapRb`, created per stream, about
//! [`RING_SECONDS`] of audio). It never blocks, never locks and never
//! allocates: conversion goes through a fixed stack buffer.
//!
//! **Drop policy when the ring is full:** the *newest* samples (the tail of
//! the current callback's buffer that does not fit, rounded down to whole
//! device frames so channels stay aligned) are dropped and counted in
//! `AudioMetrics::samples_dropped`. The consumer is behind by the ring's
//! whole length at that point, so dropping the newest audio keeps what is
//! already queued contiguous; the endpointer sees a gap, not garbage.
//!
//! Device absence and loss: opening is retried with capped exponential
//! backoff ([`BACKOFF_MIN`] .. [`BACKOFF_MAX`]), each failure logged with the
//! device name and the reason; a stream error other than an overrun
//! (device unplugged, ALSA `ENODEV`, ...) drops the stream and goes back to
//! the retry loop. Nothing here panics or exits the process.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{BufferSize, FromSample, SampleFormat, SizedSample, StreamConfig};
use ringbuf::traits::{Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use super::AudioError;
use super::devices::{self, DeviceChoice};
use super::metrics::AudioMetrics;

/// Ring capacity in seconds of device audio.
pub const RING_SECONDS: f32 = 2.0;
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Default callback period when none is configured: 20 ms.
pub const DEFAULT_PERIOD_MS: u32 = 20;

/// What to open.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// `"default"` or a device id / description (see [`devices::find_input_device`]).
    pub device: String,
    /// Callback period in device frames; `None` = 20 ms, falling back to
    /// the device's own default if it rejects that.
    pub period_frames: Option<u32>,
}

/// The format of one running stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureFormat {
    pub device: String,
    pub rate: u32,
    pub channels: u16,
    pub sample_format: SampleFormat,
    /// Frames per callback, when the backend reports it.
    pub period_frames: Option<u32>,
}

/// Handed to the processing thread each time a stream (re)starts.
pub struct CaptureSession {
    pub format: CaptureFormat,
    pub consumer: HeapCons<f32>,
    /// When the stream started playing.
    pub started: Instant,
}

/// Handle to the capture thread. Dropping it does not stop the thread; call
/// [`CaptureThread::stop`] (the listener does).
pub struct CaptureThread {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl CaptureThread {
    /// Start capturing. Each new stream is sent on `sessions` (capacity 1 is
    /// enough: the receiver drains it every few ms).
    pub fn spawn(
        opts: CaptureOptions,
        metrics: Arc<AudioMetrics>,
        sessions: SyncSender<CaptureSession>,
    ) -> Result<CaptureThread, AudioError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let join = std::thread::Builder::new()
            .name("hubd-audio-capture".into())
            .spawn(move || capture_loop(opts, metrics, sessions, stop2))
            .map_err(AudioError::Thread)?;
        Ok(CaptureThread { stop, join: Some(join) })
    }

    /// Ask the thread to stop and wait for it (it checks every 100 ms).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Route alsa-lib's own error printer (which writes `ALSA lib ...: cannot
/// find card '0'` lines straight to stderr at every device probe) to a
/// trace-level log line. Process-wide; idempotent.
pub fn silence_alsa_errors() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(alsa_quiet::install);
    }
}

#[cfg(target_os = "linux")]
mod alsa_quiet {
    use std::ffi::{CStr, c_char, c_int};

    /// Receives alsa-lib's errors. The C type is variadic (printf-style
    /// arguments follow `fmt`); this handler reads only the fixed arguments.
    unsafe extern "C" fn handler(
        _file: *const c_char,
        _line: c_int,
        function: *const c_char,
        err: c_int,
        fmt: *const c_char,
    ) {
        // SAFETY: alsa-lib passes NUL-terminated strings or null.
        let text =
            |p: *const c_char| if p.is_null() { "" } else { unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("") };
        tracing::trace!(function = text(function), err, format = text(fmt), "alsa-lib error (silenced)");
    }

    pub(super) fn install() {
        type Fixed = unsafe extern "C" fn(*const c_char, c_int, *const c_char, c_int, *const c_char);
        let f: Fixed = handler;
        // SAFETY: alsa-lib calls the handler as a C variadic function. On the
        // Linux ABIs hubd targets (x86-64 System V, AArch64 AAPCS64) the fixed
        // arguments of a variadic call are passed exactly as in a non-variadic
        // call, and the callee here never reads the variadic part, so calling
        // `handler` through the variadic pointer type is sound. Stable Rust
        // cannot define a C-variadic function itself.
        let h = unsafe {
            std::mem::transmute::<
                Fixed,
                unsafe extern "C" fn(*const c_char, c_int, *const c_char, c_int, *const c_char, ...),
            >(f)
        };
        // SAFETY: sets a process-wide function pointer inside alsa-lib; the
        // handler is a `'static` function and never unwinds.
        let rc = unsafe { alsa_sys::snd_lib_error_set_handler(Some(h)) };
        if rc != 0 {
            tracing::debug!(rc, "alsa-lib refused the error handler");
        }
    }
}

fn capture_loop(
    opts: CaptureOptions,
    metrics: Arc<AudioMetrics>,
    sessions: SyncSender<CaptureSession>,
    stop: Arc<AtomicBool>,
) {
    silence_alsa_errors();
    let mut backoff = BACKOFF_MIN;
    let mut failures: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let (err_tx, err_rx) = channel::<cpal::Error>();
        match open_stream(&opts, &metrics, err_tx) {
            Ok((stream, session)) => {
                let fmt = session.format.clone();
                let mut pending = Some(session);
                // Hand the consumer over; wait while the processor is busy.
                while let Some(s) = pending.take() {
                    match sessions.try_send(s) {
                        Ok(()) => {}
                        Err(TrySendError::Full(s)) => {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            pending = Some(s);
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(TrySendError::Disconnected(_)) => return,
                    }
                }
                AudioMetrics::inc(&metrics.streams_opened);
                metrics.device_up.store(1, Ordering::Relaxed);
                if failures > 0 {
                    tracing::info!(device = %fmt.device, after_failures = failures, "audio input is back");
                }
                tracing::info!(
                    device = %fmt.device,
                    rate = fmt.rate,
                    channels = fmt.channels,
                    format = %fmt.sample_format,
                    period_frames = fmt.period_frames.unwrap_or(0),
                    "audio capture running"
                );
                failures = 0;
                backoff = BACKOFF_MIN;
                let lost = watch_stream(&err_rx, &stop);
                drop(stream);
                metrics.device_up.store(0, Ordering::Relaxed);
                match lost {
                    Some(reason) => tracing::warn!(
                        device = %fmt.device,
                        %reason,
                        retry_in_ms = backoff.as_millis() as u64,
                        "audio input lost; reopening"
                    ),
                    None => return,
                }
                sleep_unless_stopped(&stop, backoff);
            }
            Err(e) => {
                failures += 1;
                AudioMetrics::inc(&metrics.open_failures);
                // Warn once per outage; the retries are debug lines.
                if failures == 1 {
                    tracing::warn!("no microphone ({e}); voice control waits for one, everything else keeps running");
                } else {
                    tracing::debug!(device = %opts.device, error = %e, attempt = failures, "audio input still unavailable");
                }
                sleep_unless_stopped(&stop, backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Block until the stream fails (`Some(reason)`) or stop is requested (`None`).
fn watch_stream(errors: &Receiver<cpal::Error>, stop: &AtomicBool) -> Option<String> {
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match errors.recv_timeout(Duration::from_millis(100)) {
            Ok(e) => match e.kind() {
                cpal::ErrorKind::Xrun => {
                    tracing::debug!("audio capture overrun (recovered by the backend)");
                }
                cpal::ErrorKind::DeviceChanged => {
                    tracing::info!("audio route changed; stream follows it");
                }
                _ => return Some(e.to_string()),
            },
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Some("stream closed".into()),
        }
    }
}

fn open_stream(
    opts: &CaptureOptions,
    metrics: &Arc<AudioMetrics>,
    errors: std::sync::mpsc::Sender<cpal::Error>,
) -> Result<(cpal::Stream, CaptureSession), AudioError> {
    let DeviceChoice { device, label } = devices::find_input_device(&opts.device)?;
    let supported = device.default_input_config().map_err(|e| AudioError::Device {
        device: label.clone(),
        op: "default input config",
        message: e.to_string(),
    })?;
    let rate = supported.sample_rate();
    let channels = supported.channels();
    let sample_format = supported.sample_format();
    let period = opts.period_frames.unwrap_or_else(|| (rate * DEFAULT_PERIOD_MS / 1000).max(64));
    let ring_len = ((rate as f32 * RING_SECONDS) as usize).max(4096) * usize::from(channels);

    let mut last_err = None;
    // Try the fixed period first; if the device refuses it (and none was
    // configured explicitly), let the device pick.
    let buffer_sizes: &[BufferSize] = if opts.period_frames.is_some() {
        &[BufferSize::Fixed(period)]
    } else {
        &[BufferSize::Fixed(period), BufferSize::Default]
    };
    for &buffer_size in buffer_sizes {
        let config = StreamConfig { channels, sample_rate: rate, buffer_size };
        let (prod, cons) = HeapRb::<f32>::new(ring_len).split();
        let errors = errors.clone();
        let built = match sample_format {
            SampleFormat::F32 => build::<f32>(&device, config, prod, metrics.clone(), errors),
            SampleFormat::I16 => build::<i16>(&device, config, prod, metrics.clone(), errors),
            SampleFormat::I32 => build::<i32>(&device, config, prod, metrics.clone(), errors),
            SampleFormat::U16 => build::<u16>(&device, config, prod, metrics.clone(), errors),
            SampleFormat::U8 => build::<u8>(&device, config, prod, metrics.clone(), errors),
            SampleFormat::I8 => build::<i8>(&device, config, prod, metrics.clone(), errors),
            SampleFormat::F64 => build::<f64>(&device, config, prod, metrics.clone(), errors),
            other => {
                return Err(AudioError::Device {
                    device: label,
                    op: "sample format",
                    message: format!("{other} is not supported for capture"),
                });
            }
        };
        match built {
            Ok(stream) => {
                stream.play().map_err(|e| AudioError::Device {
                    device: label.clone(),
                    op: "start stream",
                    message: e.to_string(),
                })?;
                let period_frames = stream.buffer_size().ok();
                let session = CaptureSession {
                    format: CaptureFormat { device: label, rate, channels, sample_format, period_frames },
                    consumer: cons,
                    started: Instant::now(),
                };
                return Ok((stream, session));
            }
            Err(e) => {
                tracing::debug!(device = %label, ?buffer_size, error = %e, "input stream config rejected");
                last_err = Some(e);
            }
        }
    }
    Err(AudioError::Device {
        device: label,
        op: "open input stream",
        message: last_err.map_or_else(|| "no configuration worked".into(), |e| e.to_string()),
    })
}

/// Build the stream for device sample type `T`. The callback is the only
/// code on cpal's audio thread: convert into a stack buffer, push, count.
fn build<T>(
    device: &cpal::Device,
    config: StreamConfig,
    mut prod: HeapProd<f32>,
    metrics: Arc<AudioMetrics>,
    errors: std::sync::mpsc::Sender<cpal::Error>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let ch = usize::from(config.channels.max(1));
    let data_cb = move |data: &[T], _: &cpal::InputCallbackInfo| {
        let room = prod.vacant_len() / ch * ch;
        let take = data.len().min(room);
        let mut tmp = [0.0f32; 1024];
        let mut pushed = 0;
        for piece in data[..take].chunks(tmp.len()) {
            for (d, s) in tmp.iter_mut().zip(piece) {
                *d = f32::from_sample_(*s);
            }
            pushed += prod.push_slice(&tmp[..piece.len()]);
        }
        metrics.samples_captured.fetch_add(data.len() as u64, Ordering::Relaxed);
        let dropped = data.len() - pushed;
        if dropped > 0 {
            metrics.samples_dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        }
    };
    let err_cb = move |e: cpal::Error| {
        // The worker may be gone during shutdown; nothing else to do then.
        let _ = errors.send(e);
    };
    device.build_input_stream::<T, _, _>(config, data_cb, err_cb, None)
}
