//! Section `kills`: commands acked per second sustained through the kill
//! test's run (tests/e2e/kill_run.rs): 2,000 brightness commands POSTed to
//! the release `hubd run`, 100 Zigbee2MQTT lights played by hubd's
//! simulator, 20 SIGKILLs at seeded random points (right after a command is
//! answered 202; hubd is started again at once and the run goes on; a POST
//! refused while hubd is down is sent again). The clock runs from the first
//! POST to the last row closed in the store; the rate is acked rows per
//! second (and rows closed per second: acked, or superseded by a newer
//! command to the same light, which after a restart is the fate of rows
//! whose echo had not been recorded yet). The same run without kills is the
//! reference (peer column).
//! Exactly-once delivery is the e2e test's business; here a run in which
//! not every command was acked fails the section.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::Row;
use super::home::{Home, light_id};

const LIGHTS: usize = 100;
const PER_LIGHT: u32 = 20;
const KILLS: usize = 20;
const SEED: u64 = 16;

struct RunStats {
    acked: u64,
    /// Closed as superseded: a newer command to the same light won (after a
    /// restart, rows whose echo was not yet recorded).
    superseded: u64,
    rows: u64,
    seconds: f64,
    restarts: usize,
}

impl RunStats {
    fn rate(&self) -> f64 {
        self.acked as f64 / self.seconds.max(1e-9)
    }
    /// Rows closed (acked or superseded) per second.
    fn settled(&self) -> f64 {
        (self.acked + self.superseded) as f64 / self.seconds.max(1e-9)
    }
}

fn one_run(kills: usize) -> anyhow::Result<RunStats> {
    let mut home = Home::new("kills", LIGHTS, "")?;
    home.simulate()?;
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut plan = Vec::new();
    for pct in (0..PER_LIGHT).map(|k| 1 + 3 * k) {
        let mut lights: Vec<usize> = (0..LIGHTS).collect();
        lights.shuffle(&mut rng);
        plan.extend(lights.into_iter().map(|l| (l, pct)));
    }
    let kill_at: HashSet<usize> =
        rand::seq::index::sample(&mut rng, plan.len() - 100, kills).into_iter().map(|i| i + 50).collect();
    let mut daemon = home.spawn()?;
    // The simulated lights have announced themselves by now (hubd took longer to start).
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let mut restarts = 0;
    for (i, (light, pct)) in plan.iter().enumerate() {
        let body =
            format!(r#"{{"device_id":"{}","action":{{"action":"brightness","percent":{pct}}}}}"#, light_id(*light));
        let sent = Instant::now();
        loop {
            match home.http("POST", "/api/commands", Some(&body)) {
                Ok((202, _)) => break,
                Ok((status, text)) if status != 503 => bail!("POST /api/commands: {status} {text}"),
                _ if sent.elapsed() > Duration::from_secs(60) => bail!("command {i} not accepted within 60 s"),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        if kill_at.contains(&i) {
            // SAFETY: signalling our own child by its pid.
            unsafe {
                libc::kill(daemon.0.id() as i32, libc::SIGKILL);
            }
            daemon.0.wait()?;
            daemon = home.spawn()?;
            restarts += 1;
        }
    }
    let store = home.store()?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let counts = loop {
        let c = home.rt.block_on(store.command_counts())?;
        if c.pending + c.sent == 0 {
            break c;
        }
        ensure!(Instant::now() < deadline, "{} commands still open 300 s after the run", c.pending + c.sent);
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = t0.elapsed().as_secs_f64();
    home.rt.block_on(store.close());
    drop(daemon);
    let rows = counts.acked + counts.failed + counts.expired + counts.superseded;
    ensure!(counts.failed + counts.expired == 0, "{} failed, {} expired of {rows} rows", counts.failed, counts.expired);
    Ok(RunStats { acked: counts.acked, superseded: counts.superseded, rows, seconds, restarts })
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let calm = one_run(0).context("run without kills")?;
    let killed = one_run(KILLS).context("run with kills")?;
    let n = LIGHTS * PER_LIGHT as usize;
    Ok(vec![Row {
        section: "faults",
        metric: format!("commands acked/s over {n} API commands with {KILLS} SIGKILLs (100 lights, seed {SEED})"),
        hubd: format!(
            "{:.0} acked/s, {:.0} closed/s ({} acked + {} superseded of {} rows in {:.1} s, {} restarts)",
            killed.rate(),
            killed.settled(),
            killed.acked,
            killed.superseded,
            killed.rows,
            killed.seconds,
            killed.restarts
        ),
        peer: format!(
            "without kills: {:.0} acked/s ({} acked + {} superseded in {:.1} s)",
            calm.rate(),
            calm.acked,
            calm.superseded,
            calm.seconds
        ),
        ratio: format!(
            "{:.2} (closed/s {:.2})",
            killed.rate() / calm.rate().max(1e-9),
            killed.settled() / calm.settled().max(1e-9)
        ),
        target: "—".into(),
    }])
}
