//! Camera CPU share: a release `hubd run` (the binary next to `hubd-bench`)
//! with two cameras, each a multipart MJPEG stream of 1920x1080 JPEGs at
//! 5 frames/s from an HTTP server in this process, `fps = 5`, motion only
//! (no detector). CPU = utime + stime of the daemon's `/proc/<pid>/stat`
//! over the window, as a share of one core. First both cameras send one
//! still picture (no motion), then camera `a` sends the moving frames.
//! Frames analysed and motion frames in each window come from `/api/cameras`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Row;
use super::child::{Daemon, free_port};
use super::linkbench::Mosquitto;

const SECTION: &str = "camera";
const FPS: u64 = 5;

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at state (3rd).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("stat format")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).context("utime")?.parse::<u64>()? + f.get(12).context("stime")?.parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ticks as f64 / hz)
}

/// `(frames, motion_frames)` of camera `id` from the daemon's API.
fn camera_counts(web: u16, id: &str) -> anyhow::Result<(u64, u64)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", web))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET /api/cameras HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\nConnection: close\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").context("response head")?;
    let v: serde_json::Value = serde_json::from_slice(&buf[end + 4..]).context("cameras JSON")?;
    let c = v.as_array().and_then(|a| a.iter().find(|c| c["id"] == id)).context("camera missing")?;
    Ok((c["frames"].as_u64().unwrap_or(0), c["motion_frames"].as_u64().unwrap_or(0)))
}

fn part(jpeg: &[u8]) -> Vec<u8> {
    let mut v = format!("--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len()).into_bytes();
    v.extend_from_slice(jpeg);
    v.extend_from_slice(b"\r\n");
    v
}

/// MJPEG server: `/a` moves when `moving` is set, `/b` is always still.
async fn serve(listener: tokio::net::TcpListener, parts: Arc<Vec<Vec<u8>>>, moving: Arc<AtomicBool>) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else { return };
        let (parts, moving) = (parts.clone(), moving.clone());
        tokio::spawn(async move {
            let mut req = [0u8; 2048];
            let n = s.read(&mut req).await.unwrap_or(0);
            let is_a = String::from_utf8_lossy(&req[..n]).starts_with("GET /a");
            let head = "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n";
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / FPS));
            for i in 0usize.. {
                tick.tick().await;
                let k = if is_a && moving.load(Ordering::Relaxed) { i % parts.len() } else { 0 };
                if s.write_all(&parts[k]).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn config(dir: &Path, mqtt: u16, web: u16, cams: u16) -> String {
    format!(
        r#"
[mqtt]
host = "127.0.0.1"
port = {mqtt}
client_id = "hubd-bench-camera-{mqtt}"

[store]
path = "{db}"

[web]
bind = "127.0.0.1:{web}"
loopback_without_token = true

[audio]
enabled = false

[[area]]
id = "home"
name = "Home"

[camera]
enabled = true

[[camera.source]]
id = "a"
url = "mjpeg+http://127.0.0.1:{cams}/a"
fps = {FPS}

[[camera.source]]
id = "b"
url = "mjpeg+http://127.0.0.1:{cams}/b"
fps = {FPS}
"#,
        db = dir.join("camera.db").display()
    )
}

struct Window {
    cpu: f64,
    frames: u64,
    motion: u64,
}

fn window(pid: u32, web: u16, len: Duration) -> anyhow::Result<Window> {
    let count = || -> anyhow::Result<(u64, u64)> {
        let (a, b) = (camera_counts(web, "a")?, camera_counts(web, "b")?);
        Ok((a.0 + b.0, a.1 + b.1))
    };
    let (c0, t0, (f0, m0)) = (cpu_seconds(pid)?, Instant::now(), count()?);
    std::thread::sleep(len);
    let (c1, el, (f1, m1)) = (cpu_seconds(pid)?, t0.elapsed().as_secs_f64(), count()?);
    Ok(Window { cpu: (c1 - c0) / el, frames: f1 - f0, motion: m1 - m0 })
}

pub fn run(dir: &Path, jpegs: Vec<Vec<u8>>, len: Duration) -> anyhow::Result<Vec<Row>> {
    let exe = std::env::current_exe()?;
    let hubd: PathBuf = exe.with_file_name("hubd");
    if !hubd.exists() {
        bail!("{} not built (scripts/bench builds it)", hubd.display());
    }
    let kb = jpegs.iter().map(Vec::len).sum::<usize>() / jpegs.len().max(1) / 1024;
    let broker = Mosquitto::try_start(dir)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let cams = listener.local_addr()?.port();
    let moving = Arc::new(AtomicBool::new(false));
    let parts = Arc::new(jpegs.iter().map(Vec::as_slice).map(part).collect::<Vec<_>>());
    let server = std::thread::spawn({
        let moving = moving.clone();
        move || rt.block_on(serve(listener, parts, moving))
    });
    drop(server);
    let web = free_port()?;
    let cfg = dir.join("camera.toml");
    std::fs::write(&cfg, config(dir, broker.port, web, cams))?;
    let child = Command::new(&hubd)
        .arg("--config")
        .arg(&cfg)
        .arg("run")
        .env("HUBD_RUNTIME_DIR", dir.join("run"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("hubd.log"))?)
        .spawn()
        .context("start hubd")?;
    let daemon = Daemon(child);
    let pid = daemon.0.id();
    let t0 = Instant::now();
    while camera_counts(web, "a").map_or(0, |c| c.0) < 10 || camera_counts(web, "b").map_or(0, |c| c.0) < 10 {
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("hubd analysed no frames within 30 s (log: {})", dir.join("hubd.log").display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let still = window(pid, web, len)?;
    moving.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(3));
    let moving_w = window(pid, web, len)?;
    drop(daemon);
    let secs = len.as_secs_f64();
    let row = |what: &str, w: &Window, target: String| Row {
        section: SECTION,
        metric: format!(
            "CPU of release hubd, 2 cameras x {FPS} fps 1920x1080 MJPEG ({kb} KB frames), motion only, {what} ({} frames analysed in {secs:.0} s, {} with motion)",
            w.frames, w.motion
        ),
        hubd: format!("{:.1} % of one core", w.cpu * 100.0),
        peer: "-".into(),
        ratio: "-".into(),
        target,
    };
    Ok(vec![
        row("no motion", &still, format!("< 5 %: {}", if still.cpu < 0.05 { "met" } else { "MISSED" })),
        row("motion in camera a", &moving_w, "-".into()),
    ])
}
