//! Understanding with Home Assistant's English templates against the demo
//! home: slots resolve to entity ids, the satellite's area fills "here",
//! ambiguous names come back as candidates, replies come from `responses`.

mod common;

use hub_skills::intent::NluContext;
use hub_skills::templates::TemplateNlu;
use hub_skills::{Registry, Source};

fn en(reg: &Registry) -> Option<TemplateNlu> {
    let Some(venv) = common::venv() else {
        eprintln!("SKIPPED: no .venv with home_assistant_intents (run scripts/setup)");
        return None;
    };
    Some(TemplateNlu::from_language_json_named("en.json", &common::intents_json(&venv, "en"), reg).expect("en loads"))
}

fn here(area: &str) -> NluContext {
    NluContext { area: Some(area.to_string()) }
}

#[test]
fn satellite_area_and_entities() {
    let reg = common::demo_registry();
    let Some(nlu) = en(&reg) else { return };
    let (intents, sentences) = nlu.counts();
    assert!(intents > 30 && sentences > 500, "{intents} intents, {sentences} sentences");

    let u = nlu.understand("turn on the lights", &here("kitchen")).expect("understood");
    assert_eq!((u.intent.as_str(), u.source), ("HassTurnOn", Source::Template));
    assert_eq!(u.slots.area.as_deref(), Some("Kitchen"));
    assert_eq!(u.slots.get("domain").expect("domain"), "light");
    assert_eq!(u.entities, vec!["light.kitchen".to_string()]);
    assert_eq!(nlu.response(&u, None).as_deref(), Some("Turned on the lights"));
    // Without a satellite area the same words are not a complete request.
    assert!(nlu.understand("turn on the lights", &NluContext::default()).is_none());

    let u = nlu.understand("Turn off the coffee maker, please.", &NluContext::default()).expect("understood");
    assert_eq!(u.intent, "HassTurnOff");
    assert_eq!(u.slots.name.as_deref(), Some("coffee maker"));
    assert_eq!(u.entities, vec!["switch.coffee_machine".to_string()]);

    let u = nlu.understand("set the living room lamp brightness to 40%", &NluContext::default()).expect("understood");
    assert_eq!(u.intent, "HassLightSet");
    assert_eq!(u.slots.percent("brightness"), Ok(Some(40)));
    assert_eq!(u.entities, vec!["light.living_room_lamp".to_string()]);

    let u = nlu.understand("turn off all the lights upstairs", &NluContext::default()).expect("understood");
    assert_eq!(u.intent, "HassTurnOff");
    assert_eq!(u.slots.floor.as_deref(), Some("First Floor"));
    let mut e = u.entities.clone();
    e.sort();
    assert_eq!(e, vec!["light.bedroom".to_string(), "light.office_desk".to_string()]);
}

#[test]
fn ambiguous_names_return_candidates() {
    let mut reg = common::demo_registry();
    for (id, area) in [("light.lamp_a", "office"), ("light.lamp_b", "bedroom")] {
        let mut d = reg.devices[0].clone();
        d.id = id.into();
        d.name = "Lamp".into();
        d.aliases.clear();
        d.area = Some(area.into());
        reg.devices.push(d);
    }
    let reg = Registry::new(reg.floors, reg.areas, reg.devices).unwrap();
    let Some(nlu) = en(&reg) else { return };
    let u = nlu.understand("turn on the lamp", &NluContext::default()).expect("understood");
    assert_eq!(u.intent, "HassTurnOn");
    assert!(u.entities.is_empty(), "must not guess: {u:?}");
    let mut c: Vec<_> = u.candidates.iter().map(|c| c.entity_id.as_str()).collect();
    c.sort();
    assert_eq!(c, ["light.lamp_a", "light.lamp_b"]);
    // The satellite's area decides.
    let u = nlu.understand("turn on the lamp", &here("bedroom")).expect("understood");
    assert_eq!((u.entities.clone(), u.candidates.len()), (vec!["light.lamp_b".to_string()], 0));
    // So does an explicit area.
    let u = nlu.understand("turn on the lamp in the office", &NluContext::default()).expect("understood");
    assert_eq!(u.entities, vec!["light.lamp_a".to_string()]);
}

/// Typed slots print exactly the JSON hassil's slot map gives, and the
/// intent its Home Assistant name: the API output is unchanged by the types.
#[test]
fn typed_understanding_keeps_the_json_shape() {
    let reg = common::demo_registry();
    let Some(nlu) = en(&reg) else { return };
    let ctx = NluContext::default();
    let mut matched = 0;
    for text in [
        "turn on the kitchen light",
        "turn off all the lights upstairs",
        "set the living room lamp brightness to 40%",
        "set the kitchen light to red",
        "set the temperature to 21 degrees",
        "what is the temperature in the living room",
        "is the front door locked",
        "set a timer for 5 minutes",
        "set a timer for 1 hour and 10 minutes",
        "open the garage door",
        "turn on the lights",
        "what's the weather like",
    ] {
        let Some(m) = nlu.recognize(text, &ctx) else { continue };
        matched += 1;
        let u = nlu.understand(text, &ctx).expect("recognized, so understood");
        let json = serde_json::to_value(&u).expect("serializes");
        assert_eq!(json["intent"], serde_json::json!(m.intent), "{text}");
        assert_eq!(json["slots"], serde_json::to_value(m.slot_map()).expect("map"), "{text}");
        let back: hub_skills::Understanding = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, u, "{text}");
    }
    assert!(matched >= 8, "only {matched} sentences matched");
}
