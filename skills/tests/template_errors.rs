//! Bad templates and bad custom-sentence files get errors that name the
//! file, the intent and the position in the template; the engine keeps
//! working after a rejected file.

mod common;

use hub_skills::Registry;
use hub_skills::intent::NluContext;
use hub_skills::templates::{TemplateError, TemplateNlu};

const MINI: &str = r#"{
  "language": "en",
  "intents": {
    "HassTurnOn": {"data": [{"sentences": ["turn on [the] {name}"], "response": "default"}]}
  },
  "lists": {},
  "expansion_rules": {"the": "(the|my)"},
  "skip_words": ["please"],
  "responses": {"intents": {"HassTurnOn": {"default": "Turned on {{ slots.name }}"}}}
}"#;

fn mini() -> TemplateNlu {
    TemplateNlu::from_language_json_named("mini.json", MINI, &common::demo_registry()).expect("mini data loads")
}

fn template_err(e: TemplateError) -> (String, Option<String>, String, String, usize, String) {
    match e {
        TemplateError::Template { source_name, intent, location, template, position, message } => {
            (source_name, intent, location, template, position, message)
        }
        other => panic!("expected a template error, got {other:?}"),
    }
}

#[test]
fn unclosed_group_in_custom_file() {
    let mut nlu = mini();
    let yaml = "language: en\nintents:\n  HassTurnOff:\n    data:\n      - sentences:\n          - \"switch off\"\n          - \"turn (off [the] {name}\"\n";
    let e = nlu.add_custom_yaml("custom/bad.yaml", yaml).unwrap_err();
    let msg = e.to_string();
    let (src, intent, loc, tmpl, pos, m) = template_err(e);
    assert_eq!(src, "custom/bad.yaml");
    assert_eq!(intent.as_deref(), Some("HassTurnOff"));
    assert_eq!(tmpl, "turn (off [the] {name}");
    assert_eq!(pos, 5, "position of the unclosed '(' ({m})");
    assert!(loc.contains("sentences[1]") && loc.contains("line 7"), "{loc}");
    assert!(msg.contains("custom/bad.yaml") && msg.contains("HassTurnOff") && msg.contains("character 5"), "{msg}");
    // Unchanged and still working.
    assert!(nlu.understand("switch off", &NluContext::default()).is_none());
    assert_eq!(nlu.understand("turn on the kitchen light", &NluContext::default()).unwrap().intent, "HassTurnOn");
}

#[test]
fn stray_closing_bracket_and_mixed_separators() {
    let mut nlu = mini();
    let e = nlu
        .add_custom_yaml("x.yaml", "intents:\n  Foo:\n    data:\n      - sentences: [\"open the] door\"]\n")
        .unwrap_err();
    let (_, intent, _, _, pos, m) = template_err(e);
    assert_eq!((intent.as_deref(), pos), (Some("Foo"), 8), "{m}");
    let e = nlu
        .add_custom_yaml("x.yaml", "intents:\n  Foo:\n    data:\n      - sentences: [\"(a|b;c) door\"]\n")
        .unwrap_err();
    let (_, _, _, _, pos, m) = template_err(e);
    assert!(m.contains("mix"), "{m}");
    assert_eq!(pos, 4);
}

#[test]
fn missing_list_and_rule_and_cycles() {
    let mut nlu = mini();
    let e = nlu
        .add_custom_yaml("y.yaml", "intents:\n  Foo:\n    data:\n      - sentences: [\"play {song}\"]\n")
        .unwrap_err();
    let (src, intent, _, tmpl, _, m) = template_err(e);
    assert_eq!((src.as_str(), intent.as_deref(), tmpl.as_str()), ("y.yaml", Some("Foo"), "play {song}"));
    assert!(m.contains("missing slot list {song}"), "{m}");

    let e = nlu
        .add_custom_yaml("y.yaml", "intents:\n  Foo:\n    data:\n      - sentences: [\"<nope> door\"]\n")
        .unwrap_err();
    assert!(template_err(e).5.contains("missing expansion rule <nope>"));

    let e = nlu
        .add_custom_yaml("y.yaml", "expansion_rules:\n  a: \"x <b>\"\n  b: \"y <a>\"\nintents:\n  Foo:\n    data:\n      - sentences: [\"<a>\"]\n")
        .unwrap_err();
    assert!(template_err(e).5.contains("refers to itself"));
}

