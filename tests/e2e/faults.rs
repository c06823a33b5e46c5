//! Fault survival against real parts: the broker restarting under load, the
//! broker absent when hubd starts, and the database's disk filling up (a
//! real, small tmpfs mounted by the test; it runs as root, as CI does).
//! The 20-SIGKILL run is in `kill_run.rs`; a device that never echoes ends
//! `failed` with its reason in `broker_security.rs` (and the outbox's unit
//! tests `echo_mismatch_retries_then_fails`, `a_row_never_published_expires`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use crate::receipts::check_rule;

fn rows(rt: &tokio::runtime::Runtime, db: &Path) -> Vec<hubd::store::CommandRow> {
    let store = rt.block_on(hubd::store::Store::open(db)).unwrap();
    let mut rows = rt.block_on(store.recent_commands(100_000)).unwrap();
    rt.block_on(store.close());
    rows.sort_by_key(|r| r.id);
    rows
}

fn open_rows(rt: &tokio::runtime::Runtime, db: &Path) -> usize {
    rows(rt, db).iter().filter(|r| r.status.is_open()).count()
}

fn brightness(web: u16, device: &str, pct: u32) -> std::io::Result<(u16, String)> {
    let body = format!(r#"{{"device_id":"{device}","action":{{"action":"brightness","percent":{pct}}}}}"#);
    http(web, "POST", "/api/commands", Some(&body))
}

/// Every light shows the brightness of its newest stored command.
fn shows_newest(rows: &[hubd::store::CommandRow], devices: &Devices) {
    for (id, name, _) in LIGHTS {
        let Some(r) = rows.iter().rfind(|r| r.device_id == *id) else { continue };
        let sent: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        let shown = devices.state(name).unwrap();
        for key in ["state", "brightness"] {
            if !sent[key].is_null() {
                assert_eq!(shown[key], sent[key], "{id}: {key} of #{}", r.id);
            }
        }
    }
}

fn mqtt_connected(web: u16) -> bool {
    matches!(http(web, "GET", "/healthz", None), Ok((200, b)) if b.contains("\"mqtt_connected\":true"))
}

/// The broker is killed and restarted three times while 120 commands
/// (30 brightness values per light, 3 % apart so that no echo can confirm
/// a neighbour within the ±1 % an echo may differ by; one command every
/// 40 ms) stream in. Every command is accepted; afterwards each acked one reached
/// its light exactly once, what a restart made stale reached it at most
/// once, and every light shows its newest command.
#[test]
fn broker_restarts_under_load_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 3000);
    let mut daemon = Daemon::start(&cfg, web, None);

    let sender = std::thread::spawn(move || {
        let mut errors = Vec::new();
        for pct in (1..=88u32).step_by(3) {
            for (id, _, _) in LIGHTS {
                match brightness(web, id, pct) {
                    Ok((202, _)) => {}
                    other => errors.push(format!("{id} {pct}: {other:?}")),
                }
                std::thread::sleep(Duration::from_millis(40));
            }
        }
        errors
    });
    for outage_ms in [200, 1000, 0] {
        std::thread::sleep(Duration::from_millis(700));
        broker.kill();
        std::thread::sleep(Duration::from_millis(outage_ms));
        broker.restart();
        assert!(wait_until(Duration::from_secs(15), || mqtt_connected(web)), "no reconnect:\n{}", daemon.log_text());
    }
    let errors = sender.join().unwrap();
    assert!(errors.is_empty(), "refused while the broker restarted: {errors:?}");
    let db = dir.path().join("hubd.db");
    assert!(
        wait_until(Duration::from_secs(60), || open_rows(&rt, &db) == 0),
        "commands still open: {}\n{}",
        open_rows(&rt, &db),
        daemon.log_text()
    );
    let rows = rows(&rt, &db);
    assert_eq!(rows.len(), 120);
    let tally = check_rule(&rows, &devices.receipts()).unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    eprintln!("broker restarts: {tally:?}");
    shows_newest(&rows, &devices);
    assert!(daemon.alive());
}

