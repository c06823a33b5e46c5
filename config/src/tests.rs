//! Config parsing and validation tests.

use std::collections::HashSet;

use firmware_bridge::DeviceKind;

use super::*;

pub(super) fn errs(text: &str) -> Vec<Diagnostic> {
    match Config::from_str(text, "t.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(ConfigError::Invalid(d)) => d,
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn ok(text: &str) -> Config {
    match Config::from_str(text, "t.toml") {
        Ok(c) => c,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

const HOME: &str = r#"
[[floor]]
id = "ground"
name = "Ground"

[[area]]
id = "kitchen"
name = "Kitchen"
floor = "ground"

[[device]]
id = "light.kitchen"
name = "Kitchen Light"
area = "kitchen"
dialect = { type = "zigbee2mqtt", friendly_name = "Kitchen Light" }
"#;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml")
}

#[test]
fn example_config_loads_and_validates() {
    let cfg = Config::load(example_path()).unwrap_or_else(|e| panic!("{e}"));
    let reg = cfg.registry().unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.validate().is_empty());
    // The demo home: >= 4 areas on 2 floors, >= 12 devices.
    assert_eq!(reg.floors.len(), 2);
    assert!(reg.areas.len() >= 4);
    let floors_used: HashSet<_> = reg.areas.iter().filter_map(|a| a.floor.clone()).collect();
    assert_eq!(floors_used.len(), 2);
    assert!(reg.devices.len() >= 12);
    // Every dialect and the required kinds appear.
    let dialects: HashSet<String> = reg
        .devices
        .iter()
        .filter_map(|d| d.dialect.as_ref())
        .map(|d| serde_json::to_value(d).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    for t in ["zigbee2mqtt", "tasmota", "esphome", "shelly_gen1", "generic_json"] {
        assert!(dialects.contains(t), "dialect {t} missing");
    }
    let kinds: HashSet<DeviceKind> = reg.devices.iter().map(|d| d.kind).collect();
    for k in [
        DeviceKind::Light,
        DeviceKind::Switch,
        DeviceKind::Climate,
        DeviceKind::Cover,
        DeviceKind::Lock,
        DeviceKind::Sensor,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing");
    }
    assert!(kinds.contains(&DeviceKind::Person) || kinds.contains(&DeviceKind::BinarySensor));
    assert!(reg.devices.iter().any(|d| d.features.dimmable));
    assert!(reg.devices.iter().any(|d| d.features.color));
    assert!(reg.devices.iter().any(|d| d.device_class.as_deref() == Some("temperature")));
    assert!(
        reg.devices.iter().any(|d| matches!(d.device_class.as_deref(), Some("curtain" | "garage" | "garage_door")))
    );
    // Sections and paths.
    assert_eq!(cfg.mqtt.broker(), BrokerTarget::Embedded { port: 1883 });
    assert_eq!(cfg.store_path(), example_path().parent().unwrap().join("hubd.db"));
    assert_eq!(cfg.nlu.language, "en");
    assert_eq!(cfg.model.backend, Backend::Local);
    assert!(cfg.automations.len() >= 3, "the demo rules");
    assert_eq!(cfg.audio.wake_phrase(), Some("hey hub"));
}

#[test]
fn empty_config_is_all_defaults() {
    let cfg = ok("");
    assert_eq!(cfg.mqtt, MqttConfig::default());
    assert_eq!(cfg.web.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.store.retention_days, 30);
    assert!(cfg.registry().unwrap().devices.is_empty());
}

#[test]
fn malformed_toml_reports_line_and_column() {
    let d = errs("[mqtt]\nport = 1883\nclient_id = \"hubd\n[web]\n");
    assert!(!d.is_empty());
    assert_eq!(d[0].file, "t.toml");
    assert_eq!(d[0].line, 3, "{d:?}");
    assert!(d[0].column >= 1);
    // Several syntax errors: all are reported.
    let d = errs("a = \nb = = 2\n[x\n");
    assert!(d.len() >= 2, "{d:?}");
    assert!(d.windows(2).all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)));
}

#[test]
fn unknown_key_reports_key_and_line() {
    let d = errs("[mqtt]\nport = 1883\nprot = 1884\n");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].line, d[0].column), (3, 1), "{d:?}");
    assert!(d[0].message.contains("unknown field `prot`"), "{}", d[0].message);
    assert!(d[0].expected.as_deref().unwrap().contains("`port`"), "{:?}", d[0].expected);
    let shown = d[0].to_string();
    assert!(shown.starts_with("t.toml:3:1: [mqtt]: unknown field `prot`"), "{shown}");
    assert!(shown.contains("(expected one of"), "{shown}");
}

