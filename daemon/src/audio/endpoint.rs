//! The endpointer: cuts a stream of VAD-scored frames into utterances.
//!
//! Pure: frames (any fixed length; 512 samples = 32 ms at 16 kHz in the
//! daemon) and their speech probabilities go in, [`EndpointEvent`]s come out.
//! No clock, no I/O; positions are frame indices in the stream, which the
//! caller maps to time.
//!
//! The rules, after Silero's own `VADIterator`/`get_speech_timestamps`:
//! - speech *starts* when `start_frames` consecutive frames reach
//!   `start_threshold`;
//! - once in speech, a frame counts as speech while it stays at or above the
//!   lower `stop_threshold` (hysteresis, so a dip does not end the utterance);
//! - speech *ends* after `min_silence_ms` of frames below `stop_threshold`;
//! - the utterance keeps `pre_pad_ms` of audio before the start (the onset
//!   is usually quieter than the trigger frame) and `post_pad_ms` after the
//!   last speech frame;
//! - utterances whose speech part is shorter than `min_utterance_ms` are
//!   discarded (clicks, coughs); ones reaching `max_utterance_ms` are cut
//!   there and emitted (the endpointer then waits for speech to start again).
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Endpointer parameters (`[audio.endpoint]`). Durations are in ms and are
/// rounded up to whole frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointConfig {
    /// Probability at or above which a frame can start speech.
    pub start_threshold: f32,
    /// Probability below which a frame counts as silence once in speech.
    pub stop_threshold: f32,
    /// Consecutive frames at/above `start_threshold` needed to start.
    pub start_frames: u32,
    /// Silence needed to end an utterance.
    pub min_silence_ms: u32,
    /// Audio kept before the first speech frame.
    pub pre_pad_ms: u32,
    /// Audio kept after the last speech frame (at most `min_silence_ms`).
    pub post_pad_ms: u32,
    /// Shorter speech is discarded.
    pub min_utterance_ms: u32,
    /// Longer speech is cut and emitted.
    pub max_utterance_ms: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            start_threshold: 0.5,
            stop_threshold: 0.35,
            start_frames: 1,
            min_silence_ms: 320,
            pre_pad_ms: 192,
            post_pad_ms: 96,
            min_utterance_ms: 200,
            max_utterance_ms: 15_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EndpointConfigError {
    #[error("audio endpoint: {field} = {value} must be within [0, 1]")]
    Threshold { field: &'static str, value: f32 },
    #[error("audio endpoint: stop_threshold ({stop}) must not exceed start_threshold ({start})")]
    Hysteresis { start: f32, stop: f32 },
    #[error("audio endpoint: {field} must be at least {min}, got {value}")]
    TooSmall { field: &'static str, min: u32, value: u32 },
    #[error("audio endpoint: max_utterance_ms ({max}) must exceed min_utterance_ms ({min})")]
    Lengths { min: u32, max: u32 },
    #[error("audio endpoint: frame_ms must be positive")]
    FrameMs,
}

impl EndpointConfig {
    pub fn validate(&self) -> Result<(), EndpointConfigError> {
        for (field, value) in [("start_threshold", self.start_threshold), ("stop_threshold", self.stop_threshold)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(EndpointConfigError::Threshold { field, value });
            }
        }
        if self.stop_threshold > self.start_threshold {
            return Err(EndpointConfigError::Hysteresis { start: self.start_threshold, stop: self.stop_threshold });
        }
        if self.start_frames == 0 {
            return Err(EndpointConfigError::TooSmall { field: "start_frames", min: 1, value: 0 });
        }
        if self.min_silence_ms == 0 {
            return Err(EndpointConfigError::TooSmall { field: "min_silence_ms", min: 1, value: 0 });
        }
        if self.max_utterance_ms <= self.min_utterance_ms {
            return Err(EndpointConfigError::Lengths { min: self.min_utterance_ms, max: self.max_utterance_ms });
        }
        Ok(())
    }
}

/// Why an utterance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// `min_silence_ms` of silence followed the speech.
    Silence,
    /// The utterance reached `max_utterance_ms`.
    MaxLength,
    /// The stream ended ([`Endpointer::flush`]).
    EndOfStream,
}

