//! Section `memory`: hubd's resident memory while 1,000,000 Zigbee2MQTT
//! state messages from 500 lights go through it. A rumqttc client publishes
//! them (QoS 0, device `i % 500`, state/brightness/linkquality varying) to a
//! real mosquitto (unbounded queues: nothing is dropped); at 100k, 500k and
//! 1M a marker state goes to one more light and the bench waits until
//! `/api/devices` shows it, so hubd has handled everything before it; then
//! `/proc/PID/status` VmRSS of the release `hubd run` is read. Flat means
//! 1M within 10 % (and 8 MiB) of 100k. hubd's MQTT reconnects during the
//! run are counted from its log (none expected: a reconnect would lose what
//! the broker had queued). No peer.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rumqttc::{AsyncClient, MqttOptions, QoS};

use super::Row;
use super::home::{Home, light_name, rss_mib};

const DEVICES: usize = 500;
const CHECKPOINTS: [u64; 3] = [100_000, 500_000, 1_000_000];
const MARKER: &str = "light.marker";
const MARKER_NAME: &str = "Marker";

fn payload(n: u64) -> String {
    let state = if n.is_multiple_of(3) { "OFF" } else { "ON" };
    format!(r#"{{"state":"{state}","brightness":{},"linkquality":{}}}"#, 1 + n % 254, n % 256)
}

/// The marker light's state as `/api/devices` shows it.
fn marker_state(home: &Home) -> anyhow::Result<String> {
    let (status, body) = home.http("GET", "/api/devices", None)?;
    if status != 200 {
        bail!("GET /api/devices: {status}");
    }
    let v: serde_json::Value = serde_json::from_str(&body)?;
    let dev = v.as_array().and_then(|a| a.iter().find(|d| d["id"] == MARKER)).context("no marker device")?;
    Ok(dev["state"].to_string())
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let extra = format!(
        "\n[[device]]\nid = \"{MARKER}\"\nname = \"{MARKER_NAME}\"\narea = \"home\"\nfeatures = {{ dimmable = true }}\n\
         dialect = {{ type = \"zigbee2mqtt\", friendly_name = \"{MARKER_NAME}\" }}\n"
    );
    let mut home = Home::new("memory", DEVICES, &extra)?;
    let daemon = home.spawn()?;
    let pid = daemon.0.id();
    let start_rss = rss_mib(pid)?;
    let topics: Vec<String> = (0..DEVICES).map(|i| format!("zigbee2mqtt/{}", light_name(i))).collect();
    let mut opts = MqttOptions::new("hubd-bench-memory-publisher", "127.0.0.1", home.broker.port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(opts, 4096);
    home.rt.spawn(async move {
        loop {
            if let Err(e) = eventloop.poll().await {
                eprintln!("bench memory: publisher: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut samples = Vec::new();
    let mut last_marker = marker_state(&home)?;
    for (k, upto) in CHECKPOINTS.iter().enumerate() {
        let c = client.clone();
        let topics = topics.clone();
        let from = sent;
        home.rt.block_on(async move {
            for n in from..*upto {
                c.publish(topics[(n % DEVICES as u64) as usize].as_str(), QoS::AtMostOnce, false, payload(n)).await?;
            }
            anyhow::Ok(())
        })?;
        sent = *upto;
        let mark = format!(r#"{{"state":"ON","brightness":{}}}"#, 10 + 100 * (k % 2));
        let waited = Instant::now();
        let mut published: Option<Instant> = None;
        loop {
            // Sent again every 10 s in case hubd was reconnecting when it came (same value: idempotent).
            if published.is_none_or(|p| p.elapsed() > Duration::from_secs(10)) {
                let topic = format!("zigbee2mqtt/{MARKER_NAME}");
                home.rt.block_on(client.publish(topic, QoS::AtLeastOnce, false, mark.clone()))?;
                published = Some(Instant::now());
            }
            let now = marker_state(&home)?;
            if now != last_marker {
                last_marker = now;
                break;
            }
            if waited.elapsed() > Duration::from_secs(600) {
                bail!("hubd did not handle {upto} messages within 10 minutes");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let rss = rss_mib(pid)?;
        eprintln!("bench memory: {upto} messages in {:.1} s, hubd RSS {rss:.1} MiB", t0.elapsed().as_secs_f64());
        samples.push(rss);
    }
    let seconds = t0.elapsed().as_secs_f64();
    drop(daemon);
    // A reconnect (clean session) would lose what the broker had queued for hubd.
    let drops = home.log_lines("MQTT connection error");
    let (first, last) = (samples[0], samples[samples.len() - 1]);
    let flat = last - first <= (first * 0.10).max(8.0);
    Ok(vec![
        Row {
            section: "memory",
            metric: format!("hubd RSS after 100k / 500k / 1M state messages from {DEVICES} devices"),
            hubd: format!(
                "{:.1} / {:.1} / {:.1} MiB (at start {start_rss:.1} MiB)",
                samples[0], samples[1], samples[2]
            ),
            peer: "—".into(),
            ratio: "—".into(),
            target: format!("flat (1M within 10 % of 100k): {}", if flat { "met" } else { "MISSED" }),
        },
        Row {
            section: "memory",
            metric: "state messages handled per second over that run".into(),
            hubd: format!("{:.0}/s (1M in {seconds:.1} s, {drops} MQTT reconnects)", sent as f64 / seconds),
            peer: "—".into(),
            ratio: "—".into(),
            target: "—".into(),
        },
    ])
}
