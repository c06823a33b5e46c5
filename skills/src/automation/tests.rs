//! The engine driven with plain vectors and an injected clock.
use std::cell::RefCell;
use std::collections::HashMap;

use firmware_bridge::{Action, DeviceKind, DeviceState, Dialect, Features};
use serde_json::{Value, json};

use super::engine::World;
use super::*;
use crate::registry::{Area, Device, Floor, Registry};

fn z2m(name: &str) -> Option<Dialect> {
    Some(Dialect::Zigbee2mqtt { friendly_name: name.into(), base_topic: "zigbee2mqtt".into() })
}

fn dev(id: &str, kind: DeviceKind, area: Option<&str>, dialect: Option<Dialect>, dimmable: bool) -> Device {
    Device {
        id: id.into(),
        kind,
        name: id.into(),
        aliases: vec![],
        area: area.map(str::to_string),
        device_class: None,
        dialect,
        features: Features { dimmable, ..Default::default() },
        origin: Default::default(),
    }
}

fn registry() -> Registry {
    let generic = |t: &str| Some(Dialect::GenericJson { command_topic: format!("{t}/set"), state_topic: t.into() });
    Registry::new(
        vec![
            Floor { id: "ground".into(), name: "Ground".into(), aliases: vec![], level: Some(0) },
            Floor { id: "first".into(), name: "First".into(), aliases: vec![], level: Some(1) },
        ],
        vec![
            Area { id: "hall".into(), name: "Hall".into(), floor: Some("ground".into()), aliases: vec![] },
            Area { id: "porch".into(), name: "Porch".into(), floor: Some("ground".into()), aliases: vec![] },
            Area { id: "bedroom".into(), name: "Bedroom".into(), floor: Some("first".into()), aliases: vec![] },
        ],
        vec![
            dev("light.porch", DeviceKind::Light, Some("porch"), z2m("Porch Light"), true),
            dev("light.hall", DeviceKind::Light, Some("hall"), z2m("Hall Light"), false),
            dev("light.bedroom", DeviceKind::Light, Some("bedroom"), z2m("Bedroom Light"), false),
            dev("lock.front_door", DeviceKind::Lock, Some("hall"), z2m("Front Door"), false),
            dev("binary_sensor.hall_motion", DeviceKind::BinarySensor, Some("hall"), z2m("Hall Motion"), false),
            dev("sensor.outside", DeviceKind::Sensor, None, generic("home/outside"), false),
            dev("person.alex", DeviceKind::Person, None, generic("home/alex"), false),
        ],
    )
    .expect("registry")
}

/// A test bench: the engine, the home's states and a clock (UTC, 2024-06-21).
struct Bench {
    engine: Engine,
    reg: Registry,
    states: RefCell<HashMap<String, DeviceState>>,
    now: i64,
}

const JUNE_21: i64 = 1_718_928_000_000; // 2024-06-21T00:00:00Z, a Friday

fn on(b: bool) -> DeviceState {
    DeviceState { on: Some(b), ..Default::default() }
}

fn value(v: Value) -> DeviceState {
    DeviceState { value: Some(v), ..Default::default() }
}

impl Bench {
    fn new(rules: &str) -> Bench {
        Bench::try_new(rules).expect("rules compile")
    }

