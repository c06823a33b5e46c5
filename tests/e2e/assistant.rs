//! Timers and lists end to end, through a real broker and real SQLite.
//!
//! Timers: a named timer
//! finishes and is announced on MQTT (`hubd/timer`) and the event bus; a
//! timer made from "turn off the hallway light in 1 second" sends the
//! command to the simulated Zigbee2MQTT light; a restart mid-timer keeps
//! the timer and it still finishes; a timer that finished just before a
//! crash runs its sentence once after the restart, and not again.
//!
//! Lists: the shopping list intents add and check off items in SQLite,
//! shown by `GET /api/lists` and `hubd lists`. The clock tells the time and
//! the date. A request's stages are on the event bus.
use std::time::Duration;

use hub_skills::timers::Timer;

use crate::common::*;

const TIMER_TOPIC: &str = "hubd/timer";
const HALL_SET: &str = "zigbee2mqtt/Hall Light/set";

fn timers(web: u16) -> Vec<serde_json::Value> {
    let (code, body) = http(web, "GET", "/api/timers", None).unwrap();
    assert_eq!(code, 200, "{body}");
    json(&body).as_array().cloned().unwrap_or_default()
}

/// The timer events seen on MQTT, as (type, name).
fn events(obs: &Observer) -> Vec<(String, Option<String>)> {
    obs.on(TIMER_TOPIC)
        .iter()
        .map(|p| {
            let v = json(p);
            (v["type"].as_str().unwrap_or("").to_string(), v["timer"]["name"].as_str().map(str::to_string))
        })
        .collect()
}

#[test]
fn timers_finish_run_commands_and_survive_a_restart() {
    let mut home = Home::start();
    let (web, cfg) = (home.web, home.cfg.clone());
    let obs = Observer::start(&home.rt, home.broker.port, &[TIMER_TOPIC, HALL_SET]);

    // A named timer: set, listed, finished and announced.
    let out = say(web, "set a 2 second timer for the pasta");
    assert_eq!(out["intent"], "HassStartTimer", "{out}");
    assert_eq!(out["reply"], "Timer set for 2 seconds named the pasta", "{out}");
    let list = timers(web);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "pasta");
    assert!(list[0]["is_active"].as_bool().unwrap());
    let pasta = Some("pasta".to_string());
    let finished = ("finished".to_string(), pasta.clone());
    assert!(
        wait_until(Duration::from_secs(8), || events(&obs).contains(&finished)),
        "{:?}\n{}",
        events(&obs),
        home.daemon.log_text()
    );
    assert_eq!(events(&obs).first(), Some(&("started".to_string(), pasta)));
    assert!(timers(web).is_empty());

    // Several timers: which one is asked; status; cancel all.
    assert_eq!(say(web, "set a timer for 10 minutes")["reply"], "Timer set for 10 minutes");
    assert_eq!(say(web, "set a timer for 5 minutes")["reply"], "Timer set for 5 minutes");
    let out = say(web, "cancel the timer");
    assert!(out["reply"].as_str().unwrap().contains("more than one timer"), "{out}");
    let out = say(web, "timer status");
    assert!(out["reply"].as_str().unwrap().starts_with("2 running timers."), "{out}");
    assert_eq!(say(web, "pause the 5 minute timer")["reply"], "Timer paused");
    assert_eq!(say(web, "add 2 minutes to the 10 minute timer")["reply"], "2 minutes added to timer");
    let cli = hubd().args(["--config", cfg.to_str().unwrap(), "timers"]).output().unwrap();
    let shown = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success() && shown.contains("10 minutes") && shown.contains("paused"), "{shown}");
    let list = timers(web);
    let left: Vec<f64> = list.iter().map(|t| t["seconds_left"].as_f64().unwrap()).collect();
    assert!(left[0] > 660.0 && left[0] <= 720.0 && left[1] > 290.0 && left[1] <= 300.0, "{list:?}");
    assert_eq!(say(web, "cancel all timers")["reply"], "Canceled 2 timers.");

    // A sentence run when the timer finishes: the light's command goes out.
    let out = say(web, "turn off the hallway light in 1 second");
    assert_eq!(out["reply"], "Command will be executed in 1 second", "{out}");
    assert!(obs.on(HALL_SET).is_empty(), "not before the timer ends");
    assert!(wait_until(Duration::from_secs(8), || !obs.on(HALL_SET).is_empty()), "{}", home.daemon.log_text());
    assert!(obs.on(HALL_SET)[0].contains("OFF"), "{:?}", obs.on(HALL_SET));

    // A restart mid-timer keeps it, and it still finishes.
    assert_eq!(say(web, "set a 4 second timer for the eggs")["reply"], "Timer set for 4 seconds named the eggs");
    home.daemon.stop_cleanly();
    home.daemon = Daemon::start(&cfg, web, None);
    let list = timers(web);
    assert_eq!(list.len(), 1, "{list:?}\n{}", home.daemon.log_text());
    assert_eq!(list[0]["name"], "eggs");
    let eggs = ("finished".to_string(), Some("eggs".to_string()));
    assert!(wait_until(Duration::from_secs(10), || events(&obs).contains(&eggs)), "{}", home.daemon.log_text());
    assert_eq!(obs.on(HALL_SET).len(), 1, "the hallway sentence ran once");
}

