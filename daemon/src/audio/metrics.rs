//! Audio branch counters (dynamic gating made visible).
//!
//! Plain atomics, shared through an `Arc`: the capture callback, the
//! processing thread and the voice task bump them without locks; `/metrics`
//! renders them as Prometheus text and `hubd status` reads a snapshot.
//! "Frames" here are VAD frames: 512 samples = 32 ms at 16 kHz.
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde::Serialize;

#[derive(Debug, Default)]
pub struct AudioMetrics {
    /// VAD frames scored (every 32 ms of captured audio).
    pub frames: AtomicU64,
    /// Frames at or above the VAD start threshold.
    pub speech_frames: AtomicU64,
    /// Utterances cut by the endpointer.
    pub utterances: AtomicU64,
    /// Utterances too short to keep.
    pub utterances_discarded: AtomicU64,
    /// Utterances dropped because the ASR queue was full.
    pub utterances_dropped: AtomicU64,
    /// Utterances Whisper decoded (the gated branch ran).
    pub utterances_decoded: AtomicU64,
    /// Transcripts accepted as commands (wake phrase, follow-up or no wake word).
    pub commands: AtomicU64,
    /// Transcripts ignored for lack of a wake phrase.
    pub wake_ignored: AtomicU64,
    /// Device samples dropped because the ring buffer was full.
    pub samples_dropped: AtomicU64,
    /// Device samples received from the capture callback.
    pub samples_captured: AtomicU64,
    /// Capture streams opened (1 + reconnects).
    pub streams_opened: AtomicU64,
    /// Failed attempts to open a capture device.
    pub open_failures: AtomicU64,
    /// 1 while a capture stream is running.
    pub device_up: AtomicU64,
    /// Errors from the ASR worker.
    pub asr_errors: AtomicU64,
    /// VAD frames captured while hubd itself was speaking: not scored, or
    /// with `[audio] barge_in` listened to for a stop phrase only.
    pub frames_muted: AtomicU64,
    /// Stop phrases heard over hubd's voice (barge-in).
    pub barge_ins: AtomicU64,
    /// Spoken clips (replies, announcements) that started playing.
    pub clips_played: AtomicU64,
    /// Clips that could not be synthesised or played.
    pub play_failures: AtomicU64,
}

/// A point-in-time copy, for JSON (`hubd status`, the dashboard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, utoipa::ToSchema)]
pub struct AudioMetricsSnapshot {
    pub frames: u64,
    pub speech_frames: u64,
    pub utterances: u64,
    pub utterances_discarded: u64,
    pub utterances_dropped: u64,
    pub utterances_decoded: u64,
    pub commands: u64,
    pub wake_ignored: u64,
    pub samples_dropped: u64,
    pub samples_captured: u64,
    pub streams_opened: u64,
    pub open_failures: u64,
    pub device_up: bool,
    pub asr_errors: u64,
    pub frames_muted: u64,
    pub barge_ins: u64,
    pub clips_played: u64,
    pub play_failures: u64,
}

impl AudioMetrics {
    /// The process-wide audio counters (what `/metrics` renders). Like a
    /// Prometheus default registry: one per process, created on first use.
    pub fn global() -> Arc<AudioMetrics> {
        static GLOBAL: OnceLock<Arc<AudioMetrics>> = OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(AudioMetrics::default())).clone()
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> AudioMetricsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AudioMetricsSnapshot {
            frames: g(&self.frames),
            speech_frames: g(&self.speech_frames),
            utterances: g(&self.utterances),
            utterances_discarded: g(&self.utterances_discarded),
            utterances_dropped: g(&self.utterances_dropped),
            utterances_decoded: g(&self.utterances_decoded),
            commands: g(&self.commands),
            wake_ignored: g(&self.wake_ignored),
            samples_dropped: g(&self.samples_dropped),
            samples_captured: g(&self.samples_captured),
            streams_opened: g(&self.streams_opened),
            open_failures: g(&self.open_failures),
            device_up: g(&self.device_up) != 0,
            asr_errors: g(&self.asr_errors),
            frames_muted: g(&self.frames_muted),
            barge_ins: g(&self.barge_ins),
            clips_played: g(&self.clips_played),
            play_failures: g(&self.play_failures),
        }
    }

    /// Append Prometheus text-format lines for every counter.
    pub fn render_prometheus(&self, out: &mut String) {
        let s = self.snapshot();
        let rows: [(&str, &str, &str, u64); 18] = [
            ("hubd_audio_vad_frames_total", "counter", "VAD frames (32 ms) scored", s.frames),
            ("hubd_audio_speech_frames_total", "counter", "VAD frames judged speech", s.speech_frames),
            ("hubd_audio_utterances_total", "counter", "utterances cut by the endpointer", s.utterances),
            ("hubd_audio_utterances_discarded_total", "counter", "speech too short to keep", s.utterances_discarded),
            (
                "hubd_audio_utterances_dropped_total",
                "counter",
                "utterances dropped: ASR queue full",
                s.utterances_dropped,
            ),
            (
                "hubd_audio_utterances_decoded_total",
                "counter",
                "utterances decoded by Whisper (gate open)",
                s.utterances_decoded,
            ),
            ("hubd_audio_commands_total", "counter", "transcripts accepted as commands", s.commands),
            ("hubd_audio_wake_ignored_total", "counter", "transcripts without wake phrase", s.wake_ignored),
            ("hubd_audio_samples_captured_total", "counter", "device samples captured", s.samples_captured),
            (
                "hubd_audio_samples_dropped_total",
                "counter",
                "device samples dropped: ring buffer full",
                s.samples_dropped,
            ),
            ("hubd_audio_streams_opened_total", "counter", "capture streams opened", s.streams_opened),
            ("hubd_audio_open_failures_total", "counter", "failed capture device opens", s.open_failures),
            ("hubd_audio_asr_errors_total", "counter", "ASR worker errors", s.asr_errors),
            ("hubd_audio_frames_muted_total", "counter", "VAD frames heard while hubd spoke", s.frames_muted),
            ("hubd_audio_barge_ins_total", "counter", "stop phrases that cut hubd's speech", s.barge_ins),
            ("hubd_audio_clips_played_total", "counter", "spoken replies and announcements played", s.clips_played),
            ("hubd_audio_play_failures_total", "counter", "speech not synthesised or not played", s.play_failures),
            ("hubd_audio_device_up", "gauge", "1 while a capture stream runs", u64::from(s.device_up)),
        ];
        for (name, kind, help, v) in rows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter_once_with_values() {
        let m = AudioMetrics::default();
        AudioMetrics::inc(&m.frames);
        AudioMetrics::inc(&m.frames);
        AudioMetrics::inc(&m.utterances_decoded);
        m.device_up.store(1, Ordering::Relaxed);
        let mut s = String::new();
        m.render_prometheus(&mut s);
        assert!(s.contains("\nhubd_audio_vad_frames_total 2\n"), "{s}");
        assert!(s.contains("\nhubd_audio_utterances_decoded_total 1\n"));
        assert!(s.contains("\nhubd_audio_device_up 1\n"));
        assert_eq!(s.matches("# TYPE ").count(), 18);
        let snap = m.snapshot();
        assert_eq!(snap.frames, 2);
        assert!(snap.device_up);
    }
}
