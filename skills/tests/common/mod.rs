//! Shared helpers for the template tests: the repository, its `.venv`, the
//! `home_assistant_intents` data and the demo registry from
//! `config/hub.example.toml`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hub_skills::Registry;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("skills/ has a parent").to_path_buf()
}

/// `<repo>/.venv` (or `$HUBD_VENV`), if it exists.
pub fn venv() -> Option<PathBuf> {
    let v = std::env::var_os("HUBD_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv"));
    v.join("bin/python").exists().then_some(v)
}

pub fn site_packages(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.join("home_assistant_intents").is_dir())
}

pub fn intents_json(venv: &Path, lang: &str) -> String {
    let sp = site_packages(venv).expect("home_assistant_intents installed in .venv");
    std::fs::read_to_string(sp.join("home_assistant_intents/data").join(format!("{lang}.json"))).expect("language data")
}

/// The demo home: `[[floor]]`, `[[area]]`, `[[device]]` of
/// `config/hub.example.toml` (a device's kind defaults to its id's domain,
/// as the daemon's config does).
pub fn demo_registry() -> Registry {
    let text = std::fs::read_to_string(repo_root().join("config/hub.example.toml")).expect("config/hub.example.toml");
    let doc: toml::Value = toml::from_str(&text).expect("example config parses");
    let mut reg = serde_json::Map::new();
    for (key, out) in [("floor", "floors"), ("area", "areas"), ("device", "devices")] {
        let mut items: Vec<serde_json::Value> = Vec::new();
        if let Some(toml::Value::Array(arr)) = doc.get(key) {
            for it in arr {
                let mut v = serde_json::to_value(it).expect("toml -> json");
                if key == "device" {
                    let obj = v.as_object_mut().expect("device table");
                    if !obj.contains_key("kind") {
                        let id = obj.get("id").and_then(|i| i.as_str()).unwrap_or_default().to_string();
                        let dom = id.split('.').next().unwrap_or_default().to_string();
                        obj.insert("kind".into(), serde_json::Value::String(dom));
                    }
                    // Only the fields the registry knows.
                    obj.retain(|k, _| {
                        matches!(
                            k.as_str(),
                            "id" | "kind" | "name" | "aliases" | "area" | "device_class" | "dialect" | "features"
                        )
                    });
                }
                items.push(v);
            }
        }
        reg.insert(out.into(), serde_json::Value::Array(items));
    }
    let reg: Registry = serde_json::from_value(serde_json::Value::Object(reg)).expect("registry from example config");
    Registry::new(reg.floors, reg.areas, reg.devices).expect("example registry is valid")
}
