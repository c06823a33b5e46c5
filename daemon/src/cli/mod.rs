//! One module per subcommand. Each has `Args` (clap) and
//! `run(ctx, args) -> anyhow::Result<ExitCode>`.

pub mod check_config;
pub mod devices;
pub mod history;
pub mod migrate;
pub mod run;
pub mod say;
pub mod simulate;
pub mod understand;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::{Cli, Command};

/// Options shared by every subcommand.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub config: PathBuf,
    pub json: bool,
}

pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Diagnostics always go to stderr so `--json` stdout stays machine-readable.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Ctx { config: cli.config, json: cli.json };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Run(a) => run::run(&ctx, a).await,
            Command::Say(a) => say::run(&ctx, a).await,
            Command::Understand(a) => understand::run(&ctx, a).await,
            Command::CheckConfig(a) => check_config::run(&ctx, a).await,
            Command::Devices(a) => devices::run(&ctx, a).await,
            Command::History(a) => history::run(&ctx, a).await,
            Command::Simulate(a) => simulate::run(&ctx, a).await,
            Command::Migrate(a) => migrate::run(&ctx, a).await,
        }
    })
}
