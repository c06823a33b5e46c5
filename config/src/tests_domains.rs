//! The domains beyond lights and switches: kind-specific features, hub-held
//! `input_boolean`s, `[[scene]]` and `[[script]]`, and the extended demo home
//! `tests/homes/every-domain.toml` with one entity of every domain.

use firmware_bridge::{Action, DeviceKind, Dialect};

use super::tests::errs;
use super::*;

const HOME: &str = r#"
[[area]]
id = "kitchen"
name = "Kitchen"

[[device]]
id = "light.kitchen"
name = "Kitchen Light"
area = "kitchen"
dialect = { type = "zigbee2mqtt", friendly_name = "Kitchen Light" }
"#;

fn with(extra: &str) -> String {
    format!("{HOME}\n{extra}\n")
}

/// The one diagnostic of `text`, as `line: message`.
fn one(text: &str) -> String {
    let d = errs(text);
    assert_eq!(d.len(), 1, "{d:?}");
    format!("{}: {}", d[0].line, d[0].message)
}

#[test]
fn every_domain_home_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/homes/every-domain.toml");
    let cfg = Config::load(path).unwrap_or_else(|e| panic!("{e}"));
    let reg = cfg.registry().unwrap_or_else(|e| panic!("{e}"));
    for kind in DeviceKind::ALL {
        assert!(reg.devices.iter().any(|d| d.kind == kind), "no {} in the home", kind.domain());
    }
    let guest = reg.device("input_boolean.guest_mode").expect("guest mode");
    let topic = "hubd/input_boolean/guest_mode".to_string();
    assert!(
        matches!(&guest.dialect, Some(Dialect::HaMqtt { command_topic, state_topic: Some(s), .. }) if *command_topic == topic && *s == topic),
        "{:?}",
        guest.dialect
    );
    let scene = reg.scene("scene.movie_night").expect("scene");
    let tv: Vec<&Action> = scene
        .targets
        .iter()
        .filter(|t| t.entity_id == "media_player.living_room_tv")
        .flat_map(|t| &t.actions)
        .collect();
    assert_eq!(tv, [&Action::TurnOn, &Action::Volume { percent: 30 }]);
    let engine = cfg.automation_engine().unwrap_or_else(|e| panic!("{e}"));
    assert!(engine.rules().iter().any(|r| r.id == "script.goodnight"));
    let e = one(&with("[[device]]\nid = \"scene.x\"\nname = \"X\""));
    assert!(e.contains("`scene.x` is a scene: define it in [[scene]]"), "{e}");
    let e = one(&with(
        "[[device]]\nid = \"todo.x\"\nname = \"X\"\ndialect = { type = \"generic_json\", command_topic = \"a\", state_topic = \"b\" }",
    ));
    assert!(e.contains("to-do list hubd keeps itself"), "{e}");
    let rover = reg.device("vacuum.rover").expect("rover");
    assert_eq!(rover.features.segments.get("living_room").map(Vec::len), Some(2));
}

