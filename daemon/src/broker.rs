//! Embedded MQTT broker (`rumqttd`) on loopback, started by `hubd run` (and
//! `hubd say` in-process) when the config names no broker (`[mqtt]` without
//! `host`).
//!
//! rumqttd's `Broker::start` blocks forever and has no shutdown call, so it
//! runs on a dedicated, named std thread that ends with the process. The
//! listener is always bound to 127.0.0.1: the embedded broker is never
//! reachable from the network.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Largest PUBLISH payload the embedded broker accepts (bytes).
pub const MAX_PAYLOAD: usize = 256 * 1024;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("embedded broker: cannot find a free loopback port: {0}")]
    NoPort(std::io::Error),
    #[error("embedded broker: bad built-in configuration: {0}")]
    Config(String),
    #[error("embedded broker: cannot spawn its thread: {0}")]
    Spawn(std::io::Error),
    #[error(
        "embedded MQTT broker: port {port} on 127.0.0.1 is already in use (another hubd or MQTT broker?); \
         stop it, set `[mqtt] port` to a free port, or point `[mqtt] host` at that broker"
    )]
    PortInUse {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("embedded broker on {addr} did not accept connections within {waited:?}")]
    NotListening { addr: SocketAddr, waited: Duration },
}

/// A running embedded broker. Dropping it does not stop the broker (rumqttd
/// cannot be stopped); it lives until the process exits.
#[derive(Debug)]
pub struct EmbeddedBroker {
    pub addr: SocketAddr,
    _thread: JoinHandle<()>,
}

/// The rumqttd configuration for one v4 listener on `127.0.0.1:<port>`.
fn config_toml(port: u16) -> String {
    format!(
        r#"
id = 0

[router]
id = 0
max_connections = 1024
max_outgoing_packet_count = 1024
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "hubd-v4"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 5000
    max_payload_size = {MAX_PAYLOAD}
    max_inflight_count = 1024
    dynamic_filters = true
"#
    )
}

/// Pick a free loopback port (bind port 0, read it, release it).
pub fn free_loopback_port() -> Result<u16, BrokerError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(BrokerError::NoPort)?;
    let port = l.local_addr().map_err(BrokerError::NoPort)?.port();
    Ok(port)
}

/// Start rumqttd on `127.0.0.1:port` (`port == 0`: a free port) and wait
/// until it accepts TCP connections.
///
/// rumqttd binds inside its own thread and only logs a bind failure, so a
/// port held by another broker would look ready to the probe below (and
/// hubd would join that foreign broker). The port is therefore bound here
/// first: if that fails, start-up fails with [`BrokerError::PortInUse`].
pub fn start(port: u16) -> Result<EmbeddedBroker, BrokerError> {
    let port = if port == 0 { free_loopback_port()? } else { port };
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => drop(l),
        Err(source) => return Err(BrokerError::PortInUse { port, source }),
    }
    let cfg: rumqttd::Config = toml::from_str(&config_toml(port)).map_err(|e| BrokerError::Config(e.to_string()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let thread = std::thread::Builder::new()
        .name("hubd-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(cfg);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(BrokerError::Spawn)?;
    let waited = Duration::from_secs(5);
    let t0 = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if t0.elapsed() > waited {
            return Err(BrokerError::NotListening { addr, waited });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::debug!(%addr, "embedded MQTT broker (rumqttd) listening on loopback");
    Ok(EmbeddedBroker { addr, _thread: thread })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_config_parses_and_binds_loopback_only() {
        let cfg: rumqttd::Config = toml::from_str(&config_toml(18830)).unwrap();
        let v4 = cfg.v4.unwrap();
        let s = v4.get("1").unwrap();
        assert_eq!(s.listen, SocketAddr::from(([127, 0, 0, 1], 18830)));
    }

    /// A port held by another listener (a foreign broker) is a start-up
    /// error naming the port, not a broker that silently joins it.
    #[test]
    fn taken_port_fails_clearly() {
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        match start(port) {
            Err(e @ BrokerError::PortInUse { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&port.to_string()) && msg.contains("already in use"), "{msg}");
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(b) => panic!("started on a taken port: {b:?}"),
        }
    }
}
