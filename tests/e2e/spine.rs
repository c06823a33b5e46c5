//! The spine: the event bus seen from outside (`GET /api/events`), and the
//! outbox across restarts (issue: a restart re-applied commands out of order).

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;

fn next_matching(rx: &mpsc::Receiver<Sse>, within: Duration, f: impl Fn(&Sse) -> bool) -> Option<Sse> {
    let until = Instant::now() + within;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(e) if f(&e) => return Some(e),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// A client on `GET /api/events` sees the state change of `hubd say "turn on
/// the kitchen light"` within the same second, with the command's status
/// and the dialogue turns; reconnecting with `Last-Event-ID` replays what
/// came after that id.
#[test]
fn events_stream_shows_a_say_within_a_second() {
    let home = Home::start();
    let web = home.web;
    let events = subscribe(web, None);
    std::thread::sleep(Duration::from_millis(200));

    let t0 = Instant::now();
    let out = hubd().arg("--config").arg(&home.cfg).arg("say").arg("turn on the kitchen light").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The simulated light may also announce itself (availability, its
    // initial state) around now: wait for the change the say made.
    let changed = next_matching(&events, Duration::from_secs(5), |e| {
        e.event == "state_changed" && e.data["entity_id"] == "light.kitchen" && e.data["new"]["on"] == true
    })
    .expect("no state_changed event turning light.kitchen on");
    assert!(t0.elapsed() < Duration::from_secs(1) + Duration::from_millis(500), "took {:?}", t0.elapsed());
    assert_eq!(changed.data["type"], "state_changed");
    assert_eq!(changed.data["new"]["on"], true, "{:?}", changed.data);
    assert_eq!(changed.data["source"], "mqtt");
    let acked =
        next_matching(&events, Duration::from_secs(3), |e| e.event == "command_status" && e.data["status"] == "acked")
            .expect("no acked command_status");
    assert_eq!(acked.data["entity_id"], "light.kitchen");
    let turn =
        next_matching(&events, Duration::from_secs(3), |e| e.event == "dialogue_turn" && e.data["role"] == "user")
            .expect("no dialogue_turn");
    assert_eq!(turn.data["text"], "turn on the kitchen light");

    // Replay: everything after the state change, again, on a new connection.
    let replay = subscribe(web, Some(changed.id));
    let first = replay.recv_timeout(Duration::from_secs(3)).expect("replayed event");
    assert_eq!(first.id, changed.id + 1, "replay starts right after Last-Event-ID");
    assert!(next_matching(&replay, Duration::from_secs(3), |e| e.id == turn.id).is_some(), "turn not replayed");

    // A bad Last-Event-ID is a 400 naming the header.
    let mut s = TcpStream::connect(("127.0.0.1", web)).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\nLast-Event-ID: abc\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut text);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("Last-Event-ID"), "{text}");
}