#[test]
fn unknown_key_in_device_and_dialect() {
    let text = format!("{HOME}colour = true\n");
    let d = errs(&text);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("light.kitchen") && d[0].message.contains("`colour`"), "{d:?}");
    assert_eq!(d[0].line, text.lines().count());

    let text = HOME.replace("friendly_name = \"Kitchen Light\"", "friendly_name = \"Kitchen Light\", topik = \"x\"");
    let d = errs(&text);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("unknown dialect key `topik`"), "{d:?}");
    assert!(d[0].expected.as_deref().unwrap().contains("`friendly_name`"), "{d:?}");
    let line = text.lines().position(|l| l.contains("topik")).unwrap() + 1;
    assert_eq!(d[0].line, line);
    let col = text.lines().nth(line - 1).unwrap().find("topik").unwrap() + 1;
    assert_eq!(d[0].column, col);
}

#[test]
fn unknown_top_level_key() {
    let d = errs("[mqt]\nport = 1\n");
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("unknown top-level key `mqt`"));
    assert!(d[0].expected.as_deref().unwrap().contains("`mqtt`"));
    assert_eq!(d[0].line, 1);
}

#[test]
fn wrong_type_names_expected_type() {
    let d = errs("[mqtt]\n\nport = \"abc\"\n");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].line, 3);
    assert_eq!(d[0].column, 8);
    assert!(d[0].message.contains("invalid type"), "{d:?}");
    assert!(d[0].expected.is_some());
}

#[test]
fn duplicate_device_ids() {
    let text = format!(
        "{HOME}\n[[device]]\nid = \"light.kitchen\"\nname = \"Other\"\ndialect = {{ type = \"tasmota\", topic = \"x\" }}\n"
    );
    let d = errs(&text);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("duplicate device id `light.kitchen`"), "{d:?}");
    let lines: Vec<usize> =
        text.lines().enumerate().filter(|(_, l)| l.contains("id = \"light.kitchen\"")).map(|(i, _)| i + 1).collect();
    assert_eq!(d[0].line, lines[1], "points at the second definition");
    assert!(d[0].message.contains(&format!("first defined on line {}", lines[0])), "{d:?}");
}

#[test]
fn device_in_unknown_area() {
    let text = HOME.replace("area = \"kitchen\"\ndialect", "area = \"kitchn\"\ndialect");
    let d = errs(&text);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("unknown area `kitchn`"), "{d:?}");
    assert!(d[0].expected.as_deref().unwrap().contains("`kitchen`"), "{d:?}");
    let line = text.lines().position(|l| l.contains("kitchn")).unwrap() + 1;
    assert_eq!((d[0].line, d[0].column), (line, 8));
}

#[test]
fn area_on_unknown_floor() {
    let d = errs(&HOME.replace("floor = \"ground\"", "floor = \"attic\""));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("unknown floor `attic`"));
}

#[test]
fn bad_entity_id_prefix() {
    // Domain differs from the explicit kind.
    let d = errs(&HOME.replace("id = \"light.kitchen\"", "id = \"switch.kitchen\"\nkind = \"light\""));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("domain `switch` but `kind = \"light\"`"), "{d:?}");
    assert_eq!(d[0].expected.as_deref(), Some("`light.kitchen`"));
    // Unknown domain.
    let d = errs(&HOME.replace("id = \"light.kitchen\"", "id = \"lamp.kitchen\""));
    assert!(d.iter().any(|x| x.message.contains("unknown domain `lamp`")), "{d:?}");
    // Not an entity id at all.
    let d = errs(&HOME.replace("id = \"light.kitchen\"", "id = \"kitchen\""));
    assert!(d.iter().any(|x| x.message.contains("not an entity id")), "{d:?}");
    // Bad object id characters.
    let d = errs(&HOME.replace("id = \"light.kitchen\"", "id = \"light.Kitchen Lamp\""));
    assert!(d.iter().any(|x| x.message.contains("invalid object id")), "{d:?}");
}

#[test]
fn all_errors_are_collected() {
    let text = r#"
[mqtt]
prot = 1

[web]
bind = "0.0.0.0:8080"

[[area]]
id = "kitchen"
name = "Kitchen"
floor = "nowhere"

[[device]]
id = "light.a"
name = "A"
area = "nowhere"
dialect = { type = "tasmota", topic = "a" }

[[device]]
id = "light.b"
nam = "B"

[[device]]
id = "switch.c"
name = "C"
"#;
    let d = errs(text);
    let msgs: Vec<&str> = d.iter().map(|x| x.message.as_str()).collect();
    assert_eq!(d.len(), 7, "{msgs:#?}");
    assert!(msgs[0].contains("`prot`"));
    assert!(msgs[1].contains("no `token`"));
    assert!(msgs[2].contains("unknown floor `nowhere`"));
    assert!(msgs[3].contains("unknown area `nowhere`"));
    // Both problems of the entry: the key it lacks and the key it has.
    assert!(msgs[4].contains("missing field `name`"));
    assert!(msgs[5].contains("`nam`"));
    assert!(msgs[6].contains("takes commands but has no `dialect`"));
    assert!(d.windows(2).all(|w| w[0].line < w[1].line));
}

