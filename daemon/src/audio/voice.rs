//! The voice pipeline: utterance -> Whisper -> wake filter -> text pipeline.
//!
//! A tokio task consumes the listener's bounded event channel. Whisper runs
//! on its own thread behind [`AsrHandle`] (bounded queue); the task awaits
//! one transcript at a time, so the listener's channel is the only queue
//! and its drop policy (drop new utterances while Whisper is busy) applies.
//! Commands go to [`Pipeline::handle_text`] with modality `voice`, which
//! plans, publishes through the outbox, waits for acks and stores the turn.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_model::whisper::{AsrHandle, DecodeOptions, Transcript, WhisperError};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::listener::{ListenEvent, Listener, Utterance};
use super::metrics::AudioMetrics;
use super::wake::{WakeDecision, WakeFilter, WakeVia};
use super::{AudioError, recording};
use crate::config::Config;
use crate::pipeline::{Modality, Origin, Outcome, Pipeline, VoiceOrigin};
use crate::speech::Speaker;

/// Zero padding after the utterance when `[audio] fit_window` is on.
pub const FIT_WINDOW_PAD_MS: u32 = 1000;
/// Over hubd's voice (barge-in), longer speech is not a stop phrase and is
/// not even transcribed: it is most likely hubd's own echo.
pub const BARGE_IN_MAX_SPEECH_MS: u32 = 2000;

/// Where the time went for one utterance, in ms from the end of speech.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VoiceTimings {
    /// End of speech -> endpointer decision (the silence hangover).
    pub endpoint_ms: f64,
    /// End of speech -> transcript ready.
    pub transcript_ms: f64,
    /// Whisper's own time for this utterance.
    pub asr_ms: f64,
    /// End of speech -> commands committed to the outbox (about to publish).
    pub enqueue_ms: Option<f64>,
    /// End of speech -> pipeline done (acks received or timed out).
    pub done_ms: Option<f64>,
    /// End of speech -> the spoken reply started playing.
    pub spoken_ms: Option<f64>,
    /// Text to speech time for the reply.
    pub tts_ms: Option<f64>,
}

/// What happened to one utterance.
#[derive(Debug, Clone, Serialize)]
pub struct VoiceTurn {
    pub seq: u64,
    pub transcript: String,
    /// `command`, `wake_only`, `ignored`, `empty`, `asr_error`, `stop`,
    /// and `echo` (heard over hubd's voice and not a stop phrase).
    pub decision: &'static str,
    /// The text acted on (wake phrase removed).
    pub command: Option<String>,
    pub via: Option<&'static str>,
    pub speech_ms: u32,
    pub audio_path: Option<PathBuf>,
    pub timings: VoiceTimings,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
}

pub struct VoiceOptions {
    pub wake: WakeFilter,
    /// Area the microphone is in (resolves "turn on the light").
    pub area: Option<String>,
    /// Directory for utterance WAVs (`keep_recordings`).
    pub recordings: Option<PathBuf>,
    pub decode: Option<DecodeOptions>,
    /// Speaks the replies (`[audio] output`).
    pub speaker: Option<Speaker>,
}

impl VoiceOptions {
    pub fn from_config(cfg: &Config) -> Result<VoiceOptions, AudioError> {
        let phrases = cfg.audio.wake_phrases();
        let follow_up = Duration::from_secs_f64(cfg.audio.follow_up_s.clamp(0.0, 120.0));
        let wake = if phrases.is_empty() { WakeFilter::always() } else { WakeFilter::new(&phrases[..], follow_up)? }
            .with_stop_phrases(&cfg.audio.stop_phrases);
        let recordings = cfg.audio.keep_recordings.then(|| cfg.recordings_dir());
        let prompt = cfg.registry().ok().and_then(|reg| cfg.audio.asr_prompt(&reg));
        if let Some(p) = &prompt {
            tracing::debug!(chars = p.len(), "Whisper prompt from [audio] prompt");
        }
        let fit = cfg.audio.fit_window.then_some(FIT_WINDOW_PAD_MS);
        // A fitted window decodes greedily without temperature fallback: the
        // fallback exists for long-form drift, and sampling would not stop on
        // the loops a short window invites (greedy cuts them).
        let base = if fit.is_some() { DecodeOptions::greedy() } else { DecodeOptions::default() };
        let decode = (prompt.is_some() || fit.is_some()).then_some(DecodeOptions {
            initial_prompt: prompt,
            fit_window_pad_ms: fit,
            ..base
        });
        Ok(VoiceOptions { wake, area: None, recordings, decode, speaker: None })
    }
}

