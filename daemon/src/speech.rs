//! Spoken output: text -> [`TtsService`] (espeak-ng) -> [`Player`] (cpal).
//!
//! [`Speaker`] is the one owner of "say this out loud": voice replies,
//! finished timers and announcements all go through [`Speaker::say`], so
//! they share one queue, one device and one microphone gate. It exists only
//! when `[audio] enabled` and `[audio] output` is not `none`.
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::audio::AudioMetrics;
use crate::audio::output::{MuteGate, PlayError, Player};
use crate::config::Config;
use crate::tts::{TtsError, TtsService};

/// How long [`Speaker::say`] waits for its clip to start, beyond the
/// clips queued before it.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);

/// A sentence that started playing.
#[derive(Debug, Clone)]
pub struct Spoken {
    /// When the first sample reached the device.
    pub started: Instant,
    /// Synthesis time.
    pub tts_ms: f64,
    /// Length of the speech.
    pub audio: Duration,
    pub device: String,
}

impl Spoken {
    /// When the speech ends.
    pub fn ends(&self) -> Instant {
        self.started + self.audio
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpeakError {
    #[error(transparent)]
    Tts(#[from] TtsError),
    #[error(transparent)]
    Play(#[from] PlayError),
}

/// Text to the loudspeaker (cheap to clone).
#[derive(Clone)]
pub struct Speaker {
    tts: TtsService,
    player: Player,
    metrics: Arc<AudioMetrics>,
    /// Background announcements, awaited at shutdown.
    tracker: TaskTracker,
}

impl Speaker {
    /// Start the playback thread for `[audio] output`, or `None` when
    /// spoken output is off. The returned task stops the thread when
    /// `stop` fires (register it with the runtime).
    pub fn start(
        cfg: &Config,
        tts: TtsService,
        metrics: Arc<AudioMetrics>,
        tracker: TaskTracker,
        mut stop: watch::Receiver<bool>,
    ) -> Option<(Speaker, JoinHandle<()>)> {
        let device = cfg.audio.output_device()?;
        if !cfg.audio.enabled {
            return None;
        }
        let tail = Duration::from_millis(u64::from(cfg.audio.mute_tail_ms));
        let (player, thread) = match Player::spawn(device.to_string(), tail, MuteGate::new(), metrics.clone()) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "spoken replies disabled");
                return None;
            }
        };
        let task = tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            let _ = tokio::task::spawn_blocking(move || thread.stop()).await;
        });
        tracing::info!(device, "spoken replies on");
        Some((Speaker { tts, player, metrics, tracker }, task))
    }

    /// The gate the listener consults (muted while this speaker talks).
    pub fn gate(&self) -> Arc<MuteGate> {
        self.player.gate().clone()
    }

    /// A reply may follow soon: open the device now.
    pub fn warm(&self) {
        self.player.warm();
    }

    /// Synthesise `text` and queue it; resolves when it starts playing.
    pub async fn say(&self, text: &str) -> Result<Spoken, SpeakError> {
        let generation = self.player.generation();
        let t0 = Instant::now();
        let speech = match self.tts.synthesize(text, None).await {
            Ok(s) => s,
            Err(e) => {
                AudioMetrics::inc(&self.metrics.play_failures);
                return Err(e.into());
            }
        };
        let tts_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let mut mono = speech.mono_f32();
        trim_silence(&mut mono, speech.rate);
        let play = self.player.play_from(generation, mono, speech.rate);
        let played = tokio::time::timeout(START_TIMEOUT + speech.duration(), play)
            .await
            .map_err(|_| PlayError::Device(format!("speech did not start within {}s", START_TIMEOUT.as_secs())))??;
        Ok(Spoken { started: played.started, tts_ms, audio: played.audio, device: played.device })
    }

    /// Stop speaking (a stop phrase was heard): the sentence playing is cut
    /// and the ones waiting, or being synthesised, are dropped. Returns
    /// whether hubd was speaking.
    pub fn interrupt(&self) -> bool {
        self.player.interrupt()
    }

    /// [`Self::say`] in the background, logging a failure.
    pub fn announce(&self, text: String, what: &'static str) {
        let s = self.clone();
        self.tracker.spawn(async move {
            match s.say(&text).await {
                Ok(p) => tracing::debug!(what, text, tts_ms = p.tts_ms, "announced"),
                Err(SpeakError::Play(PlayError::Interrupted)) => tracing::debug!(what, text, "announcement cut short"),
                Err(e) => tracing::warn!(what, text, error = %e, "announcement not spoken"),
            }
        });
    }
}

/// Cut the silence espeak-ng puts around speech (about 50 ms before, 300 ms
/// after), keeping 10 ms before and 60 ms after: the reply starts sooner
/// and the microphone opens sooner after it.
pub fn trim_silence(samples: &mut Vec<f32>, rate: u32) {
    const FLOOR: f32 = 1e-3;
    let Some(first) = samples.iter().position(|s| s.abs() > FLOOR) else { return };
    let last = samples.iter().rposition(|s| s.abs() > FLOOR).unwrap_or(first);
    let ms = |n: u32| (rate * n / 1000) as usize;
    let end = (last + 1 + ms(60)).min(samples.len());
    samples.truncate(end);
    samples.drain(..first.saturating_sub(ms(10)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_around_speech_is_cut_to_a_margin() {
        let rate = 1000;
        let mut v = vec![0.0; 100];
        v.extend([0.5, -0.5, 0.0, 0.5]);
        v.extend(vec![0.0; 500]);
        trim_silence(&mut v, rate);
        assert_eq!(v.len(), 10 + 4 + 60, "10 ms before, 60 ms after");
        assert_eq!(v[10], 0.5);
        let mut quiet = vec![0.0; 50];
        trim_silence(&mut quiet, rate);
        assert_eq!(quiet.len(), 50, "all silence is left alone");
    }
}