    fn try_new(rules: &str) -> Result<Bench, Vec<RuleError>> {
        let doc: toml::Value = toml::from_str(rules).expect("toml");
        let doc = serde_json::to_value(doc).expect("json");
        let mut specs = Vec::new();
        let mut errs = Vec::new();
        for r in doc["automation"].as_array().cloned().unwrap_or_default() {
            match parse_rule(&r) {
                Ok(s) => specs.push(s),
                Err(e) => errs.extend(e),
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let reg = registry();
        let home = Some(Home { latitude: 51.5074, longitude: -0.1278 });
        let cams = vec![("front".to_string(), vec!["porch".to_string()]), ("garage".to_string(), vec![])];
        let engine = Engine::new(specs, &reg, home, Some(&cams), "en")?;
        let mut b = Bench { engine, reg, states: RefCell::new(HashMap::new()), now: JUNE_21 + 12 * 3_600_000 };
        b.tick_to(b.now);
        Ok(b)
    }

    fn now(&self) -> Now {
        Now::at(self.now, 0)
    }

    fn world_call<T>(&mut self, f: impl FnOnce(&mut Engine, &World, Now) -> T) -> T {
        let states = self.states.borrow().clone();
        let lookup = move |id: &str| states.get(id).cloned();
        let w = World { registry: &self.reg, states: &lookup };
        let now = self.now();
        f(&mut self.engine, &w, now)
    }

    /// A device reports a new state.
    fn set(&mut self, id: &str, st: DeviceState) -> Vec<Output> {
        self.set_caused(id, st, None)
    }

    fn set_caused(&mut self, id: &str, st: DeviceState, cause: Option<Cause>) -> Vec<Output> {
        let old = self.states.borrow_mut().insert(id.to_string(), st.clone());
        let ev = Event::State { entity_id: id.into(), old: old.map(Box::new), new: Box::new(st) };
        self.world_call(|e, w, now| e.handle(&ev, cause, w, now))
    }

    fn event(&mut self, ev: Event) -> Vec<Output> {
        self.world_call(|e, w, now| e.handle(&ev, None, w, now))
    }

    fn tick_to(&mut self, ms: i64) -> Vec<Output> {
        self.now = ms;
        self.world_call(|e, w, now| e.tick(w, now))
    }

    /// Advance in one-second ticks, as the daemon's task does.
    fn advance(&mut self, ms: i64) -> Vec<Output> {
        let end = self.now + ms;
        let mut out = Vec::new();
        while self.now < end {
            let next = (self.now + 1000).min(end);
            out.extend(self.tick_to(next));
        }
        out
    }
}

fn commands(out: &[Output]) -> Vec<(String, Action)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Commands { commands, .. } => Some(commands.iter().map(|c| (c.device_id.clone(), c.action.clone()))),
            _ => None,
        })
        .flatten()
        .collect()
}

fn ended(out: &[Output]) -> Vec<(String, Outcome)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Ended(r) => Some((r.rule.clone(), r.outcome)),
            _ => None,
        })
        .collect()
}

const MOTION_LIGHT: &str = r#"
[[automation]]
id = "hall_light"
triggers = [{ trigger = "state", entity_id = "binary_sensor.hall_motion", to = "on" }]
actions = [{ action = "light.turn_on", target = { entity_id = "light.hall" } }]
"#;

#[test]
fn state_trigger_turns_a_light_on_once_per_change() {
    let mut b = Bench::new(MOTION_LIGHT);
    let out = b.set("binary_sensor.hall_motion", on(true));
    assert_eq!(commands(&out), vec![("light.hall".to_string(), Action::TurnOn)]);
    assert_eq!(ended(&out), vec![("hall_light".to_string(), Outcome::Finished)]);
    // The same state again is not a change.
    assert!(commands(&b.set("binary_sensor.hall_motion", on(true))).is_empty());
    assert!(commands(&b.set("binary_sensor.hall_motion", on(false))).is_empty());
    assert_eq!(commands(&b.set("binary_sensor.hall_motion", on(true))).len(), 1);
    // The trigger variable has Home Assistant's shape.
    let started = out.iter().find_map(|o| match o {
        Output::Started { trigger, .. } => Some(trigger.clone()),
        _ => None,
    });
    let t = started.expect("started");
    assert_eq!(t["platform"], "state");
    assert_eq!(t["to_state"]["state"], "on");
    assert_eq!(t["from_state"]["state"], "unknown");
}

