//! `hubd`: the binary's edge. Parses the CLI into typed values, sets up
//! tracing, and hands off to one module per subcommand (`cli/`). `anyhow`
//! lives here and in `cli/` only; the library (`hubd::*`) uses typed errors.

mod cli;

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
    /// Configuration file (TOML). Default: $HUBD_CONFIG, then ./hub.toml.
    #[arg(long, global = true, env = "HUBD_CONFIG", default_value = "hub.toml")]
    pub config: PathBuf,

    /// Machine-readable JSON on stdout; diagnostics go to stderr only.
    #[arg(long, global = true)]
    pub json: bool,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `hubd=debug`.
    #[arg(long, global = true, env = "HUBD_LOG", default_value = "info")]
    pub log: String,

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
    /// Validate a configuration file and print every error with its line and column.
    CheckConfig(cli::check_config::Args),
    /// List registered devices with their live state (or audio input devices with --audio).
    Devices(cli::devices::Args),
    /// Show recent dialogue turns and commands.
    History(cli::history::Args),
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing(&cli.log);
    match cli::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hubd: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
