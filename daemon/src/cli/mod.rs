//! One module per subcommand. Each has `Args` (clap) and
//! `run(ctx, args) -> anyhow::Result<ExitCode>`.

pub mod ask_camera;
pub mod automations;
pub mod banner;
pub mod chat;
pub mod check_config;
pub mod devices;
pub mod history;
pub mod listen;
pub mod lists;
pub mod migrate;
pub mod run;
pub mod say;
pub mod simulate;
pub mod status;
pub mod timers;
pub mod train;
pub mod train_gate;
pub mod transcribe;
pub mod understand;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use hubd::api_client::ApiClient;
use hubd::config::Config;
use hubd::runtime_file::{self, DaemonInfo};

use crate::{Cli, Command};

/// The configuration file used when none is named and no daemon is running.
pub const DEFAULT_CONFIG: &str = "hub.toml";

/// Options shared by every subcommand.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `--config` (or `$HUBD_CONFIG`), else [`DEFAULT_CONFIG`]. Client
    /// commands use [`Ctx::client_config`] instead, which prefers the
    /// running daemon's configuration over the default.
    pub config: PathBuf,
    /// Whether `--config`/`$HUBD_CONFIG` named the file.
    pub config_explicit: bool,
    /// `--url`: the daemon's API address.
    pub url: Option<SocketAddr>,
    pub json: bool,
}

/// Where client commands find their daemon and configuration.
#[derive(Debug, Clone)]
pub enum Target {
    /// A daemon to talk to (`--url`, the runtime file, or `[web] bind` of
    /// an explicit configuration that answers); `pid` when the runtime
    /// file named it.
    Daemon { client: ApiClient, pid: Option<u32> },
    /// No daemon answers: work in-process on this configuration.
    Offline { config: PathBuf },
}

impl Ctx {
    /// The running daemon described by the runtime file (live pid), if any.
    pub fn running_daemon(&self) -> Option<DaemonInfo> {
        match runtime_file::read() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("{}", crate::report(&anyhow::Error::new(e)));
                None
            }
        }
    }

    /// The configuration client commands (`say`, `devices`, `history`,
    /// `chat`) read: `--config` when given, else the running daemon's, else
    /// `./hub.toml`.
    pub fn client_config(&self) -> PathBuf {
        if self.config_explicit {
            return self.config.clone();
        }
        self.running_daemon().map(|d| d.config).unwrap_or_else(|| self.config.clone())
    }

    /// Load [`Ctx::client_config`], explaining how to name one when none exists.
    pub fn load_client_config(&self) -> anyhow::Result<Config> {
        let path = self.client_config();
        if !self.config_explicit && !path.exists() {
            anyhow::bail!(
                "no hubd is running and there is no {} here: start the daemon (`hubd run --config FILE`) \
                 or name a configuration with --config FILE",
                path.display()
            );
        }
        Ok(Config::load(&path)?)
    }

    /// Find the daemon: `--url`, else the API of an explicit `--config`
    /// if it answers, else the runtime file, else `./hub.toml`'s API if it
    /// answers. `Offline` names the configuration to work on without one.
    pub async fn target(&self) -> anyhow::Result<Target> {
        if let Some(addr) = self.url {
            let token = std::env::var("HUBD_TOKEN").ok().filter(|t| !t.is_empty());
            return Ok(Target::Daemon { client: ApiClient::new(addr, token), pid: None });
        }
        if !self.config_explicit {
            if let Some(d) = self.running_daemon() {
                return Ok(Target::Daemon { client: ApiClient::new(loopback(d.web), d.token), pid: Some(d.pid) });
            }
            if !self.config.exists() {
                anyhow::bail!(
                    "no hubd is running (no runtime file at {}) and there is no {} here: start the daemon \
                     (`hubd run --config FILE`) or name a configuration with --config FILE",
                    runtime_file::path().map_or_else(|| "-".into(), |p| p.display().to_string()),
                    self.config.display()
                );
            }
        }
        let cfg = Config::load(&self.config)?;
        let addr = loopback(cfg.web.bind);
        let answers = matches!(
            tokio::time::timeout(Duration::from_millis(300), tokio::net::TcpStream::connect(addr)).await,
            Ok(Ok(_))
        );
        if answers {
            let client = ApiClient::new(addr, cfg.web.token.clone());
            Ok(Target::Daemon { client, pid: None })
        } else {
            Ok(Target::Offline { config: self.config.clone() })
        }
    }

    /// The daemon's API client, or an error saying none is running.
    pub async fn daemon(&self) -> anyhow::Result<ApiClient> {
        match self.target().await? {
            Target::Daemon { client, .. } => Ok(client),
            Target::Offline { config } => {
                let bind = Config::load(&config).map(|c| c.web.bind.to_string()).unwrap_or_else(|_| "?".into());
                anyhow::bail!("no hubd is running at {bind} ([web] bind in {})", config.display())
            }
        }
    }
}

