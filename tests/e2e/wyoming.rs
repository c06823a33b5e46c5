//! The Wyoming server against the official `wyoming` client
//! (`wyoming_client.py`, run with the venv's Python), a real mosquitto, the
//! real daemon and its Whisper: describe, STT of an espeak-ng recording,
//! conversation acted on the broker, intent recognition, TTS transcribed
//! back by hubd's own Whisper, and bad clients that must not hurt it.

use std::path::Path;
use std::time::Duration;

use crate::common::{Daemon, Devices, Mosquitto, config_text, free_port, json, runtime, wait_until};

fn client(port: u16, scenario: &str) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/wyoming_client.py");
    let out = std::process::Command::new(crate::voice::venv().join("bin/python"))
        .arg(&script)
        .arg(port.to_string())
        .arg(scenario)
        .output()
        .expect("the venv's python with the wyoming package");
    assert!(out.status.success(), "wyoming client failed: {}", String::from_utf8_lossy(&out.stderr));
    json(String::from_utf8_lossy(&out.stdout).trim())
}

/// The transcript is the sentence, within one word (Whisper may add a
/// trailing word on a clip cut right after the speech), with its key words.
fn heard(transcript: &serde_json::Value, sentence: &str, key: &[&str]) -> bool {
    let text = transcript.as_str().unwrap_or("");
    let words = hubd::wav::fixtures::words_of(text);
    hubd::wav::fixtures::word_distance(text, sentence) <= 1 && key.iter().all(|k| words.iter().any(|w| w == k))
}

fn start(dir: &Path, broker: u16, wyoming: &str) -> (Daemon, u16) {
    let (web, port) = (free_port(), free_port());
    let cfg = dir.join("hub.toml");
    let text = format!(
        "{}\n[wyoming]\nenabled = true\nbind = \"127.0.0.1:{port}\"\n{wyoming}",
        config_text(broker, web, 2000)
    );
    std::fs::write(&cfg, text).unwrap();
    (Daemon::start(&cfg, web, None), port)
}

#[test]
fn home_assistant_uses_hubd_over_wyoming() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let (mut daemon, port) = start(dir.path(), broker.port, "");
    let seen = client(port, "full");
    let log = daemon.log_text();

    // describe: every service, parsed by the package's own Info.
    let d = &seen["describe"]["parsed"];
    assert_eq!(d["asr"], serde_json::json!(["hubd-whisper"]), "{seen}");
    assert_eq!(d["handle"], serde_json::json!(["hubd"]));
    assert_eq!(d["intent"], serde_json::json!(["hubd-intent"]));
    assert_eq!(d["tts"], serde_json::json!(["espeak-ng"]));
    assert!(d["voices"].as_u64().unwrap() > 10, "espeak-ng's voices: {d}");
    assert_eq!(d["home_control"], true);

    // STT: streaming events, then the transcript.
    let stt = &seen["stt"];
    let kinds: Vec<&str> = stt["kinds"].as_array().unwrap().iter().filter_map(|k| k.as_str()).collect();
    assert_eq!(kinds, ["transcript-start", "transcript-chunk", "transcript-stop", "transcript"], "{stt}");
    assert!(heard(&stt["text"], "turn on the kitchen light", &["kitchen", "light"]), "{stt}");
    assert_eq!(stt["chunks"][0], stt["text"]);

    // handle: acted on the broker, the reply and the conversation id back.
    let h = &seen["handle"];
    assert_eq!(h["kind"], "handled", "{h}");
    assert!(!h["text"].as_str().unwrap_or("").is_empty(), "{h}");
    assert_eq!(h["context"]["conversation_id"], "conv-e2e-1");
    assert!(
        wait_until(Duration::from_secs(10), || devices.state("Kitchen Light").is_some_and(|s| s["state"] == "ON")),
        "the kitchen light was not switched on the broker"
    );
    assert!(log.contains("kitchen-satellite"), "the satellite id is logged");
    assert_eq!(seen["not_handled"]["kind"], "not-handled", "{}", seen["not_handled"]);

    // intent: Home Assistant's name and slots, nothing done.
    let i = &seen["intent"];
    assert_eq!(i["name"], "HassTurnOff", "{i}");
    assert_eq!(i["entities"]["entity_id"], serde_json::json!(["light.hall"]), "{i}");
    assert!(i["entities"]["name"].as_str().is_some_and(|n| n.to_lowercase().contains("hall")), "{i}");
    assert_eq!(seen["not_recognized"]["kind"], "not-recognized");
    let hall = devices.receipts().into_keys().filter(|(topic, _)| topic.starts_with("zigbee2mqtt/Hall Light")).count();
    assert_eq!(hall, 0, "recognize does not act");

    // TTS at 22,050 Hz 16-bit mono, understood by hubd's own Whisper.
    let t = &seen["tts"];
    assert_eq!(t["format"], serde_json::json!([22050, 2, 1]), "{t}");
    assert!(t["bytes"].as_u64().unwrap() > 22050, "{t}");
    assert!(t["chunks"].as_u64().unwrap() > 1);
    assert!(
        heard(&seen["tts_stt"]["text"], "the kitchen light is on", &["kitchen", "light", "on"]),
        "{}",
        seen["tts_stt"]
    );

    // Bad clients: an error event naming the problem, then the server goes on.
    assert_eq!(seen["unknown"]["first"]["code"], "unknown-event");
    assert_eq!(seen["unknown"]["then"], "info", "the connection survived the unknown event");
    let m = &seen["malformed"];
    assert_eq!((m["kind"].as_str(), m["closed"].as_bool()), (Some("error"), Some(true)), "{m}");
    assert!(m["data"]["text"].as_str().unwrap().starts_with("malformed frame: header is not JSON"), "{m}");
    let o = &seen["oversize"];
    assert!(o["data"]["text"].as_str().unwrap().contains("`payload_length` 999999999999 is over"), "{o}");
    assert_eq!(seen["after"]["handle"], serde_json::json!(["hubd"]), "still serving after a client left mid-audio");
    let log = daemon.log_text();
    assert!(log.contains("client disconnected mid-audio"), "logged with the peer:\n{log}");
    assert!(log.contains("malformed frame; closing the connection"), "{log}");
    assert!(daemon.alive());
}

