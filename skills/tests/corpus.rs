//! The training corpus from Home Assistant's real English templates and the
//! demo home of `config/hub.example.toml`.

mod common;

use std::collections::{BTreeMap, HashSet};

use hub_skills::Intent;
use hub_skills::corpus::{self, NONE_INTENT};
use hub_skills::intent::NluContext;
use hub_skills::templates::TemplateNlu;

fn en(reg: &hub_skills::Registry) -> Option<TemplateNlu> {
    // `make test` runs setup first: missing data is a failure, not a skip.
    let venv = common::venv().expect("a .venv with home_assistant_intents (run scripts/setup)");
    Some(TemplateNlu::from_language_json_named("en.json", &common::intents_json(&venv, "en"), reg).expect("en loads"))
}

#[test]
fn every_handled_intent_gets_examples_with_true_spans() {
    let reg = common::demo_registry();
    let Some(nlu) = en(&reg) else { return };
    let c = corpus::generate(&nlu, &reg, 150, 11);
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &c.examples {
        *per.entry(e.intent.as_str()).or_default() += 1;
    }
    for i in Intent::HANDLED.iter().map(Intent::as_str).chain([NONE_INTENT]) {
        assert_eq!(per.get(i), Some(&150), "{i}: {per:?}");
    }
    let names: Vec<String> =
        reg.devices.iter().flat_map(|d| std::iter::once(d.name.clone()).chain(d.aliases.clone())).collect();
    let areas: Vec<String> =
        reg.areas.iter().flat_map(|a| std::iter::once(a.name.clone()).chain(a.aliases.clone())).collect();
    let floors: Vec<String> =
        reg.floors.iter().flat_map(|f| std::iter::once(f.name.clone()).chain(f.aliases.clone())).collect();
    let mut slot_names = HashSet::new();
    for e in &c.examples {
        assert_eq!(e.slot_texts().len(), e.slots.len(), "{e:?}");
        for (slot, text) in e.slot_texts() {
            slot_names.insert(slot.to_string());
            assert!(!text.is_empty() && text.trim() == text, "{e:?}");
            let among = |v: &[String]| v.iter().any(|n| n.eq_ignore_ascii_case(text));
            match slot {
                // A timer's `name` is the timer's (a wildcard list), not a device.
                "name" if e.intent != "HassStartTimer" => assert!(among(&names), "{text:?}: {e:?}"),
                "area" => assert!(among(&areas), "{text:?}: {e:?}"),
                "floor" => assert!(among(&floors), "{text:?}: {e:?}"),
                _ => {}
            }
            if matches!(slot, "brightness" | "temperature" | "position" | "minutes") {
                // Digits, number words, or a value list's word ("half", "1/2").
                let spoken = text.split(' ').all(|w| w.chars().all(|c| c.is_alphanumeric() || c == '/' || c == '.'));
                assert!(spoken, "{text:?}: {e:?}");
            }
        }
    }
    for s in ["name", "area", "brightness", "temperature", "position", "color"] {
        assert!(slot_names.contains(s), "no {s} slot in the corpus: {slot_names:?}");
    }
}

#[test]
fn clean_sentences_are_recognised_as_their_intent() {
    let reg = common::demo_registry();
    let Some(nlu) = en(&reg) else { return };
    let c = corpus::generate(&nlu, &reg, 80, 12);
    let here = NluContext { area: reg.areas.first().map(|a| a.id.clone()) };
    let mut misses = Vec::new();
    let mut checked = 0;
    for e in c.examples.iter().filter(|e| e.intent != NONE_INTENT) {
        // HassToggle comes from the built-in fallback templates (en has none).
        if e.intent == "HassToggle" {
            continue;
        }
        checked += 1;
        let got = nlu
            .recognize(&e.base, &NluContext::default())
            .filter(|m| m.intent == e.intent)
            .or_else(|| nlu.recognize(&e.base, &here));
        if got.as_ref().map(|m| m.intent.as_str()) != Some(e.intent.as_str()) {
            misses.push((e.base.clone(), e.intent.clone(), got.map(|m| m.intent)));
        }
    }
    assert!(checked > 500);
    assert!(misses.is_empty(), "{} of {checked} not recognised as generated: {misses:#?}", misses.len());
}

#[test]
fn none_examples_are_not_home_commands() {
    let reg = common::demo_registry();
    let Some(nlu) = en(&reg) else { return };
    let c = corpus::generate(&nlu, &reg, 400, 13);
    let mut matched = Vec::new();
    for e in c.examples.iter().filter(|e| e.intent == NONE_INTENT) {
        assert!(e.slots.is_empty());
        if let Some(m) = nlu.recognize(&e.base, &NluContext::default()) {
            matched.push((e.base.clone(), m.intent));
        }
    }
    assert!(matched.is_empty(), "chit-chat the templates take for a command: {matched:?}");
    let (train, held) = c.split(0.25, 1);
    let train_bases: HashSet<String> = train.examples.iter().map(|e| e.base.to_lowercase()).collect();
    assert!(!held.is_empty());
    assert!(held.examples.iter().all(|e| !train_bases.contains(&e.base.to_lowercase())));
}
