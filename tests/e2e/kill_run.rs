//! 2,000 commands through the API while hubd is SIGKILLed 20 times at random
//! points (a seeded RNG; the seed is printed, `HUBD_KILL_SEED` replays it).
//!
//! The home has 100 Zigbee2MQTT lights played by hubd's simulator; each
//! light gets 20 brightness commands, 3 % apart, so each
//! command is one distinct (topic, payload) message. Receipts are counted
//! twice: by the simulated devices and by a broker-side subscriber with a
//! persistent session. Afterwards `receipts::check_rule` holds every stored
//! row against them: acked rows reached their light exactly once, rows made
//! stale by a restart (`superseded`) at most once, the newest command of
//! every light was acked and is the light's state, and nothing reached a
//! light without a row. Every command answered 202 has its row.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::common::*;
use crate::receipts::{Counter, check_rule};

const LIGHT_COUNT: usize = 100;
const PER_LIGHT: u32 = 20;
const KILLS: usize = 20;

/// The test home's configuration plus `LIGHT_COUNT` more dimmable lights
/// (`light.bulb_NNN`, friendly name `Bulb NNN`). A long command timeout: the
/// devices never drop a command here, so no resend may come from a slow echo.
fn home(mqtt: u16, web: u16) -> String {
    let mut s = config_text(mqtt, web, 10_000);
    for i in 0..LIGHT_COUNT {
        s.push_str(&format!(
            "\n[[device]]\nid = \"light.bulb_{i:03}\"\nname = \"Bulb {i:03}\"\narea = \"kitchen\"\n\
             features = {{ dimmable = true }}\ndialect = {{ type = \"zigbee2mqtt\", friendly_name = \"Bulb {i:03}\" }}\n"
        ));
    }
    s
}

fn all_rows(rt: &tokio::runtime::Runtime, dir: &Path) -> Vec<hubd::store::CommandRow> {
    let store = open_store(rt, dir);
    let mut rows = rt.block_on(store.recent_commands(1_000_000)).unwrap();
    rt.block_on(store.close());
    rows.sort_by_key(|r| r.id);
    rows
}

fn open_rows(rt: &tokio::runtime::Runtime, dir: &Path) -> u64 {
    let store = open_store(rt, dir);
    let c = rt.block_on(store.command_counts()).unwrap();
    rt.block_on(store.close());
    c.pending + c.sent
}