#[test]
fn wyoming_without_espeak_and_over_the_connection_limit() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let extra = "max_connections = 2\n\n[tts]\nprogram = \"/nonexistent/espeak-ng\"\n";
    let (mut daemon, port) = start(dir.path(), broker.port, extra);
    let seen = client(port, "no_tts");
    assert_eq!(seen["describe"]["tts"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["describe"]["handle"], serde_json::json!(["hubd"]));
    assert_eq!(seen["tts"]["error"]["code"], "no-tts", "{seen}");
    assert!(seen["tts"]["error"]["text"].as_str().unwrap().contains("/nonexistent/espeak-ng"));
    let busy = client(port, "busy");
    assert_eq!(busy["held"], serde_json::json!(["info", "info"]), "{busy}");
    assert_eq!(busy["third"]["data"]["code"], "busy", "{busy}");
    assert_eq!(busy["third"]["closed"], true);
    assert_eq!(busy["after"]["handle"], serde_json::json!(["hubd"]), "the slot is free again: {busy}");
    assert!(daemon.alive());
}

/// Bound to every interface, the server is announced as `_wyoming._tcp`;
/// a browser (mdns-sd, the same crate) on this machine resolves it to the
/// daemon's port, and the goodbye on shutdown removes it.
#[test]
fn wyoming_is_announced_over_mdns() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let (web, port) = (free_port(), free_port());
    let cfg = dir.path().join("hub.toml");
    let text =
        format!("{}\n[wyoming]\nenabled = true\nbind = \"0.0.0.0:{port}\"\n", config_text(broker.port, web, 2000));
    std::fs::write(&cfg, text).unwrap();
    let browser = mdns_sd::ServiceDaemon::new().unwrap();
    let events = browser.browse("_wyoming._tcp.local.").unwrap();
    let mut daemon = Daemon::start(&cfg, web, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut found = None;
    while found.is_none() && std::time::Instant::now() < deadline {
        if let Ok(mdns_sd::ServiceEvent::ServiceResolved(s)) = events.recv_timeout(Duration::from_millis(200))
            && s.get_port() == port
        {
            found = Some(s);
        }
    }
    let s =
        found.unwrap_or_else(|| panic!("no _wyoming._tcp announcement for port {port}; log:\n{}", daemon.log_text()));
    assert!(s.get_fullname().starts_with("hubd-"), "{}", s.get_fullname());
    assert!(!s.get_addresses_v4().is_empty(), "announced with this machine's addresses");
    assert!(daemon.log_text().contains("wyoming: announced over mDNS"));
    // The goodbye: the record is removed when hubd stops.
    let name = s.get_fullname().to_string();
    daemon.stop_cleanly();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut removed = false;
    while !removed && std::time::Instant::now() < deadline {
        if let Ok(mdns_sd::ServiceEvent::ServiceRemoved(_, n)) = events.recv_timeout(Duration::from_millis(200)) {
            removed = n == name;
        }
    }
    let _ = browser.shutdown();
    assert!(removed, "no goodbye for {name}");
}