fn say_http(web: u16, text: &str) -> std::io::Result<(u16, String)> {
    http(web, "POST", "/api/say", Some(&format!(r#"{{"text":"{text}"}}"#)))
}

fn commands(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Vec<hubd::store::CommandRow> {
    let store = open_store(rt, dir);
    let rows = rt.block_on(store.recent_commands(1000)).unwrap();
    rt.block_on(store.close());
    let mut rows = rows;
    rows.sort_by_key(|r| r.id);
    rows
}

/// The restart defect, both ways of stopping, twice each: alternating
/// "turn on"/"turn off the hall light" from several clients while the light
/// does not answer, then a stop with the commands open, then a restart with
/// the light back. The light must end in the state of the newest command,
/// that row is the one acked, and every older open row is superseded (never
/// acked without its own echo, never resent after a newer one).
#[test]
fn restart_keeps_the_newest_command_per_device() {
    for (round, kill) in [(0, true), (1, false), (2, true), (3, false)] {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        let broker = Mosquitto::start(dir.path());
        let web = free_port();
        // Long ack timeout: no retry while the light is away.
        let cfg = write_config(dir.path(), broker.port, web, 30_000);
        let mut daemon = Daemon::start(&cfg, web, None);
        let clients: Vec<_> = (0..4)
            .map(|c| {
                std::thread::spawn(move || {
                    for k in 0..2 {
                        let verb = if (c + k) % 2 == 0 { "on" } else { "off" };
                        let _ = say_http(web, &format!("turn {verb} the hall light"));
                    }
                })
            })
            .collect();
        // Wait until 6-8 commands are open (published, no echo: the light is away).
        assert!(
            wait_until(Duration::from_secs(20), || commands(&rt, dir.path()).len() >= 6),
            "round {round}: commands not enqueued:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
        if kill {
            let _ = daemon.child.kill();
            let _ = daemon.child.wait();
        } else {
            let st = daemon.sigterm();
            assert!(st.success(), "round {round}: {st}");
        }
        drop(daemon);
        for c in clients {
            let _ = c.join();
        }
        let before = commands(&rt, dir.path());
        assert!(before.iter().any(|r| r.status.is_open()), "round {round}: nothing open: {before:?}");
        assert!(
            before.iter().all(|r| r.status != hubd::store::CommandStatus::Acked),
            "round {round}: acked without an echo: {before:?}"
        );

        // The light comes back, then hubd.
        let devices = Devices::start(&rt, broker.port);
        std::thread::sleep(Duration::from_millis(300));
        let _d2 = Daemon::start(&cfg, web, None);
        let newest = before.iter().map(|r| r.id).max().unwrap();
        assert!(
            wait_until(Duration::from_secs(15), || commands(&rt, dir.path()).iter().all(|r| !r.status.is_open())),
            "round {round}: rows still open: {:?}",
            commands(&rt, dir.path())
        );
        let after = commands(&rt, dir.path());
        let last = after.iter().find(|r| r.id == newest).unwrap();
        assert_eq!(last.status, hubd::store::CommandStatus::Acked, "round {round}: {after:?}");
        let want = if last.action["action"] == "turn_on" { "ON" } else { "OFF" };
        assert_eq!(devices.state("Hall Light").unwrap()["state"], want, "round {round}: {after:?}");
        for r in &after {
            if r.id != newest {
                assert_eq!(r.status, hubd::store::CommandStatus::Superseded, "round {round}: row {}: {after:?}", r.id);
                assert!(r.error.as_deref().unwrap_or("").contains("superseded"), "{r:?}");
            }
        }
        // Only the newest is sent, and not even that when the light already
        // shows it after the reconnect (the simulator starts "off").
        let receipts = devices.receipts();
        assert!(devices.total() <= 1, "round {round}: more than the newest was sent: {receipts:?}");
        assert!(receipts.keys().all(|(_, p)| p.contains(want)), "round {round}: {receipts:?}");
    }
}

/// A graceful stop drains: commands in flight when SIGTERM arrives are
/// finished (acked) before the process exits, not left for the next start.
#[test]
fn sigterm_drains_open_commands_first() {
    let mut home = Home::start();
    let web = home.web;
    for (i, (id, _, _)) in LIGHTS.iter().enumerate() {
        let body =
            format!(r#"{{"device_id":"{id}","action":{{"action":"brightness","percent":{}}},"wait_ms":0}}"#, 10 + i);
        let (code, text) = http(web, "POST", "/api/commands", Some(&body)).unwrap();
        assert_eq!(code, 202, "{text}");
    }
    let st = home.daemon.sigterm();
    assert!(st.success(), "{st}");
    let rows = commands(&home.rt, home.dir.path());
    assert_eq!(rows.len(), LIGHTS.len());
    assert!(rows.iter().all(|r| r.status == hubd::store::CommandStatus::Acked), "{rows:?}");
    assert_eq!(home.devices.total(), LIGHTS.len() as u32);
}

/// A SIGTERM that arrives while the daemon is still starting is kept: start
/// finishes and the daemon shuts down cleanly (exit 0, the outbox stopped),
/// instead of the default disposition killing it mid-start.
#[test]
fn sigterm_during_start_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 2000);
    let mut d = Daemon::spawn(&cfg, web, Some("slow_start"));
    assert!(wait_until(Duration::from_secs(10), || d.log_text().contains("fault: slow start")), "{}", d.log_text());
    let st = d.sigterm();
    let log = d.log_text();
    assert!(st.success(), "{st}:\n{log}");
    assert!(log.contains("local API listening") && log.contains("shutting down"), "{log}");
    assert!(log.contains("outbox stopped"), "{log}");
}

fn metric(web: u16, name: &str) -> u64 {
    let (_, text) = http(web, "GET", "/metrics", None).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Counters tell the truth: every acked command was sent (an echo that beats
/// its PUBACK still counts the send), and a flood of malformed state
/// payloads is counted in full but logged once per topic.
#[test]
fn counters_and_logs_do_not_mislead() {
    let home = Home::start();
    let (rt, web, daemon) = (&home.rt, home.web, &home.daemon);
    for i in 0..40u32 {
        let (id, _, _) = LIGHTS[i as usize % LIGHTS.len()];
        let body =
            format!(r#"{{"device_id":"{id}","action":{{"action":"brightness","percent":{}}},"wait_ms":0}}"#, i + 1);
        assert_eq!(http(web, "POST", "/api/commands", Some(&body)).unwrap().0, 202);
    }
    assert!(wait_until(Duration::from_secs(10), || metric(web, "hubd_outbox_acked_total ") == 40));
    assert!(metric(web, "hubd_outbox_sent_total ") >= 40, "sent < acked");

    for _ in 0..200 {
        publish_raw(rt, home.broker.port, "zigbee2mqtt/Kitchen Light", b"{not json".to_vec());
    }
    assert!(wait_until(Duration::from_secs(5), || metric(web, "hubd_mqtt_bad_state_payloads_total ") == 200));
    let warnings = daemon.log_text().lines().filter(|l| l.contains("ignoring bad state payload")).count();
    assert_eq!(warnings, 1, "{}", daemon.log_text());
}

/// A client on `GET /api/events` that never reads does not slow the outbox:
/// 500 commands through a daemon with such a subscriber are all acked within
/// a bound, and the API keeps answering.
#[test]
fn a_subscriber_that_never_reads_does_not_slow_the_outbox() {
    let home = Home::start();
    let web = home.web;
    // Subscribe and never read a byte.
    let mut stalled = TcpStream::connect(("127.0.0.1", web)).unwrap();
    write!(stalled, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n\r\n").unwrap();
    let t0 = Instant::now();
    for i in 0..500u32 {
        let (id, _, _) = LIGHTS[i as usize % LIGHTS.len()];
        let body = format!(
            r#"{{"device_id":"{id}","action":{{"action":"brightness","percent":{}}},"wait_ms":0}}"#,
            i % 100 + 1
        );
        assert_eq!(http(web, "POST", "/api/commands", Some(&body)).unwrap().0, 202);
    }
    assert!(
        wait_until(Duration::from_secs(30), || metric(web, "hubd_outbox_acked_total ") == 500),
        "acked {} of 500",
        metric(web, "hubd_outbox_acked_total ")
    );
    let lagged = metric(web, "hubd_events_lagged_total ");
    eprintln!("500 commands acked in {:?} with a stalled subscriber; events lost by it so far: {lagged}", t0.elapsed());
    drop(stalled);
}