/// A cut utterance: the samples plus where they sit in the stream (frames).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub samples: Vec<f32>,
    /// First frame included (pre-padding included).
    pub start_frame: u64,
    /// First frame of detected speech.
    pub speech_start_frame: u64,
    /// One past the last speech frame: "end of speech".
    pub speech_end_frame: u64,
    /// One past the frame whose arrival ended the utterance (the decision point).
    pub decided_frame: u64,
    pub reason: EndReason,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EndpointEvent {
    /// Speech started at this frame (for "listening..." indicators).
    SpeechStart { frame: u64 },
    /// Speech has paused for `post_pad_ms`: if it stays silent until
    /// `min_silence_ms`, the utterance will be exactly this segment (same
    /// samples, same `speech_end_frame`). Lets the caller start recognition
    /// during the silence hangover instead of after it; a later `Utterance`
    /// with another `speech_end_frame` supersedes it.
    Tentative(Segment),
    /// A complete utterance.
    Utterance(Segment),
    /// Speech that ended before `min_utterance_ms`; no samples kept.
    Discarded { speech_start_frame: u64, speech_frames: u64 },
}

enum State {
    Idle {
        /// Consecutive frames at/above start_threshold so far.
        run: u32,
    },
    Speech {
        start_frame: u64,
        speech_start_frame: u64,
        /// One past the last frame at/above stop_threshold.
        last_speech_end: u64,
        /// `last_speech_end` a `Tentative` was emitted for.
        tentative_for: Option<u64>,
    },
}

/// Streaming endpointer over fixed-length frames.
pub struct Endpointer {
    cfg: EndpointConfig,
    frame_len: usize,
    pre_frames: usize,
    post_frames: u64,
    silence_frames: u64,
    min_frames: u64,
    max_frames: u64,
    /// Recent frames while idle (pre-roll), at most `pre_frames + start_frames`.
    preroll: VecDeque<Vec<f32>>,
    /// Samples of the current utterance.
    current: Vec<f32>,
    state: State,
    /// Index of the next frame to arrive.
    next_frame: u64,
}

fn ms_to_frames(ms: u32, frame_ms: f32) -> u64 {
    (f64::from(ms) / f64::from(frame_ms)).ceil() as u64
}

