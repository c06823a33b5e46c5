//! Inputs and custom templates on which hassil's exhaustive backtracking
//! explodes (a permutation of n items is tried in n! orders; k wildcards
//! against n words try about n^k splits). The matcher drops a sentence past
//! its step budget as if it had never been tried and answers `TooComplex`
//! when nothing else matched; other sentences keep matching.

use hub_skills::Registry;
use hub_skills::intent::NluContext;
use hub_skills::templates::{TemplateNlu, TooComplex};

/// The fuzz target's language file (fuzz/fuzz_targets/templates.rs).
const LANGUAGE: &str = r#"{
  "language": "en",
  "intents": {
    "HassTurnOn": {"data": [{"sentences": ["turn on [the] {name}", "<lights> on [in] [the] {area}"], "response": "default"}]},
    "HassLightSet": {"data": [{"sentences": ["set {name} [brightness] to {brightness}[%| percent]"]}]}
  },
  "lists": {"brightness": {"range": {"from": 0, "to": 100}}},
  "expansion_rules": {"lights": "(light|lights|lamp)"},
  "skip_words": ["please"],
  "responses": {"intents": {"HassTurnOn": {"default": "Turned on {{ slots.name }}"}}}
}"#;

const REGISTRY: &str = r#"{
  "floors": [],
  "areas": [{"id": "kitchen", "name": "Kitchen"}],
  "devices": [
    {"id": "light.kitchen", "kind": "light", "name": "Kitchen Light", "area": "kitchen",
     "features": {"dimmable": true},
     "dialect": {"type": "zigbee2mqtt", "friendly_name": "Kitchen Light"}},
    {"id": "switch.fan", "kind": "switch", "name": "Fan", "aliases": ["ventilator"]}
  ]
}"#;

fn nlu() -> TemplateNlu {
    let reg: Registry = serde_json::from_str(REGISTRY).expect("registry json");
    let reg = Registry::new(reg.floors, reg.areas, reg.devices).expect("valid registry");
    TemplateNlu::from_language_json_named("fuzz.json", LANGUAGE, &reg).expect("language loads")
}

fn ctx() -> NluContext {
    NluContext { area: Some("kitchen".into()) }
}

fn intent(nlu: &TemplateNlu, text: &str) -> Result<Option<String>, TooComplex> {
    nlu.try_recognize(text, &ctx()).map(|m| m.map(|m| m.intent))
}

/// The input the `templates` fuzz target hung on (fuzz/corpus/templates/
/// permutation_of_empties): a custom sentence `;;;;;;;;; `, ten empty
/// permutation items, 10! orders before each fails on the remaining text.
#[test]
fn permutation_of_empty_items_is_dropped_and_the_rest_still_matches() {
    let mut nlu = nlu();
    let yaml = "language: en\nintents:\n  FuzzIntent:\n    data:\n      - sentences: [\";;;;;;;;; \"]\n";
    nlu.add_custom_yaml("fuzz.yaml", yaml).expect("the permutation parses");
    assert_eq!(intent(&nlu, "turn on the kitchen light"), Ok(Some("HassTurnOn".into())));
    assert_eq!(intent(&nlu, "lamp on in the kitchen"), Ok(Some("HassTurnOn".into())));
    // Nothing else matches: the caller learns the search gave up.
    let e = intent(&nlu, "fan on").unwrap_err();
    assert_eq!(e, TooComplex { dropped: 1 });
    assert!(e.to_string().contains("too complex"), "{e}");
    assert!(nlu.recognize("fan on", &ctx()).is_none());
}

/// A small permutation stays an exact match in every order.
#[test]
fn small_permutations_still_match_in_every_order() {
    let mut nlu = nlu();
    let yaml = "language: en\nintents:\n  Tidy:\n    data:\n      - sentences: [\"(red;green;blue;white) now\"]\n";
    nlu.add_custom_yaml("perm.yaml", yaml).expect("custom file loads");
    for text in ["red green blue white now", "white blue green red now", "green white red blue now"] {
        assert_eq!(intent(&nlu, text), Ok(Some("Tidy".into())), "{text}");
    }
    assert_eq!(intent(&nlu, "red green blue now"), Ok(None));
}

/// Four wildcards split by one repeated word, against the API's longest
/// text (2,000 characters): about n^3 splits. Dropped; a short input of the
/// same shape still matches with its slots.
#[test]
fn many_wildcards_over_a_long_run_of_one_word() {
    let mut nlu = nlu();
    let yaml = "language: en\nintents:\n  Note:\n    data:\n      - sentences: [\"{a} x {b} x {c} x {d}\"]\n\
                lists:\n  a: {wildcard: true}\n  b: {wildcard: true}\n  c: {wildcard: true}\n  d: {wildcard: true}\n";
    nlu.add_custom_yaml("wild.yaml", yaml).expect("custom file loads");
    let m = nlu.try_recognize("p x q x r x s", &ctx()).expect("small input is cheap").expect("matches");
    let slots = m.slot_map();
    assert_eq!(
        ["a", "b", "c", "d"].map(|k| slots.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string()),
        ["p", "q", "r", "s"].map(String::from)
    );
    let long = "x ".repeat(1000);
    assert_eq!(long.trim().chars().count(), 1999);
    assert_eq!(intent(&nlu, long.trim()), Err(TooComplex { dropped: 1 }));
    // The built-in sentences still answer next to it.
    assert_eq!(intent(&nlu, "turn on the kitchen light"), Ok(Some("HassTurnOn".into())));
}
