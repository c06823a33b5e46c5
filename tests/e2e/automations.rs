//! Automations end to end: the real `hubd` on a real mosquitto with the
//! simulated Zigbee2MQTT lights; rules triggered by a Zigbee2MQTT sensor
//! message, the clock, a spoken sentence (`hubd say`) and an MQTT message;
//! runs and their traces in SQLite; reload with a broken file; a rule that
//! would loop; enable/disable across a restart.

use std::process::Output;
use std::time::Duration;

use crate::common::*;

const RULES: &str = r#"
[home]
timezone = "UTC"

[[device]]
id = "binary_sensor.hall_motion"
name = "Hall Motion"
area = "hallway"
device_class = "motion"
dialect = { type = "zigbee2mqtt", friendly_name = "Hall Motion" }

[[automation]]
id = "hall_motion_light"
triggers = [{ trigger = "state", entity_id = "binary_sensor.hall_motion", to = "on" }]
actions = [{ action = "light.turn_on", target = { entity_id = "light.hall" }, data = { brightness_pct = 40 } }]

[[automation]]
id = "good_night"
triggers = [{ trigger = "sentence", command = ["good night", "[it's] bed time"] }]
actions = [
  { action = "light.turn_off", target = { area_id = "living_room" } },
  { set_conversation_response = "Sleep well" },
]

[[automation]]
id = "button"
triggers = [{ trigger = "mqtt", topic = "test/button/+", payload = "press" }]
actions = [
  { action = "mqtt.publish", data = { topic = "test/echo", payload = "pressed on {{ trigger.topic }}" } },
  { action = "notify.phone", data = { message = "button {{ trigger.topic.split('/')[2] }}" } },
]

# Would loop: its own command changes the brightness it triggers on.
[[automation]]
id = "flip"
triggers = [{ trigger = "state", entity_id = "light.living_room_lamp", attribute = "brightness_pct" }]
actions = [{ action = "light.turn_on", target = { entity_id = "light.living_room_lamp" }, data = { brightness_pct = "{{ 90 if (trigger.to_state.attributes.brightness_pct | int(0)) < 50 else 10 }}" } }]
"#;

/// `HH:MM:SS` (UTC) `secs` from now.
fn clock_in(secs: u64) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + secs;
    format!("{:02}:{:02}:{:02}", t / 3600 % 24, t / 60 % 60, t % 60)
}

fn time_rule() -> String {
    // Several instants, so a slow start-up still sees one of them pass.
    let at: Vec<String> = [8, 14, 20, 26].iter().map(|s| format!("\"{}\"", clock_in(*s))).collect();
    format!(
        "\n[[automation]]\nid = \"kitchen_clock\"\nmode = \"single\"\ntriggers = [{{ trigger = \"time\", at = [{}] }}]\nactions = [{{ action = \"light.turn_on\", target = {{ entity_id = \"light.kitchen\" }} }}, {{ action = \"automation.turn_off\", target = {{ entity_id = \"automation.kitchen_clock\" }} }}]\n",
        at.join(", ")
    )
}

fn cli(web: u16, args: &[&str]) -> Output {
    hubd().arg("--url").arg(format!("127.0.0.1:{web}")).args(args).output().expect("hubd runs")
}

fn runs(web: u16, id: &str) -> Vec<serde_json::Value> {
    let (code, body) = http(web, "GET", &format!("/api/automations/{id}/runs?limit=50"), None).expect("http");
    assert_eq!(code, 200, "{body}");
    json(&body).as_array().cloned().unwrap_or_default()
}

