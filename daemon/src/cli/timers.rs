//! `hubd timers`: the running daemon's timers (`GET /api/timers`).

use std::process::ExitCode;

use super::Ctx;

/// Every timer of the running daemon, soonest first: name, area, what is
/// left, paused or running, and the sentence it will run.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    let v: serde_json::Value = client.get_json("/api/timers").await?;
    if ctx.json {
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    let timers = v.as_array().cloned().unwrap_or_default();
    if timers.is_empty() {
        println!("(no timers)");
    }
    for t in &timers {
        let left = t["seconds_left"].as_f64().unwrap_or(0.0).ceil() as u64;
        let name = t["name"].as_str().map(|n| format!("{n} ")).unwrap_or_default();
        let area = t["area"].as_str().map(|a| format!(" in {a}")).unwrap_or_default();
        let state = if t["is_active"] == true { "running" } else { "paused" };
        let command = t["command"].as_str().map(|c| format!(", then \"{c}\"")).unwrap_or_default();
        println!(
            "  #{:<4} {name}{}{area}: {} left, {state}{command}",
            t["id"],
            hub_skills::timers::duration_text(t["start_secs"].as_u64().unwrap_or(0)),
            hub_skills::timers::duration_text(left),
        );
    }
    Ok(ExitCode::SUCCESS)
}