#[test]
fn mqtt_url_and_host() {
    let cfg = ok("[mqtt]\nurl = \"mqtt://broker.lan:1884\"\n");
    assert_eq!(cfg.mqtt.broker(), BrokerTarget::External { host: "broker.lan".into(), port: 1884 });
    let cfg = ok("[mqtt]\nurl = \"tcp://10.0.0.2\"\n");
    assert_eq!(cfg.mqtt.broker(), BrokerTarget::External { host: "10.0.0.2".into(), port: 1883 });
    let cfg = ok("[mqtt]\nhost = \"10.0.0.3\"\nport = 1999\n");
    assert_eq!(cfg.mqtt.broker(), BrokerTarget::External { host: "10.0.0.3".into(), port: 1999 });
    let d = errs("[mqtt]\nurl = \"http://x\"\n");
    assert_eq!(d[0].line, 2);
    assert!(d[0].message.contains("invalid MQTT url"), "{d:?}");
    let d = errs("[mqtt]\nurl = \"mqtt://x:1\"\nhost = \"y\"\n");
    assert!(d[0].message.contains("both `url` and `host`"), "{d:?}");
    assert_eq!(d[0].line, 3);
    let d = errs("[mqtt]\nmax_attempts = 0\n");
    assert!(d[0].message.contains("max_attempts"));
}

#[test]
fn web_and_model_rules() {
    ok("[web]\nbind = \"0.0.0.0:8080\"\ntoken = \"long-enough-token\"\n");
    let d = errs("[web]\nbind = \"nonsense\"\n");
    assert_eq!(d[0].line, 2);
    let cfg = ok("[model.placement]\ndevices = [\"cuda:0\", \"cuda:1\"]\nsplit = \"tensor\"\n");
    assert_eq!(cfg.model.placement.devices, vec!["cuda:0".to_string(), "cuda:1".to_string()]);
    let d = errs("[model.placement]\ndevices = [\"cuda:0\"]\nsplit = \"layers\"\n");
    assert!(d[0].message.contains("needs exactly two devices"), "{d:?}");
    assert_eq!(d[0].line, 2);
    let d = errs("[model.placement]\ndevices = [\"tpu\"]\n");
    assert!(d[0].message.contains("unknown device `tpu`"), "{d:?}");
    assert_eq!(cfg.model.quantize, Quantize::Int8, "int8 is the default");
    let cfg = ok("[model]\nquantize = \"none\"\n");
    assert_eq!(cfg.model.quantize, Quantize::None);
    let d = errs("[model]\nquantize = \"int4\"\n");
    assert!(d[0].message.contains("int4"), "{d:?}");
}

#[test]
fn audio_nlu_camera_sections() {
    let cfg = ok("[audio]\nwake = \"none\"\n[nlu]\nlanguage = \"de\"\ncustom_sentences = [\"a.yaml\"]\n");
    assert_eq!(cfg.audio.wake_phrase(), None);
    assert_eq!(cfg.nlu.custom_sentences, vec![PathBuf::from("a.yaml")]);
    let d = errs("[audio]\nvad_threshold = 1.5\n");
    assert!(d[0].message.contains("vad_threshold"));
    let a = ok("[audio]\nfollow_up_s = 3.5\nstop_phrases = [\"enough\"]\n").audio;
    assert_eq!((a.follow_up_s, a.stop_phrases), (3.5, vec!["enough".to_string()]));
    assert!(errs("[audio]\nfollow_up_s = -1\n")[0].message.contains("follow_up_s"));
    assert!(errs("[audio]\nstop_phrases = [\"...\"]\n")[0].message.contains("no words"));
    let a = ok("[audio]\noutput = \"None\"\nmute_tail_ms = 0\n").audio;
    assert_eq!((a.output_device(), a.mute_tail_ms), (None, 0));
    assert_eq!(ok("").audio.output_device(), Some("default"));
    assert!(errs("[audio]\nmute_tail_ms = 9000\n")[0].message.contains("mute_tail_ms"));
    assert!(errs("[audio]\noutput = \" \"\n")[0].message.contains("`output` is empty"));
    ok("[camera]\nenabled = false\n");
    assert_eq!(ok("[camera]\nsnapshot_dir = \"snaps\"\n").camera.snapshot_dir, PathBuf::from("snaps"));
}

