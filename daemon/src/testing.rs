//! Test and benchmark fixtures shared by the unit tests, the end-to-end tests
//! (`tests/e2e`) and `hubd-bench`: one launcher for a real mosquitto on a free
//! loopback port.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's mosquitto.
const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A free TCP port on 127.0.0.1 (bound and released: another process may
/// still take it, which the callers here retry or report).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Wait until something accepts on `127.0.0.1:port`.
pub fn wait_tcp(port: u16, within: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// mosquitto on `127.0.0.1:port`, anonymous, no persistence, no in-flight or
/// queue limits (so throughput benchmarks measure hubd, not the broker's
/// caps). Killed on drop; [`Mosquitto::kill`] and [`Mosquitto::restart`]
/// simulate an outage on the same port.
pub struct Mosquitto {
    pub port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Start on a free port, with its config file written into `dir`.
    pub fn try_start(dir: &Path) -> std::io::Result<Mosquitto> {
        Mosquitto::try_start_with(dir, |port| {
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_inflight_messages 0\nmax_queued_messages 0\n"
            )
        })
    }

    /// Start with the configuration `conf(port)` makes for a free port (its
    /// first listener must be on that port: `port` is what is waited for).
    pub fn try_start_with(dir: &Path, conf: impl Fn(u16) -> String) -> std::io::Result<Mosquitto> {
        let port = free_port()?;
        let path = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(&path, conf(port))?;
        let mut m = Mosquitto { port, conf: path, child: None };
        m.try_restart()?;
        Ok(m)
    }

    /// [`Mosquitto::try_start`] for tests: panics with the reason.
    pub fn start(dir: &Path) -> Mosquitto {
        Mosquitto::try_start(dir).unwrap_or_else(|e| panic!("mosquitto: {e} (apt install mosquitto)"))
    }

    /// (Re)start on the same port after [`Mosquitto::kill`].
    pub fn try_restart(&mut self) -> std::io::Result<()> {
        if self.child.is_some() {
            return Err(std::io::Error::other("mosquitto is already running"));
        }
        let child =
            Command::new(MOSQUITTO).arg("-c").arg(&self.conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        self.child = Some(child);
        if wait_tcp(self.port, Duration::from_secs(5)) {
            Ok(())
        } else {
            self.kill();
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("mosquitto did not listen on {} within 5 s", self.port),
            ))
        }
    }

    /// [`Mosquitto::try_restart`] for tests: panics with the reason.
    pub fn restart(&mut self) {
        if let Err(e) = self.try_restart() {
            panic!("mosquitto restart: {e}");
        }
    }

    /// Stop the broker (SIGKILL), keeping the port for a restart.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}
