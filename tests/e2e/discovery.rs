//! MQTT discovery against a real mosquitto and the real daemon.
//!
//! Out: a paho-mqtt client in the role of Home Assistant
//! (`ha_discovery.py`) reads hubd's retained configs, checks each against
//! Home Assistant's required keys, restarts Home Assistant (its birth
//! message), flips an automation's switch and sends a sentence through the
//! `text` entity; a rule removed by `hubd reload` has its config emptied.
//!
//! In: Zigbee2MQTT's `bridge/devices`, a Home Assistant discovery config and
//! a Tasmota discovery config, published retained, become devices of the
//! running daemon (API and `hubd devices`, with their origin), a sentence
//! naming an imported light commands it on the broker, the config's device
//! wins an id clash, and an emptied retained config removes its device.

use std::path::Path;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

use crate::common::{
    Daemon, Devices, Mosquitto, Observer, config_text, free_port, http, hubd, json, runtime, wait_until,
};

const RULE: &str = r#"
[[automation]]
id = "porch_evening"
alias = "Porch in the evening"
triggers = [{ trigger = "sentence", command = ["porch evening"] }]
actions = [{ action = "light.turn_on", target = { entity_id = "light.hall" } }]
"#;

/// Publish with the retain flag, as a separate client; waits for the PUBACK.
fn publish_retained(rt: &tokio::runtime::Runtime, port: u16, topic: &str, payload: &[u8]) {
    let (topic, payload) = (topic.to_string(), payload.to_vec());
    rt.block_on(async move {
        let mut opts = MqttOptions::new(format!("e2e-retain-{}", free_port()), "127.0.0.1", port);
        opts.set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut el) = AsyncClient::new(opts, 16);
        client.publish(topic, QoS::AtLeastOnce, true, payload).await.unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Event::Incoming(Incoming::PubAck(_))) = el.poll().await {
                break;
            }
        }
    });
}

fn camera_frames(dir: &Path) -> std::path::PathBuf {
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&vec![90u8; 64 * 48 * 3], 64, 48, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    std::fs::write(frames.join("0001.jpg"), out).unwrap();
    frames
}

#[test]
fn hubd_announces_itself_to_home_assistant() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let devices = Devices::start(&rt, broker.port);
    let obs = Observer::start(&rt, broker.port, &["homeassistant/#", "frigate/#"]);
    let web = free_port();
    let cfg = dir.path().join("hub.toml");
    let camera = format!(
        "\n[camera]\nenabled = true\nmqtt_prefix = \"frigate\"\n\n[[camera.source]]\nid = \"porch\"\nname = \"Porch\"\nurl = \"file://{}\"\nfps = 2\n",
        camera_frames(dir.path()).display()
    );
    let base = config_text(broker.port, web, 2000);
    std::fs::write(&cfg, format!("{base}{camera}{RULE}")).unwrap();
    let daemon = Daemon::start(&cfg, web, None);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/ha_discovery.py");
    let out = std::process::Command::new(crate::voice::venv().join("bin/python"))
        .arg(&script)
        .arg(broker.port.to_string())
        .arg("porch_evening")
        .arg("turn on the kitchen light")
        .output()
        .expect("the venv's python with paho-mqtt");
    assert!(
        out.status.success(),
        "Home Assistant's checks failed: {}\nhubd log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        daemon.log_text()
    );
    let seen = json(String::from_utf8_lossy(&out.stdout).trim());
    let configs = seen["configs"].as_object().cloned().unwrap_or_default();
    // The camera's entities: motion from the camera code's Frigate topic,
    // the person sensor, the latest frame as an image.
    let motion = &configs["homeassistant/binary_sensor/hubd/porch_motion/config"];
    assert_eq!(motion["state_topic"], "frigate/porch/motion");
    assert_eq!(motion["device_class"], "motion");
    assert!(configs.contains_key("homeassistant/binary_sensor/hubd/porch_person/config"));
    assert_eq!(configs["homeassistant/image/hubd/porch_snapshot/config"]["image_topic"], "hubd/camera/porch/image");
    assert_eq!(seen["states"]["frigate/porch/motion"], "OFF", "the motion sensor's state topic is live");
    // The switch flipped the rule itself.
    let (_, rules) = http(web, "GET", "/api/automations", None).unwrap();
    assert!(json(&rules).as_array().unwrap().iter().any(|r| r["id"] == "porch_evening" && r["enabled"] == true));
    // The text entity's sentence went through the pipeline to the light.
    assert!(
        wait_until(Duration::from_secs(10), || devices.state("Kitchen Light").is_some_and(|s| s["state"] == "ON")),
        "the sentence from Home Assistant did not reach the light"
    );

    // The rule is removed from the file: `hubd reload` empties its config.
    std::fs::write(&cfg, format!("{base}{camera}")).unwrap();
    let st = hubd().arg("--url").arg(format!("127.0.0.1:{web}")).arg("reload").output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let topic = "homeassistant/switch/hubd/automation_porch_evening/config";
    assert!(
        wait_until(Duration::from_secs(10), || obs.on(topic).last().is_some_and(|p| p.is_empty())),
        "the removed rule's config was not emptied; log:\n{}",
        daemon.log_text()
    );
}

