//! Every domain end to end (issue 14, item 1): the extended demo home
//! (`tests/homes/every-domain.toml`) on a real broker, its devices run by
//! hubd's simulator (Valetudo, Zigbee2MQTT, ESPHome, Shelly, generic JSON),
//! requests through `/api/say` with Home Assistant's English templates.
//! Each command goes out on the firmware's topic and is confirmed by the
//! device's state echo (a button, which has none, on PUBACK); a scene sends
//! its set of states, a script runs its sequence in the automation engine,
//! an `input_boolean` is kept retained on the broker so a restart keeps it.
use std::time::Duration;

use crate::common::*;

fn home_config(mqtt: u16, web: u16) -> String {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let home = std::fs::read_to_string(repo.join("tests/homes/every-domain.toml")).unwrap();
    format!(
        r#"
[mqtt]
host = "127.0.0.1"
port = {mqtt}
client_id = "hubd-e2e-{mqtt}"
keepalive = 2
command_timeout_ms = 2000

[store]
path = "hubd.db"

[web]
bind = "127.0.0.1:{web}"
loopback_without_token = true

[audio]
enabled = false
{home}"#
    )
}

/// The statuses of a reply's commands, by device.
fn statuses(out: &serde_json::Value) -> Vec<(String, String)> {
    out["commands"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["device_id"].as_str().unwrap_or("").to_string(), c["status"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn all_acked(out: &serde_json::Value, n: usize) {
    let s = statuses(out);
    assert_eq!(s.len(), n, "{out}");
    assert!(s.iter().all(|(_, st)| st == "acked"), "{out}");
}

#[test]
fn every_domain_is_commanded_and_confirmed_on_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let web = free_port();
    let text = home_config(broker.port, web);
    let cfg = dir.path().join("hub.toml");
    std::fs::write(&cfg, &text).unwrap();
    let config = hubd::config::Config::from_str(&text, "domains").unwrap();
    let registry = config.registry().unwrap();
    let options = hubd::simulate::SimOptions {
        z2m_retain: true,
        backoff_max: Duration::from_millis(200),
        log: Some(hubd::simulate::SimLog::default()),
    };
    rt.spawn(hubd::simulate::run_with(registry, "127.0.0.1".into(), broker.port, options, std::future::pending()));
    let obs = Observer::start(
        &rt,
        broker.port,
        &[
            "valetudo/rover/#",
            "hubd/input_boolean/#",
            "hall/button/chime/command",
            "home/tv/set",
            "zigbee2mqtt/Kitchen Light/set",
        ],
    );
    let mut daemon = Daemon::start(&cfg, web, None);
    let log = |d: &Daemon| d.log_text();

    // Vacuum: the area's Valetudo segments, confirmed by the robot's status.
    let out = say(web, "vacuum the kitchen");
    assert_eq!(
        (out["intent"].as_str(), out["reply"].as_str()),
        (Some("HassVacuumCleanArea"), Some("Cleaning Kitchen")),
        "{out}"
    );
    all_acked(&out, 1);
    let clean = obs.on("valetudo/rover/MapSegmentationCapability/clean/set");
    assert_eq!(clean.len(), 1, "{clean:?}");
    assert_eq!(json(&clean[0])["segment_ids"], serde_json::json!(["20"]), "{clean:?}");
    let out = say(web, "return rover to base");
    all_acked(&out, 1);
    assert_eq!(obs.on("valetudo/rover/BasicControlCapability/operation/set"), vec!["HOME".to_string()]);

    // Media player, valve, fan speed, thermostat fan mode, lawn mower.
    for (text, n) in [
        ("turn on the TV", 1),
        ("set the TV volume to 30%", 1),
        ("mute the TV", 1),
        ("open the garden water", 1),
        ("set the ceiling fan speed to 40%", 1),
        ("set the thermostat fan mode to low", 1),
        ("start mowing", 1),
    ] {
        let out = say(web, text);
        assert!(out["error"].is_null(), "{text}: {out}\n{}", log(&daemon));
        all_acked(&out, n);
    }
    // The media library: the item found is sent to the named player, which
    // confirms it by playing; what is not in the library is not played.
    let out = say(web, "play dinner party on the TV");
    assert_eq!(
        (out["intent"].as_str(), out["reply"].as_str()),
        (Some("HassMediaSearchAndPlay"), Some("Playing media"))
    );
    all_acked(&out, 1);
    let sent = obs.on("home/tv/set");
    let play = sent.iter().map(|p| json(p)).find(|p| p["command"] == "play_media");
    let play = play.unwrap_or_else(|| panic!("no play_media on home/tv/set: {sent:?}"));
    assert_eq!(play["media_content_id"], "http://media.local/playlists/dinner-party.m3u", "{play}");
    assert_eq!(play["media_content_type"], "playlist", "{play}");
    let out = say(web, "play heavy metal on the TV");
    assert_eq!(out["reply"], "Media not found", "{out}");
    assert!(out["commands"].as_array().is_none_or(|c| c.is_empty()), "{out}");

    // A button has no state: acknowledged by the broker.
    let out = say(web, "press the chime");
    all_acked(&out, 1);
    assert_eq!(obs.on("hall/button/chime/command"), vec!["PRESS".to_string()]);

    // The weather from the simulated station.
    let out = say(web, "what is the weather");
    assert_eq!(out["reply"], "21.5 °C and sunny", "{out}");

    // A to-do list of the home, kept in SQLite.
    let out = say(web, "add milk to my groceries list");
    assert_eq!(out["intent"], "HassListAddItem", "{out}");
    let (code, body) = http(web, "GET", "/api/lists?list=Groceries", None).unwrap();
    assert!(code == 200 && body.contains("milk"), "{code} {body}");

    // A scene: its set of states, each confirmed.
    let out = say(web, "activate movie night");
    assert_eq!(out["reply"], "Activated", "{out}");
    all_acked(&out, 4);

    // A hub-held boolean: retained on the broker, confirmed by its own echo.
    let out = say(web, "turn on guest mode");
    all_acked(&out, 1);
    assert!(obs.msgs.lock().unwrap().iter().any(|(t, p, _)| t == "hubd/input_boolean/guest_mode" && p == b"ON"));

    // A script: its sequence runs in the automation engine (the light off,
    // guest mode off) after the reply.
    let out = say(web, "run goodnight");
    assert_eq!(out["reply"], "Started", "{out}");
    assert!(
        wait_until(Duration::from_secs(5), || obs.on("hubd/input_boolean/guest_mode").last().map(String::as_str)
            == Some("OFF")),
        "{:?}\n{}",
        obs.on("hubd/input_boolean/guest_mode"),
        log(&daemon)
    );
    assert!(obs.on("zigbee2mqtt/Kitchen Light/set").iter().any(|p| json(p)["state"] == "OFF"));

    // Guest mode back on; a restart reads it back from the retained topic.
    all_acked(&say(web, "turn on guest mode"), 1);
    daemon.sigterm();
    let mut daemon = Daemon::start(&cfg, web, None);
    let on = wait_until(Duration::from_secs(5), || {
        let (code, body) = http(web, "GET", "/api/devices", None).unwrap();
        code == 200
            && json(&body)
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["id"] == "input_boolean.guest_mode" && d["state"]["on"] == true)
    });
    assert!(on, "{}", log(&daemon));
    daemon.sigterm();
}