/// Milliseconds to one decimal, for logs and stored timings.
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Start the whole voice branch for `hubd run`: VAD + capture threads,
/// Whisper worker, and the task that feeds the pipeline. Returns `None`
/// (after logging why) when `[audio] enabled = false` or a model cannot be
/// loaded: the rest of the daemon keeps working without voice.
pub async fn start(
    cfg: &Config,
    pipeline: Pipeline,
    asr: crate::services::AsrService,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<AudioMetrics>,
    speaker: Option<Speaker>,
) -> Option<JoinHandle<()>> {
    if !cfg.audio.enabled {
        tracing::info!("voice control disabled ([audio] enabled = false)");
        return None;
    }
    let mut opts = match VoiceOptions::from_config(cfg) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "voice control disabled: bad [audio] settings");
            return None;
        }
    };
    let mut lopts = super::listener::listener_options(cfg);
    lopts.mute = speaker.as_ref().map(Speaker::gate);
    opts.speaker = speaker;
    let asr = match asr.get().await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "voice control disabled");
            return None;
        }
    };
    let m = metrics.clone();
    let started = tokio::task::spawn_blocking(move || Listener::start(lopts, m)).await;
    let (listener, events) = match started {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "voice control disabled");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "voice control disabled: start-up task failed");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        run_loop(events, asr, Some(pipeline), opts, metrics, shutdown, None).await;
        // The listener's threads stop within ~100 ms; don't block the runtime.
        let _ = tokio::task::spawn_blocking(move || listener.stop()).await;
    }))
}

/// Consume listener events until the channel closes or shutdown.
/// `pipeline = None` only transcribes (for `hubd listen`). Each processed
/// utterance is also sent on `report` when given.
pub async fn run_loop(
    mut events: mpsc::Receiver<ListenEvent>,
    asr: AsrHandle,
    pipeline: Option<Pipeline>,
    mut opts: VoiceOptions,
    metrics: Arc<AudioMetrics>,
    mut shutdown: watch::Receiver<bool>,
    report: Option<mpsc::Sender<VoiceTurn>>,
) {
    if let Some(dir) = &opts.recordings
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the recordings directory; not keeping recordings");
        opts.recordings = None;
    }
    let mut session: Option<String> = None;
    // Recognition started on a tentative utterance during the silence
    // hangover; used when the final utterance turns out identical.
    let mut spec: Option<Speculative> = None;
    loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let Some(ev) = ev else { break };
        let u = match ev {
            ListenEvent::Utterance(u) => u,
            ListenEvent::Tentative(t) => {
                if let Some(old) = spec.take() {
                    old.job.abort();
                }
                if t.over_speech && t.speech_ms > BARGE_IN_MAX_SPEECH_MS {
                    continue;
                }
                // A reply may follow: open the loudspeaker while Whisper works.
                if let (Some(s), false) = (&opts.speaker, t.over_speech) {
                    s.warm();
                }
                let (asr2, decode) = (asr.clone(), opts.decode.clone());
                let (seq, end_frame, len) = (t.seq, t.end_frame, t.samples.len());
                let job = tokio::spawn(async move { asr2.transcribe(t.samples, decode).await });
                spec = Some(Speculative { seq, end_frame, len, job });
                continue;
            }
            ListenEvent::Stream(f) => {
                tracing::debug!(device = %f.device, "voice: new capture stream");
                continue;
            }
            _ => continue,
        };
        let early = match spec.take() {
            Some(s) if s.seq == u.seq && s.end_frame == u.end_frame && s.len == u.samples.len() => Some(s.job),
            Some(s) => {
                s.job.abort();
                None
            }
            None => None,
        };
        let turn = if u.over_speech {
            handle_barge_in(u, early, &asr, pipeline.as_ref(), &mut opts, &metrics, &mut session).await
        } else {
            handle_utterance(u, early, &asr, pipeline.as_ref(), &mut opts, &metrics, &mut session).await
        };
        log_turn(&turn);
        if let Some(r) = &report
            && r.send(turn).await.is_err()
        {
            break;
        }
    }
}