/// Zigbee2MQTT's documented `bridge/devices` shape: the coordinator, a
/// dimmable colour-temperature light in a `study/` folder, and a light whose
/// id clashes with the config's `light.kitchen`.
const BRIDGE_DEVICES: &str = r#"[
  {"ieee_address":"0x00124b00120144ae","type":"Coordinator","network_address":0,"supported":false,"disabled":false,
   "friendly_name":"Coordinator","definition":null,"interview_completed":true},
  {"ieee_address":"0x000b57fffec6a5b2","type":"Router","network_address":40369,"supported":true,"disabled":false,
   "friendly_name":"study/desk_lamp","power_source":"Mains (single phase)","interview_completed":true,
   "definition":{"model":"LED1545G12","vendor":"IKEA","description":"TRADFRI bulb E26/E27, white spectrum, globe, opal, 980 lm",
     "exposes":[{"type":"light","features":[
       {"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF","value_toggle":"TOGGLE"},
       {"type":"numeric","name":"brightness","property":"brightness","access":7,"value_min":0,"value_max":254},
       {"type":"numeric","name":"color_temp","property":"color_temp","access":7,"unit":"mired","value_min":250,"value_max":454}]},
       {"type":"numeric","name":"linkquality","property":"linkquality","access":1,"unit":"lqi"}]}},
  {"ieee_address":"0x000b57fffec6a5b3","type":"Router","supported":true,"disabled":false,"friendly_name":"Kitchen",
   "definition":{"exposes":[{"type":"light","features":[{"type":"binary","name":"state","property":"state","access":7}]}]}}
]"#;

const HA_SWITCH: &str =
    r#"{"~": "homeassistant/switch/irrigation", "name": "garden", "cmd_t": "~/set", "stat_t": "~/state"}"#;

const TASMOTA: &str = r#"{"ip":"192.168.2.71","dn":"Tasmota","fn":["Coffee Machine",null,null,null,null,null,null,null],
  "hn":"tasmota-F17F56-8022","mac":"E09806F17F56","md":"Athom Plug V2","ty":0,"if":0,"ofln":"Offline","onln":"Online",
  "state":["OFF","ON","TOGGLE","HOLD"],"sw":"10.1.0","t":"tasmota_F17F56","ft":"%prefix%/%topic%/",
  "tp":["cmnd","stat","tele"],"rl":[1,0,0,0,0,0,0,0],"swc":[-1,-1,-1,-1,-1,-1,-1,-1],
  "swn":[null,null,null,null,null,null,null,null],"btn":[0,0,0,0,0,0,0,0],
  "so":{"4":0,"11":0,"13":0,"17":0,"20":0,"30":0,"68":0,"73":0,"82":0,"114":0,"117":0},"lk":0,"lt_st":0,
  "sho":[0,0,0,0],"ver":1}"#;

fn devices_api(web: u16) -> Vec<serde_json::Value> {
    let (code, body) = http(web, "GET", "/api/devices", None).unwrap();
    assert_eq!(code, 200, "{body}");
    json(&body).as_array().cloned().unwrap_or_default()
}

