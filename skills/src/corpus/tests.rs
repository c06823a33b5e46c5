//! Unit tests on a small language file in Home Assistant's format (the
//! real `en.json` is exercised in `skills/tests/corpus.rs`).

use super::*;
use crate::handlers::tests::demo;

const LANG: &str = r#"{
  "language": "en",
  "skip_words": ["please"],
  "expansion_rules": {"the": "(the|my)", "turn": "(turn|switch)"},
  "lists": {
    "brightness": {"range": {"type": "percentage", "from": 0, "to": 100}},
    "position": {"range": {"type": "percentage", "from": 0, "to": 100}},
    "color": {"values": [{"in": "red", "out": "red"}, {"in": "(blue|navy)", "out": "blue"}]}
  },
  "intents": {
    "HassTurnOn": {"data": [
      {"sentences": ["<turn> on [<the>] {name}", "<turn> [<the>] {name} on"], "requires_context": {"domain": ["light", "switch"]}},
      {"sentences": ["<turn> on [<the>] lights in [<the>] {area}"], "slots": {"domain": "light"}}
    ]},
    "HassLightSet": {"data": [
      {"sentences": ["set [<the>] {name} (to {brightness}[%| percent];[to] {color})"], "requires_context": {"domain": ["light"]}},
      {"sentences": ["set [<the>] {name} brightness to {brightness}"], "requires_context": {"domain": ["light"]}}
    ]},
    "HassSetPosition": {"data": [
      {"sentences": ["open [<the>] {name} to {position}"], "requires_context": {"domain": ["cover"]}}
    ]},
    "HassTurnOff": {"data": [
      {"sentences": ["[<turn>] off [<the>] {name}"], "excludes_context": {"domain": ["light", "cover", "lock"]}}
    ]},
    "HassNevermind": {"data": [{"sentences": ["never mind", "nevermind"]}]}
  }
}"#;

fn nlu() -> (TemplateNlu, Registry) {
    let reg = demo();
    (TemplateNlu::from_language_json(LANG, &reg).unwrap(), reg)
}

fn names(reg: &Registry) -> Vec<String> {
    reg.devices.iter().flat_map(|d| std::iter::once(d.name.clone()).chain(d.aliases.clone())).collect()
}

#[test]
fn slots_point_at_registry_values_and_respect_context() {
    let (nlu, reg) = nlu();
    let c = generate(&nlu, &reg, 200, 1);
    let names = names(&reg);
    let lights: Vec<&str> =
        reg.devices.iter().filter(|d| d.kind.domain() == "light").map(|d| d.name.as_str()).collect();
    let mut per_intent: HashMap<&str, usize> = HashMap::new();
    for e in &c.examples {
        *per_intent.entry(e.intent.as_str()).or_default() += 1;
        assert_eq!(e.slots.len(), e.slot_texts().len(), "{e:?}");
        for (slot, text) in e.slot_texts() {
            match slot {
                "name" => {
                    assert!(names.iter().any(|n| n.eq_ignore_ascii_case(text)), "{text:?} in {e:?}");
                    if e.intent == "HassLightSet" {
                        assert!(lights.iter().any(|n| n.eq_ignore_ascii_case(text)), "not a light: {e:?}");
                    }
                    if e.intent == "HassTurnOff" {
                        let dev = reg.devices.iter().find(|d| {
                            d.name.eq_ignore_ascii_case(text) || d.aliases.iter().any(|a| a.eq_ignore_ascii_case(text))
                        });
                        let domain = dev.map(|d| d.kind.domain());
                        assert!(matches!(domain, Some("switch" | "climate" | "sensor")), "excluded: {e:?}");
                    }
                }
                "area" => assert!(reg.areas.iter().any(
                    |a| a.name.eq_ignore_ascii_case(text) || a.aliases.iter().any(|x| x.eq_ignore_ascii_case(text))
                )),
                "brightness" => {
                    let n = (0..=100u64).find(|n| {
                        n.to_string() == text || noise::number_words(*n).is_some_and(|w| w.eq_ignore_ascii_case(text))
                    });
                    assert!(n.is_some(), "{text:?} in {e:?}");
                }
                "position" => {
                    assert!(text.parse::<u8>().is_ok() || text.chars().all(|c| c.is_alphabetic() || c == ' '))
                }
                "color" => assert!(["red", "blue", "navy"].contains(&text.to_lowercase().as_str()), "{e:?}"),
                other => panic!("unexpected slot {other} in {e:?}"),
            }
        }
    }
    for i in
        ["HassTurnOn", "HassTurnOff", "HassLightSet", "HassSetPosition", "HassNevermind", "HassToggle", NONE_INTENT]
    {
        assert_eq!(per_intent.get(i), Some(&200), "{i}: {per_intent:?}");
    }
    // HassLightSet's permutation produces both orders.
    let sets: Vec<&Example> = c.examples.iter().filter(|e| e.intent == "HassLightSet").collect();
    let color_first = sets.iter().filter(|e| {
        let pos = |s: &str| e.slots.iter().find(|x| x.0 == s).map(|x| x.1.start);
        matches!((pos("color"), pos("brightness")), (Some(c), Some(b)) if c < b)
    });
    assert!(color_first.count() > 10);
}

