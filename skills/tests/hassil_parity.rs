//! Parity with the reference: hassil (in `.venv`) samples sentences from
//! Home Assistant's templates against the demo registry and recognizes them
//! with `recognize_best` as Home Assistant calls it; hubd must return the
//! same intent and slots for every one. English (plus a custom sentences
//! file), German and Chinese (whitespace-free matching).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;

use hub_skills::intent::NluContext;
use hub_skills::templates::TemplateNlu;
use serde_json::Value;

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b)),
        _ => a == b,
    }
}

fn same_slots(a: &BTreeMap<String, Value>, b: &serde_json::Map<String, Value>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same_value(v, w)))
}

#[test]
fn hassil_parity_en_de_zh() {
    let Some(venv) = common::venv() else {
        eprintln!("SKIPPED hassil_parity: no .venv (run scripts/setup); this test needs hassil in .venv");
        return;
    };
    let root = common::repo_root();
    let reg = common::demo_registry();
    let dir = std::env::temp_dir().join(format!("hubd-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let reg_path = dir.join("registry.json");
    std::fs::write(&reg_path, serde_json::to_string(&reg).unwrap()).unwrap();
    let custom = root.join("skills/tests/fixtures/custom_en.yaml");

    // (language, sentences to compare, minimum)
    let langs: [(&str, usize, usize); 3] = [("en", 2200, 2000), ("de", 650, 500), ("zh-CN", 650, 500)];
    let mut by_lang: HashMap<&str, (usize, Vec<String>)> = HashMap::new();
    for (lang, total, min) in langs {
        let out = dir.join(format!("{lang}.jsonl"));
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.arg(root.join("scripts/peers/hassil_parity.py"))
            .args(["generate", "--registry"])
            .arg(&reg_path)
            .args(["--lang", lang, "--total", &total.to_string(), "--out"])
            .arg(&out)
            .env("HF_HUB_OFFLINE", "1");
        if lang == "en" {
            cmd.arg("--custom").arg(&custom);
        }
        let st = cmd.status().expect("run hassil_parity.py");
        assert!(st.success(), "hassil_parity.py failed for {lang}");

        let json = common::intents_json(&venv, lang);
        let mut nlu =
            TemplateNlu::from_language_json_named(&format!("{lang}.json"), &json, &reg).expect("load language");
        // Number words from the reference's spellout rules (unicode-rbnf).
        let words = Command::new(venv.join("bin/python"))
            .arg(root.join("scripts/peers/hassil_parity.py"))
            .args(["numbers", "--lang", lang])
            .output()
            .expect("run hassil_parity.py numbers");
        assert!(words.status.success(), "number words for {lang}");
        nlu.set_number_words(&String::from_utf8(words.stdout).unwrap()).expect("number words");
        if lang == "en" {
            nlu.add_custom_yaml("custom_en.yaml", &std::fs::read_to_string(&custom).unwrap())
                .expect("custom sentences");
        }
        let lines = std::fs::read_to_string(&out).unwrap();
        let mut n = 0;
        let mut matched = 0;
        let mut bad = Vec::new();
        for line in lines.lines() {
            let exp: Value = serde_json::from_str(line).unwrap();
            let text = exp["text"].as_str().unwrap();
            let area = exp["area"].as_str().map(String::from);
            let ctx = NluContext { area };
            let got = nlu.recognize(text, &ctx);
            let exp_intent = exp["intent"].as_str();
            let exp_slots = exp["slots"].as_object().cloned().unwrap_or_default();
            n += 1;
            let ok = match (&got, exp_intent) {
                (None, None) => true,
                (Some(g), Some(i)) => {
                    matched += 1;
                    g.intent == i && same_slots(&g.slot_map(), &exp_slots)
                }
                _ => false,
            };
            if !ok {
                bad.push(format!(
                    "  {lang} {text:?} (area {:?}): hassil {} {}, hubd {:?}",
                    ctx.area,
                    exp_intent.unwrap_or("-"),
                    Value::Object(exp_slots),
                    got.map(|g| (g.intent.clone(), g.slot_map()))
                ));
            }
        }
        eprintln!("parity {lang}: {n} sentences ({matched} matched an intent), {} mismatches", bad.len());
        assert!(n >= min, "{lang}: only {n} sentences generated (want >= {min})");
        by_lang.insert(lang, (n, bad));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut all_bad = Vec::new();
    for (lang, (_, bad)) in &by_lang {
        for b in bad.iter().take(25) {
            all_bad.push(b.clone());
        }
        if bad.len() > 25 {
            all_bad.push(format!("  ... {} more in {lang}", bad.len() - 25));
        }
    }
    assert!(all_bad.is_empty(), "hubd differs from hassil:\n{}", all_bad.join("\n"));
}