fn origin_of(web: u16, id: &str) -> Option<String> {
    devices_api(web).iter().find(|d| d["id"] == id).and_then(|d| d["origin"].as_str().map(String::from))
}

#[test]
fn devices_are_imported_from_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let broker = Mosquitto::start(dir.path());
    let _devices = Devices::start(&rt, broker.port);
    let obs = Observer::start(
        &rt,
        broker.port,
        &["zigbee2mqtt/+/set", "zigbee2mqtt/+/+/set", "homeassistant/switch/+/set", "cmnd/#"],
    );
    let web = free_port();
    let cfg = dir.path().join("hub.toml");
    std::fs::write(&cfg, config_text(broker.port, web, 2000)).unwrap();
    let daemon = Daemon::start(&cfg, web, None);

    publish_retained(&rt, broker.port, "zigbee2mqtt/bridge/devices", BRIDGE_DEVICES.as_bytes());
    publish_retained(&rt, broker.port, "homeassistant/switch/irrigation/config", HA_SWITCH.as_bytes());
    publish_retained(&rt, broker.port, "tasmota/discovery/E09806F17F56/config", TASMOTA.as_bytes());
    let within = Duration::from_secs(15);
    assert!(
        wait_until(within, || origin_of(web, "switch.coffee_machine").is_some()
            && origin_of(web, "switch.garden").is_some()
            && origin_of(web, "light.study_desk_lamp").is_some()),
        "imported devices missing: {:?}\nlog:\n{}",
        devices_api(web).iter().map(|d| d["id"].clone()).collect::<Vec<_>>(),
        daemon.log_text()
    );
    assert_eq!(origin_of(web, "light.study_desk_lamp").as_deref(), Some("zigbee2mqtt"));
    assert_eq!(origin_of(web, "switch.garden").as_deref(), Some("homeassistant"));
    assert_eq!(origin_of(web, "switch.coffee_machine").as_deref(), Some("tasmota"));
    assert_eq!(origin_of(web, "light.kitchen").as_deref(), Some("config"), "the config wins an id clash");
    let lamp = devices_api(web).into_iter().find(|d| d["id"] == "light.study_desk_lamp").unwrap();
    assert_eq!(lamp["area"], "study", "the Zigbee2MQTT folder became an area");
    assert_eq!(lamp["features"]["dimmable"], true);
    assert_eq!(lamp["features"]["color_temp"], true);

    // `hubd devices` lists them with their origin.
    let out = hubd().arg("--url").arg(format!("127.0.0.1:{web}")).arg("--json").arg("devices").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json(&String::from_utf8_lossy(&out.stdout));
    let row = |id: &str| rows.as_array().unwrap().iter().find(|r| r["id"] == id).cloned().unwrap_or_default();
    assert_eq!(row("switch.garden")["origin"], "homeassistant");
    assert_eq!(row("light.study_desk_lamp")["origin"], "zigbee2mqtt");
    assert_eq!(row("light.study_desk_lamp")["dialect"], "zigbee2mqtt");
    assert_eq!(row("light.hall")["origin"], "config");

    // The NLU knows them without a restart: sentences command them on the broker.
    for (sentence, topic, payload) in [
        ("turn on the desk lamp", "zigbee2mqtt/study/desk_lamp/set", r#"{"state":"ON"}"#),
        ("turn on the garden", "homeassistant/switch/irrigation/set", "ON"),
        ("turn off the coffee machine", "cmnd/tasmota_F17F56/POWER", "OFF"),
    ] {
        let (code, body) = http(web, "POST", "/api/say", Some(&format!(r#"{{"text":"{sentence}"}}"#))).unwrap();
        assert!(code < 300, "{sentence}: {code} {body}");
        assert!(
            wait_until(Duration::from_secs(10), || obs.on(topic).iter().any(|p| p == payload)),
            "{sentence}: nothing on {topic} ({body})"
        );
    }

    // An emptied retained config takes its device away.
    publish_retained(&rt, broker.port, "homeassistant/switch/irrigation/config", b"");
    assert!(wait_until(within, || origin_of(web, "switch.garden").is_none()), "switch.garden stayed");
    assert!(origin_of(web, "switch.coffee_machine").is_some(), "the others stay");
}