/// POST one brightness command; the row id when answered 202.
fn post(web: u16, light: usize, pct: u32) -> Option<i64> {
    let body = format!(r#"{{"device_id":"light.bulb_{light:03}","action":{{"action":"brightness","percent":{pct}}}}}"#);
    match http(web, "POST", "/api/commands", Some(&body)) {
        Ok((202, b)) => json(&b)["commands"][0]["id"].as_i64(),
        _ => None,
    }
}

#[test]
fn twenty_sigkills_in_2000_commands_each_reaches_its_device_exactly_once() {
    let seed: u64 =
        std::env::var("HUBD_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::rng().random());
    eprintln!("kill test seed: {seed} (replay with HUBD_KILL_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);

    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let web = free_port();
    let text = home(broker.port, web);
    let cfg = dir.path().join("hub.toml");
    std::fs::write(&cfg, &text).unwrap();
    let counter = Counter::start(&rt, broker.port, "zigbee2mqtt/+/set");
    let devices = Devices::start_home(&rt, broker.port, &text);

    // Round r gives every light its r-th value, lights in a shuffled order.
    let mut plan = Vec::new();
    // 3 % apart: an echo may differ from its command by ±1 % and still confirm it.
    for pct in (0..PER_LIGHT).map(|k| 1 + 3 * k) {
        let mut lights: Vec<usize> = (0..LIGHT_COUNT).collect();
        lights.shuffle(&mut rng);
        plan.extend(lights.into_iter().map(|l| (l, pct)));
    }
    let mut kill_at: Vec<usize> =
        rand::seq::index::sample(&mut rng, plan.len() - 100, KILLS).into_iter().map(|i| i + 50).collect();
    kill_at.sort_unstable();
    let kill_at: HashSet<usize> = kill_at.into_iter().collect();

    let t0 = Instant::now();
    let mut daemon = Daemon::start(&cfg, web, None);
    let mut accepted: Vec<i64> = Vec::new();
    let mut refused = 0usize;
    let mut kills = 0usize;
    let mut killer: Option<(std::thread::JoinHandle<()>, Arc<AtomicBool>)> = None;
    // A kill point that comes while the last kill is still pending waits for the restart.
    let mut due = 0usize;
    for (i, (light, pct)) in plan.iter().enumerate() {
        if kill_at.contains(&i) {
            due += 1;
        }
        if due > 0 && killer.is_none() {
            due -= 1;
            // SIGKILL after a random delay while the requests go on.
            let pid = daemon.child.id().to_string();
            let delay = Duration::from_millis(rng.random_range(0..40));
            let done = Arc::new(AtomicBool::new(false));
            let d = done.clone();
            let h = std::thread::spawn(move || {
                std::thread::sleep(delay);
                let st = Command::new("kill").arg("-KILL").arg(&pid).status();
                assert!(st.is_ok_and(|s| s.success()), "kill -KILL {pid} failed");
                d.store(true, Ordering::SeqCst);
            });
            killer = Some((h, done));
        }
        match post(web, *light, *pct) {
            Some(id) => accepted.push(id),
            None => refused += 1,
        }
        if let Some((_, done)) = &killer
            && done.load(Ordering::SeqCst)
        {
            if let Some((h, _)) = killer.take() {
                h.join().unwrap();
            }
            assert!(daemon.wait_exit(Duration::from_secs(10)), "hubd survived SIGKILL");
            kills += 1;
            daemon = Daemon::start(&cfg, web, None);
        }
    }
    if let Some((h, _)) = killer.take() {
        h.join().unwrap();
        assert!(daemon.wait_exit(Duration::from_secs(10)), "hubd survived SIGKILL");
        kills += 1;
        daemon = Daemon::start(&cfg, web, None);
    }
    assert_eq!(due, 0, "kill points left at the end of the run");
    let sent_for = t0.elapsed();
    assert_eq!(kills, KILLS);

    assert!(
        wait_until(Duration::from_secs(120), || open_rows(&rt, dir.path()) == 0),
        "commands still open after the run: {} (seed {seed})\n{}",
        open_rows(&rt, dir.path()),
        daemon.log_text()
    );
    // Every acked row was echoed by its light, so the devices have counted
    // it; the broker-side counter sees the same messages.
    assert!(
        wait_until(Duration::from_secs(10), || counter.total() == devices.total()),
        "counter {} vs devices {} (seed {seed})",
        counter.total(),
        devices.total()
    );
    let rows = all_rows(&rt, dir.path());
    let ids: HashSet<i64> = rows.iter().map(|r| r.id).collect();
    let lost: Vec<&i64> = accepted.iter().filter(|id| !ids.contains(id)).collect();
    assert!(lost.is_empty(), "accepted (202) but no row: {lost:?} (seed {seed})");
    let counted = counter.counts();
    assert_eq!(counted, devices.receipts(), "the broker-side counter and the devices disagree (seed {seed})");
    let tally = check_rule(&rows, &counted).unwrap_or_else(|e| panic!("seed {seed}:\n{e}"));

    // Each light shows its newest command.
    let mut newest: HashMap<&str, &hubd::store::CommandRow> = HashMap::new();
    for r in &rows {
        newest.insert(r.device_id.as_str(), r);
    }
    for (device, r) in newest {
        let name = device.trim_start_matches("light.bulb_");
        let st = devices.state(&format!("Bulb {name}")).unwrap();
        let want: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        assert_eq!(st["brightness"], want["brightness"], "{device} (seed {seed})");
    }
    assert!(daemon.alive());
    eprintln!(
        "kill test: {} commands in {sent_for:?} with {kills} SIGKILLs ({:.0} commands/s); {} accepted, {refused} \
         refused while down, {} rows: {} acked once, {} superseded after reaching the light, {} superseded unsent",
        plan.len(),
        plan.len() as f64 / sent_for.as_secs_f64(),
        accepted.len(),
        tally.rows,
        tally.acked,
        tally.superseded_received,
        tally.superseded_unsent
    );
}
