//! Text commands, outbox durability, broker outage and bad input.

use std::time::Duration;

use crate::common::*;

fn light_set(name: &str) -> String {
    format!("zigbee2mqtt/{name}/set")
}

/// `hubd say` through a running daemon: the command crosses the broker, the
/// device applies it, the outbox row ends acked and the dialogue is stored.
#[test]
fn say_turns_on_a_light_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let obs = Observer::start(&rt, broker.port, &["zigbee2mqtt/+/set", "hubd/status"]);
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 2000);
    let mut daemon = Daemon::start(&cfg, web, None);

    let out =
        hubd().arg("--config").arg(&cfg).arg("--json").arg("say").arg("turn on the kitchen light").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "say failed: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        daemon.log_text()
    );
    let v = json(stdout.trim());
    assert_eq!(v["intent"], "HassTurnOn");
    let cmds = v["commands"].as_array().unwrap();
    assert_eq!(cmds.len(), 1, "{v}");
    assert_eq!(cmds[0]["device_id"], "light.kitchen");
    assert_eq!(cmds[0]["status"], "acked");
    // `[nlu] responses` defaults to the language's Home Assistant response
    // template for HassTurnOn with `state.domain = light`.
    assert_eq!(v["reply"], "Turned on the light", "{v}");

    // What crossed the broker.
    let sets = obs.on(&light_set("Kitchen Light"));
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(json(&sets[0])["state"], "ON");
    assert!(obs.on(&light_set("Hall Light")).is_empty());
    assert_eq!(obs.on("hubd/status").last().map(String::as_str), Some("online"));
    assert_eq!(devices.state("Kitchen Light").unwrap()["state"], "ON");

    // What is in SQLite.
    let store = open_store(&rt, dir.path());
    let rows = rt.block_on(store.recent_commands(10)).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, hubd::store::CommandStatus::Acked);
    assert_eq!(rows[0].topic, light_set("Kitchen Light"));
    let turns = rt.block_on(store.recent_turns(10)).unwrap();
    assert_eq!(turns.len(), 2, "{turns:?}");
    assert!(turns.iter().any(|t| t.role == hubd::store::Role::User && t.text == "turn on the kitchen light"));
    assert!(turns.iter().any(|t| t.role == hubd::store::Role::Assistant && !t.text.is_empty()));
    let st = rt.block_on(store.device_state("light.kitchen")).unwrap().unwrap();
    assert_eq!(st.state["on"], true, "{:?}", st.state);

    // Counters: Prometheus text on /metrics, JSON through `hubd status`.
    let (code, metrics) = http(web, "GET", "/metrics", None).unwrap();
    assert_eq!(code, 200, "{metrics}");
    for line in [
        "hubd_mqtt_connected 1",
        "hubd_outbox_enqueued_total 1",
        "hubd_outbox_acked_total 1",
        "hubd_audio_vad_frames_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in /metrics:\n{metrics}");
    }
    let out = hubd().arg("--config").arg(&cfg).arg("--json").arg("status").output().unwrap();
    assert!(out.status.success(), "status failed: {}", String::from_utf8_lossy(&out.stderr));
    let st = json(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(st["mqtt_connected"], true, "{st}");
    assert_eq!(st["outbox"]["acked"], 1, "{st}");
    assert!(st["audio"]["frames"].is_u64(), "{st}");
    // The LLM loads on the first chat request, not at start-up.
    assert_eq!(st["llm"]["loaded"], false, "{st}");
    let out = hubd().arg("--config").arg(&cfg).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.trim_start().starts_with("llm") && l.contains("not loaded")), "{text}");

    // Graceful stop publishes `offline` (retained) before disconnecting.
    let status = daemon.sigterm();
    assert!(status.success(), "exit status {status}");
    assert!(wait_until(Duration::from_secs(3), || obs.on("hubd/status").last().map(String::as_str) == Some("offline")));
    // No daemon: `hubd status` says so and fails.
    let out = hubd().arg("--config").arg(&cfg).arg("status").output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no hubd is running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn post_command(web: u16, device: &str, action: &str) -> std::io::Result<(u16, String)> {
    http(web, "POST", "/api/commands", Some(&format!(r#"{{"device_id":"{device}","action":{action}}}"#)))
}

fn counts(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> hubd::store::CommandCounts {
    let store = open_store(rt, dir);
    let c = rt.block_on(store.command_counts()).unwrap();
    rt.block_on(store.close());
    c
}

/// SIGKILL-like abort right after the insert commits, before any publish:
/// after a restart the command is sent once and the device ends commanded.
#[test]
fn durable_across_crash_between_insert_and_publish() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 1500);

    let mut d = Daemon::start(&cfg, web, Some("exit_after_insert"));
    let _ = post_command(web, "light.kitchen", r#"{"action":"brightness","percent":40}"#);
    assert!(d.wait_exit(Duration::from_secs(5)), "fault hook did not abort hubd");
    let c = counts(&rt, dir.path());
    assert_eq!((c.pending, c.acked), (1, 0), "{c:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(devices.total(), 0, "nothing may be published before the crash");

    let _d2 = Daemon::start(&cfg, web, None);
    assert!(
        wait_until(Duration::from_secs(10), || counts(&rt, dir.path()).acked == 1),
        "resumed row not acked: {:?}",
        counts(&rt, dir.path())
    );
    assert_eq!(devices.total(), 1, "{:?}", devices.receipts());
    let st = devices.state("Kitchen Light").unwrap();
    assert_eq!(st["state"], "ON");
    assert!(st.contains_key("brightness"), "{st:?}");
}

/// Abort after the broker acknowledged the publish, before the echo is seen:
/// after a restart the retained echo acks the row and nothing is resent.
#[test]
fn durable_across_crash_after_publish_before_ack() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 1500);

    let mut d = Daemon::start(&cfg, web, Some("exit_after_publish"));
    let _ = post_command(web, "light.living_room", r#"{"action":"turn_on"}"#);
    assert!(d.wait_exit(Duration::from_secs(5)), "fault hook did not abort hubd");
    assert!(wait_until(Duration::from_secs(3), || devices.total() == 1), "device never got the command");
    let c = counts(&rt, dir.path());
    assert_eq!(c.acked, 0, "{c:?}");
    assert_eq!(c.pending + c.sent, 1, "{c:?}");

    let _d2 = Daemon::start(&cfg, web, None);
    assert!(
        wait_until(Duration::from_secs(10), || counts(&rt, dir.path()).acked == 1),
        "resumed row not acked: {:?}",
        counts(&rt, dir.path())
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(devices.total(), 1, "applied twice: {:?}", devices.receipts());
    assert_eq!(devices.state("Living Room Light").unwrap()["state"], "ON");
}

/// The broker goes away for 5 s in the middle of a stream of 200 commands:
/// afterwards all 200 are acked, each reached its device exactly once, and
/// every device ends in the last commanded state.
#[test]
fn broker_outage_under_200_commands() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 1500);
    let mut daemon = Daemon::start(&cfg, web, None);

    // 50 distinct brightness values per light, interleaved across lights.
    let mut cmds = Vec::new();
    for i in 0..50u32 {
        for (id, _, _) in LIGHTS {
            cmds.push((id.to_string(), 2 * i + 1));
        }
    }
    let sender = std::thread::spawn(move || {
        let mut errors = Vec::new();
        for (k, (id, pct)) in cmds.into_iter().enumerate() {
            let r = post_command(web, &id, &format!(r#"{{"action":"brightness","percent":{pct}}}"#));
            match r {
                Ok((202, _)) => {}
                other => errors.push(format!("#{k} {id} {pct}: {other:?}")),
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        errors
    });
    std::thread::sleep(Duration::from_millis(1000));
    broker.kill();
    std::thread::sleep(Duration::from_secs(5));
    broker.restart();
    let errors = sender.join().unwrap();
    assert!(errors.is_empty(), "API errors: {errors:?}");
    assert!(
        wait_until(Duration::from_secs(30), || counts(&rt, dir.path()).acked == 200),
        "not all acked: {:?}\n{}",
        counts(&rt, dir.path()),
        daemon.log_text()
    );
    assert!(daemon.alive());
    let receipts = devices.receipts();
    let dup: Vec<_> = receipts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dup.is_empty(), "applied more than once: {dup:?}");
    assert_eq!(devices.total(), 200, "receipts: {}", devices.total());
    let c = counts(&rt, dir.path());
    assert_eq!((c.pending, c.sent, c.failed, c.expired), (0, 0, 0, 0), "{c:?}");
    // Last command per light was brightness 99 %.
    let store = open_store(&rt, dir.path());
    for (id, name, _) in LIGHTS {
        let st = rt.block_on(store.device_state(id)).unwrap().unwrap();
        let b = st.state["brightness_pct"].as_i64().unwrap_or(-1);
        assert!((98..=100).contains(&b), "{id}: {:?}", st.state);
        assert_eq!(devices.state(name).unwrap()["state"], "ON");
    }
}

/// Garbage, oversize and non-UTF-8 state payloads and an unknown device:
/// clear errors, and the daemon keeps working.
#[test]
fn bad_input_is_reported_and_survived() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 1500);
    let mut daemon = Daemon::start(&cfg, web, None);

    publish_raw(&rt, broker.port, "zigbee2mqtt/Kitchen Light", b"{not json at all".to_vec());
    publish_raw(&rt, broker.port, "zigbee2mqtt/Hall Light", vec![b'x'; 1 << 20]);
    publish_raw(&rt, broker.port, "zigbee2mqtt/Reading Lamp", vec![0xff, 0xfe, 0x80, b'{']);
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.alive(), "daemon died on bad payloads:\n{}", daemon.log_text());
    let log = daemon.log_text();
    for topic in ["zigbee2mqtt/Kitchen Light", "zigbee2mqtt/Hall Light", "zigbee2mqtt/Reading Lamp"] {
        assert!(log.contains(topic) && log.contains("ignoring bad state payload"), "no error naming {topic}:\n{log}");
    }

    let (status, body) = post_command(web, "light.does_not_exist", r#"{"action":"turn_on"}"#).unwrap();
    assert_eq!(status, 404, "{body}");
    let v = json(&body);
    assert_eq!(v["error"]["code"], "not_found");
    assert!(v["error"]["message"].as_str().unwrap().contains("light.does_not_exist"));

    let (status, body) = http(web, "POST", "/api/commands", Some("{\"device_id\": 5")).unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["error"]["code"], "bad_request");

    let (status, body) = http(web, "POST", "/api/say", Some(r#"{"text":"frobnicate the quux"}"#)).unwrap();
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert!(v["intent"].is_null(), "{v}");
    assert!(v["error"].as_str().is_some(), "{v}");

    // Still working after all that.
    let (status, body) = post_command(web, "light.kitchen", r#"{"action":"turn_on"}"#).unwrap();
    assert_eq!(status, 202, "{body}");
    assert!(wait_until(Duration::from_secs(5), || counts(&rt, dir.path()).acked == 1), "{:?}", counts(&rt, dir.path()));
    assert_eq!(devices.state("Kitchen Light").unwrap()["state"], "ON");
    assert!(daemon.alive());
}

/// `hubd understand` batch mode: one JSON line out per line in.
#[test]
fn understand_batch_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), free_port(), free_port(), 1500);
    let mut child = hubd()
        .arg("--config")
        .arg(&cfg)
        .arg("understand")
        .arg("--area")
        .arg("kitchen")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"turn on the kitchen light\nblorp the flibbet\nturn off the reading lamp\n\
              set the kitchen light brightness to fifty percent\nset the kitchen light brightness to 35%\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(json).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["intent"], "HassTurnOn");
    assert_eq!(lines[0]["text"], "turn on the kitchen light");
    assert!(lines[1]["intent"].is_null() && lines[1]["error"].is_string(), "{}", lines[1]);
    assert_eq!(lines[2]["intent"], "HassTurnOff");
    // Number words come from the table setup derives with unicode-rbnf, as
    // hassil spells range lists; digits work without it.
    for (line, pct) in [(&lines[3], 50), (&lines[4], 35)] {
        assert_eq!(line["intent"], "HassLightSet", "{line}");
        assert_eq!(line["source"], "template", "{line}");
        assert_eq!(line["slots"]["brightness"].as_f64(), Some(pct as f64), "{line}");
    }
    // `--heads` before any training says what to run.
    let out = hubd().arg("--config").arg(&cfg).args(["understand", "--heads", "lights off"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("run `hubd train` first"), "{err}");
}
