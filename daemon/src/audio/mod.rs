//! Listening: microphone -> utterances -> (Whisper) -> commands.
//!
//! ```text
//! cpal callback ──lock-free SPSC ring──> hubd-audio-vad thread:
//!   mono mixdown + rubato -> 16 kHz -> 512-sample chunks -> Silero VAD (gate)
//!   -> endpointer -> bounded channel of utterances -> ASR -> wake filter -> pipeline
//! ```
//!
//! - [`capture`]: the cpal stream on its own thread, reconnect with backoff.
//! - [`frontend`]: mixdown + resampling + chunking (pure DSP).
//! - [`endpoint`]: VAD frames -> utterances (pure, unit-tested).
//! - [`listener`]: the processing thread that ties them together.
//! - [`wake`]: wake phrase on transcripts (pure, unit-tested).
//! - [`metrics`]: gate counters for `/metrics` and `hubd status`.
//! - [`devices`]: `hubd devices --audio` and device resolution.
//! - [`voice`]: utterances -> Whisper -> wake filter -> the text pipeline.
//! - [`output`]: spoken replies through cpal, and the gate that mutes the
//!   microphone while hubd speaks.
pub mod capture;
pub mod devices;
pub mod endpoint;
pub mod frontend;
pub mod listener;
pub mod metrics;
pub mod output;
pub mod recording;
pub mod voice;
pub mod wake;

pub use devices::{InputDevice, list_input_devices};
pub use endpoint::EndpointConfig;
pub use metrics::{AudioMetrics, AudioMetricsSnapshot};

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("audio host unavailable: {0}")]
    Host(String),
    #[error("{0}")]
    NoDevice(String),
    #[error("audio device {device:?}: {op} failed: {message}")]
    Device { device: String, op: &'static str, message: String },
    #[error("voice activity detection: {0}")]
    Vad(String),
    #[error(transparent)]
    Endpoint(#[from] endpoint::EndpointConfigError),
    #[error(transparent)]
    Wake(#[from] wake::WakeError),
    #[error("speech recognition: {0}")]
    Asr(String),
    #[error("could not start an audio thread: {0}")]
    Thread(#[source] std::io::Error),
}
