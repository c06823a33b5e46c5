//! Zigbee2MQTT's retained `<base>/bridge/devices`: a JSON list of devices,
//! each with `ieee_address`, `type` (Coordinator, Router, EndDevice),
//! `friendly_name`, `disabled`, `supported` and `definition.exposes`.
//!
//! Sources: Koenkk/zigbee2mqtt.io `docs/guide/usage/mqtt_topics_and_messages.md`
//! (`zigbee2mqtt/bridge/devices`) and `docs/guide/usage/exposes.md`: a
//! specific expose of `type` `light`, `switch`, `cover`, `lock`, `fan` or
//! `climate` holds `features`, each with a `name` (`state`, `brightness`,
//! `color_temp`, `color_xy`, `color_hs`, `position`, ...) and, on
//! multi-endpoint devices, an `endpoint`.
//!
//! A `/` in a friendly name structures the topic tree (`kitchen/floor_light`):
//! the first level is taken as the area, the last as the name.

use firmware_bridge::{DeviceKind, Dialect, Features};
use serde_json::Value;

use super::{ImportError, Imported, Parsed, json, slug};
use crate::registry::{Device, Origin};

fn kind_of(expose_type: &str) -> Option<DeviceKind> {
    Some(match expose_type {
        "light" => DeviceKind::Light,
        "switch" => DeviceKind::Switch,
        "cover" => DeviceKind::Cover,
        "lock" => DeviceKind::Lock,
        "fan" => DeviceKind::Fan,
        "climate" => DeviceKind::Climate,
        _ => return None,
    })
}

/// The first actuator expose without an endpoint, as a kind and features.
fn actuator(exposes: &[Value]) -> Option<(DeviceKind, Features)> {
    exposes.iter().filter(|e| e.get("endpoint").is_none()).find_map(|e| {
        let kind = kind_of(e.get("type")?.as_str()?)?;
        let mut f = Features::default();
        let features = e.get("features").and_then(Value::as_array).into_iter().flatten();
        for x in features.filter(|x| x.get("endpoint").is_none()) {
            let Some(name) = x.get("name").and_then(Value::as_str) else { continue };
            let property = x.get("property").and_then(Value::as_str).unwrap_or(name);
            match (kind, name) {
                (DeviceKind::Light, "brightness") => f.dimmable = true,
                (DeviceKind::Light, "color_temp") => f.color_temp = true,
                (DeviceKind::Light, "color_xy" | "color_hs") => f.color = true,
                (DeviceKind::Cover, "position") => f.position = true,
                // exposes.ts `Fan.withModes`: the Fan Control cluster's
                // `fan_mode`, which a speed percentage is sent as.
                (DeviceKind::Fan, "mode") if property == "fan_mode" => f.speed = true,
                // `Climate.withFanMode`: the modes the thermostat takes.
                (DeviceKind::Climate, "fan_mode") => {
                    let values = x.get("values").and_then(Value::as_array).into_iter().flatten();
                    f.fan_modes = values.filter_map(Value::as_str).map(str::to_string).collect();
                }
                _ => {}
            }
        }
        Some((kind, f))
    })
}

