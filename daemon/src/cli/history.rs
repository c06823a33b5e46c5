//! `hubd history`: recent dialogue turns and commands from the store.

use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Only turns whose text contains this.
    #[arg(long)]
    pub search: Option<String>,
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
    turns: &'a [DialogueTurn],
    commands: Vec<CommandView<'a>>,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let path = super::store_path(ctx, args.db)?;
    let store = Store::open_existing(&path).await?;
    let turns = match (&args.session, &args.search) {
        (Some(s), _) => {
            let mut t = store.session_turns(s, args.limit).await?;
            if let Some(q) = &args.search {
                let q = q.to_lowercase();
                t.retain(|x| x.text.to_lowercase().contains(&q));
            }
            t.reverse(); // newest first, like the other listings
            t
        }
        (None, Some(q)) => store.search_turns(q, args.limit).await?,
        (None, None) => store.recent_turns(args.limit).await?,
    };
    let commands = store.recent_commands(args.limit).await?;
    store.close().await;

    if ctx.json {
        let report = Report { turns: &turns, commands: commands.iter().map(view).collect() };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Dialogue (newest first):");
    if turns.is_empty() {
        println!("  (none)");
    }
    for t in &turns {
        println!(
            "  #{:<5} {}  {:<9} {:<5} [{}] {}",
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
