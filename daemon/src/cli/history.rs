//! `hubd history`: recent dialogue turns and commands from the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hubd::search::{EmbedService, ScoredTurn};
use hubd::store::{CommandRow, DialogueTurn, Store};
use serde::Serialize;

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Database file (default: `[store] path` of the configuration).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// How many turns and how many commands to show.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,
    /// Only turns of this session.
    #[arg(long)]
    pub session: Option<String>,
    /// Only turns about this: those containing it and, with `[store]
    /// semantic_search`, those close in meaning (best first; turns not
    /// embedded yet are embedded first).
    #[arg(long)]
    pub search: Option<String>,
    /// With `--search`: only turns containing the words as written.
    #[arg(long, requires = "search")]
    pub literal: bool,
}

/// A command row for display: payload as text when it is UTF-8.
#[derive(Serialize)]
struct CommandView<'a> {
    id: i64,
    device_id: &'a str,
    topic: &'a str,
    payload: String,
    payload_utf8: bool,
    retain: bool,
    action: &'a serde_json::Value,
    status: hubd::store::CommandStatus,
    attempts: u32,
    created_at: i64,
    updated_at: i64,
    sent_at: Option<i64>,
    acked_at: Option<i64>,
    expires_at: Option<i64>,
    error: Option<&'a str>,
    correlation: Option<&'a str>,
}

fn view(c: &CommandRow) -> CommandView<'_> {
    let (payload, payload_utf8) = match std::str::from_utf8(&c.payload) {
        Ok(s) => (s.to_string(), true),
        Err(_) => (c.payload.iter().map(|b| format!("{b:02x}")).collect(), false),
    };
    CommandView {
        id: c.id,
        device_id: &c.device_id,
        topic: &c.topic,
        payload,
        payload_utf8,
        retain: c.retain,
        action: &c.action,
        status: c.status,
        attempts: c.attempts,
        created_at: c.created_at,
        updated_at: c.updated_at,
        sent_at: c.sent_at,
        acked_at: c.acked_at,
        expires_at: c.expires_at,
        error: c.error.as_deref(),
        correlation: c.correlation.as_deref(),
    }
}

#[derive(Serialize)]
struct Report<'a> {
    turns: &'a [ScoredTurn],
    commands: Vec<CommandView<'a>>,
}

/// The encoder of the search by meaning, when the configuration turns it on.
fn semantic_encoder(ctx: &Ctx, args: &Args) -> Option<std::path::PathBuf> {
    if args.literal {
        return None;
    }
    let cfg = ctx.load_client_config().ok()?;
    cfg.store.semantic_search.then(|| cfg.encoder_dir()).flatten()
}

/// Turns found by words only, as search results.
fn by_words(turns: Vec<DialogueTurn>) -> Vec<ScoredTurn> {
    turns.into_iter().map(|turn| ScoredTurn { turn, score: None, matched: "text" }).collect()
}

/// `--search` by words and meaning: turns not embedded yet first get their
/// vectors (stored, as the daemon's index would), then the ranking.
async fn by_meaning(
    store: &Store,
    encoder: std::path::PathBuf,
    q: &str,
    limit: u32,
) -> anyhow::Result<Vec<ScoredTurn>> {
    EmbedService::scoped(encoder, async |embed| {
        let n = hubd::search::index::catch_up(store, embed).await.context("embedding the dialogue turns")?;
        if n > 0 {
            tracing::info!(turns = n, "dialogue turns embedded for search");
        }
        hubd::search::find(store, embed, q, limit).await.context("searching the dialogue turns")
    })
    .await
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let encoder = args.search.as_ref().and_then(|_| semantic_encoder(ctx, &args));
    let path = super::store_path(ctx, args.db.clone())?;
    let store = Store::open_existing(&path).await?;
    let ranked = encoder.is_some();
    let turns = match (&args.search, encoder) {
        (Some(q), Some(enc)) => {
            // Ranked over every session, then narrowed to one.
            let wide = if args.session.is_some() { args.limit.saturating_mul(20).max(500) } else { args.limit };
            let mut t = by_meaning(&store, enc, q, wide).await?;
            if let Some(s) = &args.session {
                t.retain(|x| &x.turn.session == s);
            }
            t.truncate(args.limit as usize);
            t
        }
        (q, None) if args.session.is_some() => {
            let s = args.session.as_deref().unwrap_or_default();
            let mut t = store.session_turns(s, args.limit).await?;
            if let Some(q) = q {
                let q = q.to_lowercase();
                t.retain(|x| x.text.to_lowercase().contains(&q));
            }
            t.reverse(); // newest first, like the other listings
            by_words(t)
        }
        (Some(q), None) => by_words(store.search_turns(q, args.limit).await?),
        (None, _) => by_words(store.recent_turns(args.limit).await?),
    };
    let commands = store.recent_commands(args.limit).await?;
    store.close().await;

    if ctx.json {
        let report = Report { turns: &turns, commands: commands.iter().map(view).collect() };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    match &args.search {
        Some(q) if ranked => println!("Dialogue about {q:?} (by words, then by meaning; best first):"),
        Some(q) => println!("Dialogue containing {q:?} (newest first):"),
        None => println!("Dialogue (newest first):"),
    }
    if turns.is_empty() {
        println!("  (none)");
    }
    for s in &turns {
        let t = &s.turn;
        let how = match (ranked, s.score) {
            (false, _) => String::new(),
            (true, Some(score)) => format!("  ({} {score:.2})", s.matched),
            (true, None) => format!("  ({})", s.matched),
        };
        println!(
            "  #{:<5} {}  {:<9} {:<5} [{}] {}{how}",
            t.id,
            super::fmt_time(t.created_at),
            t.role.as_str(),
            t.modality.as_str(),
            t.session,
            t.text
        );
    }
    println!();
    println!("Commands (newest first):");
    if commands.is_empty() {
        println!("  (none)");
    }
    for c in &commands {
        let v = view(c);
        println!(
            "  #{:<5} {}  {:<8} x{} {:<28} {} {}{}",
            c.id,
            super::fmt_time(c.created_at),
            c.status.as_str(),
            c.attempts,
            c.device_id,
            c.topic,
            v.payload,
            c.error.as_deref().map(|e| format!("  ({e})")).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
