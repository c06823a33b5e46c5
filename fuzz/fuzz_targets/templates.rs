//! The Home Assistant sentence-template engine (hub-skills `templates`):
//! arbitrary utterances against a small language file, arbitrary templates
//! in a custom-sentences file (then matched), and arbitrary YAML files.
#![no_main]

use std::sync::OnceLock;

use hub_skills::Registry;
use hub_skills::intent::NluContext;
use hub_skills::templates::TemplateNlu;
use libfuzzer_sys::fuzz_target;

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

fn base() -> &'static TemplateNlu {
    static NLU: OnceLock<TemplateNlu> = OnceLock::new();
    NLU.get_or_init(|| {
        let reg: Registry = serde_json::from_str(REGISTRY).expect("fuzz registry");
        let reg = Registry::new(reg.floors, reg.areas, reg.devices).expect("valid fuzz registry");
        TemplateNlu::from_language_json_named("fuzz.json", LANGUAGE, &reg).expect("fuzz language loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let [sel, rest @ ..] = data else { return };
    let text = String::from_utf8_lossy(rest);
    let ctx = NluContext { area: Some("kitchen".into()) };
    match sel % 3 {
        0 => {
            let _ = base().understand(&text, &ctx);
        }
        1 => {
            // One fuzzed template in a custom sentences file, then a match.
            let registry: Registry = serde_json::from_str(REGISTRY).expect("fuzz registry");
            let Ok(mut nlu) = TemplateNlu::from_language_json_named("fuzz.json", LANGUAGE, &registry) else { return };
            let sentence = serde_json::Value::String(text.into_owned()).to_string();
            let yaml = format!("language: en\nintents:\n  FuzzIntent:\n    data:\n      - sentences: [{sentence}]\n");
            if nlu.add_custom_yaml("fuzz.yaml", &yaml).is_ok() {
                let _ = nlu.understand("turn on the kitchen light", &ctx);
                let _ = nlu.understand("fan on", &ctx);
            }
        }
        _ => {
            let registry: Registry = serde_json::from_str(REGISTRY).expect("fuzz registry");
            let Ok(mut nlu) = TemplateNlu::from_language_json_named("fuzz.json", LANGUAGE, &registry) else { return };
            if nlu.add_custom_yaml("fuzz.yaml", &text).is_ok() {
                let _ = nlu.understand("turn on the kitchen light", &ctx);
            }
        }
    }
});