#[test]
fn bad_lists_and_syntax() {
    let mut nlu = mini();
    let e = nlu
        .add_custom_yaml("z.yaml", "lists:\n  speed:\n    range: {from: 10, to: 1}\nintents:\n  Foo:\n    data:\n      - sentences: [\"speed {speed}\"]\n")
        .unwrap_err();
    assert_eq!(
        e,
        TemplateError::Schema {
            source_name: "z.yaml".into(),
            path: "lists.speed.range".into(),
            message: "start cannot be greater than stop".into()
        }
    );
    let e = nlu.add_custom_yaml("z.yaml", "lists:\n  colour:\n    valuez: [red]\nintents: {}\n").unwrap_err();
    assert!(matches!(&e, TemplateError::Schema { path, .. } if path == "lists.colour"), "{e:?}");
    let e = nlu
        .add_custom_yaml(
            "z.yaml",
            "lists:\n  mood:\n    values:\n      - in: \"(cosy|cozy\"\n        out: cozy\nintents: {}\n",
        )
        .unwrap_err();
    let (src, intent, loc, _, pos, _) = template_err(e);
    assert_eq!((src.as_str(), intent, loc.starts_with("lists.mood.values[0]"), pos), ("z.yaml", None, true, 0));

    let e = nlu.add_custom_yaml("w.yaml", "intents:\n  Foo: [\n").unwrap_err();
    assert!(
        matches!(&e, TemplateError::Syntax { source_name, message } if source_name == "w.yaml" && message.contains("line")),
        "{e:?}"
    );
    let e = nlu.add_custom_yaml("w.yaml", "intents:\n  Foo:\n    sentences: [\"x\"]\n").unwrap_err();
    assert!(matches!(&e, TemplateError::Schema { path, .. } if path == "intents.Foo"), "{e:?}");
    let e = nlu.add_custom_yaml("w.yaml", "language: de\nintents: {}\n").unwrap_err();
    assert!(e.to_string().contains("language"), "{e}");

    let e = TemplateNlu::from_language_json_named("en.json", "{\"intents\": {", &Registry::default()).unwrap_err();
    assert!(
        matches!(&e, TemplateError::Syntax { source_name, message } if source_name == "en.json" && message.contains("line")),
        "{e:?}"
    );
    let bad = MINI.replace("turn on [the] {name}", "turn on <the {name}");
    let e = TemplateNlu::from_language_json_named("en.json", &bad, &Registry::default()).unwrap_err();
    let (src, intent, loc, _, pos, _) = template_err(e);
    assert_eq!(
        (src.as_str(), intent.as_deref(), loc.as_str(), pos),
        ("en.json", Some("HassTurnOn"), "intents.HassTurnOn.data[0].sentences[0]", 8)
    );
}

#[test]
fn custom_sentences_work_and_respond() {
    let mut nlu = mini();
    nlu.add_custom_yaml(
        "mood.yaml",
        "language: en\nintents:\n  SetMood:\n    data:\n      - sentences: [\"set [the] mood [to] {mood}\"]\n        response: done\nlists:\n  mood:\n    values:\n      - in: \"(cozy|cosy)\"\n        out: cozy\nresponses:\n  intents:\n    SetMood:\n      done: \"Mood is {{ slots.mood }}\"\n",
    )
    .unwrap();
    let u = nlu.understand("Please set the mood to cosy!", &NluContext::default()).unwrap();
    assert_eq!(u.intent, "SetMood");
    assert_eq!(u.slots.other["mood"], "cozy", "a custom slot is kept as JSON");
    assert_eq!(nlu.response(&u, None).as_deref(), Some("Mood is cozy"));
    let u = nlu.understand("turn on the kitchen lamp", &NluContext::default()).unwrap();
    assert_eq!(u.entities, vec!["light.kitchen".to_string()]);
    assert_eq!(nlu.response(&u, None).as_deref(), Some("Turned on kitchen lamp"));
}