#[test]
fn automations_are_checked_with_file_line_and_column() {
    let rule = |trigger: &str, action: &str| {
        format!("{HOME}\n[[automation]]\nid = \"a1\"\ntriggers = [{trigger}]\nactions = [{action}]\n")
    };
    let good = rule(
        "{ trigger = \"state\", entity_id = \"light.kitchen\", to = \"on\", for = \"00:01:00\" }",
        "{ action = \"light.turn_off\", target = { entity_id = \"light.kitchen\" } }",
    );
    let cfg = ok(&good);
    assert_eq!(cfg.automations.len(), 1);
    assert_eq!(cfg.automations[0].spec.id, "a1");
    let trig_line = HOME.lines().count() + 4;
    // An unknown entity, an unknown platform, an action the device cannot do: each at its place.
    let d = errs(&good.replace("entity_id = \"light.kitchen\", to", "entity_id = \"light.attic\", to"));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].message, "[[automation]] `a1` triggers[0].entity_id: unknown entity `light.attic`");
    assert_eq!(d[0].line, trig_line);
    assert_eq!(d[0].column, good.lines().nth(trig_line - 1).and_then(|l| l.find("\"light.kitchen\"")).unwrap() + 1);
    let d = errs(&good.replace("trigger = \"state\"", "trigger = \"sometimes\""));
    assert!(d[0].message.contains("unknown variant `sometimes`"), "{d:?}");
    let d = errs(&good.replace("light.turn_off\"", "light.turn_on\", data = { brightness_pct = 40 }"));
    assert!(d[0].message.contains("cannot"), "not dimmable: {d:?}");
    assert_eq!(d[0].line, trig_line + 1);
    let d = errs(&good.replace("actions = [{ action", "actions = [{ acton"));
    assert!(d[0].message.contains("unknown action"), "{d:?}");
    let d = errs(&format!("{good}cooldown = \"soon\"\n"));
    assert!(d[0].message.contains("not a duration"), "{d:?}");
    // A camera trigger needs a configured camera.
    let d = errs(&rule("{ trigger = \"event\", camera = \"porch\", label = \"person\" }", "{ delay = 1 }"));
    assert!(d[0].message.contains("unknown camera `porch`"), "{d:?}");
    // A sun trigger needs the home's position.
    let d = errs(&rule("{ trigger = \"sun\", event = \"sunset\" }", "{ delay = 1 }"));
    assert!(d[0].message.contains("[home] latitude"), "{d:?}");
    ok(&format!(
        "[home]\nlatitude = 51.5\nlongitude = -0.1\ntimezone = \"Europe/London\"\n{}",
        rule("{ trigger = \"sun\", event = \"sunset\" }", "{ delay = 1 }")
    ));
    let d = errs("[home]\nlatitude = 95.0\nlongitude = 0.0\ntimezone = \"Mars/Olympus\"\n");
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[1].message.contains("unknown time zone `Mars/Olympus`"), "{d:?}");
}

#[test]
fn automation_files_are_included() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("automations")).expect("mkdir");
    let rule = |id: &str, entity: &str| {
        format!(
            "[[automation]]\nid = \"{id}\"\ntriggers = [{{ trigger = \"hubd_start\" }}]\nactions = [{{ action = \"light.turn_on\", target = {{ entity_id = \"{entity}\" }} }}]\n"
        )
    };
    std::fs::write(dir.path().join("automations/a.toml"), rule("from_a", "light.kitchen")).expect("write");
    std::fs::write(dir.path().join("automations/b.toml"), rule("from_b", "light.kitchen")).expect("write");
    std::fs::write(dir.path().join("automations/notes.txt"), "not a rule file").expect("write");
    let main = dir.path().join("hub.toml");
    std::fs::write(&main, format!("{HOME}\n[automations]\ninclude = [\"automations/*.toml\"]\n")).expect("write");
    let cfg = Config::load(&main).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = cfg.automations.iter().map(|a| a.spec.id.as_str()).collect();
    assert_eq!(ids, vec!["from_a", "from_b"]);
    // An error in an included file names that file, line and column.
    std::fs::write(dir.path().join("automations/b.toml"), rule("from_b", "light.cellar")).expect("write");
    let d = Config::load(&main).expect_err("bad include").diagnostics();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].file.ends_with("automations/b.toml"), "{d:?}");
    assert_eq!((d[0].line, d[0].column), (4, 23), "at the action: {d:?}");
    assert!(d[0].message.contains("unknown entity `light.cellar`"), "{d:?}");
    // Two files with the same rule id.
    std::fs::write(dir.path().join("automations/b.toml"), rule("from_a", "light.kitchen")).expect("write");
    let d = Config::load(&main).expect_err("duplicate").diagnostics();
    assert!(d[0].message.contains("duplicate automation id `from_a`"), "{d:?}");
    std::fs::write(dir.path().join("automations/b.toml"), "[mqtt]\nport = 1\n").expect("write");
    let d = Config::load(&main).expect_err("not a rule").diagnostics();
    assert!(d[0].message.contains("only [[automation]] entries"), "{d:?}");
    // A device file named by mistake is read only up to the cap.
    std::fs::write(&main, format!("{HOME}\n[automations]\ninclude = [\"/dev/zero\"]\n")).expect("write");
    let d = Config::load(&main).expect_err("/dev/zero").diagnostics();
    assert!(d[0].message.contains("cannot read `/dev/zero`: larger than 1024 KiB"), "{d:?}");
}

#[test]
fn features_must_fit_the_kind() {
    let text =
        HOME.replace("area = \"kitchen\"\ndialect", "area = \"kitchen\"\nfeatures = { position = true }\ndialect");
    let d = errs(&text);
    assert!(d[0].message.contains("not a cover"), "{d:?}");
    let d = errs(
        &HOME
            .replace("features", "x")
            .replace("area = \"kitchen\"\ndialect", "area = \"kitchen\"\nfeatures = { dimable = true }\ndialect"),
    );
    assert!(d[0].message.contains("`dimable`"), "{d:?}");
}

