//! Section `web`: the local API under `wrk` (Debian's) on loopback, and the
//! dashboard's first paint in Debian's headless Chromium with the size of the
//! embedded assets. A release `hubd run --demo` (the binary next to
//! `hubd-bench`) on mosquitto with four simulated Zigbee2MQTT lights; the
//! token is configured and the rate limit is off for the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::Row;
use super::child::{Daemon, free_port};
use super::linkbench::{LIGHTS, Mosquitto, TempDir};

const SECTION: &str = "web";
const TOKEN: &str = "bench-token-0123456789abcdef";
const SECONDS: u32 = 10;
const CONNECTIONS: u32 = 32;

fn config(dir: &Path, broker: u16, web: u16) -> String {
    let mut s = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\nclient_id = \"hubd-web-bench\"\n\n[store]\npath = \"{}\"\n\n\
         [web]\nbind = \"127.0.0.1:{web}\"\ntoken = \"{TOKEN}\"\nrate_limit_per_s = 0\nmax_connections = 1024\n\n\
         [audio]\nenabled = false\n\n[[area]]\nid = \"home\"\nname = \"Home\"\n",
        dir.join("web.db").display()
    );
    for (id, name) in LIGHTS {
        s.push_str(&format!(
            "\n[[device]]\nid = \"{id}\"\nname = \"{name}\"\narea = \"home\"\nfeatures = {{ dimmable = true }}\n\
             dialect = {{ type = \"zigbee2mqtt\", friendly_name = \"{name}\" }}\n"
        ));
    }
    s
}

/// Requests/s and the p50/p99 latency `wrk --latency` printed.
struct Wrk {
    rps: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
}

fn wrk(url: &str, script: &Path) -> anyhow::Result<Wrk> {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{SECONDS}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .context("wrk (apt install wrk; scripts/setup does)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let field = |prefix: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_string())).unwrap_or_default()
    };
    Ok(Wrk {
        rps: field("Requests/sec:").parse().with_context(|| format!("wrk output: {text}"))?,
        p50: field("50%"),
        p99: field("99%"),
        non_2xx: field("Non-2xx or 3xx responses:").parse().unwrap_or(0),
    })
}

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let exe = std::env::current_exe()?;
    let hubd = exe.with_file_name("hubd");
    if !hubd.exists() {
        bail!("{} not built (scripts/bench builds it)", hubd.display());
    }
    let tmp = TempDir::new("web")?;
    let dir = tmp.path();
    let broker = Mosquitto::try_start(dir)?;
    let web = free_port()?;
    let cfg = dir.join("web.toml");
    std::fs::write(&cfg, config(dir, broker.port, web))?;
    let daemon = Daemon(
        Command::new(&hubd)
            .arg("--config")
            .arg(&cfg)
            .args(["run", "--demo"])
            .env("HUBD_RUNTIME_DIR", dir.join("run"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("hubd.log"))?)
            .spawn()
            .context("start hubd")?,
    );
    let base = format!("http://127.0.0.1:{web}");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", web)).is_err() {
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("hubd did not listen within 30 s (log: {})", dir.join("hubd.log").display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));

    let get = dir.join("get.lua");
    std::fs::write(&get, format!("wrk.headers[\"Authorization\"] = \"Bearer {TOKEN}\"\n"))?;
    let say = dir.join("say.lua");
    std::fs::write(
        &say,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{{\"text\": \"turn on the kitchen light\"}}'\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {TOKEN}\"\n"
        ),
    )?;
    let devices = wrk(&format!("{base}/api/devices"), &get)?;
    let said = wrk(&format!("{base}/api/say"), &say)?;

    let paint = Command::new(venv_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers/first_paint.py"))
        .env("HUBD_URL", &base)
        .env("HUBD_TOKEN", TOKEN)
        .output()
        .context("python with playwright in the venv")?;
    drop(daemon);
    if !paint.status.success() {
        bail!("first_paint.py: {}", String::from_utf8_lossy(&paint.stderr));
    }
    let p: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&paint.stdout).lines().last().unwrap_or_default())?;
    let ms = |k: &str| p[k].as_f64().map_or("?".into(), |v| format!("{v:.0} ms"));
    let row = |metric: String, hubd: String, target: &str| Row {
        section: SECTION,
        metric,
        hubd,
        peer: "-".into(),
        ratio: "-".into(),
        target: target.into(),
    };
    let conn = format!("wrk, 2 threads, {CONNECTIONS} connections, {SECONDS} s, loopback");
    Ok(vec![
        row(
            format!("`GET /api/devices` ({conn}), requests/s; p50 / p99"),
            format!("{:.0}/s; {} / {} ({} not 2xx)", devices.rps, devices.p50, devices.p99, devices.non_2xx),
            "-",
        ),
        row(
            format!(
                "`POST /api/say` \"turn on the kitchen light\", each acked by the simulated light ({conn}), requests/s; p50 / p99"
            ),
            format!("{:.0}/s; {} / {} ({} not 2xx)", said.rps, said.p50, said.p99, said.non_2xx),
            "-",
        ),
        row(
            "dashboard first contentful paint in headless Chromium, login page (cold) / Home after login (median of 5)"
                .into(),
            format!("{} / {}", ms("login_fcp_ms"), ms("home_fcp_ms")),
            "-",
        ),
        row(
            "embedded dashboard assets (index.html, app.js, app.css, icon.svg), bytes / gzip -9".into(),
            format!("{} / {} bytes", hubd::web::assets::total_bytes(), p["gzip_bytes"]),
            "-",
        ),
    ])
}