#[test]
fn state_for_waits_and_cancels() {
    let mut b = Bench::new(
        r#"
[[automation]]
id = "left_on"
triggers = [{ trigger = "state", entity_id = "light.hall", to = "on", for = "00:05:00" }]
actions = [{ action = "light.turn_off", target = { entity_id = "light.hall" } }]
"#,
    );
    assert!(commands(&b.set("light.hall", on(true))).is_empty());
    assert!(commands(&b.advance(299_000)).is_empty());
    // Turned off and on again: the wait starts over.
    b.set("light.hall", on(false));
    b.set("light.hall", on(true));
    assert!(commands(&b.advance(120_000)).is_empty());
    assert!(commands(&b.advance(179_000)).is_empty());
    assert_eq!(commands(&b.advance(2_000)), vec![("light.hall".to_string(), Action::TurnOff)]);
    assert!(commands(&b.advance(600_000)).is_empty(), "fires once");
}

#[test]
fn numeric_state_fires_on_crossing() {
    let mut b = Bench::new(
        r#"
[[automation]]
id = "cold"
triggers = [{ trigger = "numeric_state", entity_id = "sensor.outside", below = 3 }]
actions = [{ action = "notify.phone", data = { message = "It is {{ trigger.to_state.state }} °C outside" } }]
"#,
    );
    let msg = |out: &[Output]| {
        out.iter()
            .find_map(|o| match o {
                Output::Notify { message, target, .. } => Some(format!("{target}: {message}")),
                _ => None,
            })
            .unwrap_or_default()
    };
    assert_eq!(msg(&b.set("sensor.outside", value(json!(5.0)))), "");
    assert_eq!(msg(&b.set("sensor.outside", value(json!(2.5)))), "phone: It is 2.5 °C outside");
    assert_eq!(msg(&b.set("sensor.outside", value(json!(1.0)))), "", "still below: no new crossing");
    b.set("sensor.outside", value(json!(4.0)));
    assert_eq!(msg(&b.set("sensor.outside", value(json!(0)))), "phone: It is 0 °C outside");
}

#[test]
fn announce_says_the_rendered_message_on_the_loudspeaker() {
    let mut b = Bench::new(
        r#"
[[automation]]
id = "cold"
triggers = [{ trigger = "numeric_state", entity_id = "sensor.outside", below = 3 }]
actions = [{ action = "assist_satellite.announce", data = { message = "It is {{ trigger.to_state.state }} degrees outside" } }]
"#,
    );
    b.set("sensor.outside", value(json!(5.0)));
    let out = b.set("sensor.outside", value(json!(2)));
    let said: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::Announce { message, rule, .. } if rule == "cold" => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(said, ["It is 2 degrees outside"]);
    let errs = |rules: &str| Bench::try_new(rules).err().expect("refused");
    let e = errs(
        "[[automation]]\nid = \"a\"\ntriggers = [{ trigger = \"hubd_start\" }]\nactions = [{ action = \"assist_satellite.announce\", data = { message = \"hi\", preannounce = false } }]\n",
    );
    assert!(e[0].message.contains("`data.preannounce` is not implemented yet"), "{e:?}");
    let e = errs(
        "[[automation]]\nid = \"a\"\ntriggers = [{ trigger = \"hubd_start\" }]\nactions = [{ action = \"assist_satellite.announce\" }]\n",
    );
    assert!(e[0].message.contains("needs `data.message`"), "{e:?}");
}