#[test]
fn same_mqtt_address_twice() {
    let text = format!(
        "{HOME}\n[[device]]\nid = \"light.kitchen2\"\nname = \"K2\"\ndialect = {{ type = \"zigbee2mqtt\", friendly_name = \"Kitchen Light\" }}\n"
    );
    let d = errs(&text);
    assert!(d[0].message.contains("same MQTT address as `light.kitchen`"), "{d:?}");
}

#[test]
fn registry_maps_back_to_lines_after_edits() {
    let mut cfg = ok(HOME);
    assert_eq!(cfg.registry().unwrap().devices.len(), 1);
    cfg.devices[0].area = Some("garage".into());
    let e = cfg.registry().unwrap_err();
    let d = e.diagnostics();
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("unknown area `garage`"));
    let line = HOME.lines().position(|l| l == "area = \"kitchen\"").unwrap();
    // The device's `area` line (second occurrence is the device's).
    let dev_area_line =
        HOME.lines().enumerate().filter(|(_, l)| *l == "area = \"kitchen\"").map(|(i, _)| i + 1).last().unwrap();
    assert!(dev_area_line > line);
    assert_eq!(d[0].line, dev_area_line);
    // A config built in code has no positions.
    let mut c = Config::default();
    c.devices.push(cfg.devices[0].clone());
    let d = c.registry().unwrap_err().diagnostics();
    assert_eq!((d[0].line, d[0].column), (0, 0));
}

