use super::*;

fn setup() -> Setup {
    Setup {
        hub: HubDevice {
            prefix: "homeassistant".into(),
            node_id: "hubd".into(),
            name: "hubd".into(),
            sw_version: "0.1.0".into(),
            model: "hubd".into(),
            availability_topic: "hubd/status".into(),
        },
        topic_prefix: "hubd".into(),
        camera_prefix: "frigate".into(),
        cameras: vec![("front_door".into(), "Front door".into())],
    }
}

/// The keys Home Assistant requires per component, and the shared ones.
#[test]
fn every_entity_has_what_home_assistant_requires() {
    let s = setup();
    let rules = vec![RuleSwitch { id: "porch-light".into(), name: "Porch light".into(), enabled: true }];
    let ents = s.entities(&rules);
    let mut seen = std::collections::BTreeSet::new();
    for e in &ents {
        let out = firmware_bridge::discovery_config(&s.hub, e);
        let v: Value = serde_json::from_slice(&out.payload).unwrap();
        let need: &[&str] = match e.component {
            Component::Sensor | Component::BinarySensor => &["state_topic"],
            Component::Switch | Component::Text => &["command_topic"],
            Component::Image => &["image_topic"],
        };
        for k in need.iter().chain(&["unique_id", "device", "availability", "name"]) {
            assert!(v.get(*k).is_some(), "{} lacks {k}: {v}", out.topic);
        }
        assert!(seen.insert(v["unique_id"].as_str().unwrap().to_string()), "unique ids are unique");
        assert!(out.topic.starts_with(&format!("homeassistant/{}/hubd/", e.component.as_str())));
    }
    let topics: Vec<String> = ents.iter().map(|e| s.hub.config_topic(e)).collect();
    for want in [
        "homeassistant/sensor/hubd/last_command/config",
        "homeassistant/binary_sensor/hubd/front_door_motion/config",
        "homeassistant/binary_sensor/hubd/front_door_person/config",
        "homeassistant/image/hubd/front_door_snapshot/config",
        "homeassistant/switch/hubd/automation_porch_light/config",
        "homeassistant/text/hubd/command/config",
    ] {
        assert!(topics.iter().any(|t| t == want), "{want} in {topics:?}");
    }
    let motion = ents.iter().find(|e| e.object_id == "front_door_motion").unwrap();
    assert_eq!(motion.options["state_topic"], "frigate/front_door/motion");
    let image = ents.iter().find(|e| e.component == Component::Image).unwrap();
    assert_eq!(image.options["image_topic"], "hubd/camera/front_door/image");
}

#[test]
fn incoming_messages() {
    let s = setup();
    let cases: Vec<(&str, &[u8], Option<Incoming>)> = vec![
        ("homeassistant/status", b"online", Some(Incoming::HaOnline)),
        ("homeassistant/status", b"offline", None),
        ("hubd/command", b" turn on the hall light ", Some(Incoming::Say("turn on the hall light".into()))),
        ("hubd/command", b"", None),
        ("hubd/automation/porch_light/set", b"OFF", Some(Incoming::SetRule { key: "porch_light".into(), on: false })),
        ("hubd/automation/porch_light/set", b"maybe", None),
        ("hubd/automation/porch_light/state", b"ON", None),
        ("hubd/command", &[0xff, 0xfe], None),
    ];
    for (t, p, want) in cases {
        assert_eq!(s.incoming(t, p), want, "{t}");
    }
}

#[test]
fn person_is_on_while_an_event_is_live() {
    let mut p = PersonTracker::default();
    assert_eq!(p.event("cam", "a", "person", "new"), Some(true));
    assert_eq!(p.event("cam", "b", "person", "new"), None);
    assert_eq!(p.event("cam", "a", "person", "end"), None);
    assert_eq!(p.event("cam", "x", "car", "new"), None);
    assert!(p.on("cam"));
    assert_eq!(p.event("cam", "b", "person", "end"), Some(false));
    assert!(!p.on("cam") && !p.on("other"));
}
