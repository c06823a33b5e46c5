//! `hubd say "TEXT"`: understand a text command, act on it, print the reply.
//!
//! When a daemon is up (found through its runtime file, `--url`, or the
//! `[web] bind` of `--config`), the text is handed to it (`POST /api/say`,
//! the server's own [`SayRequest`] and [`Outcome`] types over hyper).
//! Otherwise the pipeline runs in-process against the configured broker (or
//! an embedded one) and the same database; a `--dry-run` then only loads the
//! configuration and the NLU and plans: no broker, no database, no outbox.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hubd::config::Config;
use hubd::pipeline::{Modality, Nlu, Origin, Outcome};
use hubd::runtime::{Runtime, StartOptions};
use hubd::store::CommandStatus;
use hubd::web::models::SayRequest;

use super::{Ctx, Target};

/// Say a text command ("turn on the kitchen light"): resolve it to device
/// commands, send them through the durable outbox and MQTT, wait for the
/// devices' acks, store the dialogue turn and print a spoken-style reply.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sentence.
    pub text: String,
    /// Understand and plan only: print what would be sent, send nothing, store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Area the request comes from (resolves "turn on the light").
    #[arg(long)]
    pub area: Option<String>,
    /// Dialogue session id (default: a new one).
    #[arg(long)]
    pub session: Option<String>,
    /// Never use a running daemon; run the pipeline in this process.
    #[arg(long)]
    pub in_process: bool,
    /// Milliseconds to wait for device acks (in-process).
    #[arg(long, default_value_t = 5000)]
    pub wait_ms: u64,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let target = if args.in_process { Target::Offline { config: ctx.client_config() } } else { ctx.target().await? };
    let out = match target {
        Target::Daemon { client, pid, .. } => {
            tracing::debug!(addr = %client.addr, ?pid, "handing the text to the running daemon");
            let req = SayRequest {
                text: args.text.clone(),
                area: args.area.clone(),
                session: args.session.clone(),
                dry_run: args.dry_run,
                modality: None,
            };
            client.post_json::<_, Outcome>("/api/say", &req).await?
        }
        Target::Offline { config } => in_process(&config, &args).await?,
    };
    if ctx.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}", out.reply);
        if args.dry_run {
            for c in &out.commands {
                eprintln!("  would command {}", c.device_id);
            }
        }
    }
    if out.intent.is_none() || out.error.is_some() {
        return Ok(ExitCode::from(2));
    }
    let unconfirmed = !out.dry_run && out.commands.iter().any(|c| c.status != CommandStatus::Acked);
    Ok(if unconfirmed { ExitCode::from(3) } else { ExitCode::SUCCESS })
}

/// No daemon: plan only (`--dry-run`), or run the pipeline in this process.
async fn in_process(config: &Path, args: &Args) -> anyhow::Result<Outcome> {
    let cfg = Config::load(config)?;
    if args.dry_run {
        let registry = std::sync::Arc::new(cfg.registry()?);
        let text = args.text.clone();
        let (area, session) = (args.area.clone(), args.session.clone());
        // Loading the language's templates reads and compiles a JSON file.
        let out = tokio::task::spawn_blocking(move || {
            Nlu::from_config(&cfg, registry).dry_run(&text, area.as_deref(), session)
        })
        .await
        .context("planning thread")??;
        return Ok(out);
    }
    let opts = StartOptions {
        web: false,
        client_id: Some(format!("{}-say-{}", cfg.mqtt.client_id, std::process::id())),
        ack_wait: Duration::from_millis(args.wait_ms),
        ..StartOptions::default()
    };
    let rt = Runtime::start(&cfg, opts).await.context("starting the in-process pipeline")?;
    if !rt.link.wait_connected(Duration::from_secs(3)).await {
        tracing::warn!("MQTT broker not reachable yet; commands stay queued in the outbox");
    }
    let origin =
        Origin { modality: Modality::Text, area: args.area.clone(), session: args.session.clone(), voice: None };
    let res = rt.pipeline.handle_text(&args.text, origin, false).await;
    rt.shutdown(Duration::from_secs(2)).await;
    Ok(res?)
}
