//! One module per subcommand. Each has `Args` (clap) and
//! `run(ctx, args) -> anyhow::Result<ExitCode>`.

pub mod chat;
pub mod check_config;
pub mod devices;
pub mod history;
pub mod listen;
pub mod migrate;
pub mod run;
pub mod say;
pub mod simulate;
pub mod status;
pub mod transcribe;
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
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Diagnostics always go to stderr so `--json` stdout stays machine-readable.
    // Colour only on a terminal: log files and test captures stay plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Ctx { config: cli.config, json: cli.json };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
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
            Command::Listen(a) => listen::run(&ctx, a).await,
            Command::Chat(a) => chat::run(&ctx, a).await,
            Command::Transcribe(a) => transcribe::run(&ctx, a).await,
            Command::Status(a) => status::run(&ctx, a).await,
        }
    })
}

/// The database path: an explicit `--db`, else `[store] path` of the config.
pub fn store_path(ctx: &Ctx, db: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match db {
        Some(p) => Ok(p),
        None => Ok(hubd::config::Config::load(&ctx.config)?.store_path()),
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn fmt_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fmt_time_known_instants() {
        assert_eq!(super::fmt_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::fmt_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(super::fmt_time(1_795_305_599_999), "2026-11-21 23:59:59");
    }
}

/// `hubd devices --audio`: capture-capable audio inputs, for `[audio] device`
/// (the default one first, marked `*`). Does not open the devices.
pub fn audio_devices(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let list = hubd::audio::list_input_devices()?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if list.is_empty() {
        println!("no audio inputs found (hubd runs without voice control)");
    } else {
        for d in &list {
            println!("{} {:<28} {}", if d.is_default { "*" } else { " " }, d.name, d.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}
