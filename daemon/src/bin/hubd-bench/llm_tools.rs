//! Section `llm_tools`: the LLM fallback of `[nlu] llm_fallback` on the
//! example home (config/hub.example.toml, 20 devices): text → constrained,
//! registry-checked tool call with the tool calls' default, Gemma 3 270M,
//! then SmolLM2-135M (int8, 2 threads), p50 / p95 over 20 natural requests
//! the templates do not match, with the system
//! prompt's KV cache reused between requests (the default) and without. The
//! first request (model load, vocabulary trie, full prefill) is reported
//! apart. No peer: Home Assistant's equivalent needs a remote LLM service.

use std::time::Instant;

use anyhow::Context;
use hubd::llm::LlmService;
use hubd::llm_tools::ToolCaller;

use super::Row;
use super::linkbench::percentile;

const REQUESTS: &[&str] = &[
    "the hallway is pitch black",
    "cut the office lights",
    "I'm cold",
    "is anything left on upstairs?",
    "make the kitchen cosy",
    "the coffee machine, now",
    "close everything in the bedroom",
    "it's too bright in the living room",
    "could the porch be lit please",
    "kill the fan in the office",
    "I'm off to bed",
    "how warm is it outside",
    "the garage fan socket should be off",
    "dim the bedroom a little",
    "warm it up in the living room",
    "open the curtains in the bedroom halfway",
    "what's the weather like",
    "the desk lamp please",
    "shut the bedroom curtains",
    "tell me a joke",
];

fn measure(smollm2: bool, reuse: bool) -> anyhow::Result<(f64, Vec<f64>)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml");
    let cfg = hubd::config::Config::load(&path).context("example config")?;
    let reg = cfg.registry()?;
    let spec =
        if smollm2 { hubd::llm::engine_spec(Some(&cfg), None, None) } else { hubd::llm::tools_engine_spec(&cfg) };
    let tc = ToolCaller::new(LlmService::new(spec, 2)).with_prefix_reuse(reuse);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let t = Instant::now();
        let _ = tc.understand("turn the hallway light on", &reg).await;
        let first = t.elapsed().as_secs_f64() * 1e3;
        let mut ms = Vec::new();
        for text in REQUESTS {
            let t = Instant::now();
            let _ = tc.understand(text, &reg).await;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        Ok((first, ms))
    })
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (name, smollm2) in [("Gemma 3 270M, the default", false), ("SmolLM2-135M", true)] {
        rows.extend(rows_for(name, smollm2)?);
    }
    Ok(rows)
}

fn rows_for(name: &str, smollm2: bool) -> anyhow::Result<Vec<Row>> {
    let (first, on) = measure(smollm2, true)?;
    let (_, off) = measure(smollm2, false)?;
    let (p50, p95) = (percentile(&on, 0.5), percentile(&on, 0.95));
    let (q50, q95) = (percentile(&off, 0.5), percentile(&off, 0.95));
    Ok(vec![
        Row {
            section: "llm_tools",
            metric: format!("{name}: text → checked tool call, p50 / p95 ({} requests, example home)", on.len()),
            hubd: format!("{p50:.0} / {p95:.0} ms (system prompt's KV cache reused)"),
            peer: format!("same without the reuse: {q50:.0} / {q95:.0} ms"),
            ratio: format!("{:.2}×", q50 / p50),
            target: "–".into(),
        },
        Row {
            section: "llm_tools",
            metric: format!("{name}: first request: model load, vocabulary trie, full prefill"),
            hubd: format!("{first:.0} ms"),
            peer: "–".into(),
            ratio: "–".into(),
            target: "–".into(),
        },
    ])
}