#[test]
fn a_timer_that_finished_before_a_crash_runs_its_sentence_once() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let _devices = Devices::start(&rt, broker.port);
    let obs = Observer::start(&rt, broker.port, &[HALL_SET, "zigbee2mqtt/Kitchen Light/set"]);
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 5000);

    // As a crash leaves them: two timers marked fired, rows not deleted.
    // The first's sentence never ran; the second's had stored its command.
    let store = open_store(&rt, dir.path());
    let fired = |id: i64, text: &str| Timer {
        id,
        name: None,
        area: None,
        start_secs: 60,
        ends_at_ms: Some(1_000),
        paused_left_ms: 0,
        command: Some(text.into()),
        created_ms: 1_000 - 60_000,
    };
    let (hall, kitchen) = (fired(1, "turn off the hallway light"), fired(2, "turn off the kitchen light"));
    rt.block_on(async {
        for t in [&hall, &kitchen] {
            store.save_timer(t).await.unwrap();
            store.mark_timer_fired(t.id, 2_000).await.unwrap();
        }
        let cmd = hubd::store::NewCommand {
            device_id: "light.kitchen".into(),
            topic: "zigbee2mqtt/Kitchen Light/set".into(),
            payload: br#"{"state":"OFF"}"#.to_vec(),
            retain: false,
            action: serde_json::json!({"action": "turn_off"}),
            expires_at: None,
            correlation: Some(format!("timer-2-{}", kitchen.created_ms)),
        };
        store.insert_commands(&[cmd]).await.unwrap();
        store.close().await;
    });

    let mut d = Daemon::start(&cfg, web, None);
    assert!(wait_until(Duration::from_secs(8), || !obs.on(HALL_SET).is_empty()), "{}", d.log_text());
    let s = open_store(&rt, dir.path());
    assert!(wait_until(Duration::from_secs(5), || rt.block_on(s.timers()).unwrap().is_empty()));
    d.stop_cleanly();
    let d = Daemon::start(&cfg, web, None);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(obs.on(HALL_SET).len(), 1, "ran once: {}", d.log_text());
    // Each sentence's commands, by the timer's correlation id: the hallway
    // one ran once, the kitchen one was not run again.
    let s = open_store(&rt, dir.path());
    let count = |t: &Timer| rt.block_on(s.count_correlated_commands(&format!("timer-{}-{}", t.id, t.created_ms)));
    assert_eq!(count(&hall).unwrap(), 1, "{}", d.log_text());
    assert_eq!(count(&kitchen).unwrap(), 1);
}