fn log_turn(t: &VoiceTurn) {
    let intent = t.outcome.as_ref().and_then(|o| o.intent.clone());
    let reply = t.outcome.as_ref().map(|o| o.reply.as_str()).unwrap_or("");
    let r = round1;
    tracing::info!(
        seq = t.seq,
        transcript = %t.transcript,
        decision = t.decision,
        command = t.command.as_deref().unwrap_or(""),
        intent = intent.as_deref().unwrap_or(""),
        reply,
        endpoint_ms = r(t.timings.endpoint_ms),
        asr_ms = r(t.timings.asr_ms),
        transcript_ms = r(t.timings.transcript_ms),
        enqueue_ms = r(t.timings.enqueue_ms.unwrap_or(-1.0)),
        spoken_ms = r(t.timings.spoken_ms.unwrap_or(-1.0)),
        tts_ms = r(t.timings.tts_ms.unwrap_or(-1.0)),
        "voice utterance"
    );
}

/// A transcription started on a tentative utterance.
struct Speculative {
    seq: u64,
    end_frame: u64,
    len: usize,
    job: JoinHandle<Result<Transcript, WhisperError>>,
}

/// Heard while hubd was speaking: a short utterance is transcribed, and a
/// stop phrase cuts the speech and ends the conversation; the rest is
/// taken for hubd's own echo.
async fn handle_barge_in(
    u: Utterance,
    early: Option<JoinHandle<Result<Transcript, WhisperError>>>,
    asr: &AsrHandle,
    pipeline: Option<&Pipeline>,
    opts: &mut VoiceOptions,
    metrics: &AudioMetrics,
    session: &mut Option<String>,
) -> VoiceTurn {
    if u.speech_ms > BARGE_IN_MAX_SPEECH_MS {
        if let Some(j) = early {
            j.abort();
        }
        let mut turn = new_turn(&u);
        turn.decision = "echo";
        return turn;
    }
    let mut turn = match recognise(u, early, asr, pipeline, opts, metrics).await {
        Ok(t) => t,
        Err(t) => return t,
    };
    if !opts.wake.barge_in_stop(&turn.transcript) {
        turn.decision = "echo";
        return turn;
    }
    turn.decision = "stop";
    let speaking = opts.speaker.as_ref().is_some_and(Speaker::interrupt);
    AudioMetrics::inc(&metrics.barge_ins);
    if let Some(p) = pipeline {
        let s = session.take().unwrap_or_else(new_session);
        let data = serde_json::json!({ "text": turn.transcript, "was_speaking": speaking });
        let stage = crate::events::PipelineStage::Interrupted;
        let ms = round1(turn.timings.transcript_ms);
        p.bus().publish(crate::events::HubEvent::Pipeline { session: s, stage, ms, data });
    }
    *session = None;
    turn
}

/// A turn for `u` with nothing decided yet.
fn new_turn(u: &Utterance) -> VoiceTurn {
    VoiceTurn {
        seq: u.seq,
        transcript: String::new(),
        decision: "asr_error",
        command: None,
        via: None,
        speech_ms: u.speech_ms,
        audio_path: None,
        timings: VoiceTimings {
            endpoint_ms: ms(u.decided.saturating_duration_since(u.speech_end)),
            ..VoiceTimings::default()
        },
        outcome: None,
        error: None,
    }
}

