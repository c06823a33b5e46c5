//! Tasmota's native discovery: the retained `tasmota/discovery/<MAC>/config`.
//!
//! Source: the format read by Home Assistant's Tasmota integration
//! (emontnemery/hatasmota `hatasmota/discovery.py`, `const.py`): `t` the
//! topic, `dn` the device name, `fn` a friendly name per relay, `ft` the
//! FullTopic and `tp` its prefixes, `rl` a relay type per relay (0 none,
//! 1 relay, 2 light, 3 shutter), `lt_st` the light's subtype (1 dimmer,
//! 2 colour temperature, 3 RGB, 4 RGBW, 5 RGBCW), `so` SetOptions (`"30": 1`
//! = relays announced as lights).

use firmware_bridge::{DeviceKind, Dialect, Features};
use serde_json::Value;

use super::{ImportError, Imported, Parsed, json, slug};
use crate::registry::{Device, Origin};

/// Parse one `tasmota/discovery/<mac>/config`.
pub fn parse_tasmota_config(topic: &str, payload: &[u8]) -> Result<Parsed, ImportError> {
    let shape = |reason: String| ImportError::Shape { topic: topic.into(), reason };
    let Value::Object(c) = json(topic, payload)? else {
        return Err(shape("expected a JSON object".into()));
    };
    let t = c.get("t").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| shape("no topic `t`".into()))?;
    let mut out = Parsed::default();
    let ft = c.get("ft").and_then(Value::as_str).unwrap_or("%prefix%/%topic%/");
    let tp: Vec<&str> = c.get("tp").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if ft != "%prefix%/%topic%/"
        || (!tp.is_empty() && tp != ["cmnd", "stat", "tele"])
        || t.contains(['+', '#', '/', '\0'])
    {
        out.skipped.push(format!(
            "`{t}`: FullTopic `{ft}` / prefixes {tp:?} (hubd speaks `%prefix%/%topic%/` with cmnd, stat, tele)"
        ));
        return Ok(out);
    }
    let dn = c.get("dn").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or(t);
    let names: Vec<Option<&str>> = c
        .get("fn")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| v.as_str().filter(|s| !s.is_empty()))
        .collect();
    let rl: Vec<u64> =
        c.get("rl").and_then(Value::as_array).into_iter().flatten().map(|v| v.as_u64().unwrap_or(0)).collect();
    let as_light = c.get("so").and_then(|so| so.get("30")).and_then(Value::as_u64) == Some(1);
    let lt_st = c.get("lt_st").and_then(Value::as_u64).unwrap_or(0);
    let powered: Vec<usize> = rl.iter().enumerate().filter(|(_, r)| matches!(r, 1 | 2)).map(|(i, _)| i).collect();
    let multi = powered.len() > 1;
    for &i in &powered {
        let is_light = rl[i] == 2 || as_light;
        let kind = if is_light { DeviceKind::Light } else { DeviceKind::Switch };
        let features = if rl[i] == 2 {
            Features {
                dimmable: lt_st >= 1,
                color_temp: matches!(lt_st, 2 | 5),
                color: matches!(lt_st, 3..=5),
                ..Features::default()
            }
        } else {
            Features::default()
        };
        let name = match names.get(i).copied().flatten() {
            Some(n) => n.to_string(),
            None if multi => format!("{dn} {}", i + 1),
            None => dn.to_string(),
        };
        let relay = if multi { u8::try_from(i + 1).ok() } else { None };
        out.devices.push(device(kind, &name, t, relay, features));
    }
    // Shutters take two relays each; `ShutterPosition<n>` addresses them.
    let shutters = rl.iter().filter(|r| **r == 3).count() / 2;
    for n in 1..=shutters {
        let name = if shutters > 1 { format!("{dn} shutter {n}") } else { format!("{dn} shutter") };
        let f = Features { position: true, ..Features::default() };
        out.devices.push(device(DeviceKind::Cover, &name, t, u8::try_from(n).ok(), f));
    }
    if out.devices.is_empty() {
        out.skipped.push(format!("`{t}`: no relay, light or shutter"));
    }
    Ok(out)
}

