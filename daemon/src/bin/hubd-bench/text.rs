//! Section `text`: latency from `say` (pipeline call) to the command arriving
//! on the broker (seen by a second MQTT client), grammar path, durable outbox
//! (row committed before publish) included. p50/p99 over alternating on/off
//! commands. Target: p50 under 5 ms.

use std::time::{Duration, Instant};

use anyhow::Context;
use hubd::pipeline::Origin;
use hubd::runtime::{Runtime, StartOptions};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

use super::Row;
use super::linkbench::{Mosquitto, TempDir, config, percentile};

const N: usize = 300;

pub fn run() -> anyhow::Result<Vec<Row>> {
    let dir = TempDir::new("text")?;
    let broker = Mosquitto::try_start(dir.path())?;
    let cfg = config(dir.path(), broker.port)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let lat = rt.block_on(async {
        let opts = StartOptions { web: false, templates: false, ack_wait: Duration::ZERO, ..StartOptions::default() };
        let hub = Runtime::start(&cfg, opts).await?;
        anyhow::ensure!(hub.link.wait_connected(Duration::from_secs(5)).await, "hubd did not connect to mosquitto");
        // Observer: a second client on the command topics.
        let mut o = MqttOptions::new("bench-observer", "127.0.0.1", broker.port);
        o.set_keep_alive(Duration::from_secs(5));
        let (client, mut el) = AsyncClient::new(o, 64);
        client.subscribe("zigbee2mqtt/+/set", QoS::AtLeastOnce).await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        let obs = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Incoming::Publish(_))) => {
                        if tx.send(Instant::now()).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut lat = Vec::with_capacity(N);
        for i in 0..N + 20 {
            let text = if i % 2 == 0 { "turn on the kitchen light" } else { "turn off the kitchen light" };
            let t0 = Instant::now();
            let out = hub.pipeline.handle_text(text, Origin::text(), false).await?;
            anyhow::ensure!(out.commands.len() == 1, "`{text}` gave {} commands: {:?}", out.commands.len(), out.error);
            let t1 = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .context("command never reached the broker")?
                .context("observer stopped")?;
            if i >= 20 {
                lat.push(t1.duration_since(t0).as_secs_f64() * 1000.0);
            }
        }
        obs.abort();
        hub.shutdown(Duration::from_secs(2)).await;
        anyhow::Ok(lat)
    })?;
    let mut s = lat;
    s.sort_by(f64::total_cmp);
    let p50 = percentile(&s, 0.5);
    let p99 = percentile(&s, 0.99);
    Ok(vec![
        Row {
            section: "text",
            metric: format!("say -> MQTT publish p50 (grammar, durable, n={N})"),
            hubd: format!("{p50:.2} ms"),
            peer: "-".into(),
            ratio: "-".into(),
            target: format!("< 5 ms: {}", if p50 < 5.0 { "met" } else { "MISSED" }),
        },
        Row {
            section: "text",
            metric: "say -> MQTT publish p99".into(),
            hubd: format!("{p99:.2} ms"),
            peer: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
    ])
}