/// Keep the recording (when asked) and transcribe `u`: the turn with its
/// transcript and timings, or the failed turn.
async fn recognise(
    u: Utterance,
    early: Option<JoinHandle<Result<Transcript, WhisperError>>>,
    asr: &AsrHandle,
    pipeline: Option<&Pipeline>,
    opts: &VoiceOptions,
    metrics: &AudioMetrics,
) -> Result<VoiceTurn, VoiceTurn> {
    let end = u.speech_end;
    let mut turn = new_turn(&u);
    if let Some(dir) = &opts.recordings {
        let stamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let p = dir.join(format!("utt-{stamp}-{:04}.wav", u.seq));
        let samples = u.samples.clone();
        let p2 = p.clone();
        match tokio::task::spawn_blocking(move || recording::write_wav(&p2, &samples)).await {
            Ok(Ok(())) => turn.audio_path = Some(p),
            Ok(Err(e)) => tracing::warn!(error = %e, "recording not kept"),
            Err(e) => tracing::warn!(error = %e, "recording task failed"),
        }
    }
    let result = match early {
        // Same samples as the tentative: its transcript (often ready already).
        Some(job) => match job.await {
            Ok(r) => r,
            Err(_) => asr.transcribe(u.samples, opts.decode.clone()).await,
        },
        None => asr.transcribe(u.samples, opts.decode.clone()).await,
    };
    let transcript = match result {
        Ok(t) => t,
        Err(e) => {
            AudioMetrics::inc(&metrics.asr_errors);
            turn.error = Some(e.to_string());
            tracing::warn!(error = %e, "speech recognition failed");
            return Err(turn);
        }
    };
    AudioMetrics::inc(&metrics.utterances_decoded);
    if let Some(p) = pipeline {
        let m = metrics.snapshot();
        p.bus().publish(crate::events::HubEvent::AudioGate {
            frames: m.frames,
            speech_frames: m.speech_frames,
            utterances: m.utterances,
            decoded: m.utterances_decoded,
        });
    }
    turn.timings.transcript_ms = ms(Instant::now().saturating_duration_since(end));
    turn.timings.asr_ms = transcript.timings.total_ms;
    turn.transcript = transcript.text.trim().to_string();
    Ok(turn)
}

async fn handle_utterance(
    u: Utterance,
    early: Option<JoinHandle<Result<Transcript, WhisperError>>>,
    asr: &AsrHandle,
    pipeline: Option<&Pipeline>,
    opts: &mut VoiceOptions,
    metrics: &AudioMetrics,
    session: &mut Option<String>,
) -> VoiceTurn {
    let end = u.speech_end;
    let mut turn = match recognise(u, early, asr, pipeline, opts, metrics).await {
        Ok(t) => t,
        Err(t) => return t,
    };
    let now = Instant::now();
    let decision = opts.wake.decide(&turn.transcript, now);
    // A conversation = a wake phrase plus its follow-ups.
    let by_phrase = matches!(decision, WakeDecision::WakeOnly | WakeDecision::Command { via: WakeVia::Phrase, .. });
    if by_phrase || (matches!(decision, WakeDecision::Command { .. }) && session.is_none()) {
        *session = Some(new_session());
    }
    // Only speech meant for the hub is announced (not what it overheard).
    if let (Some(p), Some(s)) = (pipeline, session.as_deref())
        && matches!(decision, WakeDecision::WakeOnly | WakeDecision::Command { .. } | WakeDecision::Stop)
    {
        announce_stages(p, s, &turn, &decision);
    }
    let (text, via) = match decision {
        WakeDecision::Command { text, via } => (text, via),
        WakeDecision::WakeOnly => {
            turn.decision = "wake_only";
            return turn;
        }
        WakeDecision::Ignored => {
            AudioMetrics::inc(&metrics.wake_ignored);
            turn.decision = "ignored";
            return turn;
        }
        WakeDecision::Empty => {
            turn.decision = "empty";
            return turn;
        }
        WakeDecision::Stop => {
            turn.decision = "stop";
            *session = None;
            // Anything still waiting to be said (a timer's announcement).
            if let Some(s) = &opts.speaker {
                s.interrupt();
            }
            return turn;
        }
    };
    AudioMetrics::inc(&metrics.commands);
    turn.decision = "command";
    turn.command = Some(text.clone());
    turn.via = Some(match via {
        WakeVia::Phrase => "wake_phrase",
        WakeVia::FollowUp => "follow_up",
        WakeVia::Always => "no_wake_word",
    });
    let Some(pipeline) = pipeline else {
        return turn;
    };
    let r1 = |v: f64| serde_json::json!(round1(v));
    let mut timings = serde_json::Map::new();
    timings.insert("endpoint_ms".into(), r1(turn.timings.endpoint_ms));
    timings.insert("asr_ms".into(), r1(turn.timings.asr_ms));
    timings.insert("transcript_ms".into(), r1(turn.timings.transcript_ms));
    timings.insert("speech_ms".into(), serde_json::json!(turn.speech_ms));
    let origin = Origin {
        modality: Modality::Voice,
        area: opts.area.clone(),
        session: session.clone(),
        voice: Some(VoiceOrigin {
            speech_end: end,
            timings,
            audio_path: turn.audio_path.as_ref().map(|p| p.display().to_string()),
        }),
    };
    let t0 = Instant::now();
    match pipeline.handle_text(&text, origin, false).await {
        Ok(out) => {
            let base = ms(t0.saturating_duration_since(end));
            if out.enqueue_us > 0 {
                turn.timings.enqueue_ms = Some(base + out.enqueue_us as f64 / 1000.0);
            }
            turn.timings.done_ms = Some(ms(Instant::now().saturating_duration_since(end)));
            let ended = speak_reply(pipeline, opts, &out.reply, session.as_deref(), end, &mut turn).await;
            if let (Some(id), Some(spoken)) = (out.turn_ids.first(), turn.timings.spoken_ms) {
                let t = serde_json::json!({ "spoken_ms": round1(spoken), "tts_ms": turn.timings.tts_ms.map(round1) });
                if let Err(e) = pipeline.store().merge_turn_timings(*id, &t).await {
                    tracing::warn!(error = %e, turn = id, "cannot store when the reply was spoken");
                }
            }
            opts.wake.after_reply(ended, out.reply.trim_end().ends_with('?'));
            turn.outcome = Some(out);
        }
        Err(e) => {
            tracing::warn!(error = %e, command = %text, "voice command failed");
            turn.error = Some(e.to_string());
        }
    }
    turn
}

