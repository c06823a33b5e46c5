//! Section `automations`: 1,000 rules (a Zigbee2MQTT motion sensor each,
//! turning a light on). Two figures:
//! - events/s through the pure engine (`hub_skills::automation`), every
//!   event checked against all 1,000 rules and firing one;
//! - from a state change put on the running daemon's event bus to the run's
//!   record on the bus, which the automation task announces only after the
//!   command is committed in the outbox (SQLite) and the run stored (an upper
//!   bound), and to the instant the automation task saw the outbox commit
//!   return ("event to command committed"). Target: p99 < 2 ms.
//!
//! There is no peer in this run (no Home Assistant here); the table says so.

use std::time::{Duration, Instant};

use firmware_bridge::DeviceState;
use hub_skills::automation::{Engine, Event, Now, Output, World};
use hubd::events::{HubEvent, StateSource};
use hubd::runtime::{Runtime, StartOptions};

use super::Row;
use super::linkbench::{LIGHTS, Mosquitto, TempDir, percentile};

const RULES: usize = 1000;
const ENGINE_EVENTS: usize = 200_000;
const BUS_EVENTS: usize = 2000;

fn config_text(dir: &std::path::Path, port: u16) -> String {
    let mut s = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nclient_id = \"hubd-bench-auto-{port}\"\ncommand_timeout_ms = 600000\nexpire_after_s = 3600\n\n[store]\npath = \"{}\"\n\n[audio]\nenabled = false\n\n[home]\ntimezone = \"UTC\"\n\n[[area]]\nid = \"home\"\nname = \"Home\"\n",
        dir.join("bench.db").display()
    );
    for (id, name) in LIGHTS {
        s.push_str(&format!(
            "\n[[device]]\nid = \"{id}\"\nname = \"{name}\"\narea = \"home\"\nfeatures = {{ dimmable = true }}\ndialect = {{ type = \"zigbee2mqtt\", friendly_name = \"{name}\" }}\n"
        ));
    }
    for i in 0..RULES {
        let light = LIGHTS[i % LIGHTS.len()].0;
        s.push_str(&format!(
            "\n[[device]]\nid = \"binary_sensor.motion_{i}\"\nname = \"Motion {i}\"\narea = \"home\"\ndialect = {{ type = \"zigbee2mqtt\", friendly_name = \"Motion {i}\" }}\n\n[[automation]]\nid = \"rule_{i}\"\nmode = \"parallel\"\nmax = 1000\ntriggers = [{{ trigger = \"state\", entity_id = \"binary_sensor.motion_{i}\", to = \"on\" }}]\nconditions = [{{ condition = \"state\", entity_id = \"{light}\", state = [\"on\", \"off\", \"unknown\"] }}]\nactions = [{{ action = \"light.turn_on\", target = {{ entity_id = \"{light}\" }}, data = {{ brightness_pct = {} }} }}]\n",
            i % 100 + 1
        ));
    }
    s
}

fn on(b: bool) -> DeviceState {
    DeviceState { on: Some(b), ..Default::default() }
}

/// Events/s through the pure engine.
fn engine_rate(cfg: &hubd::config::Config) -> anyhow::Result<f64> {
    let reg = cfg.registry()?;
    let specs = cfg.automations.iter().map(|a| a.spec.clone()).collect::<Vec<_>>();
    let mut engine = Engine::new(specs, &reg, None, None, "en").map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let states = |_: &str| -> Option<DeviceState> { None };
    let w = World { registry: &reg, states: &states };
    let t0 = Instant::now();
    let mut fired = 0usize;
    for k in 0..ENGINE_EVENTS {
        let i = k % RULES;
        let state = (k / RULES).is_multiple_of(2);
        let ev = Event::State {
            entity_id: format!("binary_sensor.motion_{i}"),
            old: Some(Box::new(on(!state))),
            new: Box::new(on(state)),
        };
        let now = Now::at(1_700_000_000_000 + k as i64, 0);
        fired += engine.handle(&ev, None, &w, now).iter().filter(|o| matches!(o, Output::Commands { .. })).count();
    }
    let secs = t0.elapsed().as_secs_f64();
    anyhow::ensure!(fired == ENGINE_EVENTS / 2, "expected {} runs, got {fired}", ENGINE_EVENTS / 2);
    Ok(ENGINE_EVENTS as f64 / secs)
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let dir = TempDir::new("automations")?;
    let broker = Mosquitto::try_start(dir.path())?;
    let cfg = hubd::config::Config::from_str(&config_text(dir.path(), broker.port), "bench.toml")?;
    let rate = engine_rate(&cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let lat = rt.block_on(async {
        let opts = StartOptions { web: false, templates: false, ack_wait: Duration::ZERO, ..StartOptions::default() };
        let hub = Runtime::start(&cfg, opts).await?;
        anyhow::ensure!(hub.link.wait_connected(Duration::from_secs(5)).await, "hubd did not connect to mosquitto");
        let mut sub = hub.bus.subscribe();
        let mut lat = Vec::with_capacity(BUS_EVENTS);
        let mut done = Vec::with_capacity(BUS_EVENTS);
        for k in 0..BUS_EVENTS {
            let i = k % RULES;
            let t0 = Instant::now();
            hub.bus.publish(HubEvent::StateChanged {
                entity_id: format!("binary_sensor.motion_{i}"),
                old: Some(on(false)),
                new: on(true),
                source: StateSource::Mqtt,
            });
            let want = format!("rule_{i}");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                let ev = tokio::time::timeout_at(deadline, sub.recv()).await;
                match ev {
                    Ok(Some(e)) => match &e.event {
                        HubEvent::AutomationRun { automation_id, .. } if *automation_id == want => break,
                        _ => {}
                    },
                    Ok(None) => anyhow::bail!("the bus closed"),
                    Err(_) => anyhow::bail!("no run of {want} within 5 s"),
                }
            }
            let committed = hub.automations.last_commit(&want).filter(|c| *c >= t0);
            let committed = committed.ok_or_else(|| anyhow::anyhow!("{want} committed nothing"))?;
            lat.push(committed.duration_since(t0).as_secs_f64() * 1000.0);
            done.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        hub.shutdown(Duration::from_secs(5)).await;
        anyhow::Ok((lat, done))
    })?;
    let (mut lat, mut done) = lat;
    lat.sort_by(|a, b| a.total_cmp(b));
    done.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    let (d50, d99) = (percentile(&done, 0.5), percentile(&done, 0.99));
    Ok(vec![
        Row {
            section: "automations",
            metric: format!("events/s through {RULES} rules (pure engine, n={ENGINE_EVENTS})"),
            hubd: format!("{rate:.0}/s"),
            peer: "no peer here (Home Assistant is not installed)".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
        Row {
            section: "automations",
            metric: format!("bus event -> command committed in the outbox, {RULES} rules, p50 / p99 (n={})", lat.len()),
            hubd: format!("{p50:.2} / {p99:.2} ms"),
            peer: "-".into(),
            ratio: "-".into(),
            target: format!("p99 < 2 ms: {}", if p99 < 2.0 { "met" } else { "MISSED" }),
        },
        Row {
            section: "automations",
            metric: "bus event -> run stored and announced, p50 / p99".into(),
            hubd: format!("{d50:.2} / {d99:.2} ms"),
            peer: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
    ])
}