fn device(kind: DeviceKind, name: &str, topic: &str, relay: Option<u8>, features: Features) -> Imported {
    Imported {
        device: Device {
            id: format!("{}.{}", kind.domain(), slug(name)),
            kind,
            name: name.to_string(),
            aliases: Vec::new(),
            area: None,
            device_class: None,
            dialect: Some(Dialect::Tasmota { topic: topic.into(), relay }),
            features,
            origin: Origin::Tasmota,
        },
        area: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As an Athom Plug V2 on Tasmota 10.1 publishes it (one relay).
    const PLUG: &str = r#"{"ip":"192.168.2.71","dn":"Tasmota","fn":["Coffee Machine",null,null,null,null,null,null,null],
      "hn":"tasmota-F17F56-8022","mac":"E09806F17F56","md":"Athom Plug V2","ty":0,"if":0,"ofln":"Offline","onln":"Online",
      "state":["OFF","ON","TOGGLE","HOLD"],"sw":"10.1.0","t":"tasmota_F17F56","ft":"%prefix%/%topic%/",
      "tp":["cmnd","stat","tele"],"rl":[1,0,0,0,0,0,0,0],"swc":[-1,-1,-1,-1,-1,-1,-1,-1],
      "swn":[null,null,null,null,null,null,null,null],"btn":[0,0,0,0,0,0,0,0],
      "so":{"4":0,"11":0,"13":0,"17":0,"20":0,"30":0,"68":0,"73":0,"82":0,"114":0,"117":0},"lk":0,"lt_st":0,
      "sho":[0,0,0,0],"ver":1}"#;

    /// An ESP32 with an RGBCW light and a two-relay shutter.
    const LIGHT_AND_SHUTTER: &str = r#"{"ip":"192.0.2.12","dn":"Porch","fn":["Porch Light","",""],"hn":"porch",
      "mac":"112233445566","md":"ESP32","ofln":"Offline","onln":"Online","state":["OFF","ON","TOGGLE","HOLD"],
      "sw":"15.4.0","t":"porch","ft":"%prefix%/%topic%/","tp":["cmnd","stat","tele"],"rl":[2,3,3],
      "so":{"4":0,"11":0,"13":0,"30":0,"68":0,"73":1,"82":1,"114":1},"lk":1,"lt_st":5,"sho":[0],"ver":1}"#;

    #[test]
    fn documented_configs() {
        let p = parse_tasmota_config("tasmota/discovery/E09806F17F56/config", PLUG.as_bytes()).unwrap();
        assert_eq!(p.devices.len(), 1);
        let d = &p.devices[0].device;
        assert_eq!(
            (d.id.as_str(), d.name.as_str(), d.kind),
            ("switch.coffee_machine", "Coffee Machine", DeviceKind::Switch)
        );
        assert_eq!(d.dialect, Some(Dialect::Tasmota { topic: "tasmota_F17F56".into(), relay: None }));
        let p = parse_tasmota_config("tasmota/discovery/112233445566/config", LIGHT_AND_SHUTTER.as_bytes()).unwrap();
        let got: Vec<(&str, DeviceKind, &Features)> =
            p.devices.iter().map(|i| (i.device.id.as_str(), i.device.kind, &i.device.features)).collect();
        let rgbcw = Features { dimmable: true, color: true, color_temp: true, ..Features::default() };
        let shutter = Features { position: true, ..Features::default() };
        assert_eq!(
            got,
            vec![
                ("light.porch_light", DeviceKind::Light, &rgbcw),
                ("cover.porch_shutter", DeviceKind::Cover, &shutter)
            ]
        );
        assert_eq!(p.devices[1].device.dialect, Some(Dialect::Tasmota { topic: "porch".into(), relay: Some(1) }));
    }

    #[test]
    fn other_layouts_and_garbage() {
        let t = "tasmota/discovery/x/config";
        let custom = PLUG.replace("%prefix%/%topic%/", "%topic%/%prefix%/");
        let p = parse_tasmota_config(t, custom.as_bytes()).unwrap();
        assert!(p.devices.is_empty() && p.skipped.len() == 1);
        assert!(matches!(parse_tasmota_config(t, b"[]"), Err(ImportError::Shape { .. })));
        assert!(matches!(parse_tasmota_config(t, b"{\"dn\":\"x\"}"), Err(ImportError::Shape { .. })));
        assert!(matches!(parse_tasmota_config(t, b"nope"), Err(ImportError::Json { .. })));
    }
}