#[test]
fn load_resolves_paths_and_reports_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.toml");
    std::fs::write(&path, "[store]\npath = \"data/hub.db\"\n[nlu]\ncustom_sentences = [\"mine.yaml\"]\n").unwrap();
    let cfg = Config::load(&path).unwrap();
    assert_eq!(cfg.store_path(), dir.path().join("data/hub.db"));
    let missing = cfg.check_files();
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(missing.iter().any(|d| d.message.contains("mine.yaml") && d.line == 4));
    assert!(missing.iter().any(|d| d.message.contains("database directory") && d.line == 2));
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("mine.yaml"), "language: en\n").unwrap();
    assert!(cfg.check_files().is_empty());

    let err = Config::load(dir.path().join("absent.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("absent.toml"));
}

#[test]
fn columns_count_characters_not_bytes() {
    let line = "dialect = { type = \"zigbee2mqtt\", friendly_name = \"Café Été\", xx = 1 }";
    let text = format!("[[device]]\nid = \"light.cafe\"\nname = \"Café\"\n{line}\n");
    let d = errs(&text);
    assert_eq!(d.len(), 1, "{d:?}");
    let byte = line.find("xx").unwrap();
    let chars = line[..byte].chars().count();
    assert!(chars < byte);
    assert_eq!((d[0].line, d[0].column), (4, chars + 1), "{d:?}");
}

#[test]
fn keys_that_do_nothing_are_rejected_where_they_are() {
    let text = "[mqtt]\nport = 1883\ncommand_timeout_ms = 500\nmax_attempts = 2\n\
                [model]\nbackend = \"openai\"\nkeep_reasoning = true\n\
                [model.placement]\naudio = \"cpu\"\ntext = \"cpu\"\nvision = \"cuda:0\"\n\
                [model.openai]\nbase_url = \"http://x\"\nmodel = \"m\"\n";
    let d = errs(text);
    let got: Vec<(usize, usize, &str)> = d.iter().map(|x| (x.line, x.column, x.message.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (6, 1, "model.backend = \"openai\": not implemented yet"),
            (7, 1, "model.keep_reasoning: not implemented yet"),
            (9, 1, "model.placement.audio: not implemented yet"),
            (10, 1, "model.placement.text: not implemented yet"),
            (11, 1, "model.placement.vision: not implemented yet"),
            (12, 8, "model.openai: not implemented yet"),
        ],
        "{d:#?}"
    );
    assert_eq!(
        d[0].to_string(),
        "t.toml:6:1: model.backend = \"openai\": not implemented yet (expected `backend = \"local\"` until the remote engine is built)"
    );
    // What is used stays accepted.
    let cfg = ok(
        "[model]\nbackend = \"local\"\nquantize = \"none\"\nllm_path = \"m.gguf\"\ntools_llm_path = \"t.gguf\"\nwhisper_path = \"w\"\n\
                  vad_path = \"v.jit\"\nweights_dir = \"site\"\n[model.placement]\ndevices = [\"cpu\"]\nsplit = \"none\"\n",
    );
    assert_eq!(cfg.model.llm_path.as_deref(), Some(Path::new("m.gguf")));
    assert_eq!(cfg.model.tools_llm_path.as_deref(), Some(Path::new("t.gguf")));
}

#[test]
fn wildcards_and_nul_in_topic_parts_are_rejected() {
    let dev = |dialect: &str| format!("[[device]]\nid = \"light.x\"\nname = \"X\"\ndialect = {{ type = {dialect} }}\n");
    let cases = [
        ("\"zigbee2mqtt\", friendly_name = \"a/+/#\"", "friendly_name", "`+`"),
        ("\"zigbee2mqtt\", friendly_name = \"lamp\", base_topic = \"z2m/#\"", "base_topic", "`#`"),
        ("\"tasmota\", topic = \"#\"", "topic", "`#`"),
        ("\"esphome\", node = \"n+\", object_id = \"o\"", "node", "`+`"),
        ("\"esphome\", node = \"n\", object_id = \"o\\u0000\"", "object_id", "NUL"),
        ("\"shelly_gen1\", device_id = \"+\"", "device_id", "`+`"),
        ("\"generic_json\", command_topic = \"c/set\", state_topic = \"#\"", "state_topic", "`#`"),
        ("\"generic_json\", command_topic = \"c/+\", state_topic = \"s\"", "command_topic", "`+`"),
    ];
    for (dialect, key, what) in cases {
        let d = errs(&dev(dialect));
        assert_eq!(d.len(), 1, "{dialect}: {d:?}");
        assert_eq!(d[0].line, 4, "{d:?}");
        assert!(d[0].message.contains(&format!("`{key}`")) && d[0].message.contains(what), "{d:?}");
    }
    ok(&dev("\"zigbee2mqtt\", friendly_name = \"Hall/Lamp 1\""));
}

#[test]
fn blank_token_and_size_cap() {
    let d = errs("[web]\ntoken = \"          \"\n");
    assert!(d[0].message.contains("blank"), "{d:?}");
    assert_eq!(d[0].line, 2);
    let d = errs("[store]\nmax_db_mb = 0\n");
    assert!(d[0].message.contains("max_db_mb"), "{d:?}");
    assert_eq!(ok("[store]\nmax_db_mb = 512\n").store.max_db_mb, Some(512));
}

#[test]
fn every_type_error_of_a_section_is_reported() {
    let d = errs("[mqtt]\nport = \"x\"\nkeepalive = -1\nclient_id = 5\nmax_attempts = 3\n");
    let lines: Vec<usize> = d.iter().map(|x| x.line).collect();
    assert_eq!(lines, vec![2, 3, 4], "{d:#?}");
    // In an entry, a bad required key is reported once (not again as missing).
    let d = errs("[[device]]\nid = 5\nname = 7\ndialect = { type = \"tasmota\", topic = \"t\" }\n");
    let lines: Vec<usize> = d.iter().map(|x| x.line).collect();
    assert_eq!(lines, vec![2, 3], "{d:#?}");
}

#[test]
fn relative_store_path_is_resolved_once() {
    // `config/hub.toml` loaded from the parent directory: the store is
    // `config/data/hub.db`, and its directory is checked as such (not
    // `config/config/data`).
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config/data")).unwrap();
    std::fs::write(dir.path().join("config/hub.toml"), "[store]\npath = \"data/hub.db\"\n").unwrap();
    let cfg = Config::load(dir.path().join("config/hub.toml")).unwrap();
    let rel = Config { base_dir: PathBuf::from("config"), ..cfg.clone() };
    assert_eq!(rel.store_path(), Path::new("config/data/hub.db"));
    assert_eq!(rel.store_dir(), Path::new("config/data"));
    assert_eq!(rel.recordings_dir(), Path::new("config/data/recordings"));
    assert!(cfg.check_files().is_empty(), "{:?}", cfg.check_files());
}

#[test]
fn camera_sources_are_accepted() {
    let cfg = ok(r#"
[camera]
enabled = true
mqtt_prefix = "frigate"

[[camera.source]]
id = "door"
name = "Front door"
url = "mjpeg+http://127.0.0.1:8081/cam.mjpg"
fps = 4

[camera.source.motion]
threshold = 20
frame_height = 120
mask = ["0,0,1,0,1,0.2,0,0.2"]

[[camera.source]]
id = "garage"
url = "file:///var/lib/hubd/replay"

[camera.source.zones.driveway]
coordinates = "0,0.5,1,0.5,1,1,0,1"
inertia = 2

[camera.source.objects]
mask = ["0,0,0.1,0,0.1,0.1"]
[camera.source.objects.filters.person]
min_score = 0.6

[camera.detector]
torchscript = "models/yolo.pt"
labels = ["person", "car"]
"#);
    assert!(cfg.camera.enabled);
    assert_eq!(cfg.camera.mqtt_prefix, "frigate");
    let door = &cfg.camera.source[0];
    assert_eq!((door.display_name(), door.fps, door.motion.threshold), ("Front door", 4.0, 20));
    assert_eq!(door.motion.mask.len(), 1);
    let garage = &cfg.camera.source[1];
    assert_eq!((garage.display_name(), garage.motion.frame_height), ("garage", 100));
    assert_eq!(garage.zones["driveway"].inertia, 2);
    assert_eq!(garage.objects.filters["person"].min_score, 0.6);
    assert_eq!(garage.objects.filters["person"].threshold, 0.7);
    let det = cfg.camera.detector.as_ref().unwrap();
    assert_eq!((det.input_width, det.labels.len(), cfg.camera.snapshot_days), (320, 2, 10));
    assert_eq!(ok("").camera.mqtt_prefix, "hubd");
}

#[test]
fn camera_errors_point_at_the_value() {
    let v4l = ok("[camera]\nenabled = true\n[[camera.source]]\nid = \"door\"\nurl = \"v4l:///dev/video0\"\n\
                  width = 1280\nheight = 720\nformat = \"yuyv\"\n");
    let s = &v4l.camera.source[0];
    assert_eq!((s.width, s.height, s.format), (Some(1280), Some(720), Some(V4lPixelFormat::Yuyv)));
    let d = errs("[camera]\nenabled = true\n[[camera.source]]\nid = \"door\"\nurl = \"v4l://video0\"\n");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].line, d[0].column), (5, 7), "{d:?}");
    assert!(d[0].message.contains("unusable url"), "{d:?}");
    let d = errs("[[camera.source]]\nid = \"door\"\nurl = \"file:///x\"\nwidth = 640\nheight = 480\n");
    assert_eq!(d.iter().map(|x| x.line).collect::<Vec<_>>(), vec![4, 5], "{d:?}");
    assert!(d[0].message.contains("`v4l://` devices only"), "{d:?}");
    let d = errs("[[camera.source]]\nid = \"door\"\nurl = \"v4l:///dev/video0\"\nwidth = 640\nformat = \"h264\"\n");
    assert!(!d.is_empty(), "an unknown format and a width without height: {d:?}");
    let d = errs("[[camera.source]]\nid = \"door\"\nurl = \"v4l:///dev/video0\"\nwidth = 640\n");
    assert!(d.len() == 1 && d[0].message.contains("both `width` and `height`") && d[0].line == 4, "{d:?}");
    let d = errs("[[camera.source]]\nid = \"door\"\nurl = \"rtsp://cam/1\"\n");
    assert!(d[0].message.contains("unusable url") && d[0].line == 3, "{d:?}");
    assert!(d[0].expected.as_deref().unwrap_or("").contains("`ffmpeg:`"), "{d:?}");
    ok("[[camera.source]]\nid = \"door\"\nurl = \"ffmpeg:rtsp://cam/1\"\n");
    let d = errs("[[camera.source]]\nid = \"door\"\nurl = \"http://cam/1\"\n");
    assert!(d[0].message.contains("unusable url") && d[0].line == 3, "{d:?}");
    let d = errs("[[camera.source]]\nid = \"door\"\nurl = \"mjpeg+http:///x\"\n");
    assert!(d[0].message.contains("unusable url"), "{d:?}");
    let d = errs("[[camera.source]]\nid = \"Door\"\nurl = \"file:///x\"\nfps = 0\n");
    assert_eq!(d.iter().map(|x| x.line).collect::<Vec<_>>(), vec![2, 4], "{d:?}");
    let d = errs(
        "[[camera.source]]\nid = \"door\"\nurl = \"file:///x\"\n[camera.source.motion]\nmask = [\"0,0,1,0\", \"0,0,2,0,1,1\"]\nframe_alpha = 0.0\n",
    );
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(d.iter().any(|x| x.message.contains("fewer than three points") && x.line == 5), "{d:?}");
    assert!(d.iter().any(|x| x.message.contains("outside 0..1") && x.line == 5), "{d:?}");
    assert!(d.iter().any(|x| x.message.contains("frame_alpha") && x.line == 6), "{d:?}");
    let d = errs("[camera.detector]\ntorchscript = \"m.pt\"\nlabels = []\n");
    assert!(d[0].message == "detector has no labels" && d[0].line == 3, "{d:?}");
    let both = ok("[camera.detector]\ntorchscript = \"m.pt\"\nmtcnn = \"data\"\nhog = true\nlabels = [\"a\"]\n");
    let det = both.camera.detector.as_ref().unwrap();
    assert!(det.hog && det.mtcnn.is_some() && det.torchscript.is_some() && det.hog_max_width == 640);
    let d = errs("[camera.detector]\ninput_width = 320\n");
    assert!(d[0].message.contains("has no model") && d[0].line == 1, "{d:?}");
    let d = errs("[camera.detector]\nhog_svm = \"svm.safetensors\"\nhog_max_width = 32\n");
    assert_eq!(d.iter().map(|x| x.line).collect::<Vec<_>>(), vec![1, 2, 3], "{d:?}");
    assert!(d[1].message.contains("without `hog = true`") && d[2].message.contains("hog_max_width 32"), "{d:?}");
    assert!(ok("[camera.detector]\nmtcnn = \"data\"\n").camera.detector.is_some());
    let d = errs(
        "[[camera.source]]\nid = \"a\"\nurl = \"file:///x\"\nzones = { porch = { coordinates = \"0,0,1,0,1,1\" } }\n",
    );
    assert!(d[0].message.contains("no `[camera.detector]`") && d[0].line == 4, "{d:?}");
    let d = errs(
        "[camera.detector]\ntorchscript = \"m.pt\"\nlabels = [\"person\"]\n[[camera.source]]\nid = \"a\"\nurl = \"file:///x\"\n\
         [camera.source.zones.porch]\ncoordinates = \"0,0,1\"\n[camera.source.objects.filters.person]\nmin_score = 2.0\n",
    );
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].message.contains("zone `porch`") && d[0].line == 8, "{d:?}");
    assert!(d[1].message.contains("filter `person`") && d[1].line == 9, "{d:?}");
    let d = errs("[camera]\nmqtt_prefix = \"a/#\"\n");
    assert!(d[0].message.contains("invalid MQTT prefix") && d[0].line == 2, "{d:?}");
}

