//! Section `outbox`: durable outbox throughput to mosquitto, QoS 1 — rows
//! committed to SQLite, published, PUBACKed and marked sent — next to
//! `mosquitto_pub -l -q 1` publishing the same number of messages in the same
//! run. Targets: >= 5,000 commands/s and >= half of mosquitto_pub's rate.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use firmware_bridge::{Action, DeviceCommand, DeviceKind, Dialect};
use hubd::runtime::{Runtime, StartOptions};

use super::Row;
use super::linkbench::{LIGHTS, Mosquitto, TempDir, config};

const N: usize = 20_000;
const BATCH: usize = 50;
const CLIENTS: usize = 8;

pub fn run() -> anyhow::Result<Vec<Row>> {
    let dir = TempDir::new("outbox")?;
    let broker = Mosquitto::try_start(dir.path())?;
    let cfg = config(dir.path(), broker.port)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let hubd_secs = rt.block_on(async {
        let opts = StartOptions { web: false, templates: false, ack_wait: Duration::ZERO, ..StartOptions::default() };
        let hub = Runtime::start(&cfg, opts).await?;
        anyhow::ensure!(hub.link.wait_connected(Duration::from_secs(5)).await, "hubd did not connect to mosquitto");
        let outbox = hub.pipeline.outbox().clone();
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let ob = outbox.clone();
            tasks.push(tokio::spawn(async move {
                let mut k = c;
                let per = N / CLIENTS;
                let mut sent = 0;
                while sent < per {
                    let n = BATCH.min(per - sent);
                    let cmds: Vec<DeviceCommand> = (0..n)
                        .map(|j| {
                            let (id, name) = LIGHTS[(k + j) % LIGHTS.len()];
                            DeviceCommand {
                                device_id: id.into(),
                                kind: DeviceKind::Light,
                                dialect: Dialect::Zigbee2mqtt {
                                    friendly_name: name.into(),
                                    base_topic: "zigbee2mqtt".into(),
                                },
                                action: Action::Brightness { percent: ((k + j) % 100) as u8 + 1 },
                                features: firmware_bridge::Features { dimmable: true, ..Default::default() },
                            }
                        })
                        .collect();
                    ob.enqueue(cmds).await?;
                    sent += n;
                    k += n;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while outbox.stats().sent.load(Ordering::Relaxed) < N as u64 {
            if Instant::now() > deadline {
                bail!("only {} of {N} commands PUBACKed", outbox.stats().sent.load(Ordering::Relaxed));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let secs = t0.elapsed().as_secs_f64();
        hub.shutdown(Duration::from_secs(5)).await;
        anyhow::Ok(secs)
    })?;

    // Peer: mosquitto_pub reading N lines, QoS 1, same broker, same sizes.
    let payload = r#"{"brightness":127,"state":"ON"}"#;
    let mut input = String::with_capacity(N * (payload.len() + 1));
    for _ in 0..N {
        input.push_str(payload);
        input.push('\n');
    }
    let t0 = Instant::now();
    let mut child = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
            "-q",
            "1",
            "-t",
            "zigbee2mqtt/Kitchen Light/set",
            "-l",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running mosquitto_pub (apt install mosquitto-clients)")?;
    child.stdin.take().context("stdin")?.write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    let peer_secs = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("mosquitto_pub failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let hubd_rate = N as f64 / hubd_secs;
    let peer_rate = N as f64 / peer_secs;
    let ratio = hubd_rate / peer_rate;
    let met = hubd_rate >= 5000.0 && ratio >= 0.5;
    Ok(vec![Row {
        section: "outbox",
        metric: format!("durable QoS 1 commands/s to mosquitto (n={N})"),
        hubd: format!("{hubd_rate:.0}/s"),
        peer: format!("mosquitto_pub -l -q 1: {peer_rate:.0}/s"),
        ratio: format!("{ratio:.2}"),
        target: format!(">= 5000/s and >= 0.5x: {}", if met { "met" } else { "MISSED" }),
    }])
}