#[test]
fn examples_carry_the_domain_their_data_block_fixes() {
    let (nlu, reg) = nlu();
    let c = generate(&nlu, &reg, 200, 3);
    let on: Vec<&Example> = c.examples.iter().filter(|e| e.intent == "HassTurnOn").collect();
    // "lights in the {area}": `slots: {domain: light}`.
    assert!(on.iter().any(|e| e.base.contains("lights in") && e.domain.as_deref() == Some("light")));
    // "turn on {name}": `requires_context` names two domains, so none is fixed.
    assert!(on.iter().filter(|e| !e.base.contains("lights in")).all(|e| e.domain.is_none()));
    assert!(c.examples.iter().filter(|e| e.intent == "HassNevermind").all(|e| e.domain.is_none()));
}

#[test]
fn clean_sentences_match_the_templates() {
    let (nlu, reg) = nlu();
    let c = generate(&nlu, &reg, 100, 2);
    let mut noisy = 0;
    for e in c.examples.iter().filter(|e| e.intent != NONE_INTENT && e.intent != "HassToggle") {
        let m = nlu.recognize(&e.base, &Default::default());
        assert_eq!(m.map(|m| m.intent), Some(e.intent.clone()), "{e:?}");
        noisy += usize::from(e.text != e.base);
    }
    assert!(noisy > 100, "only {noisy} noisy examples");
}

#[test]
fn same_seed_same_corpus() {
    let (nlu, reg) = nlu();
    assert_eq!(generate(&nlu, &reg, 50, 9), generate(&nlu, &reg, 50, 9));
    assert_ne!(generate(&nlu, &reg, 50, 9), generate(&nlu, &reg, 50, 10));
}

#[test]
fn split_holds_out_whole_phrasings() {
    let (nlu, reg) = nlu();
    let c = generate(&nlu, &reg, 100, 3);
    let (train, held) = c.split(0.2, 4);
    assert_eq!(train.len() + held.len(), c.len());
    assert!(!held.is_empty() && train.len() > held.len(), "{} / {}", train.len(), held.len());
    let bases: HashSet<String> = train.examples.iter().map(|e| e.base.to_lowercase()).collect();
    for e in &held.examples {
        assert!(!bases.contains(&e.base.to_lowercase()), "{e:?} also in training");
    }
    let train_intents: HashSet<&str> = train.examples.iter().map(|e| e.intent.as_str()).collect();
    assert!(held.examples.iter().all(|e| train_intents.contains(e.intent.as_str())));
    // Even holding out everything leaves each intent one phrasing to learn.
    let (t, h) = c.split(1.0, 4);
    assert!(!h.is_empty() && t.examples.iter().any(|e| e.intent == "HassNevermind"));
    assert_eq!(c.split(0.2, 4), (train, held));
    assert!(c.split(0.0, 4).1.is_empty());
}

#[test]
fn other_languages_get_no_english_noise_or_none_class() {
    let reg = demo();
    let nlu = TemplateNlu::from_language_json(&LANG.replace("\"en\"", "\"de\""), &reg).unwrap();
    let c = generate(&nlu, &reg, 50, 5);
    assert!(c.examples.iter().all(|e| e.intent != NONE_INTENT && e.intent != "HassToggle"));
    assert!(c.examples.iter().any(|e| e.intent == "HassTurnOn"));
}

#[test]
fn split_keeps_shared_phrasings_and_one_per_intent_in_training() {
    let ex = |intent: &str, base: &str| Example {
        text: base.to_string(),
        intent: intent.to_string(),
        slots: Vec::new(),
        base: base.to_string(),
        domain: None,
    };
    let c = Corpus { examples: vec![ex("X", "a"), ex("X", "b"), ex("X", "d"), ex("Y", "B"), ex("Y", "c")] };
    let (train, held) = c.split(1.0, 0);
    let bases = |c: &Corpus| c.examples.iter().map(|e| e.base.to_lowercase()).collect::<HashSet<_>>();
    assert!(bases(&train).contains("b") && !bases(&held).contains("b"), "{train:?} / {held:?}");
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(bases(&train).is_disjoint(&bases(&held)));
    for i in ["X", "Y"] {
        assert!(train.examples.iter().any(|e| e.intent == i));
    }
}

#[test]
fn place_targeted_sentences_mostly_reach_what_the_place_has() {
    let (nlu, reg) = nlu();
    let c = generate(&nlu, &reg, 400, 6);
    // "lights in the {area}": the hall has a lock and no light.
    let placed: Vec<&Example> = c.examples.iter().filter(|e| e.base.contains("lights in")).collect();
    let in_hall = placed.iter().filter(|e| e.slot_texts().iter().any(|(s, t)| *s == "area" && *t == "Hall")).count();
    let share = in_hall as f64 / placed.len() as f64;
    // A quarter of the areas; about 0.25 * 0.2 / (0.75 + 0.05) once resampled.
    assert!(placed.len() > 100 && in_hall > 0 && share < 0.12, "{in_hall} of {} in the hall", placed.len());
    // Sentences that name their device are not resampled.
    let named = c.examples.iter().filter(|e| e.slots.iter().any(|(s, _)| s == "name")).count();
    assert!(named > 400, "{named}");
}

#[test]
fn closed_values_hold_the_places_and_the_lists_as_said() {
    let (nlu, reg) = nlu();
    let c = generate(&nlu, &reg, 200, 1);
    let v = closed_values(&c, &reg);
    let areas = &v["area"];
    for a in &reg.areas {
        assert!(areas.contains(&a.name.to_lowercase()), "{} missing from {areas:?}", a.name);
    }
    // Both spoken forms of the colour list, lower case; names and numbers
    // are not closed.
    assert!(v["color"].contains("red") && v["color"].contains("navy"), "{:?}", v["color"]);
    assert!(!v.contains_key("name") && !v.contains_key("brightness"), "{:?}", v.keys());
}
