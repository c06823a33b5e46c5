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
    // Before anything starts: a SIGTERM that arrives while the subsystems
    // are still starting (timers and the outbox already publish then) is
    // kept and answered by a clean shutdown once start has finished, not
    // by the default disposition killing the process mid-write.
    let mut signals = Signals::install();
    let opts = StartOptions {
        voice: true,
        camera: true,
        demo: args.demo,
        discovery: true,
        wyoming: true,
        ..StartOptions::default()
    };
    slow_start_fault().await;
    let rt = Runtime::start(&cfg, opts).await.context("starting the daemon")?;
    let runtime_file = super::banner::announce(ctx, &rt, args.demo);
    signals.wait(&rt).await;
    tracing::info!("shutting down");
    rt.shutdown(Duration::from_secs(args.shutdown_timeout)).await;
    drop(runtime_file);
    Ok(ExitCode::SUCCESS)
}

/// `HUBD_FAULT=slow_start`, read only in builds with the `fault-injection`
/// feature: start takes two seconds longer, so a test can signal the daemon
/// while it is still starting.
async fn slow_start_fault() {
    if cfg!(feature = "fault-injection") && std::env::var("HUBD_FAULT").as_deref() == Ok("slow_start") {
        tracing::info!("fault: slow start");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The daemon's signal streams, registered once at start.
struct Signals {
    #[cfg(unix)]
    streams: Option<[tokio::signal::unix::Signal; 3]>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(int), Ok(term), Ok(hup)) => Some([int, term, hup]),
                _ => None,
            };
            Self { streams }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Until SIGINT or SIGTERM; each SIGHUP re-reads the automation rules.
    async fn wait(&mut self, rt: &Runtime) {
        #[cfg(unix)]
        if let Some([int, term, hup]) = self.streams.as_mut() {
            loop {
                tokio::select! {
                    _ = int.recv() => return,
                    _ = term.recv() => return,
                    _ = hup.recv() => match rt.reloader.reload().await {
                        Ok(r) => tracing::info!(rules = r.rules, registry_changed = r.registry_changed,
                            restart_needed = ?r.restart_needed, "configuration reloaded"),
                        Err(e) => tracing::error!("reload refused, the running configuration stays: {e}"),
                    },
                }
            }
        }
        let _ = rt;
        let _ = tokio::signal::ctrl_c().await;
    }
}