/// A bound address as a client reaches it (`0.0.0.0` -> `127.0.0.1`).
pub fn loopback(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

/// Parse `--url`: `http://HOST:PORT[/]` or `HOST:PORT`, HOST an IP address.
pub fn parse_url(s: &str) -> Result<SocketAddr, String> {
    let rest = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
    let rest = if rest == "localhost" || rest.starts_with("localhost:") {
        rest.replacen("localhost", "127.0.0.1", 1)
    } else {
        rest.to_string()
    };
    rest.parse().map_err(|_| format!("`{s}`: expected http://IP:PORT, e.g. http://127.0.0.1:8080"))
}

/// The default log filter, for a person at a terminal: warnings and errors,
/// plus what the CLI itself reports, the microphone coming up and what the
/// voice branch heard (one line per utterance). Start-up
/// details, the embedded broker (rumqttd: one INFO per subscription, an
/// ERROR per dropped connection) and libraries' chatter stay behind
/// `RUST_LOG`, `HUBD_LOG` or `--log` (e.g. `--log info`).
pub const DEFAULT_LOG: &str = "warn,hubd::cli=info,hubd::audio::capture=info,hubd::audio::voice=info,rumqttd=off";

pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    // Diagnostics always go to stderr so `--json` stdout stays machine-readable.
    // Colour only on a terminal: log files and test captures stay plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Ctx {
        config_explicit: cli.config.is_some(),
        config: cli.config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG)),
        url: cli.url,
        json: cli.json,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Run(a) => run::run(&ctx, a).await,
            Command::Say(a) => say::run(&ctx, a).await,
            Command::Understand(a) => understand::run(&ctx, a).await,
            Command::Train(a) => train::run(&ctx, a).await,
            Command::TrainGate(a) => train_gate::run(&ctx, a).await,
            Command::CheckConfig(a) => check_config::run(&ctx, a).await,
            Command::Devices(a) => devices::run(&ctx, a).await,
            Command::History(a) => history::run(&ctx, a).await,
            Command::Lists(a) => lists::run(&ctx, a).await,
            Command::Timers(a) => timers::run(&ctx, a).await,
            Command::Simulate(a) => simulate::run(&ctx, a).await,
            Command::Migrate(a) => migrate::run(&ctx, a).await,
            Command::Listen(a) => listen::run(&ctx, a).await,
            Command::Chat(a) => chat::run(&ctx, a).await,
            Command::Transcribe(a) => transcribe::run(&ctx, a).await,
            Command::Status(a) => status::run(&ctx, a).await,
            Command::Automations(a) => automations::run(&ctx, a).await,
            Command::Reload(a) => automations::reload(&ctx, a).await,
            Command::AskCamera(a) => ask_camera::run(&ctx, a).await,
        }
    })
}

/// The database path: an explicit `--db`, else `[store] path` of the
/// client configuration ([`Ctx::client_config`]).
pub fn store_path(ctx: &Ctx, db: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match db {
        Some(p) => Ok(p),
        None => Ok(ctx.load_client_config().context("finding the database")?.store_path()),
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

#[cfg(test)]
mod tests {
    #[test]
    fn fmt_time_known_instants() {
        assert_eq!(super::fmt_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::fmt_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(super::fmt_time(1_795_305_599_999), "2026-11-21 23:59:59");
    }

    #[test]
    fn url_forms() {
        let a: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        for s in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/", "127.0.0.1:8080", "http://localhost:8080"] {
            assert_eq!(super::parse_url(s), Ok(a), "{s}");
        }
        assert!(super::parse_url("https://example.org").is_err());
        assert_eq!(super::loopback("0.0.0.0:9".parse().unwrap()), "127.0.0.1:9".parse().unwrap());
    }
}
