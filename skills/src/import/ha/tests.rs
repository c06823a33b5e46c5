//! Fixtures shaped as the examples of HA's `mqtt.markdown` ("Using
//! abbreviations and base topic", "Lighting", the device and origin example,
//! device-based discovery) and as ESPHome and Tasmota publish them.

use super::*;

fn parse(topic: &str, payload: &str) -> Parsed {
    parse_ha_config("homeassistant", topic, payload.as_bytes(), "hubd").unwrap()
}

fn one(topic: &str, payload: &str) -> Imported {
    let p = parse(topic, payload);
    assert_eq!(p.devices.len(), 1, "{p:?}");
    p.devices.into_iter().next().unwrap()
}

#[test]
fn topics() {
    let cases = [
        (
            "homeassistant/switch/irrigation/config",
            Some(HaTopic::Entity { component: "switch", node_id: None, object_id: "irrigation" }),
        ),
        (
            "homeassistant/light/node1/desk/config",
            Some(HaTopic::Entity { component: "light", node_id: Some("node1"), object_id: "desk" }),
        ),
        ("homeassistant/device/0AFFD2/config", Some(HaTopic::Device { id: "0AFFD2" })),
        ("homeassistant/switch/irrigation/state", None),
        ("other/switch/irrigation/config", None),
        ("homeassistant/a/b/c/d/config", None),
    ];
    for (t, want) in cases {
        assert_eq!(parse_ha_topic("homeassistant", t), want, "{t}");
    }
}

#[test]
fn abbreviated_switch_with_base_topic() {
    let i = one(
        "homeassistant/switch/irrigation/config",
        r#"{"~": "homeassistant/switch/irrigation", "name": "garden", "cmd_t": "~/set", "stat_t": "~/state"}"#,
    );
    assert_eq!(
        (i.device.id.as_str(), i.device.name.as_str(), i.device.kind),
        ("switch.garden", "garden", DeviceKind::Switch)
    );
    assert_eq!(
        i.device.dialect,
        Some(Dialect::HaMqtt {
            command_topic: "homeassistant/switch/irrigation/set".into(),
            state_topic: Some("homeassistant/switch/irrigation/state".into()),
            json: false,
            payload_on: "ON".into(),
            payload_off: "OFF".into(),
        })
    );
    assert_eq!(i.device.origin, Origin::HomeAssistant);
}

#[test]
fn json_light_and_device_block() {
    let i = one(
        "homeassistant/light/kitchen/config",
        r#"{"~": "homeassistant/light/kitchen", "name": "Kitchen", "unique_id": "kitchen_light",
            "cmd_t": "~/set", "stat_t": "~/state", "schema": "json", "brightness": true}"#,
    );
    assert_eq!(i.device.id, "light.kitchen");
    assert!(i.device.features.dimmable && !i.device.features.color);
    assert!(
        matches!(&i.device.dialect, Some(Dialect::HaMqtt { json: true, command_topic, .. }) if command_topic == "homeassistant/light/kitchen/set")
    );
    // `"name": null`: the entity is the device; abbreviated device and origin.
    let i = one(
        "homeassistant/light/kitchen/config",
        r#"{"~": "homeassistant/light/kitchen", "name": null, "uniq_id": "kitchen_light", "cmd_t": "~/set",
            "stat_t": "~/state", "schema": "json", "sup_clrm": ["color_temp", "rgb"],
            "dev": {"ids": "ea334450945afc", "name": "Kitchen", "mf": "Bla electronics", "mdl": "xya", "mdl_id": "ABC123",
                    "sw": "1.0", "sn": "ea334450945afc", "hw": "1.0rev2", "sa": "Kitchen"},
            "o": {"name": "bla2mqtt", "sw": "2.1", "url": "https://bla2mqtt.example.com/support"}}"#,
    );
    assert_eq!(
        (i.device.id.as_str(), i.device.name.as_str(), i.area.as_deref()),
        ("light.kitchen", "Kitchen", Some("Kitchen"))
    );
    assert_eq!(i.device.features, Features { dimmable: true, color: true, color_temp: true, ..Features::default() });
}

#[test]
fn device_based_discovery() {
    let p = parse(
        "homeassistant/device/ea334450945afc/config",
        r#"{"dev": {"ids": "ea334450945afc", "name": "Desk", "mf": "Bla electronics", "sa": "Study"},
            "o": {"name": "bla2mqtt", "sw": "2.1", "url": "https://bla2mqtt.example.com/support"},
            "~": "bla/desk",
            "cmps": {
              "some_unique_component_id1": {"p": "sensor", "device_class": "temperature", "unit_of_measurement": "°C",
                                            "value_template": "{{ value_json.temperature }}", "unique_id": "temp01ae_t"},
              "lamp": {"p": "light", "name": "Lamp", "cmd_t": "~/lamp/set", "stat_t": "~/lamp/state",
                       "pl_on": "1", "pl_off": "0", "unique_id": "desk_lamp"},
              "fan": {"platform": "fan", "name": "Fan", "command_topic": "~/fan/set", "unique_id": "desk_fan",
                      "obj_id": "desk_fan_1"}
            },
            "qos": 2}"#,
    );
    let got: Vec<(&str, &str, Option<&str>)> =
        p.devices.iter().map(|i| (i.device.id.as_str(), i.device.name.as_str(), i.area.as_deref())).collect();
    assert_eq!(
        got,
        vec![("fan.desk_fan_1", "Desk Fan", Some("Study")), ("light.desk_lamp", "Desk Lamp", Some("Study"))]
    );
    let lamp = &p.devices[1].device;
    assert_eq!(
        lamp.dialect,
        Some(Dialect::HaMqtt {
            command_topic: "bla/desk/lamp/set".into(),
            state_topic: Some("bla/desk/lamp/state".into()),
            json: false,
            payload_on: "1".into(),
            payload_off: "0".into(),
        })
    );
    assert_eq!(p.skipped.len(), 1, "{:?}", p.skipped);
}

