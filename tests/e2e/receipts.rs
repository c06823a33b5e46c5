//! Counting what reaches the devices, and the outbox's exactly-once rule.
//!
//! [`Counter`] is a broker-side witness: an MQTT client with a persistent
//! session (clean session off, QoS 1) subscribed to every Zigbee2MQTT
//! command topic, so a command published while anything else is down is
//! still counted. [`check_rule`] holds the stored outbox rows against the
//! receipts (see `daemon/src/outbox/state.rs` for the rules):
//! - `acked` means the device got it: exactly one receipt;
//! - `superseded` (a newer command to the same device and attribute made it
//!   stale, at a restart or by a newer echo) allows 0 or 1 receipts, never 2,
//!   and a newer row to the same device was acked;
//! - the newest row of each device is acked;
//! - no row is left pending, sent, failed or expired;
//! - nothing reached a device without a row (a request that crashed before
//!   its insert committed sent nothing).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubd::store::{CommandRow, CommandStatus};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

/// (topic, payload) of a command message.
pub type Key = (String, String);

/// Broker-side receipt counter (persistent session, QoS 1).
#[derive(Clone, Default)]
pub struct Counter {
    counts: Arc<Mutex<HashMap<Key, u32>>>,
}

impl Counter {
    pub fn start(rt: &tokio::runtime::Runtime, port: u16, filter: &str) -> Counter {
        let counter = Counter::default();
        let c = counter.clone();
        let filter = filter.to_string();
        let mut opts = MqttOptions::new(format!("e2e-counter-{port}"), "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(5));
        opts.set_clean_session(false);
        let (client, mut el) = AsyncClient::new(opts, 1024);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) if !ack.session_present => {
                        let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let key = (p.topic.clone(), String::from_utf8_lossy(&p.payload).into_owned());
                        *c.counts.lock().unwrap().entry(key).or_default() += 1;
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).expect("receipt counter subscribed");
        counter
    }

    pub fn counts(&self) -> HashMap<Key, u32> {
        self.counts.lock().unwrap().clone()
    }

    pub fn total(&self) -> u32 {
        self.counts.lock().unwrap().values().sum()
    }
}

/// What [`check_rule`] found, for the test's summary line.
#[derive(Debug, Default)]
pub struct Tally {
    pub rows: usize,
    pub acked: usize,
    pub superseded_received: usize,
    pub superseded_unsent: usize,
}

/// Hold the stored rows against the receipts; `Err` lists every violation.
pub fn check_rule(rows: &[CommandRow], receipts: &HashMap<Key, u32>) -> Result<Tally, String> {
    let mut bad = Vec::new();
    let mut tally = Tally { rows: rows.len(), ..Tally::default() };
    let key = |r: &CommandRow| (r.topic.clone(), String::from_utf8_lossy(&r.payload).into_owned());
    let got = |k: &Key| receipts.get(k).copied().unwrap_or(0);
    let mut by_key: HashMap<Key, i64> = HashMap::new();
    let mut newest: BTreeMap<&str, &CommandRow> = BTreeMap::new();
    for r in rows {
        if let Some(other) = by_key.insert(key(r), r.id) {
            bad.push(format!("rows #{other} and #{} carry the same message", r.id));
        }
        let n = newest.entry(r.device_id.as_str()).or_insert(r);
        if r.id > n.id {
            *n = r;
        }
    }
    for r in rows {
        let n = got(&key(r));
        match r.status {
            CommandStatus::Acked if n == 1 => tally.acked += 1,
            CommandStatus::Superseded if n <= 1 => {
                if n == 1 {
                    tally.superseded_received += 1;
                } else {
                    tally.superseded_unsent += 1;
                }
                let acked_newer = rows.iter().any(|o| {
                    o.device_id == r.device_id && o.id > r.id && o.status == CommandStatus::Acked && got(&key(o)) == 1
                });
                if !acked_newer {
                    bad.push(format!("#{} superseded but no newer command to {} was acked", r.id, r.device_id));
                }
            }
            status => bad.push(format!(
                "#{} {} {}: {status} with {n} receipt(s) ({:?})",
                r.id,
                r.device_id,
                String::from_utf8_lossy(&r.payload),
                r.error
            )),
        }
    }
    for (device, r) in newest {
        if r.status != CommandStatus::Acked {
            bad.push(format!("the newest command #{} to {device} ended {}", r.id, r.status));
        }
    }
    for (k, n) in receipts {
        if !by_key.contains_key(k) {
            bad.push(format!("{k:?} reached a device {n} time(s) but has no row"));
        }
    }
    if bad.is_empty() { Ok(tally) } else { Err(bad.join("\n")) }
}
