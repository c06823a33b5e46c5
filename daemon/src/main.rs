//! `hubd`: the binary's edge. Parses the CLI into typed values, sets up
//! tracing, and hands off to one module per subcommand (`cli/`). `anyhow`
//! lives here and in `cli/` only; the library (`hubd::*`) uses typed errors.

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// hubd: a local multimodal smart-home control hub.
///
/// Voice and camera in, MQTT device commands out, everything remembered in
/// SQLite, shown on a local dashboard. One daemon, one config file, no cloud.
#[derive(Debug, Parser)]
#[command(name = "hubd", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Default: $HUBD_CONFIG; then, for commands
    /// that talk to the daemon (say, status, devices, history, chat), the
    /// running daemon's own; then ./hub.toml.
    #[arg(long, global = true, env = "HUBD_CONFIG")]
    pub config: Option<PathBuf>,

    /// The running daemon's API (`http://127.0.0.1:8080`) for say and status.
    /// Default: found through the daemon's runtime file. Token: $HUBD_TOKEN.
    #[arg(long, global = true, env = "HUBD_URL", value_parser = cli::parse_url)]
    pub url: Option<SocketAddr>,

    /// Machine-readable JSON on stdout; diagnostics go to stderr only.
    #[arg(long, global = true)]
    pub json: bool,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `hubd=debug`.
    /// Default: $RUST_LOG, else hubd at info with libraries quiet.
    #[arg(long, global = true, env = "HUBD_LOG")]
    pub log: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: MQTT link and outbox, capture pipelines, model workers, web dashboard and API.
    Run(cli::run::Args),
    /// Say a text command: understand it, send the device commands, wait for acks, print the reply.
    Say(cli::say::Args),
    /// Show how a sentence is understood (intent and slots), without acting. Reads stdin lines when no TEXT.
    Understand(cli::understand::Args),
    /// Train the intent and slot heads for this home (`[nlu] heads`) and write them beside the database.
    Train(cli::train::Args),
    /// Train the fusion gate that leaves empty camera pictures out of GLM-4.1V's prompt (`hubd ask-camera`).
    TrainGate(cli::train_gate::Args),
    /// Validate a configuration file and print every error with its line and column.
    CheckConfig(cli::check_config::Args),
    /// List registered devices with their live state (or audio input devices with --audio).
    Devices(cli::devices::Args),
    /// Show recent dialogue turns and commands.
    History(cli::history::Args),
    /// Show the shopping list and to-do lists (what "add milk to my shopping list" added).
    Lists(cli::lists::Args),
    /// Show the running daemon's timers: name, area, time left, paused or running, the sentence each will run.
    Timers(cli::timers::Args),
    /// Run the demo-home simulator: virtual devices that answer like their real firmware.
    Simulate(cli::simulate::Args),
    /// Apply database migrations and report the schema version.
    Migrate(cli::migrate::Args),
    /// Print live transcripts from the microphone (utterance boundaries with --vad-only).
    Listen(cli::listen::Args),
    /// Chat with the local LLM: stream a reply to the terminal (--think shows the model's reasoning).
    Chat(cli::chat::Args),
    /// Transcribe a WAV file with the local Whisper model (any rate, mono/stereo, 16/24/32-bit or float).
    Transcribe(cli::transcribe::Args),
    /// Show the running daemon's health: MQTT link, outbox and audio counters (frames, speech, decoded).
    Status(cli::status::Args),
    /// List automation rules with their last run; trace, trigger, enable or disable one.
    Automations(cli::automations::Args),
    /// Re-read the automation rules of the running daemon's configuration (as SIGHUP).
    Reload(cli::automations::ReloadArgs),
    /// Ask the vision-language model ([model] vlm_path, GLM-4.1V) about a camera's newest frame.
    AskCamera(cli::ask_camera::Args),
}

fn main() -> ExitCode {
    // `hubd status | head -3`: a closed pipe ends the process quietly, as
    // for any Unix tool, instead of a "failed printing to stdout" panic.
    #[cfg(unix)]
    // SAFETY: restores the default disposition of SIGPIPE before any other
    // thread exists; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let filter = cli
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| cli::DEFAULT_LOG.to_string());
    cli::init_tracing(&filter);
    // alsa-lib prints its own errors ("cannot find card '0'") on stderr at
    // every device probe; hubd reports audio problems itself.
    hubd::audio::capture::silence_alsa_errors();
    match cli::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hubd: error: {}", report(&err));
            ExitCode::from(1)
        }
    }
}

/// An error and its causes on one line, `outer: cause: root`. A cause whose
/// text the message already ends with is skipped: some errors (ours and
/// libraries') put their source into their own Display as well as
/// returning it from `source()`, and anyhow's `{:#}` then printed it twice
/// ("No such file or directory (os error 2): No such file or directory (os error 2)").
pub fn report(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("hub.toml: cannot read configuration: {source}")]
    struct Both {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn report_prints_each_cause_once() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = anyhow::Error::new(Both { source: io() }).context("starting");
        let r = super::report(&e);
        assert_eq!(r.matches(&io().to_string()).count(), 1, "{r}");
        assert!(r.starts_with("starting: hub.toml: cannot read configuration: "), "{r}");
        let e = anyhow::Error::new(io()).context("reading x");
        assert_eq!(super::report(&e), format!("reading x: {}", io()));
    }
}
