//! Shared helpers for the template tests: the repository, its `.venv`, the
//! `home_assistant_intents` data and the demo registry from
//! `config/hub.example.toml`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use firmware_bridge::{DeviceKind, Dialect};
use hub_skills::Registry;
use hub_skills::media_library::MediaItem;
use hub_skills::registry::Device;
use hub_skills::scene::{Scene, SceneTarget, scene_actions};

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
    registry_from("config/hub.example.toml")
}

/// The registry of a config file in the repository: floors, areas and
/// devices, plus `[[scene]]` and `[[script]]` entities and the `[[media]]`
/// library as the daemon adds them (an `input_boolean` without a dialect kept on `hubd/input_boolean/<x>`).
pub fn registry_from(path: &str) -> Registry {
    let text = std::fs::read_to_string(repo_root().join(path)).expect("config file");
    let doc: toml::Value = toml::from_str(&text).expect("config parses");
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
    let mut devices = reg.devices;
    for d in devices.iter_mut().filter(|d| d.kind == DeviceKind::InputBoolean && d.dialect.is_none()) {
        let topic = format!("hubd/input_boolean/{}", d.id.split_once('.').map_or("", |(_, o)| o));
        d.dialect = Some(Dialect::HaMqtt {
            command_topic: topic.clone(),
            state_topic: Some(topic),
            json: false,
            payload_on: "ON".into(),
            payload_off: "OFF".into(),
        });
    }
    let entity = |t: &toml::Value, kind: DeviceKind| Device {
        id: t["id"].as_str().expect("id").into(),
        kind,
        name: t["name"].as_str().expect("name").into(),
        aliases: t
            .get("aliases")
            .and_then(|a| a.as_array())
            .map_or(vec![], |a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()),
        area: t.get("area").and_then(|a| a.as_str()).map(str::to_string),
        device_class: None,
        dialect: None,
        features: Default::default(),
        origin: Default::default(),
    };
    let mut scenes = Vec::new();
    for (key, kind) in [("scene", DeviceKind::Scene), ("script", DeviceKind::Script)] {
        for t in doc.get(key).and_then(|v| v.as_array()).into_iter().flatten() {
            devices.push(entity(t, kind));
            if kind == DeviceKind::Scene {
                let targets = t["entities"]
                    .as_table()
                    .expect("entities")
                    .iter()
                    .map(|(id, state)| {
                        let k = DeviceKind::from_domain(id.split('.').next().unwrap_or_default()).expect("domain");
                        let state = serde_json::to_value(state).expect("state");
                        SceneTarget { entity_id: id.clone(), actions: scene_actions(k, &state).expect("scene state") }
                    })
                    .collect();
                scenes.push(Scene { id: t["id"].as_str().expect("id").into(), targets });
            }
        }
    }
    let mut reg = Registry::new(reg.floors, reg.areas, devices).expect("registry is valid");
    reg.scenes = scenes;
    let text = |t: &toml::Value, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
    for t in doc.get("media").and_then(|v| v.as_array()).into_iter().flatten() {
        reg.media.push(MediaItem {
            name: text(t, "name").expect("name"),
            aliases: t
                .get("aliases")
                .and_then(|a| a.as_array())
                .map_or(vec![], |a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()),
            class: text(t, "class").unwrap_or_else(|| "music".into()),
            id: text(t, "content_id").expect("content_id"),
        });
    }
    reg
}
