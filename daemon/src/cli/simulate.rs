//! `hubd simulate`: run the demo-home simulator against a broker until Ctrl-C.
use std::process::ExitCode;

use anyhow::Context;
use hubd::config::{BrokerTarget, Config};

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Broker host. Default: the config's `[mqtt]` broker (127.0.0.1 for the embedded one).
    #[arg(long)]
    pub host: Option<String>,
    /// Broker port. Default: the config's `[mqtt]` port.
    #[arg(long)]
    pub port: Option<u16>,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&ctx.config)?;
    let registry = config.registry()?;
    let (host, port) = match config.mqtt.broker() {
        BrokerTarget::External { host, port } => (host, port),
        BrokerTarget::Embedded { port } => ("127.0.0.1".to_string(), port),
    };
    let host = args.host.unwrap_or(host);
    let port = args.port.unwrap_or(port);
    let devices = registry.devices.iter().filter(|d| d.dialect.is_some()).count();
    tracing::info!(%host, port, devices, "starting demo-home simulator");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    hubd::simulate::run(registry, host, port, shutdown).await.context("simulator")?;
    Ok(ExitCode::SUCCESS)
}