/// Speak the reply (when there is a speaker) and announce the `spoken`
/// stage. Returns when the reply ends: the follow-up window runs from there.
async fn speak_reply(
    pipeline: &Pipeline,
    opts: &VoiceOptions,
    reply: &str,
    session: Option<&str>,
    end: Instant,
    turn: &mut VoiceTurn,
) -> Instant {
    let Some(speaker) = opts.speaker.as_ref().filter(|_| !reply.trim().is_empty()) else {
        return Instant::now();
    };
    match speaker.say(reply).await {
        Ok(spoken) => {
            let at = ms(spoken.started.saturating_duration_since(end));
            turn.timings.spoken_ms = Some(at);
            turn.timings.tts_ms = Some(spoken.tts_ms);
            if let Some(s) = session {
                let data = serde_json::json!({
                    "tts_ms": round1(spoken.tts_ms),
                    "audio_ms": round1(ms(spoken.audio)),
                    "device": spoken.device,
                });
                let stage = crate::events::PipelineStage::Spoken;
                let ev = crate::events::HubEvent::Pipeline { session: s.to_string(), stage, ms: round1(at), data };
                pipeline.bus().publish(ev);
            }
            spoken.ends()
        }
        Err(e) => {
            tracing::warn!(error = %e, reply, "reply not spoken");
            Instant::now()
        }
    }
}

/// The voice stages of a turn on the bus: `speech`, `transcript`, and
/// `wake` when the wake phrase (or the follow-up window) let it through.
/// `session` is the conversation's (a new one starts with a wake phrase).
fn announce_stages(p: &Pipeline, session: &str, turn: &VoiceTurn, decision: &WakeDecision) {
    use crate::events::{HubEvent, PipelineStage};
    let woke = match decision {
        WakeDecision::WakeOnly | WakeDecision::Command { via: WakeVia::Phrase, .. } => Some("wake_phrase"),
        WakeDecision::Command { via: WakeVia::FollowUp, .. } => Some("follow_up"),
        _ => None,
    };
    let t = &turn.timings;
    let publish = |stage, ms: f64, data| {
        p.bus().publish(HubEvent::Pipeline { session: session.to_string(), stage, ms: round1(ms), data });
    };
    // Speech start and end on the pipeline's clock (0 = the end of speech).
    let speech = serde_json::json!({
        "speech_ms": turn.speech_ms, "endpoint_ms": round1(t.endpoint_ms),
        "start_ms": -f64::from(turn.speech_ms), "end_ms": 0.0,
    });
    publish(PipelineStage::Speech, t.endpoint_ms, speech);
    let text = serde_json::json!({ "text": turn.transcript, "asr_ms": round1(t.asr_ms) });
    publish(PipelineStage::Transcript, t.transcript_ms, text);
    if let Some(via) = woke {
        publish(PipelineStage::Wake, t.transcript_ms, serde_json::json!({ "via": via }));
    }
}

fn new_session() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("voice-{ms}-{}", N.fetch_add(1, Ordering::Relaxed))
}