#[test]
fn detector_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("hub.toml");
    std::fs::write(&cfg_path, "[camera.detector]\ntorchscript = \"missing.pt\"\nlabels = [\"person\"]\n").unwrap();
    let cfg = Config::load(&cfg_path).unwrap();
    let d = cfg.check_files();
    assert!(
        d.iter().any(|x| x.message.starts_with("torchscript") && x.message.contains("missing.pt") && x.line == 2),
        "{d:?}"
    );
    std::fs::write(dir.path().join("missing.pt"), b"x").unwrap();
    assert!(cfg.check_files().is_empty());
    std::fs::write(&cfg_path, "[camera.detector]\nmtcnn = \"weights\"\n").unwrap();
    let d = Config::load(&cfg_path).unwrap().check_files();
    assert!(d.iter().any(|x| x.message.contains("pnet.safetensors") && x.line == 2), "{d:?}");
    std::fs::write(
        &cfg_path,
        "[camera.detector]\nhog = true\nhog_svm = \"svm.safetensors\"\n[[camera.source]]\nid = \"porch\"\n\
         url = \"file://clips/porch.mjpeg\"\n",
    )
    .unwrap();
    let cfg = Config::load(&cfg_path).unwrap();
    let d = cfg.check_files();
    assert!(d.iter().any(|x| x.message.contains("HOG coefficients") && x.line == 2), "{d:?}");
    assert!(d.iter().any(|x| x.message.contains("replay file") && x.line == 6), "{d:?}");
    let url = cfg.camera_url(&cfg.camera.source[0]);
    assert_eq!(url, format!("file://{}", dir.path().join("clips/porch.mjpeg").display()));
}