/// No broker when hubd starts: it comes up anyway, takes commands (202,
/// pending in SQLite) and delivers each exactly once when the broker appears.
#[test]
fn broker_unreachable_at_startup_commands_wait_and_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut broker = Mosquitto::start(dir.path());
    broker.kill();
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 2000);
    let mut daemon = Daemon::spawn(&cfg, web, None);
    daemon.wait_api(Duration::from_secs(20));
    assert!(!mqtt_connected(web));
    for (i, (id, _, _)) in LIGHTS.iter().enumerate() {
        let (status, body) = brightness(web, id, 10 + i as u32).unwrap();
        assert_eq!(status, 202, "{body}");
        assert_eq!(json(&body)["commands"][0]["status"], "pending", "{body}");
    }
    let db = dir.path().join("hubd.db");
    assert_eq!(open_rows(&rt, &db), LIGHTS.len());
    let out = hubd().arg("--config").arg(&cfg).arg("--json").arg("status").output().unwrap();
    let st = json(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(st["mqtt_connected"], false, "{st}");

    broker.restart();
    let devices = Devices::start(&rt, broker.port);
    assert!(wait_until(Duration::from_secs(20), || mqtt_connected(web)), "no connect:\n{}", daemon.log_text());
    assert!(
        wait_until(Duration::from_secs(30), || open_rows(&rt, &db) == 0),
        "not delivered: {:?}\n{}",
        rows(&rt, &db),
        daemon.log_text()
    );
    let rows = rows(&rt, &db);
    assert!(rows.iter().all(|r| r.status == hubd::store::CommandStatus::Acked), "{rows:?}");
    check_rule(&rows, &devices.receipts()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(devices.total(), 4);
    shows_newest(&rows, &devices);
}

/// A tmpfs of `size` mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (and a SKIPPED line) where this process may not mount: the
    /// disk-full tests need root with CAP_SYS_ADMIN, as this project's
    /// machines and CI have.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount(8)");
        if !out.status.success() {
            eprintln!(
                "SKIPPED: mounting a {size} tmpfs failed (the disk-full tests need root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fill the file system holding `path` with a filler file; returns it.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    // Small writes take the last partial chunk.
    while f.write_all(&[0u8; 512]).is_ok() {}
    let _ = f.sync_all();
    p
}

/// The database on a 4 MB tmpfs that the test fills: commands are refused
/// with 507 naming the store (`hubd say` exits 1 with that message), no row
/// of a refused command exists, the daemon stays up, and once space returns
/// commands flow and the statuses held back meanwhile reach the database.
#[test]
fn disk_full_refuses_commands_clearly_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount("4m") else { return };
    let db = fs.path().join("hubd.db");
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let web = free_port();
    let text = config_text(broker.port, web, 2000).replace("path = \"hubd.db\"", &format!("path = {:?}", db));
    let cfg = dir.path().join("hub.toml");
    std::fs::write(&cfg, text).unwrap();
    let mut daemon = Daemon::start(&cfg, web, None);

    let (status, body) = brightness(web, "light.kitchen", 2).unwrap();
    assert_eq!(status, 202, "{body}");
    let mut accepted = vec![json(&body)["commands"][0]["id"].as_i64().unwrap()];

    let filler = fill(fs.path());
    // SQLite may still have room in its write-ahead log for a few rows.
    let mut refusal = None;
    // 3 % apart per light (an echo may differ by ±1 %).
    for k in 0..124u32 {
        let (status, body) = brightness(web, LIGHTS[(k % 4) as usize].0, 6 + 3 * (k / 4)).unwrap();
        if status == 202 {
            accepted.push(json(&body)["commands"][0]["id"].as_i64().unwrap());
            continue;
        }
        refusal = Some((status, body));
        break;
    }
    let (status, body) = refusal.expect("no command was refused on a full disk");
    assert_eq!(status, 507, "{body}");
    let v = json(&body);
    assert_eq!(v["error"]["code"], "insufficient_storage", "{body}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&db.display().to_string()) && msg.contains("full"), "{msg}");
    // Still refused, and `hubd say` says why.
    let (status, _) = brightness(web, "light.hall", 3).unwrap();
    assert_eq!(status, 507);
    let out = hubd().arg("--config").arg(&cfg).arg("say").arg("turn off the reading lamp").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}{}\n{}", String::from_utf8_lossy(&out.stdout), daemon.log_text());
    assert!(stderr.contains("HTTP 507") && stderr.contains("is full"), "{stderr}");
    assert!(daemon.alive(), "{}", daemon.log_text());
    assert!(mqtt_connected(web));

    // Space returns.
    std::fs::remove_file(&filler).unwrap();
    let out = hubd().arg("--config").arg(&cfg).arg("say").arg("turn off the reading lamp").output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), daemon.log_text());
    let (status, body) = brightness(web, "light.hall", 3).unwrap();
    assert_eq!(status, 202, "{body}");
    accepted.push(json(&body)["commands"][0]["id"].as_i64().unwrap());
    assert!(
        wait_until(Duration::from_secs(20), || open_rows(&rt, &db) == 0),
        "statuses not stored after recovery: {:?}\n{}",
        rows(&rt, &db),
        daemon.log_text()
    );
    let rows = rows(&rt, &db);
    let lamp = rows.iter().filter(|r| r.device_id == "light.living_room_lamp").count();
    assert_eq!(lamp, 1, "the refused say left a row: {rows:?}");
    let mut ids: Vec<i64> = rows.iter().filter(|r| r.device_id != "light.living_room_lamp").map(|r| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, accepted, "rows other than the accepted commands");
    check_rule(&rows, &devices.receipts()).unwrap_or_else(|e| panic!("{e}"));
    shows_newest(&rows, &devices);
    assert_eq!(devices.state("Reading Lamp").unwrap()["state"], "OFF");
}

