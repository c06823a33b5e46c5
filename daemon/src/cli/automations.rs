//! `hubd automations`: the rules with their last run, a rule's runs step by
//! step, running a rule by hand, enabling and disabling; `hubd reload`.

use std::process::ExitCode;

use serde_json::Value;

use super::Ctx;

/// List automation rules with their last run (no subcommand), or act on one.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the rules with their last run.
    List,
    /// Print a rule's last runs step by step (trigger, conditions, actions and their commands).
    Trace {
        id: String,
        /// How many runs.
        #[arg(long, default_value_t = 3)]
        limit: u32,
    },
    /// Run a rule now (its conditions are skipped unless --check-conditions).
    Trigger {
        id: String,
        #[arg(long)]
        check_conditions: bool,
    },
    /// Enable a rule (persists across restarts).
    Enable { id: String },
    /// Disable a rule (persists across restarts).
    Disable { id: String },
}

/// Re-read the configuration file's automation rules in the running daemon
/// (also on SIGHUP). A file with errors is refused and the running rules stay.
#[derive(Debug, clap::Args)]
pub struct ReloadArgs {}

fn when(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    jiff::Timestamp::from_second(secs)
        .map_or_else(|_| ms.to_string(), |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    let empty = serde_json::json!({});
    match args.action.unwrap_or(Action::List) {
        Action::List => {
            let v: Value = client.get_json("/api/automations").await?;
            if ctx.json {
                println!("{v}");
                return Ok(ExitCode::SUCCESS);
            }
            let rules = v.as_array().cloned().unwrap_or_default();
            if rules.is_empty() {
                println!("no automations configured");
            }
            for r in rules {
                let last = match r.get("last_run").filter(|l| !l.is_null()) {
                    Some(l) => format!(
                        "last run {} {} ({})",
                        when(l["started_at"].as_i64().unwrap_or(0)),
                        l["outcome"].as_str().unwrap_or("?"),
                        l["trigger"]["platform"].as_str().unwrap_or("?")
                    ),
                    None => "never run".into(),
                };
                let state = if r["enabled"] == true { "on " } else { "off" };
                println!(
                    "{state} {:<28} {:<9} {last}",
                    r["id"].as_str().unwrap_or("?"),
                    r["mode"].as_str().unwrap_or("")
                );
            }
        }
        Action::Trace { id, limit } => {
            let v: Value = client.get_json(&format!("/api/automations/{id}/runs?limit={limit}")).await?;
            if ctx.json {
                println!("{v}");
                return Ok(ExitCode::SUCCESS);
            }
            let runs = v.as_array().cloned().unwrap_or_default();
            if runs.is_empty() {
                println!("{id}: no runs yet");
            }
            for r in runs {
                print_run(&r);
            }
        }
        Action::Trigger { id, check_conditions } => {
            let body = serde_json::json!({"skip_condition": !check_conditions});
            let _: Value = client.post_json(&format!("/api/automations/{id}/trigger"), &body).await?;
            println!("{id}: triggered");
        }
        Action::Enable { id } => {
            let _: Value = client.post_json(&format!("/api/automations/{id}/enable"), &empty).await?;
            println!("{id}: enabled");
        }
        Action::Disable { id } => {
            let _: Value = client.post_json(&format!("/api/automations/{id}/disable"), &empty).await?;
            println!("{id}: disabled");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_run(r: &Value) {
    let ms = |k: &str| r[k].as_i64().unwrap_or(0);
    println!(
        "run {} at {} ({} ms): {}{}",
        r["id"],
        when(ms("started_at")),
        ms("ended_at") - ms("started_at"),
        r["outcome"].as_str().unwrap_or("?"),
        r["error"].as_str().map(|e| format!(": {e}")).unwrap_or_default()
    );
    let t = &r["trigger"];
    let what = t["entity_id"]
        .as_str()
        .or(t["topic"].as_str())
        .or(t["sentence"].as_str())
        .or(t["camera"].as_str())
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    println!("  trigger    {}{what}", t["platform"].as_str().unwrap_or("?"));
    if let Some(c) = r.get("cause").filter(|c| !c.is_null()) {
        println!("  caused by  {} (depth {})", c["rule"].as_str().unwrap_or("?"), c["depth"]);
    }
    for c in r["conditions"].as_array().into_iter().flatten() {
        println!("  condition  {} -> {}", c["condition"].as_str().unwrap_or("?"), c["result"]);
    }
    for s in r["steps"].as_array().into_iter().flatten() {
        let ids = s["command_ids"].as_array().map(|a| format!(" commands {a:?}")).unwrap_or_default();
        let err = s["error"].as_str().map(|e| format!(" ERROR {e}")).unwrap_or_default();
        println!(
            "  {:<10} {} {}{ids}{err}",
            s["kind"].as_str().unwrap_or("?"),
            s["path"].as_str().unwrap_or(""),
            s["detail"]
        );
    }
}

pub async fn reload(ctx: &Ctx, _args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    let v: Value = client.post_json("/api/reload", &serde_json::json!({})).await?;
    if ctx.json {
        println!("{v}");
    } else {
        println!("reloaded: {} automation rules", v["rules"]);
        if v["registry_changed"] == true {
            println!("note: device, area and floor changes take effect at the next restart");
        }
    }
    Ok(ExitCode::SUCCESS)
}