#[test]
fn conditions_time_weekday_zone_and_logic() {
    let rules = r#"
[[automation]]
id = "night_away"
triggers = [{ trigger = "state", entity_id = "binary_sensor.hall_motion", to = "on" }]
conditions = [
  { condition = "time", after = "22:00", before = "06:00", weekday = ["fri", "sat"] },
  { condition = "or", conditions = [
      { condition = "zone", entity_id = "person.alex", zone = "zone.away" },
      { condition = "not", conditions = [{ condition = "state", entity_id = "person.alex", state = "home" }] },
  ] },
]
actions = [{ action = "light.turn_on", target = { area_id = "hall" } }]
"#;
    let mut b = Bench::new(rules);
    b.states.borrow_mut().insert("person.alex".into(), value(json!("home")));
    b.tick_to(JUNE_21 + 23 * 3_600_000); // Friday 23:00
    let out = b.set("binary_sensor.hall_motion", on(true));
    assert_eq!(ended(&out), vec![("night_away".to_string(), Outcome::ConditionFailed)], "alex is home");
    let Some(Output::Ended(rec)) = out.last() else { panic!("record") };
    assert_eq!(rec.conditions.iter().map(|c| c.result).collect::<Vec<_>>(), vec![true, false]);
    b.set("binary_sensor.hall_motion", on(false));
    b.states.borrow_mut().insert("person.alex".into(), value(json!("not_home")));
    assert_eq!(
        commands(&b.set("binary_sensor.hall_motion", on(true))),
        vec![("light.hall".to_string(), Action::TurnOn)]
    );
    // Sunday 23:00 is not a listed weekday; Saturday 05:00 is inside the wrapped window.
    b.set("binary_sensor.hall_motion", on(false));
    b.tick_to(JUNE_21 + (2 * 24 + 23) * 3_600_000);
    assert!(commands(&b.set("binary_sensor.hall_motion", on(true))).is_empty());
    b.set("binary_sensor.hall_motion", on(false));
    b.tick_to(JUNE_21 + 29 * 3_600_000);
    assert_eq!(commands(&b.set("binary_sensor.hall_motion", on(true))).len(), 1);
}

#[test]
fn sun_condition_and_trigger() {
    let rules = r#"
[[automation]]
id = "porch_at_dusk"
triggers = [{ trigger = "sun", event = "sunset", offset = "-00:30:00" }]
actions = [{ action = "light.turn_on", target = { entity_id = "light.porch" }, data = { brightness_pct = 40 } }]

[[automation]]
id = "dark_motion"
triggers = [{ trigger = "state", entity_id = "binary_sensor.hall_motion", to = "on" }]
conditions = [{ condition = "sun", after = "sunset", before = "sunrise" }]
actions = [{ action = "light.turn_on", target = { entity_id = "light.hall" } }]
"#;
    let mut b = Bench::new(rules);
    // London sunset on 2024-06-21 is about 20:21 UTC: the trigger fires 30 min before.
    let out = b.advance(7 * 3_600_000 + 50 * 60_000 - 1000); // to 19:49:59
    assert!(commands(&out).is_empty());
    let out = b.advance(3 * 60_000);
    assert_eq!(commands(&out), vec![("light.porch".to_string(), Action::Brightness { percent: 40 })]);
    assert!(commands(&b.advance(3_600_000)).is_empty(), "once a day");
    // 21:00 is after sunset: dark.
    assert_eq!(commands(&b.set("binary_sensor.hall_motion", on(true))).len(), 1);
    b.set("binary_sensor.hall_motion", on(false));
    b.tick_to(JUNE_21 + 36 * 3_600_000); // next day 12:00
    assert!(commands(&b.set("binary_sensor.hall_motion", on(true))).is_empty(), "daylight");
}