fn outcomes(web: u16, id: &str) -> Vec<String> {
    runs(web, id).iter().map(|r| r["outcome"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn rules_act_through_the_outbox_and_are_traced() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let obs = Observer::start(&rt, broker.port, &["zigbee2mqtt/+/set", "test/echo", "hubd/notify/#"]);
    let web = free_port();
    let cfg = dir.path().join("hub.toml");
    let text = format!("{}{RULES}{}", config_text(broker.port, web, 2000), time_rule());
    std::fs::write(&cfg, &text).unwrap();
    let mut daemon = Daemon::start(&cfg, web, None);

    // State trigger: the sensor's Zigbee2MQTT message -> the hall light on, acked.
    publish_raw(&rt, broker.port, "zigbee2mqtt/Hall Motion", br#"{"occupancy":true}"#.to_vec());
    assert!(
        wait_until(Duration::from_secs(10), || devices.state("Hall Light").is_some_and(|s| s["state"] == "ON")),
        "hall light not turned on; log:\n{}",
        daemon.log_text()
    );
    assert!(obs.on("zigbee2mqtt/Hall Light/set").iter().any(|p| p.contains("\"brightness\"")));
    assert!(wait_until(Duration::from_secs(5), || !runs(web, "hall_motion_light").is_empty()));
    let run = &runs(web, "hall_motion_light")[0];
    assert_eq!(run["outcome"], "finished");
    assert_eq!(run["trigger"]["platform"], "state");
    assert_eq!(run["trigger"]["to_state"]["state"], "on");
    let ids = run["steps"][0]["command_ids"].as_array().cloned().unwrap_or_default();
    assert_eq!(ids.len(), 1, "{run}");
    let (_, cmds) = http(web, "GET", "/api/commands?limit=50", None).unwrap();
    let cmd = json(&cmds).as_array().cloned().unwrap_or_default().into_iter().find(|c| c["id"] == ids[0]);
    assert!(cmd.is_some_and(|c| c["device_id"] == "light.hall"), "the run's command is in the outbox");

    // Time trigger: the kitchen light at one of the configured instants (then the rule turns itself off).
    assert!(
        wait_until(Duration::from_secs(40), || devices.state("Kitchen Light").is_some_and(|s| s["state"] == "ON")),
        "time trigger did not fire; log:\n{}",
        daemon.log_text()
    );
    assert!(wait_until(Duration::from_secs(5), || outcomes(web, "kitchen_clock")
        .first()
        .is_some_and(|o| o == "finished")));
    assert_eq!(runs(web, "kitchen_clock")[0]["trigger"]["platform"], "time");

    // Sentence trigger through `hubd say`: the rule's reply, the living room off.
    let out = cli(web, &["say", "good night"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("Sleep well"), "{said}");
    assert!(wait_until(Duration::from_secs(5), || outcomes(web, "good_night")
        .first()
        .is_some_and(|o| o == "finished")));
    assert_eq!(runs(web, "good_night")[0]["trigger"]["platform"], "conversation");
    assert!(obs.on("zigbee2mqtt/Reading Lamp/set").iter().any(|p| p.contains("OFF")));

    // MQTT trigger with a wildcard: a publication and a notification, rendered from the trigger.
    publish_raw(&rt, broker.port, "test/button/porch", b"press".to_vec());
    assert!(wait_until(Duration::from_secs(5), || obs
        .on("test/echo")
        .iter()
        .any(|p| p == "pressed on test/button/porch")));
    assert!(wait_until(Duration::from_secs(5), || !obs.on("hubd/notify/phone").is_empty()));
    let note = json(&obs.on("hubd/notify/phone")[0]);
    assert_eq!((note["message"].as_str(), note["automation"].as_str()), (Some("button porch"), Some("button")));
    publish_raw(&rt, broker.port, "test/button/porch", b"hold".to_vec());

    // A rule whose own commands trigger it again is stopped and reported, not run forever.
    std::thread::sleep(Duration::from_millis(500));
    let n0 = runs(web, "flip").len();
    let body = r#"{"device_id":"light.living_room_lamp","action":{"action":"brightness","percent":30}}"#;
    let (code, resp) = http(web, "POST", "/api/commands", Some(body)).unwrap();
    assert_eq!(code, 202, "{resp}");
    assert!(
        wait_until(Duration::from_secs(10), || {
            let o = outcomes(web, "flip");
            o.len() >= n0 + 2 && o[0] == "loop_stopped"
        }),
        "no loop stop: {:?}; log:\n{}",
        runs(web, "flip"),
        daemon.log_text()
    );
    let before = outcomes(web, "flip");
    std::thread::sleep(Duration::from_secs(2));
    let flips = outcomes(web, "flip");
    assert_eq!(flips.len(), before.len(), "the rule stopped running: {flips:?}");
    // Runs for the lamp's first report, good_night's command and ours, each stopped at its own echo.
    let finished = flips.iter().filter(|o| *o == "finished").count();
    assert!((1..=3).contains(&finished), "{flips:?}");
    let stopped = runs(web, "flip").into_iter().find(|r| r["outcome"] == "loop_stopped").expect("stopped run");
    assert_eq!(stopped["cause"]["rule"], "flip");
    assert!(stopped["error"].as_str().is_some_and(|e| e.contains("trigger itself")), "{stopped}");

    // The CLI: the list, a trace step by step, a run by hand.
    let list = String::from_utf8_lossy(&cli(web, &["automations"]).stdout).to_string();
    assert!(list.contains("hall_motion_light") && list.contains("finished"), "{list}");
    let trace = String::from_utf8_lossy(&cli(web, &["automations", "trace", "hall_motion_light"]).stdout).to_string();
    assert!(trace.contains("trigger    state binary_sensor.hall_motion"), "{trace}");
    assert!(trace.contains("light.turn_on") && trace.contains("commands"), "{trace}");
    let out = cli(web, &["automations", "trigger", "button"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(wait_until(Duration::from_secs(5), || runs(web, "button")
        .iter()
        .any(|r| r["trigger"]["platform"] == "manual")));
    let out = cli(web, &["automations", "trigger", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no automation `nope`"));

    // Reload: a device, an area and a rule added, a rule removed; a broken file is refused and the old rules keep working.
    let added = "\n[[area]]\nid = \"porch\"\nname = \"Porch\"\nfloor = \"ground_floor\"\n\n[[device]]\nid = \"light.porch\"\nname = \"Porch Light\"\narea = \"porch\"\ndialect = { type = \"zigbee2mqtt\", friendly_name = \"Porch Light\" }\n\n[[automation]]\nid = \"added\"\ntriggers = [{ trigger = \"mqtt\", topic = \"test/added\" }]\nactions = [{ action = \"mqtt.publish\", data = { topic = \"test/echo\", payload = \"added works\" } }, { action = \"light.turn_on\", target = { area_id = \"porch\" } }]\n";
    let without_button =
        text.replace("id = \"button\"", "id = \"button_renamed\"").replace("test/button/+", "test/renamed/+");
    std::fs::write(&cfg, format!("{without_button}{added}")).unwrap();
    let out = cli(web, &["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    publish_raw(&rt, broker.port, "test/added", b"x".to_vec());
    assert!(wait_until(Duration::from_secs(5), || obs.on("test/echo").iter().any(|p| p == "added works")));
    assert!(
        wait_until(Duration::from_secs(5), || !obs.on("zigbee2mqtt/Porch Light/set").is_empty()),
        "new device commanded"
    );
    // The new device is understood, and its state topic is followed.
    let out = cli(web, &["say", "turn off the porch light"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).to_lowercase().contains("porch"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(wait_until(Duration::from_secs(5), || obs
        .on("zigbee2mqtt/Porch Light/set")
        .iter()
        .any(|p| p.contains("OFF"))));
    publish_raw(&rt, broker.port, "zigbee2mqtt/Porch Light", br#"{"state":"ON"}"#.to_vec());
    assert!(wait_until(Duration::from_secs(5), || {
        let (_, d) = http(web, "GET", "/api/devices", None).unwrap();
        json(&d).as_array().into_iter().flatten().any(|x| x["id"] == "light.porch" && x["state"]["on"] == true)
    }));
    let echoes = obs.on("test/echo").len();
    publish_raw(&rt, broker.port, "test/button/porch", b"press".to_vec());
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(obs.on("test/echo").len(), echoes, "the removed rule no longer runs");
    std::fs::write(&cfg, format!("{without_button}{added}\n[[automation]]\nid = \"broken\"\ntriggers = [{{ trigger = \"state\", entity_id = \"light.attic\" }}]\nactions = [{{ delay = 1 }}]\n")).unwrap();
    let out = cli(web, &["reload"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(err.contains("unknown entity `light.attic`") && err.contains("hub.toml:"), "{err}");
    publish_raw(&rt, broker.port, "test/added", b"x".to_vec());
    assert!(
        wait_until(Duration::from_secs(5), || obs.on("test/echo").iter().filter(|p| *p == "added works").count() == 2)
    );

    // Disabled survives a restart.
    let out = cli(web, &["automations", "disable", "hall_motion_light"]);
    assert!(out.status.success());
    assert_eq!(daemon.sigterm().code(), Some(0));
    std::fs::write(&cfg, &text).unwrap();
    let daemon = Daemon::start(&cfg, web, None);
    let (_, list) = http(web, "GET", "/api/automations", None).unwrap();
    let rule = json(&list).as_array().cloned().unwrap_or_default().into_iter().find(|r| r["id"] == "hall_motion_light");
    assert_eq!(rule.map(|r| r["enabled"].clone()), Some(serde_json::json!(false)), "{list}");
    drop(daemon);
}