impl Endpointer {
    /// `frame_len` samples per frame lasting `frame_ms` (512 and 32.0 in the daemon).
    pub fn new(cfg: EndpointConfig, frame_len: usize, frame_ms: f32) -> Result<Self, EndpointConfigError> {
        cfg.validate()?;
        if !(frame_ms > 0.0) || frame_len == 0 {
            return Err(EndpointConfigError::FrameMs);
        }
        let silence_frames = ms_to_frames(cfg.min_silence_ms, frame_ms).max(1);
        Ok(Endpointer {
            pre_frames: ms_to_frames(cfg.pre_pad_ms, frame_ms) as usize,
            post_frames: ms_to_frames(cfg.post_pad_ms, frame_ms).min(silence_frames),
            silence_frames,
            min_frames: ms_to_frames(cfg.min_utterance_ms, frame_ms),
            max_frames: ms_to_frames(cfg.max_utterance_ms, frame_ms).max(1),
            frame_len,
            cfg,
            preroll: VecDeque::new(),
            current: Vec::new(),
            state: State::Idle { run: 0 },
            next_frame: 0,
        })
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Frames seen so far.
    pub fn frames(&self) -> u64 {
        self.next_frame
    }

    /// True while inside an utterance.
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// Forget everything (new stream). Frame numbering restarts at 0.
    pub fn reset(&mut self) {
        self.preroll.clear();
        self.current.clear();
        self.state = State::Idle { run: 0 };
        self.next_frame = 0;
    }

    /// Feed one frame and its speech probability. A frame of the wrong
    /// length is padded with zeros or truncated (the daemon always passes
    /// exact frames; this keeps the endpointer total on any input).
    pub fn push(&mut self, frame: &[f32], prob: f32, out: &mut Vec<EndpointEvent>) {
        let idx = self.next_frame;
        self.next_frame += 1;
        let mut f = frame.to_vec();
        f.resize(self.frame_len, 0.0);
        let prob = if prob.is_finite() { prob } else { 0.0 };
        match &mut self.state {
            State::Idle { run } => {
                if prob >= self.cfg.start_threshold {
                    *run += 1;
                } else {
                    *run = 0;
                }
                let run = *run;
                self.preroll.push_back(f);
                while self.preroll.len() > self.pre_frames + run as usize {
                    self.preroll.pop_front();
                }
                if run >= self.cfg.start_frames {
                    let speech_start_frame = idx + 1 - u64::from(run);
                    let start_frame = idx + 1 - self.preroll.len() as u64;
                    self.current.clear();
                    for p in self.preroll.drain(..) {
                        self.current.extend_from_slice(&p);
                    }
                    self.state = State::Speech {
                        start_frame,
                        speech_start_frame,
                        last_speech_end: idx + 1,
                        tentative_for: None,
                    };
                    out.push(EndpointEvent::SpeechStart { frame: speech_start_frame });
                }
            }
            State::Speech { start_frame, speech_start_frame, last_speech_end, tentative_for } => {
                self.current.extend_from_slice(&f);
                if prob >= self.cfg.stop_threshold {
                    *last_speech_end = idx + 1;
                }
                let (start_frame, speech_start_frame, last_speech_end) =
                    (*start_frame, *speech_start_frame, *last_speech_end);
                let silent_for = idx + 1 - last_speech_end;
                let speech_frames = last_speech_end - speech_start_frame;
                if silent_for >= self.post_frames.max(1)
                    && silent_for < self.silence_frames
                    && *tentative_for != Some(last_speech_end)
                    && speech_frames >= self.min_frames
                    && speech_frames < self.max_frames
                {
                    *tentative_for = Some(last_speech_end);
                    let keep = ((last_speech_end + self.post_frames - start_frame) as usize) * self.frame_len;
                    let samples = self.current.get(..keep).unwrap_or(&self.current).to_vec();
                    out.push(EndpointEvent::Tentative(Segment {
                        samples,
                        start_frame,
                        speech_start_frame,
                        speech_end_frame: last_speech_end,
                        decided_frame: idx + 1,
                        reason: EndReason::Silence,
                    }));
                }
                if silent_for >= self.silence_frames {
                    self.finish(start_frame, speech_start_frame, last_speech_end, EndReason::Silence, out);
                } else if last_speech_end - speech_start_frame >= self.max_frames
                    || idx + 1 - speech_start_frame >= self.max_frames
                {
                    self.finish(start_frame, speech_start_frame, last_speech_end, EndReason::MaxLength, out);
                }
            }
        }
    }

    /// End of stream: emit what is in progress (if long enough).
    pub fn flush(&mut self, out: &mut Vec<EndpointEvent>) {
        if let State::Speech { start_frame, speech_start_frame, last_speech_end, .. } = self.state {
            self.finish(start_frame, speech_start_frame, last_speech_end, EndReason::EndOfStream, out);
        }
        self.preroll.clear();
    }

    fn finish(
        &mut self,
        start_frame: u64,
        speech_start_frame: u64,
        speech_end_frame: u64,
        reason: EndReason,
        out: &mut Vec<EndpointEvent>,
    ) {
        let decided_frame = self.next_frame;
        let speech_frames = speech_end_frame - speech_start_frame;
        self.state = State::Idle { run: 0 };
        self.preroll.clear();
        if speech_frames < self.min_frames {
            self.current.clear();
            out.push(EndpointEvent::Discarded { speech_start_frame, speech_frames });
            return;
        }
        // Keep pre-roll .. last speech frame + post padding (never beyond
        // what has arrived). With MaxLength everything so far is kept.
        let keep_end = match reason {
            EndReason::MaxLength | EndReason::EndOfStream => decided_frame,
            EndReason::Silence => (speech_end_frame + self.post_frames).min(decided_frame),
        };
        let keep = ((keep_end - start_frame) as usize).saturating_mul(self.frame_len);
        let mut samples = std::mem::take(&mut self.current);
        samples.truncate(keep);
        out.push(EndpointEvent::Utterance(Segment {
            samples,
            start_frame,
            speech_start_frame,
            speech_end_frame,
            decided_frame,
            reason,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of 4 samples whose value is the frame index (so the kept
    /// range is visible in the output), fed with the given probabilities.
    fn run(cfg: EndpointConfig, probs: &[f32], flush: bool) -> Vec<EndpointEvent> {
        let mut ep = Endpointer::new(cfg, 4, 32.0).unwrap();
        let mut out = Vec::new();
        for (i, &p) in probs.iter().enumerate() {
            ep.push(&[i as f32; 4], p, &mut out);
        }
        if flush {
            ep.flush(&mut out);
        }
        out
    }

    fn frames_of(seg: &Segment) -> Vec<u64> {
        let mut v: Vec<u64> = seg.samples.chunks(4).map(|c| c[0] as u64).collect();
        v.dedup();
        v
    }

    fn utterances(ev: &[EndpointEvent]) -> Vec<&Segment> {
        ev.iter()
            .filter_map(|e| match e {
                EndpointEvent::Utterance(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn cfg() -> EndpointConfig {
        // 32 ms frames: pre 2 frames, post 1 frame, silence 3 frames,
        // min 2 frames, max 10 frames.
        EndpointConfig {
            start_threshold: 0.5,
            stop_threshold: 0.3,
            start_frames: 1,
            min_silence_ms: 96,
            pre_pad_ms: 64,
            post_pad_ms: 32,
            min_utterance_ms: 64,
            max_utterance_ms: 320,
        }
    }

    #[test]
    fn cuts_one_utterance_with_pre_and_post_padding() {
        //           0    1    2    3    4    5    6    7    8    9   10
        let p = [0.0, 0.1, 0.0, 0.9, 0.8, 0.9, 0.1, 0.0, 0.0, 0.0, 0.0];
        let ev = run(cfg(), &p, false);
        assert_eq!(ev[0], EndpointEvent::SpeechStart { frame: 3 });
        let u = utterances(&ev);
        assert_eq!(u.len(), 1);
        let s = u[0];
        assert_eq!(s.speech_start_frame, 3);
        assert_eq!(s.speech_end_frame, 6);
        // Three silent frames (6, 7, 8) end it when frame 8 arrives.
        assert_eq!(s.decided_frame, 9);
        assert_eq!(s.reason, EndReason::Silence);
        // Pre-pad 2 frames (1, 2), speech 3..=5, post-pad 1 frame (6).
        assert_eq!(frames_of(s), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(s.start_frame, 1);
        assert_eq!(s.samples.len(), 6 * 4);
    }

    fn tentatives(ev: &[EndpointEvent]) -> Vec<&Segment> {
        ev.iter()
            .filter_map(|e| match e {
                EndpointEvent::Tentative(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    /// The tentative segment, emitted once post-padding has arrived, is the
    /// final utterance, sample for sample.
    #[test]
    fn tentative_equals_the_final_utterance_when_silence_holds() {
        let p = [0.0, 0.1, 0.0, 0.9, 0.8, 0.9, 0.1, 0.0, 0.0, 0.0, 0.0];
        let ev = run(cfg(), &p, false);
        let t = tentatives(&ev);
        assert_eq!(t.len(), 1, "{ev:?}");
        // Decided when frame 6 (the first silent one = the post-pad) arrived.
        assert_eq!(t[0].decided_frame, 7);
        let u = utterances(&ev);
        assert_eq!(u.len(), 1);
        assert_eq!(t[0].samples, u[0].samples);
        assert_eq!(t[0].speech_end_frame, u[0].speech_end_frame);
        let ti = ev.iter().position(|e| matches!(e, EndpointEvent::Tentative(_)));
        let ui = ev.iter().position(|e| matches!(e, EndpointEvent::Utterance(_)));
        assert!(ti < ui);
    }

    /// Speech resuming during the hangover: a second tentative for the new
    /// end, and the utterance matches only the last one.
    #[test]
    fn resumed_speech_supersedes_the_tentative() {
        let p = [0.9, 0.9, 0.9, 0.0, 0.0, 0.9, 0.9, 0.0, 0.0, 0.0, 0.0];
        let ev = run(cfg(), &p, false);
        let t = tentatives(&ev);
        assert_eq!(t.len(), 2, "{ev:?}");
        let u = utterances(&ev);
        assert_eq!(u.len(), 1);
        assert_ne!(t[0].speech_end_frame, u[0].speech_end_frame);
        assert_eq!(t[1].samples, u[0].samples);
        // Too short for min_utterance_ms: no tentative either.
        let ev = run(cfg(), &[0.9, 0.0, 0.0, 0.0, 0.0], false);
        assert!(tentatives(&ev).is_empty(), "{ev:?}");
    }

    #[test]
    fn hysteresis_keeps_dips_between_thresholds_inside_speech() {
        // 0.4 is below start (0.5) but above stop (0.3): still speech.
        let p = [0.9, 0.4, 0.4, 0.4, 0.4, 0.9, 0.0, 0.0, 0.0];
        let ev = run(cfg(), &p, false);
        let u = utterances(&ev);
        assert_eq!(u.len(), 1);
        assert_eq!((u[0].speech_start_frame, u[0].speech_end_frame), (0, 6));
        // 0.4 alone never starts speech.
        let ev = run(cfg(), &[0.4; 20], true);
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn short_pause_does_not_split_but_long_pause_does() {
        // Pause of 2 frames (< 3) keeps one utterance.
        let p = [0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.0, 0.0, 0.0];
        assert_eq!(utterances(&run(cfg(), &p, false)).len(), 1);
        // Pause of 3 frames splits it in two.
        let p = [0.9, 0.9, 0.1, 0.1, 0.1, 0.9, 0.9, 0.0, 0.0, 0.0];
        let ev = run(cfg(), &p, false);
        let u = utterances(&ev);
        assert_eq!(u.len(), 2);
        assert_eq!((u[0].speech_start_frame, u[0].speech_end_frame), (0, 2));
        assert_eq!((u[1].speech_start_frame, u[1].speech_end_frame), (5, 7));
        // Pre-roll never reaches back into audio the first utterance saw.
        assert!(u[1].start_frame >= u[0].decided_frame);
    }

    #[test]
    fn too_short_speech_is_discarded() {
        let p = [0.0, 0.9, 0.0, 0.0, 0.0, 0.0];
        let ev = run(cfg(), &p, false);
        assert!(utterances(&ev).is_empty());
        assert!(ev.contains(&EndpointEvent::Discarded { speech_start_frame: 1, speech_frames: 1 }));
    }

    #[test]
    fn max_length_cuts_and_restarts() {
        let p = [0.9; 25];
        let ev = run(cfg(), &p, true);
        let u = utterances(&ev);
        // 10-frame cuts at 0..10 and 10..20, then the rest (5 frames) at flush.
        assert_eq!(u.len(), 3, "{ev:?}");
        assert_eq!(u[0].reason, EndReason::MaxLength);
        assert_eq!(frames_of(u[0]), (0..10).collect::<Vec<_>>());
        assert_eq!(u[1].speech_start_frame, 10);
        assert_eq!(u[1].reason, EndReason::MaxLength);
        assert_eq!(u[2].reason, EndReason::EndOfStream);
        assert_eq!(frames_of(u[2]), (20..25).collect::<Vec<_>>());
    }

    #[test]
    fn start_frames_requires_consecutive_frames() {
        let mut c = cfg();
        c.start_frames = 3;
        // Two high frames, a gap, two high: never 3 in a row.
        let p = [0.9, 0.9, 0.0, 0.9, 0.9, 0.0, 0.0, 0.0];
        assert!(run(c.clone(), &p, true).is_empty());
        let p = [0.0, 0.9, 0.9, 0.9, 0.0, 0.0, 0.0];
        let ev = run(c, &p, false);
        assert_eq!(ev[0], EndpointEvent::SpeechStart { frame: 1 });
        let u = utterances(&ev);
        assert_eq!(frames_of(u[0]), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn flush_emits_speech_in_progress_and_reset_restarts_numbering() {
        let p = [0.0, 0.9, 0.9, 0.9];
        let ev = run(cfg(), &p, true);
        let u = utterances(&ev);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].reason, EndReason::EndOfStream);
        let mut ep = Endpointer::new(cfg(), 4, 32.0).unwrap();
        let mut out = Vec::new();
        ep.push(&[0.0; 4], 0.9, &mut out);
        assert!(ep.in_speech());
        ep.reset();
        assert!(!ep.in_speech());
        assert_eq!(ep.frames(), 0);
    }

    #[test]
    fn nan_probability_counts_as_silence_and_bad_frames_are_padded() {
        let mut ep = Endpointer::new(cfg(), 4, 32.0).unwrap();
        let mut out = Vec::new();
        ep.push(&[1.0; 2], f32::NAN, &mut out);
        ep.push(&[1.0; 9], 0.9, &mut out);
        ep.push(&[1.0; 4], 0.9, &mut out);
        ep.flush(&mut out);
        let u = utterances(&out);
        assert_eq!(u[0].samples.len(), 3 * 4);
    }

    #[test]
    fn invalid_configs_are_rejected_with_the_field_named() {
        let mut c = cfg();
        c.stop_threshold = 0.8;
        assert!(Endpointer::new(c, 4, 32.0).err().unwrap().to_string().contains("stop_threshold"));
        let mut c = cfg();
        c.start_threshold = 1.5;
        assert!(Endpointer::new(c, 4, 32.0).err().unwrap().to_string().contains("start_threshold"));
        let mut c = cfg();
        c.max_utterance_ms = 10;
        assert!(Endpointer::new(c, 4, 32.0).err().unwrap().to_string().contains("max_utterance_ms"));
        assert!(Endpointer::new(cfg(), 4, 0.0).is_err());
    }
}
