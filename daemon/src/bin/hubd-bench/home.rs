//! Shared by the `kills` and `memory` sections: a home of N Zigbee2MQTT
//! lights, a real mosquitto on a free loopback port, the release `hubd run`
//! as a child process against it, and its HTTP API (loopback without token).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hubd::api_client::ApiClient;

use super::child::{Daemon, free_port};
use super::linkbench::{Mosquitto, TempDir};

/// `light.bulb_NNN`, friendly name `Bulb NNN`.
pub fn light_id(i: usize) -> String {
    format!("light.bulb_{i:03}")
}

pub fn light_name(i: usize) -> String {
    format!("Bulb {i:03}")
}

/// The home's config: `lights` dimmable Zigbee2MQTT lights plus `extra`
/// (more `[[device]]` tables), database in `dir`.
pub fn config_text(dir: &Path, mqtt: u16, web: u16, lights: usize, extra: &str) -> String {
    let mut s = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt}\nclient_id = \"hubd-bench-home-{mqtt}\"\n\
         command_timeout_ms = 10000\nmax_attempts = 5\nexpire_after_s = 600\n\n[store]\npath = \"{}\"\n\n\
         [web]\nbind = \"127.0.0.1:{web}\"\nloopback_without_token = true\n\n[audio]\nenabled = false\n\n\
         [[area]]\nid = \"home\"\nname = \"Home\"\n",
        dir.join("hubd.db").display()
    );
    for i in 0..lights {
        s.push_str(&format!(
            "\n[[device]]\nid = \"{}\"\nname = \"{}\"\narea = \"home\"\nfeatures = {{ dimmable = true }}\n\
             dialect = {{ type = \"zigbee2mqtt\", friendly_name = \"{}\" }}\n",
            light_id(i),
            light_name(i),
            light_name(i)
        ));
    }
    s.push_str(extra);
    s
}

pub struct Home {
    // Field order is drop order: the daemon's user (the bench) drops it first.
    pub rt: tokio::runtime::Runtime,
    pub broker: Mosquitto,
    pub cfg: PathBuf,
    pub text: String,
    pub dir: TempDir,
    client: ApiClient,
    starts: usize,
}

impl Home {
    pub fn new(tag: &str, lights: usize, extra: &str) -> anyhow::Result<Home> {
        let dir = TempDir::new(tag)?;
        let broker = Mosquitto::try_start(dir.path())?;
        let web = free_port()?;
        let text = config_text(dir.path(), broker.port, web, lights, extra);
        let cfg = dir.path().join("hub.toml");
        std::fs::write(&cfg, &text)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let client = ApiClient::new(SocketAddr::from(([127, 0, 0, 1], web)), None);
        Ok(Home { rt, broker, cfg, text, dir, client, starts: 0 })
    }

    /// Start `hubd run` and wait until `/healthz` says it is connected to the broker.
    pub fn spawn(&mut self) -> anyhow::Result<Daemon> {
        let hubd = std::env::current_exe()?.with_file_name("hubd");
        if !hubd.exists() {
            bail!("{} not built (scripts/bench builds it)", hubd.display());
        }
        self.starts += 1;
        let log = self.dir.path().join(format!("hubd-{}.log", self.starts));
        let mut daemon = Daemon(
            Command::new(&hubd)
                .arg("--config")
                .arg(&self.cfg)
                .arg("run")
                .env("HUBD_RUNTIME_DIR", self.dir.path().join("run"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?)
                .spawn()
                .context("start hubd")?,
        );
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(st)) = daemon.0.try_wait() {
                bail!("hubd exited at start ({st}); log {}", log.display());
            }
            if let Ok((200, body)) = self.http("GET", "/healthz", None)
                && body.contains("\"mqtt_connected\":true")
            {
                return Ok(daemon);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("hubd not healthy within 60 s; log {}", log.display())
    }

    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, String)> {
        let body = body.map(|b| b.as_bytes().to_vec());
        let r = self.rt.block_on(self.client.request(method, path, body))?;
        Ok((r.status, r.text()))
    }

    /// Play every light with hubd's simulator (Zigbee2MQTT devices that echo
    /// their state), for as long as the home's runtime lives.
    pub fn simulate(&self) -> anyhow::Result<()> {
        let cfg = hubd::config::Config::from_str(&self.text, "bench-devices")?;
        let registry = cfg.registry()?;
        let options =
            hubd::simulate::SimOptions { z2m_retain: true, backoff_max: Duration::from_millis(200), log: None };
        let port = self.broker.port;
        self.rt.spawn(hubd::simulate::run_with(registry, "127.0.0.1".into(), port, options, std::future::pending()));
        Ok(())
    }

    /// Lines of every `hubd run` log so far that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> usize {
        (1..=self.starts)
            .filter_map(|i| std::fs::read_to_string(self.dir.path().join(format!("hubd-{i}.log"))).ok())
            .map(|t| t.lines().filter(|l| l.contains(needle)).count())
            .sum()
    }

    pub fn store(&self) -> anyhow::Result<hubd::store::Store> {
        Ok(self.rt.block_on(hubd::store::Store::open(self.dir.path().join("hubd.db")))?)
    }
}

/// Resident memory of a process, from `/proc/PID/status` (`VmRSS`), in MiB.
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/PID/status")?;
    Ok(kb / 1024.0)
}