#[test]
fn mqtt_discovery_import_and_tls_keys() {
    use super::schema::ImportSource;
    // Defaults: announce under `homeassistant`, import from all three, plain TCP.
    let cfg = ok("[mqtt]\nhost = \"broker.lan\"\n");
    assert!(cfg.mqtt.discovery);
    assert_eq!(cfg.mqtt.discovery_prefix, "homeassistant");
    assert_eq!(cfg.mqtt.import, vec![ImportSource::Zigbee2mqtt, ImportSource::Homeassistant, ImportSource::Tasmota]);
    assert_eq!(cfg.mqtt.status_topic(), "hubd/status");
    assert!(!cfg.mqtt.tls());
    let cfg = ok("[mqtt]\nurl = \"mqtts://broker.lan\"\ndiscovery = false\ndiscovery_prefix = \"ha\"\nimport = []\n\
                  topic_prefix = \"home/hub\"\nca_file = \"ca.pem\"\nclient_cert = \"c.pem\"\nclient_key = \"k.pem\"\n");
    assert_eq!((cfg.mqtt.url.as_ref().map(|u| u.port), cfg.mqtt.tls()), (Some(8883), true));
    assert_eq!(String::from(cfg.mqtt.url.clone().unwrap()), "mqtts://broker.lan:8883");
    assert_eq!((cfg.mqtt.discovery, cfg.mqtt.discovery_prefix.as_str()), (false, "ha"));
    assert!(cfg.mqtt.import.is_empty());
    assert_eq!(cfg.mqtt.status_topic(), "home/hub/status");
    let cases = [
        ("[mqtt]\nhost = \"b\"\nclient_cert = \"c.pem\"\nca_file = \"ca.pem\"\n", "go together"),
        ("[mqtt]\nca_file = \"ca.pem\"\n", "external broker"),
        ("[mqtt]\nhost = \"b\"\nclient_cert = \"c\"\nclient_key = \"k\"\n", "without TLS"),
        ("[mqtt]\nhost = \"b\"\ntopic_prefix = \"hubd/#\"\n", "invalid MQTT topic prefix"),
        ("[mqtt]\nhost = \"b\"\ndiscovery_prefix = \"\"\n", "invalid MQTT topic prefix"),
        ("[mqtt]\nhost = \"b\"\nimport = [\"zwave\"]\n", "zwave"),
    ];
    for (text, msg) in cases {
        let d = errs(text);
        assert!(d.iter().any(|x| x.to_string().contains(msg)), "{text}: {d:#?}");
    }
}