/// The store itself on a full disk: every write fails at once as "disk
/// full" (never "database is locked" after `busy_timeout`), a write that
/// reports success is really committed, and writes work again once space
/// returns. (Before the store closed a connection whose transaction failed,
/// SQLite kept that transaction open: the connection held the write lock,
/// other writers failed after 5 s, and its own later inserts went into a
/// transaction that never committed.)
#[test]
fn store_on_a_full_disk_fails_fast_and_commits_what_it_accepts() {
    let Some(fs) = Tmpfs::mount("1m") else { return };
    let rt = runtime();
    let db = fs.path().join("store.db");
    let store = rt.block_on(hubd::store::Store::open(&db)).unwrap();
    let cmd = |i: usize| hubd::store::NewCommand {
        device_id: format!("light.d{i}"),
        topic: format!("zigbee2mqtt/d{i}/set"),
        payload: vec![b'x'; 200],
        retain: false,
        action: serde_json::json!({"action": "turn_on"}),
        expires_at: None,
        correlation: None,
    };
    let filler = fill(fs.path());
    let mut accepted = 0;
    for i in 0..30 {
        match rt.block_on(store.insert_commands(&[cmd(i)])) {
            Ok(_) => accepted += 1,
            Err(e) => assert!(e.is_disk_full(), "insert {i}: {e}"),
        }
        let st = serde_json::json!({"on": true, "i": i});
        if let Err(e) = rt.block_on(store.upsert_device_state(&format!("light.d{}", i % 3), &st)) {
            assert!(e.is_disk_full(), "state write {i}: {e}");
        }
    }
    assert!(accepted < 30, "the full disk refused nothing");
    std::fs::remove_file(&filler).unwrap();
    rt.block_on(store.insert_commands(&[cmd(99)])).unwrap();
    rt.block_on(store.close());
    let rows = rows(&rt, &db);
    assert_eq!(rows.len(), accepted + 1, "{rows:?}");
}
