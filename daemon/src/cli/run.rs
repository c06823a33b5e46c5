//! `hubd run`: the daemon.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hubd::config::Config;
use hubd::runtime::{Runtime, StartOptions};

use super::Ctx;

/// Run the daemon: MQTT link (embedded broker when `[mqtt]` names none),
/// durable command outbox, text pipeline and the local API on `[web] bind`.
/// Stops cleanly on SIGINT/SIGTERM; SIGHUP re-reads the automation rules
/// (as `hubd reload`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also run the demo-home simulator in-process (virtual Zigbee2MQTT /
    /// Tasmota devices that answer like their firmware).
    #[arg(long)]
    pub demo: bool,
    /// Seconds to wait for tasks to finish on shutdown.
    #[arg(long, default_value_t = 5)]
    pub shutdown_timeout: u64,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(&ctx.config)?;
    let opts = StartOptions {
        voice: true,
        camera: true,
        demo: args.demo,
        discovery: true,
        wyoming: true,
        ..StartOptions::default()
    };
    let rt = Runtime::start(&cfg, opts).await.context("starting the daemon")?;
    let runtime_file = super::banner::announce(ctx, &rt, args.demo);
    wait_for_signal(&rt).await;
    tracing::info!("shutting down");
    rt.shutdown(Duration::from_secs(args.shutdown_timeout)).await;
    drop(runtime_file);
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal(rt: &Runtime) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = term.recv() => return,
                _ = hup.recv() => match rt.reloader.reload().await {
                    Ok(r) => tracing::info!(rules = r.rules, registry_changed = r.registry_changed,
                        restart_needed = ?r.restart_needed, "configuration reloaded"),
                    Err(e) => tracing::error!("reload refused, the running configuration stays: {e}"),
                },
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = rt;
        let _ = tokio::signal::ctrl_c().await;
    }
}