#[test]
fn time_and_time_pattern_triggers_follow_the_clock() {
    let rules = r#"
[[automation]]
id = "morning"
triggers = [{ trigger = "time", at = "12:00:30" }]
actions = [{ action = "light.turn_on", target = { entity_id = "light.bedroom" } }]

[[automation]]
id = "every_ten_minutes"
mode = "parallel"
triggers = [{ trigger = "time_pattern", minutes = "/10" }]
actions = [{ action = "mqtt.publish", data = { topic = "hubd/tick", payload = "{{ trigger.now }}" } }]
"#;
    let mut b = Bench::new(rules);
    let out = b.advance(31_000);
    assert_eq!(commands(&out), vec![("light.bedroom".to_string(), Action::TurnOn)]);
    let out = b.advance(3_600_000);
    assert!(commands(&out).is_empty());
    let ticks: Vec<String> = out
        .iter()
        .filter_map(|o| match o {
            Output::Publish { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ticks.len(), 6, "{ticks:?}");
    assert_eq!(ticks[0], "2024-06-21T12:10:00+00:00");
}

#[test]
fn modes_single_restart_queued_parallel() {
    let rule = |mode: &str| {
        format!(
            r#"
[[automation]]
id = "r"
mode = "{mode}"
max = 2
triggers = [{{ trigger = "mqtt", topic = "home/button/+", payload = "press" }}]
actions = [{{ delay = 10 }}, {{ action = "light.toggle", target = {{ entity_id = "light.hall" }} }}]
"#
        )
    };
    let press = |b: &mut Bench| b.event(Event::Mqtt { topic: "home/button/1".into(), payload: "press".into() });
    let mut b = Bench::new(&rule("single"));
    b.states.borrow_mut().insert("light.hall".into(), on(false));
    assert!(ended(&press(&mut b)).is_empty());
    assert_eq!(ended(&press(&mut b)), vec![("r".to_string(), Outcome::AlreadyRunning)]);
    let out = b.advance(10_000);
    assert_eq!(commands(&out), vec![("light.hall".to_string(), Action::TurnOn)], "toggle resolved from state");

    let mut b = Bench::new(&rule("restart"));
    b.states.borrow_mut().insert("light.hall".into(), on(true));
    press(&mut b);
    b.advance(5_000);
    assert_eq!(ended(&press(&mut b)), vec![("r".to_string(), Outcome::Restarted)]);
    assert!(commands(&b.advance(6_000)).is_empty(), "the first run was cancelled");
    assert_eq!(commands(&b.advance(5_000)).len(), 1);

    let mut b = Bench::new(&rule("queued"));
    b.states.borrow_mut().insert("light.hall".into(), on(true));
    for _ in 0..3 {
        press(&mut b);
    }
    assert_eq!(ended(&press(&mut b)), vec![("r".to_string(), Outcome::MaxExceeded)], "2 waiting at most");
    let out = b.advance(40_000);
    assert_eq!(ended(&out).len(), 3, "one running and two queued, one after another");

    let mut b = Bench::new(&rule("parallel"));
    b.states.borrow_mut().insert("light.hall".into(), on(true));
    press(&mut b);
    press(&mut b);
    assert_eq!(ended(&press(&mut b)), vec![("r".to_string(), Outcome::MaxExceeded)]);
    assert_eq!(ended(&b.advance(10_000)).len(), 2);
    // A payload that does not match does nothing.
    assert!(b.event(Event::Mqtt { topic: "home/button/1".into(), payload: "hold".into() }).is_empty());
}

#[test]
fn cooldown_and_camera_deduplication() {
    let rules = r#"
[[automation]]
id = "person_at_door"
cooldown = 60
triggers = [{ trigger = "event", camera = "front", label = "person", zone = "porch", min_score = 0.7 }]
actions = [{ action = "notify.phone", data = { message = "{{ trigger.event.label }} at the door" } }]
"#;
    let mut b = Bench::new(rules);
    let ev = |id: &str, kind: &str, score: f64, zones: &[&str]| Event::Camera {
        kind: kind.into(),
        after: json!({"id": id, "camera": "front", "label": "person", "top_score": score, "entered_zones": zones}),
    };
    let notified = |out: &[Output]| out.iter().filter(|o| matches!(o, Output::Notify { .. })).count();
    assert_eq!(notified(&b.event(ev("a", "new", 0.9, &[]))), 0, "not in the zone yet");
    assert_eq!(notified(&b.event(ev("a", "update", 0.5, &["porch"]))), 0, "score too low");
    let out = b.event(ev("a", "update", 0.9, &["porch"]));
    assert_eq!(notified(&out), 1);
    assert!(out.iter().any(|o| matches!(o, Output::Notify { message, .. } if message == "person at the door")));
    assert_eq!(notified(&b.event(ev("a", "update", 0.95, &["porch"]))), 0, "same object: de-duplicated");
    b.event(ev("a", "end", 0.95, &["porch"]));
    b.advance(10_000);
    assert_eq!(notified(&b.event(ev("b", "update", 0.9, &["porch"]))), 0, "cooldown");
    assert_eq!(b.engine.rules()[0].cooldown_skips, 1);
    b.advance(60_000);
    assert_eq!(notified(&b.event(ev("c", "new", 0.9, &["porch"]))), 1);
    // Motion: another platform, on the garage camera.
}

#[test]
fn sentence_trigger_answers_and_runs_a_scene() {
    let rules = r#"
[[automation]]
id = "good_night"
triggers = [{ trigger = "sentence", command = ["good night", "[it's] bed time"] }]
actions = [
  { action = "light.turn_off", target = { floor_id = "ground" } },
  { action = "lock.lock", target = { entity_id = "lock.front_door" } },
  { set_conversation_response = "Good night, sleep well" },
]
"#;
    let mut b = Bench::new(rules);
    let out = b.world_call(|e, w, now| e.sentence("Good night!", w, now)).expect("matched");
    let mut c = commands(&out);
    c.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        c,
        vec![
            ("light.hall".to_string(), Action::TurnOff),
            ("light.porch".to_string(), Action::TurnOff),
            ("lock.front_door".to_string(), Action::Lock),
        ]
    );
    assert!(out.iter().any(|o| matches!(o, Output::Reply { text, .. } if text == "Good night, sleep well")));
    assert!(b.world_call(|e, w, now| e.sentence("it's bed time", w, now)).is_some());
    assert!(b.world_call(|e, w, now| e.sentence("turn on the porch light", w, now)).is_none());
}

#[test]
fn wait_for_trigger_choose_and_delay() {
    let rules = r#"
[[automation]]
id = "porch"
mode = "restart"
triggers = [{ trigger = "motion", camera = "front", to = "on" }]
actions = [
  { action = "light.turn_on", target = { entity_id = "light.porch" } },
  { wait_for_trigger = [{ trigger = "motion", camera = "front", to = "off" }], timeout = "00:10:00", continue_on_timeout = false },
  { delay = { minutes = 5 } },
  { choose = [
      { conditions = [{ condition = "template", value_template = "{{ wait.trigger is none }}" }], sequence = [{ stop = "no wait trigger" }] },
    ], default = [{ action = "light.turn_off", target = { entity_id = "light.porch" } }] },
]
"#;
    let mut b = Bench::new(rules);
    let out = b.event(Event::Motion { camera: "front".into(), on: true });
    assert_eq!(commands(&out), vec![("light.porch".to_string(), Action::TurnOn)]);
    b.advance(60_000);
    assert!(ended(&b.event(Event::Motion { camera: "front".into(), on: false })).is_empty(), "now delaying");
    assert!(commands(&b.advance(299_000)).is_empty());
    let out = b.advance(2_000);
    assert_eq!(commands(&out), vec![("light.porch".to_string(), Action::TurnOff)]);
    let Some((_, Outcome::Finished)) = ended(&out).first().cloned() else { panic!("{out:?}") };
    // A wait that times out ends the run.
    b.event(Event::Motion { camera: "front".into(), on: true });
    let out = b.advance(600_000);
    assert_eq!(ended(&out), vec![("porch".to_string(), Outcome::Timeout)]);
}

#[test]
fn a_rule_that_triggers_itself_is_stopped_and_reported() {
    let rules = r#"
[[automation]]
id = "flip"
triggers = [{ trigger = "state", entity_id = "light.hall" }]
actions = [{ action = "light.toggle", target = { entity_id = "light.hall" } }]
"#;
    let mut b = Bench::new(rules);
    let out = b.set("light.hall", on(true));
    let Some(Output::Commands { depth, rule, .. }) = out.iter().find(|o| matches!(o, Output::Commands { .. })) else {
        panic!("{out:?}")
    };
    let cause = Cause { rule: rule.clone(), depth: *depth };
    // The device's echo of that command comes back caused by the rule.
    let out = b.set_caused("light.hall", on(false), Some(cause));
    assert!(commands(&out).is_empty());
    assert_eq!(ended(&out), vec![("flip".to_string(), Outcome::LoopStopped)]);
}

#[test]
fn start_manual_trigger_enable_and_disable() {
    let rules = r#"
[[automation]]
id = "boot"
triggers = [{ trigger = "hubd_start" }]
conditions = [{ condition = "state", entity_id = "light.hall", state = "on" }]
actions = [{ action = "automation.turn_off", target = { entity_id = "automation.hall_light" } }]

[[automation]]
id = "hall_light"
triggers = [{ trigger = "state", entity_id = "binary_sensor.hall_motion", to = "on" }]
actions = [{ action = "light.turn_on", target = { entity_id = "light.hall" } }]
"#;
    let mut b = Bench::new(rules);
    assert_eq!(ended(&b.event(Event::Start)), vec![("boot".to_string(), Outcome::ConditionFailed)]);
    let out = b.world_call(|e, w, now| e.trigger("boot", true, w, now)).expect("known");
    assert!(out.contains(&Output::Enabled { rule: "hall_light".into(), enabled: false }));
    assert!(commands(&b.set("binary_sensor.hall_motion", on(true))).is_empty(), "disabled");
    b.set("binary_sensor.hall_motion", on(false));
    let now = b.now();
    b.engine.set_enabled("hall_light", true, now).expect("known");
    assert_eq!(commands(&b.set("binary_sensor.hall_motion", on(true))).len(), 1);
    assert!(b.world_call(|e, w, now| e.trigger("nope", true, w, now)).is_err());
}

#[test]
fn errors_name_the_rule_and_the_place() {
    let errs = |rules: &str| Bench::try_new(rules).err().expect("refused");
    let e = errs(
        "[[automation]]\nid = \"a\"\ntriggers = [{ trigger = \"state\", entity_id = \"light.attic\" }]\nactions = [{ action = \"light.turn_on\", target = { entity_id = \"light.hall\" } }]\n",
    );
    assert_eq!(e[0].message, "unknown entity `light.attic`");
    assert_eq!(e[0].path, vec![Seg::Key("triggers".into()), Seg::Idx(0), Seg::Key("entity_id".into())]);
    let e = errs("[[automation]]\nid = \"a\"\ntriggers = [{ trigger = \"teleport\" }]\nactions = [{ delay = 1 }]\n");
    assert!(e[0].message.contains("unknown variant `teleport`"), "{e:?}");
    let e = errs(
        "[[automation]]\nid = \"a\"\ntriggers = [{ trigger = \"hubd_start\" }]\nactions = [{ action = \"light.turn_on\", target = { entity_id = \"light.hall\" }, data = { brightness_pct = 50 } }]\n",
    );
    assert!(e[0].message.contains("cannot"), "a non-dimmable light: {e:?}");
    let e = errs(
        "[[automation]]\nid = \"a\"\ntriggers = [{ trigger = \"hubd_start\" }]\nactions = [{ action = \"light.turn_on\", target = { entity_id = \"light.porch\" }, data = { transition = 2 } }]\n",
    );
    assert!(e[0].message.ends_with("not implemented yet"), "{e:?}");
    let e = errs(
        "[[automation]]\nid = \"a\"\ntriggers = [{ trigger = \"event\", camera = \"front\", zone = \"driveway\" }]\nactions = [{ action = \"notify.phone\", data = { message = \"{{ trigger.event.label \" } }]\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].message, "camera `front` has no zone `driveway`");
    assert!(e[1].message.contains("template") || e[1].message.contains("syntax"), "{e:?}");
    let e = errs(
        "[[automation]]\nid = \"a\"\ntriggers = [{ trigger = \"time\", at = \"25:00\" }]\nactions = [{ delay = 1 }]\nmode = \"sometimes\"\n",
    );
    assert!(e.iter().any(|x| x.path == vec![Seg::Key("mode".into())]), "{e:?}");
}

#[test]
fn templates_have_home_assistant_helpers() {
    let reg = registry();
    let states = |id: &str| (id == "sensor.outside").then(|| value(json!("4.5")));
    let vars = json!({"trigger": {"to_state": {"state": "on", "attributes": {"brightness_pct": 30}}}});
    let r = |t: &str| super::render::render(t, &vars, &reg, &states).expect(t);
    assert_eq!(r("{{ trigger.to_state.attributes.brightness_pct | int(0) + 1 }}"), "31");
    assert_eq!(r("{{ 'x' | int(7) }}"), "7");
    assert_eq!(r("{{ states('sensor.outside') | float(0) * 2 }}"), "9.0");
    assert_eq!(r("{{ is_state('sensor.outside', '4.5') }}"), "True", "as Jinja prints it");
    assert_eq!(r("{{ states('light.hall') }}"), "unknown");
}

#[test]
fn numeric_and_trigger_id_conditions_with_choose() {
    let rules = r#"
[[automation]]
id = "heat"
triggers = [
  { trigger = "mqtt", topic = "home/heat", id = "mqtt" },
  { trigger = "state", entity_id = "person.alex", to = "home", id = "arrived" },
]
conditions = [{ condition = "and", conditions = [
  { condition = "numeric_state", entity_id = "sensor.outside", below = 10 },
  { condition = "numeric_state", entity_id = "sensor.outside", above = -30 },
] }]
actions = [{ choose = [
  { conditions = [{ condition = "trigger", id = "arrived" }], sequence = [{ action = "light.turn_on", target = { entity_id = "light.hall" } }] },
], default = [{ action = "light.turn_on", target = { entity_id = "light.bedroom" } }] }]
"#;
    let mut b = Bench::new(rules);
    b.states.borrow_mut().insert("sensor.outside".into(), value(json!(4)));
    let out = b.set("person.alex", value(json!("home")));
    assert_eq!(commands(&out), vec![("light.hall".to_string(), Action::TurnOn)]);
    let out = b.event(Event::Mqtt { topic: "home/heat".into(), payload: "1".into() });
    assert_eq!(commands(&out), vec![("light.bedroom".to_string(), Action::TurnOn)]);
    let Some(Output::Ended(rec)) = out.last() else { panic!("{out:?}") };
    assert_eq!(rec.steps[0].detail["choice"], "default");
    b.states.borrow_mut().insert("sensor.outside".into(), value(json!(12)));
    let out = b.event(Event::Mqtt { topic: "home/heat".into(), payload: "1".into() });
    assert_eq!(ended(&out), vec![("heat".to_string(), Outcome::ConditionFailed)], "12 is not below 10");
    b.states.borrow_mut().insert("sensor.outside".into(), value(json!("unavailable")));
    let out = b.event(Event::Mqtt { topic: "home/heat".into(), payload: "1".into() });
    assert_eq!(ended(&out), vec![("heat".to_string(), Outcome::ConditionFailed)], "not a number");
}

#[test]
fn conditions_read_plainly_in_traces() {
    let c = |toml_text: &str| -> super::schema::Condition {
        let v: toml::Value = toml::from_str(toml_text).expect("toml");
        serde_json::from_value(serde_json::to_value(v).expect("json")).expect("condition")
    };
    let d = super::condition::describe;
    assert_eq!(
        d(&c("condition = \"sun\"\nafter = \"sunset\"\nafter_offset = \"-00:30:00\"\nbefore = \"sunrise\"")),
        "sun after sunset -30 min before sunrise"
    );
    assert_eq!(
        d(&c("condition = \"time\"\nafter = \"22:00\"\nweekday = [\"sat\", \"sun\"]")),
        "time after 22:00 on sat, sun"
    );
    assert_eq!(
        d(&c("condition = \"numeric_state\"\nentity_id = \"sensor.x\"\nbelow = 3")),
        "numeric_state sensor.x below 3"
    );
}