/// Parse `<base_topic>/bridge/devices`.
pub fn parse_bridge_devices(base_topic: &str, topic: &str, payload: &[u8]) -> Result<Parsed, ImportError> {
    let Value::Array(list) = json(topic, payload)? else {
        return Err(ImportError::Shape { topic: topic.into(), reason: "expected a JSON list of devices".into() });
    };
    let mut out = Parsed::default();
    for d in &list {
        let Some(friendly) = d.get("friendly_name").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
            out.skipped.push("a device without `friendly_name`".into());
            continue;
        };
        if d.get("type").and_then(Value::as_str) == Some("Coordinator") {
            continue;
        }
        if d.get("disabled").and_then(Value::as_bool) == Some(true) {
            out.skipped.push(format!("`{friendly}`: disabled"));
            continue;
        }
        if d.get("supported").and_then(Value::as_bool) == Some(false) {
            out.skipped.push(format!("`{friendly}`: not supported by Zigbee2MQTT"));
            continue;
        }
        if friendly.contains(['+', '#', '\0']) {
            out.skipped.push(format!("`{friendly}`: MQTT wildcard in the name"));
            continue;
        }
        let exposes = d.pointer("/definition/exposes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        let Some((kind, features)) = actuator(exposes) else {
            out.skipped.push(format!(
                "`{friendly}`: nothing hubd can command (no light, switch, cover, lock, fan or climate expose)"
            ));
            continue;
        };
        let (area, name) = match friendly.split_once('/') {
            Some((area, _)) => (Some(area.replace('_', " ")), friendly.rsplit('/').next().unwrap_or(friendly)),
            None => (None, friendly),
        };
        let object = slug(friendly);
        if object.is_empty() {
            out.skipped.push(format!("`{friendly}`: no letters or digits for an entity id"));
            continue;
        }
        out.devices.push(Imported {
            device: Device {
                id: format!("{}.{object}", kind.domain()),
                kind,
                name: name.replace('_', " ").trim().to_string(),
                aliases: Vec::new(),
                area: None,
                device_class: None,
                dialect: Some(Dialect::Zigbee2mqtt { friendly_name: friendly.into(), base_topic: base_topic.into() }),
                features,
                origin: Origin::Zigbee2mqtt,
            },
            area,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped as the documented `bridge/devices` message: a coordinator, a
    /// colour light (exposes as on the IKEA LED1545G12 / Hue pages), a plain
    /// plug, a cover, a sensor, a disabled device, and a two-gang switch
    /// whose switches are per endpoint.
    const DEVICES: &str = r#"[
      {"ieee_address":"0x00124b00120144ae","type":"Coordinator","network_address":0,"supported":false,
       "disabled":false,"friendly_name":"Coordinator","definition":null,"interview_completed":true},
      {"ieee_address":"0x0017880104e45517","type":"Router","network_address":6540,"supported":true,"disabled":false,
       "friendly_name":"Hall Lamp","description":"","power_source":"Mains (single phase)","model_id":"LCT001",
       "interviewing":false,"interview_completed":true,
       "definition":{"model":"9290012573A","vendor":"Philips","description":"Hue white and color ambiance E26/E27/E14",
         "exposes":[{"type":"light","features":[
           {"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF","value_toggle":"TOGGLE"},
           {"type":"numeric","name":"brightness","property":"brightness","access":7,"value_min":0,"value_max":254},
           {"type":"numeric","name":"color_temp","property":"color_temp","access":7,"unit":"mired","value_min":150,"value_max":500},
           {"type":"composite","name":"color_xy","property":"color","access":7,"features":[
             {"type":"numeric","name":"x","property":"x","access":7},{"type":"numeric","name":"y","property":"y","access":7}]}]},
           {"type":"numeric","name":"linkquality","property":"linkquality","access":1,"unit":"lqi","value_min":0,"value_max":255}]}},
      {"ieee_address":"0x00158d00018255df","type":"Router","network_address":29159,"supported":true,"disabled":false,
       "friendly_name":"kitchen/coffee_plug","definition":{"model":"ZNCZ02LM","vendor":"Xiaomi","description":"Mi power plug ZigBee",
         "exposes":[{"type":"switch","features":[{"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF","value_toggle":"TOGGLE"}]},
           {"type":"numeric","name":"power","property":"power","access":5,"unit":"W"}]}},
      {"ieee_address":"0x00158d0001a2b3c4","type":"EndDevice","supported":true,"friendly_name":"Bedroom Blind",
       "definition":{"model":"ZNCLDJ11LM","vendor":"Aqara","description":"Curtain controller","exposes":[
         {"type":"cover","features":[{"type":"enum","name":"state","property":"state","access":7,"values":["OPEN","CLOSE","STOP"]},
           {"type":"numeric","name":"position","property":"position","access":7,"value_min":0,"value_max":100,"unit":"%"}]}]}},
      {"ieee_address":"0x00158d0002c3d4e5","type":"EndDevice","supported":true,"friendly_name":"Hall Sensor",
       "definition":{"model":"WSDCGQ11LM","vendor":"Aqara","description":"Temperature and humidity sensor","exposes":[
         {"type":"numeric","name":"temperature","property":"temperature","access":1,"unit":"°C"}]}},
      {"ieee_address":"0x00158d0002c3d4e8","type":"Router","supported":true,"friendly_name":"Ceiling Fan",
       "definition":{"model":"99432","vendor":"Hampton Bay","description":"Universal wink enabled white ceiling fan premier remote control",
         "exposes":[{"type":"fan","features":[
           {"type":"binary","name":"state","property":"fan_state","access":7,"value_on":"ON","value_off":"OFF"},
           {"type":"enum","name":"mode","property":"fan_mode","access":7,"values":["off","low","medium","high","on"]}]}]}},
      {"ieee_address":"0x00158d0002c3d4e9","type":"EndDevice","supported":true,"friendly_name":"Thermostat",
       "definition":{"model":"3157100","vendor":"Centralite","description":"3-Series pro thermostat",
         "exposes":[{"type":"climate","features":[
           {"type":"numeric","name":"occupied_heating_setpoint","property":"occupied_heating_setpoint","access":7},
           {"type":"enum","name":"fan_mode","property":"fan_mode","access":7,"values":["auto","on"]}]}]}},
      {"ieee_address":"0x00158d0002c3d4e6","type":"Router","supported":true,"disabled":true,"friendly_name":"Old Plug",
       "definition":{"exposes":[{"type":"switch","features":[{"type":"binary","name":"state","property":"state"}]}]}},
      {"ieee_address":"0x00158d0002c3d4e7","type":"Router","supported":true,"friendly_name":"Two Gang",
       "definition":{"exposes":[
         {"type":"switch","endpoint":"l1","features":[{"type":"binary","name":"state","property":"state_l1","endpoint":"l1"}]},
         {"type":"switch","endpoint":"l2","features":[{"type":"binary","name":"state","property":"state_l2","endpoint":"l2"}]}]}}
    ]"#;

    #[test]
    fn documented_device_list() {
        let p = parse_bridge_devices("zigbee2mqtt", "zigbee2mqtt/bridge/devices", DEVICES.as_bytes()).unwrap();
        let got: Vec<(&str, &str, DeviceKind, Option<&str>, &Features)> = p
            .devices
            .iter()
            .map(|i| {
                (i.device.id.as_str(), i.device.name.as_str(), i.device.kind, i.area.as_deref(), &i.device.features)
            })
            .collect();
        let colour = Features { dimmable: true, color: true, color_temp: true, ..Features::default() };
        let plain = Features::default();
        let cover = Features { position: true, ..Features::default() };
        let fan = Features { speed: true, ..Features::default() };
        let thermostat = Features { fan_modes: vec!["auto".into(), "on".into()], ..Features::default() };
        assert_eq!(
            got,
            vec![
                ("light.hall_lamp", "Hall Lamp", DeviceKind::Light, None, &colour),
                ("switch.kitchen_coffee_plug", "coffee plug", DeviceKind::Switch, Some("kitchen"), &plain),
                ("cover.bedroom_blind", "Bedroom Blind", DeviceKind::Cover, None, &cover),
                ("fan.ceiling_fan", "Ceiling Fan", DeviceKind::Fan, None, &fan),
                ("climate.thermostat", "Thermostat", DeviceKind::Climate, None, &thermostat),
            ]
        );
        assert_eq!(
            p.devices[1].device.dialect,
            Some(Dialect::Zigbee2mqtt {
                friendly_name: "kitchen/coffee_plug".into(),
                base_topic: "zigbee2mqtt".into()
            })
        );
        assert!(p.devices.iter().all(|d| d.device.origin == Origin::Zigbee2mqtt));
        assert_eq!(p.skipped.len(), 3, "{:?}", p.skipped);
        assert!(p.skipped.iter().any(|s| s.contains("Old Plug") && s.contains("disabled")));
    }

    #[test]
    fn malformed_lists_are_errors() {
        let t = "zigbee2mqtt/bridge/devices";
        assert!(matches!(parse_bridge_devices("zigbee2mqtt", t, b"{}"), Err(ImportError::Shape { .. })));
        assert!(matches!(parse_bridge_devices("zigbee2mqtt", t, b"[{"), Err(ImportError::Json { .. })));
        assert_eq!(parse_bridge_devices("zigbee2mqtt", t, b"[]").unwrap(), Parsed::default());
        assert_eq!(parse_bridge_devices("zigbee2mqtt", t, br#"[{"friendly_name": 5}]"#).unwrap().skipped.len(), 1);
    }
}