#[test]
fn kind_features_are_checked() {
    let light =
        |f: &str| HOME.replace("area = \"kitchen\"\ndialect", &format!("area = \"kitchen\"\nfeatures = {f}\ndialect"));
    assert!(one(&light("{ speed = true }")).ends_with("device `light.kitchen` is not a fan but has `speed`"));
    assert!(one(&light("{ fan_modes = [\"low\"] }")).contains("is not a climate device but has `fan_modes`"));
    assert!(one(&light("{ segments = { kitchen = [\"1\"] } }")).contains("is not a vacuum but has `segments`"));
    let vacuum = |segments: &str| {
        with(&format!(
            "[[device]]\nid = \"vacuum.rover\"\nname = \"Rover\"\nfeatures = {{ segments = {segments} }}\ndialect = {{ type = \"valetudo\", identifier = \"rover\" }}"
        ))
    };
    let e = one(&vacuum("{ attic = [\"3\"] }"));
    assert!(e.starts_with("15: ") && e.contains("`segments` names unknown area `attic`"), "{e}");
    assert!(one(&vacuum("{ kitchen = [] }")).contains("`segments.kitchen` needs segment ids"));
    let e = one(&with(
        "[[device]]\nid = \"vacuum.rover\"\nname = \"Rover\"\ndialect = { type = \"valetudo\", identifier = \"x\", prefx = \"v\" }",
    ));
    assert!(e.contains("unknown dialect key `prefx`"), "{e}");
    // A valve takes a position; an input_boolean needs no dialect.
    let ok = with(
        "[[device]]\nid = \"valve.water\"\nname = \"Water\"\nfeatures = { position = true }\ndialect = { type = \"generic_json\", command_topic = \"w/set\", state_topic = \"w\" }\n\n[[device]]\nid = \"input_boolean.away\"\nname = \"Away\"",
    );
    Config::from_str(&ok, "t.toml").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn scenes_are_checked_against_the_devices() {
    let scene =
        |entities: &str| with(&format!("[[scene]]\nid = \"scene.dinner\"\nname = \"Dinner\"\nentities = {entities}"));
    Config::from_str(&scene("{ \"light.kitchen\" = { state = \"on\" } }"), "t.toml").unwrap_or_else(|e| panic!("{e}"));
    let e = one(&scene("{ \"light.attic\" = \"on\" }"));
    assert!(e.starts_with("15: ") && e.contains("scene `scene.dinner`: unknown entity `light.attic`"), "{e}");
    assert!(
        one(&scene("{ \"light.kitchen\" = { effect = \"rainbow\" } }"))
            .contains("attribute `effect` is not implemented yet")
    );
    assert!(one(&scene("{ \"light.kitchen\" = \"locked\" }")).contains("state `locked`"));
    // The light is not dimmable: its firmware dialect cannot take a brightness.
    assert!(
        one(&scene("{ \"light.kitchen\" = { brightness_pct = 40 } }"))
            .contains("Kitchen Light cannot do brightness 40%")
    );
    assert!(one(&scene("{}")).contains("sets no entities"));
    let e =
        one(&with("[[scene]]\nid = \"light.dinner\"\nname = \"Dinner\"\nentities = { \"light.kitchen\" = \"on\" }"));
    assert!(e.contains("invalid scene id `light.dinner`"), "{e}");
    let e = one(&with(
        "[[scene]]\nid = \"scene.x\"\nname = \"X\"\narea = \"attic\"\nentities = { \"light.kitchen\" = \"on\" }",
    ));
    assert!(e.contains("scene `scene.x` is in unknown area `attic`"), "{e}");
}

#[test]
fn scripts_are_rules_without_triggers() {
    let script = |body: &str| with(&format!("[[script]]\nid = \"script.bedtime\"\nname = \"Bedtime\"\n{body}"));
    let cfg = Config::from_str(
        &script("sequence = [{ action = \"light.turn_off\", target = { entity_id = \"light.kitchen\" } }]"),
        "t.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let reg = cfg.registry().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reg.device("script.bedtime").map(|d| d.kind), Some(DeviceKind::Script));
    let e = one(&script("sequence = [{ action = \"light.turn_off\", target = { entity_id = \"light.attic\" } }]"));
    assert!(e.contains("[[script]] `script.bedtime`") && e.contains("unknown entity `light.attic`"), "{e}");
    let e = one(&script("triggers = []\nsequence = [{ delay = 1 }]"));
    assert!(e.contains("unknown key `triggers`"), "{e}");
    let e = one(&with("[[script]]\nid = \"bedtime\"\nname = \"B\"\nsequence = [{ delay = 1 }]"));
    assert!(e.contains("invalid script id `bedtime`"), "{e}");
    // An automation runs a script; an unknown one is refused.
    let run = |id: &str| {
        format!(
            "{}\n[[automation]]\nid = \"a\"\ntriggers = [{{ trigger = \"hubd_start\" }}]\nactions = [{{ action = \"script.turn_on\", target = {{ entity_id = \"{id}\" }} }}]\n",
            script("sequence = [{ delay = 1 }]")
        )
    };
    Config::from_str(&run("script.bedtime"), "t.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(one(&run("script.nap")).contains("unknown script `script.nap`"));
}

#[test]
fn the_media_library_is_checked() {
    let media = |body: &str| with(&format!("[[media]]\n{body}"));
    let cfg =
        Config::from_str(&media("name = \"Jazz Radio\"\nclass = \"channel\"\ncontent_id = \"http://r/jazz\""), "t")
            .unwrap_or_else(|e| panic!("{e}"));
    let reg = cfg.registry().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reg.media.len(), 1);
    assert_eq!((reg.media[0].class.as_str(), reg.media[0].id.as_str()), ("channel", "http://r/jazz"));
    let cfg = Config::from_str(&media("name = \"Mix\"\ncontent_id = \"spotify:playlist:1\""), "t").unwrap();
    assert_eq!(cfg.registry().unwrap().media[0].class, "music", "the default class");
    let e = one(&media("name = \"Jazz\"\nclass = \"radio\"\ncontent_id = \"x\""));
    assert!(e.starts_with("14: ") && e.contains("unknown media class `radio`"), "{e}");
    assert!(one(&media("name = \"Jazz\"\ncontent_id = \" \"")).contains("media `Jazz` has nothing to play"));
    assert!(one(&media("name = \" ! \"\ncontent_id = \"x\"")).contains("media item without a name"));
    assert!(one(&media("name = \"Jazz\"\ncontent_id = \"x\"\nurl = \"x\"")).contains("unknown field `url`"));
    let two = with("[[media]]\nname = \"Jazz\"\ncontent_id = \"a\"\n[[media]]\nname = \"jazz!\"\ncontent_id = \"b\"");
    assert!(one(&two).contains("duplicate media name `jazz!`"));
}