#[test]
fn lists_are_kept_in_sqlite_and_the_clock_and_greetings_answer() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let web = free_port();
    let cfg = write_config(dir.path(), broker.port, web, 5000);
    let d = Daemon::start(&cfg, web, None);
    let out = say(web, "add milk to my shopping list");
    assert_eq!(out["intent"], "HassShoppingListAddItem", "{out}");
    assert_eq!(out["reply"], "Added milk", "{out}\n{}", d.log_text());
    assert_eq!(say(web, "put eggs on the shopping list")["reply"], "Added eggs");
    assert_eq!(say(web, "check off milk from my shopping list")["reply"], "Checked off milk");
    let out = say(web, "check off bread from my shopping list");
    assert_eq!(out["reply"], "Sorry, bread is not on the shopping list.", "{out}");
    assert!(out["error"].is_string(), "{out}");

    let (code, body) = http(web, "GET", "/api/lists?list=shopping%20list", None).unwrap();
    assert_eq!(code, 200, "{body}");
    let items: Vec<(String, bool)> = json(&body)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["item"].as_str().unwrap().to_string(), i["complete"].as_bool().unwrap()))
        .collect();
    assert_eq!(items, [("milk".to_string(), true), ("eggs".to_string(), false)]);
    let (code, body) = http(web, "GET", "/api/lists?nope=1", None).unwrap();
    assert_eq!(code, 400, "{body}");

    // The CLI reads the same rows: open items only unless --all.
    let out = hubd().args(["--config", cfg.to_str().unwrap(), "--json", "lists"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = json(&String::from_utf8_lossy(&out.stdout));
    let names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|i| i["item"].as_str()).collect();
    assert_eq!(names, ["eggs"]);

    // The clock, in the system's zone (no `[home] timezone` here), as `date` tells it.
    let date = |fmt: &str| {
        let out = std::process::Command::new("date").arg(fmt).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let before = date("+%-I:%M %p");
    let told = say(web, "what time is it")["reply"].as_str().unwrap().to_string();
    assert!(told == before || told == date("+%-I:%M %p"), "{told} vs {before}");
    let today = say(web, "what is the date today")["reply"].as_str().unwrap().to_string();
    let (month, day, year) = (date("+%B"), date("+%-d"), date("+%Y"));
    assert!(today.starts_with(&format!("{month} {day}")) && today.ends_with(&format!(", {year}")), "{today}");

    // HassRespond: hubd's own answers by the template's response key.
    let hello = say(web, "hello");
    assert_eq!((hello["intent"].as_str(), hello["reply"].as_str()), (Some("HassRespond"), Some("Hello from hubd.")));
    assert_eq!(say(web, "where does my data go")["reply"], "Your data stays on this hub, in your home.");
}

/// A request's stages on the event bus (`pipeline`), in order, under its
/// session: what it was understood as, its commands, the reply.
#[test]
fn pipeline_stages_are_on_the_bus() {
    let home = Home::start();
    let web = home.web;
    let rx = subscribe(web, None);
    let out = say(web, "turn on the kitchen light");
    let session = out["session"].as_str().unwrap().to_string();
    let mut stages = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < until && stages.last().map(|s: &Sse| s.data["stage"] != "reply").unwrap_or(true) {
        if let Ok(e) = rx.recv_timeout(Duration::from_millis(200))
            && e.event == "pipeline"
            && e.data["session"] == session.as_str()
        {
            stages.push(e);
        }
    }
    let names: Vec<&str> = stages.iter().filter_map(|e| e.data["stage"].as_str()).collect();
    assert_eq!(names, ["intent", "commands", "reply"], "{stages:?}\n{}", home.daemon.log_text());
    assert_eq!(stages[0].data["data"]["intent"], "HassTurnOn");
    let ids: Vec<&serde_json::Value> = out["commands"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert_eq!(stages[1].data["data"]["ids"].as_array().unwrap().iter().collect::<Vec<_>>(), ids);
    assert_eq!(stages[2].data["data"]["text"], out["reply"]);
    let ms: Vec<f64> = stages.iter().map(|e| e.data["ms"].as_f64().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] <= w[1]), "{ms:?}");
}
