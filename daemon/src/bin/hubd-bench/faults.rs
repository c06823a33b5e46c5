//! Section `faults`: recovery after a broker restart. mosquitto is killed and
//! started again on its port five times; each time a command is enqueued at
//! once and the clock runs from the broker listening again to that command
//! acked by its device (hubd's simulator playing Zigbee2MQTT lights, which
//! reconnect too). Median and worst of the five. No peer. The kill test's
//! sustained rate is the `kills` section.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use firmware_bridge::{Action, DeviceCommand, DeviceKind, Dialect};
use hubd::runtime::{Runtime, StartOptions};
use hubd::simulate::SimOptions;
use hubd::store::CommandStatus;

use super::Row;
use super::linkbench::{LIGHTS, Mosquitto, TempDir, percentile};

const ROUNDS: usize = 5;

/// The bench home with a short command timeout: a command published while
/// a light is still reconnecting is sent again.
fn config(dir: &std::path::Path, port: u16) -> anyhow::Result<hubd::config::Config> {
    let mut s = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nclient_id = \"hubd-bench-faults-{port}\"\n\
         command_timeout_ms = 500\nmax_attempts = 20\n\n[store]\npath = \"{}\"\n\n[audio]\nenabled = false\n\n\
         [[area]]\nid = \"home\"\nname = \"Home\"\n",
        dir.join("faults.db").display()
    );
    for (id, name) in LIGHTS {
        s.push_str(&format!(
            "\n[[device]]\nid = \"{id}\"\nname = \"{name}\"\narea = \"home\"\nfeatures = {{ dimmable = true }}\n\
             dialect = {{ type = \"zigbee2mqtt\", friendly_name = \"{name}\" }}\n"
        ));
    }
    Ok(hubd::config::Config::from_str(&s, "faults.toml")?)
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let dir = TempDir::new("faults")?;
    let mut broker = Mosquitto::try_start(dir.path())?;
    let port = broker.port;
    let cfg = config(dir.path(), port)?;
    let registry = cfg.registry()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut times: Vec<f64> = rt.block_on(async {
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let sim_opts = SimOptions { z2m_retain: true, backoff_max: Duration::from_millis(100), log: None };
        let shutdown = async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        };
        let sim = tokio::spawn(hubd::simulate::run_with(registry, "127.0.0.1".into(), port, sim_opts, shutdown));
        let opts = StartOptions { web: false, templates: false, ack_wait: Duration::ZERO, ..StartOptions::default() };
        let hub = Runtime::start(&cfg, opts).await?;
        ensure!(hub.link.wait_connected(Duration::from_secs(5)).await, "hubd did not connect to mosquitto");
        let outbox = hub.pipeline.outbox().clone();
        let mut times = Vec::new();
        for round in 0..=ROUNDS {
            if round > 0 {
                tokio::task::block_in_place(|| {
                    broker.kill();
                    broker.try_restart()
                })?;
            }
            let t0 = Instant::now();
            let (id, name) = LIGHTS[round % LIGHTS.len()];
            let cmd = DeviceCommand {
                device_id: id.into(),
                kind: DeviceKind::Light,
                dialect: Dialect::Zigbee2mqtt { friendly_name: name.into(), base_topic: "zigbee2mqtt".into() },
                action: Action::Brightness { percent: 10 + round as u8 * 7 },
                features: firmware_bridge::Features { dimmable: true, ..Default::default() },
            };
            let row = outbox.enqueue(vec![cmd]).await?.pop().context("no row enqueued")?;
            let status = row.wait(Duration::from_secs(30)).await;
            ensure!(status == CommandStatus::Acked, "round {round}: the command ended {status}");
            // Round 0 only warms up (connected, devices announced).
            if round > 0 {
                times.push(t0.elapsed().as_secs_f64());
            }
        }
        hub.shutdown(Duration::from_secs(5)).await;
        let _ = stop_tx.send(true);
        let _ = sim.await;
        anyhow::Ok(times)
    })?;
    times.sort_by(f64::total_cmp);
    let median = percentile(&times, 0.5);
    let worst = times.last().copied().unwrap_or(f64::NAN);
    let met = worst < 3.0;
    Ok(vec![Row {
        section: "faults",
        metric: format!("broker restart to the first acked command (median of {ROUNDS}, worst)"),
        hubd: format!("{:.0} ms (worst {:.0} ms)", median * 1000.0, worst * 1000.0),
        peer: "—".into(),
        ratio: "—".into(),
        target: format!("< 3 s (reconnect back-off up to 2 s): {}", if met { "met" } else { "MISSED" }),
    }])
}