#[test]
fn firmware_layouts_keep_their_dialects() {
    // ESPHome's discovery for a switch.
    let i = one(
        "homeassistant/switch/livingroom/pump/config",
        r#"{"name":"Pump","stat_t":"livingroom/switch/pump/state","cmd_t":"livingroom/switch/pump/command",
            "avty_t":"livingroom/status","uniq_id":"ESPswitchpump",
            "dev":{"ids":"a4cf12aabbcc","name":"livingroom","sw":"esphome v2024.6.0","mdl":"nodemcuv2","mf":"espressif"}}"#,
    );
    assert_eq!(i.device.id, "switch.livingroom_pump");
    assert_eq!(i.device.dialect, Some(Dialect::Esphome { node: "livingroom".into(), object_id: "pump".into() }));
    // ESPHome's speed fan (mqtt_fan.cpp): its speed_level topics make it a speed fan.
    let i = one(
        "homeassistant/fan/livingroom/ceiling/config",
        r#"{"name":"Ceiling","stat_t":"livingroom/fan/ceiling/state","cmd_t":"livingroom/fan/ceiling/command",
            "pct_cmd_t":"livingroom/fan/ceiling/speed_level/command","pct_stat_t":"livingroom/fan/ceiling/speed_level/state",
            "spd_rng_max":100,"uniq_id":"ESPfanceiling","dev":{"ids":"a4cf12aabbcc","name":"livingroom"}}"#,
    );
    assert_eq!(i.device.dialect, Some(Dialect::Esphome { node: "livingroom".into(), object_id: "ceiling".into() }));
    assert!(i.device.features.speed, "{:?}", i.device.features);
    // Tasmota's relay 2, its state read through a template.
    let i = one(
        "homeassistant/light/A0B1C2_LI_2/config",
        r#"{"name":"Bench","cmd_t":"cmnd/bench/POWER2","stat_t":"tele/bench/STATE","val_tpl":"{{value_json.POWER2}}",
            "pl_off":"OFF","pl_on":"ON","bri_cmd_t":"cmnd/bench/Dimmer","uniq_id":"A0B1C2_LI_2"}"#,
    );
    assert_eq!(i.device.dialect, Some(Dialect::Tasmota { topic: "bench".into(), relay: Some(2) }));
    assert!(i.device.features.dimmable);
    // Zigbee2MQTT's own discovery.
    let i = one(
        "homeassistant/light/0x0017880104e45517/light/config",
        r#"{"name":null,"schema":"json","command_topic":"zigbee2mqtt/Hall Lamp/set","state_topic":"zigbee2mqtt/Hall Lamp",
            "brightness":true,"brightness_scale":254,"supported_color_modes":["xy","color_temp"],
            "object_id":"hall_lamp","unique_id":"0x0017880104e45517_light_zigbee2mqtt",
            "device":{"identifiers":["zigbee2mqtt_0x0017880104e45517"],"name":"Hall Lamp","model":"Hue","manufacturer":"Philips"},
            "origin":{"name":"Zigbee2MQTT","sw":"2.1.0","url":"https://www.zigbee2mqtt.io"}}"#,
    );
    assert_eq!(i.device.id, "light.hall_lamp");
    assert_eq!(
        i.device.dialect,
        Some(Dialect::Zigbee2mqtt { friendly_name: "Hall Lamp".into(), base_topic: "zigbee2mqtt".into() })
    );
}

#[test]
fn what_is_not_imported() {
    let own =
        r#"{"name":"Last command","stat_t":"hubd/last_command","uniq_id":"hubd_last_command","o":{"name":"hubd"}}"#;
    assert_eq!(parse("homeassistant/switch/hubd/x/config", own), Parsed::default());
    for (topic, payload) in [
        ("homeassistant/sensor/t/config", r#"{"name":"T","stat_t":"t/state"}"#),
        ("homeassistant/switch/t/config", r#"{"name":"T","stat_t":"t/state"}"#),
        ("homeassistant/switch/t/config", r#"{"name":"T","cmd_t":"t/set","cmd_tpl":"{{ value }}"}"#),
        ("homeassistant/cover/t/config", r#"{"name":"T","cmd_t":"t/set","pl_open":"up"}"#),
        ("homeassistant/switch/t/config", r#"{"name":"T","cmd_t":"t/+/set"}"#),
    ] {
        let p = parse(topic, payload);
        assert!(p.devices.is_empty() && p.skipped.len() == 1, "{payload}: {p:?}");
    }
    let e = |t: &str, p: &str| parse_ha_config("homeassistant", t, p.as_bytes(), "hubd").unwrap_err();
    assert!(matches!(e("homeassistant/switch/t/config", "[1]"), ImportError::Shape { .. }));
    assert!(matches!(e("homeassistant/switch/t/config", "{"), ImportError::Json { .. }));
    assert!(matches!(e("homeassistant/device/t/config", "{}"), ImportError::Shape { .. }));
}
