//! Section `nlu`: Home Assistant sentence templates, hubd's native matcher
//! against hassil 3.12.1 (Python, `.venv`), same `home_assistant_intents`
//! data, same registry (the demo home of `config/hub.example.toml`), same
//! sentences (sampled by `scripts/peers/hassil_parity.py` from the English
//! templates, every 4th with a satellite area), the same call Home Assistant
//! makes (`recognize_best`, custom sentences first, then `name`). Reports
//! sentences/s (goal: >= 50x hassil), cold start of one language (read +
//! parse + compile; goal < 100 ms for en) and resident memory for it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use hub_skills::Registry;
use hub_skills::intent::NluContext;
use hub_skills::templates::{TemplateNlu, language_file_name};

use super::Row;

const SECTION: &str = "nlu";
const SENTENCES: usize = 2000;

fn repo_root() -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    for d in cwd.ancestors() {
        if d.join("scripts/peers/hassil_parity.py").exists() {
            return Ok(d.to_path_buf());
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).context("repository root")
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Item {
    text: String,
    area: Option<String>,
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let root = repo_root()?;
    let sp = hub_model::weights::site_packages().context("no .venv site-packages (run scripts/setup)")?;
    let python = sp.ancestors().nth(3).map(|v| v.join("bin/python")).context("venv python")?;
    let data_path = sp.join("home_assistant_intents/data").join(language_file_name("en"));
    let config = hubd::config::Config::load(root.join("config/hub.example.toml")).context("load example config")?;
    let reg: Registry = config.registry().context("example registry")?;

    let dir = std::env::temp_dir().join(format!("hubd-bench-nlu-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let reg_path = dir.join("registry.json");
    std::fs::write(&reg_path, serde_json::to_string(&reg)?)?;
    let sent_path = dir.join("sentences.jsonl");
    let st = Command::new(&python)
        .arg(root.join("scripts/peers/hassil_parity.py"))
        .args(["generate", "--no-recognize", "--lang", "en", "--total", &SENTENCES.to_string(), "--registry"])
        .arg(&reg_path)
        .arg("--out")
        .arg(&sent_path)
        .env("HF_HUB_OFFLINE", "1")
        .status()
        .context("run hassil_parity.py generate")?;
    if !st.success() {
        bail!("hassil_parity.py generate failed");
    }
    let items: Vec<Item> = std::fs::read_to_string(&sent_path)?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Item {
            text: v["text"].as_str().unwrap_or_default().to_string(),
            area: v["area"].as_str().map(String::from),
        })
        .collect();

    // Number words (unicode-rbnf spellout, as hassil uses them).
    let words = Command::new(&python)
        .arg(root.join("scripts/peers/hassil_parity.py"))
        .args(["numbers", "--lang", "en"])
        .output()
        .context("run hassil_parity.py numbers")?;
    if !words.status.success() {
        bail!("hassil_parity.py numbers failed");
    }
    let words = String::from_utf8(words.stdout)?;

    // Cold start: read + parse + compile en, best of 5.
    let rss0 = rss_kb();
    let t = Instant::now();
    let json = std::fs::read_to_string(&data_path)?;
    let mut nlu = TemplateNlu::from_language_json_named("en.json", &json, &reg)?;
    let mut cold = t.elapsed().as_secs_f64();
    drop(json);
    let rss1 = rss_kb();
    nlu.set_number_words(&words)?;
    for _ in 0..4 {
        let t = Instant::now();
        let json = std::fs::read_to_string(&data_path)?;
        let n = TemplateNlu::from_language_json_named("en.json", &json, &reg)?;
        cold = cold.min(t.elapsed().as_secs_f64());
        std::hint::black_box(n);
    }

    // Throughput: whole passes until at least 2 s.
    let ctxs: Vec<NluContext> = items.iter().map(|i| NluContext { area: i.area.clone() }).collect();
    let mut matched = 0usize;
    for (it, ctx) in items.iter().zip(&ctxs) {
        matched += usize::from(nlu.recognize(&it.text, ctx).is_some());
    }
    let t = Instant::now();
    let mut done = 0usize;
    while t.elapsed().as_secs_f64() < 2.0 {
        for (it, ctx) in items.iter().zip(&ctxs) {
            std::hint::black_box(nlu.recognize(&it.text, ctx));
        }
        done += items.len();
    }
    let hubd_rate = done as f64 / t.elapsed().as_secs_f64();

    // hassil on the same sentences, same registry.
    let out = Command::new(&python)
        .arg(root.join("scripts/peers/hassil_parity.py"))
        .args(["bench", "--lang", "en", "--registry"])
        .arg(&reg_path)
        .arg("--sentences")
        .arg(&sent_path)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .context("run hassil_parity.py bench")?;
    if !out.status.success() {
        bail!("hassil bench failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).context("hassil bench output")?;
    let _ = std::fs::remove_dir_all(&dir);
    let peer_rate = peer["per_second"].as_f64().unwrap_or(0.0);
    let peer_load = peer["load_seconds"].as_f64().unwrap_or(0.0);
    let peer_matched = peer["matched"].as_u64().unwrap_or(0);
    let peer_rss = peer["rss_kb"].as_f64().unwrap_or(0.0) / 1024.0;

    Ok(vec![
        Row {
            section: SECTION,
            metric: format!("sentences/s, en, {} sentences ({matched} matched; hassil {peer_matched})", items.len()),
            hubd: format!("{hubd_rate:.0}"),
            peer: format!("{peer_rate:.0} (hassil)"),
            ratio: format!("{:.1}x", hubd_rate / peer_rate.max(1e-9)),
            target: ">= 50x".into(),
        },
        Row {
            section: SECTION,
            metric: "cold start, en (read + parse + compile)".into(),
            hubd: format!("{:.1} ms", cold * 1000.0),
            peer: format!("{:.1} ms (hassil Intents.from_dict)", peer_load * 1000.0),
            ratio: format!("{:.1}x", peer_load / cold.max(1e-9)),
            target: "< 100 ms".into(),
        },
        Row {
            section: SECTION,
            metric: "resident memory, one language (en)".into(),
            hubd: format!("{:.1} MB", (rss1.saturating_sub(rss0)) as f64 / 1024.0),
            peer: format!("{peer_rss:.1} MB (whole python process)"),
            ratio: "-".into(),
            target: "-".into(),
        },
    ])
}
