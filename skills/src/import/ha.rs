//! Home Assistant MQTT discovery configs: `<prefix>/<component>/[<node_id>/]
//! <object_id>/config` (one entity) and `<prefix>/device/<id>/config` (a
//! device with its components under `cmps`).
//!
//! Source: home-assistant/home-assistant.io `source/_integrations/mqtt.markdown`
//! ("MQTT Discovery": the topic forms, `~` as the base of any `*_topic`
//! value, the device-based form with `dev`, `o` and `cmps` whose entries name
//! their `platform`/`p`, options at the top level shared by every
//! component) and the abbreviations of HA core's
//! `homeassistant/components/mqtt/abbreviations.py`.
//!
//! Each entity becomes a device in the registry when hubd can drive it:
//! Tasmota's `cmnd/<topic>/POWER<n>` and ESPHome's
//! `<node>/<component>/<object>/command` layouts keep their own dialects,
//! Zigbee2MQTT's `<base>/<name>/set` its own, anything else is spoken as the
//! config says ([`Dialect::HaMqtt`]).

use firmware_bridge::{DeviceKind, Dialect, Features};
use serde_json::{Map, Value};

use super::{ImportError, Imported, Parsed, json, slug};
use crate::registry::{Device, Origin};

/// Where a config topic points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaTopic<'a> {
    Entity { component: &'a str, node_id: Option<&'a str>, object_id: &'a str },
    Device { id: &'a str },
}

/// Split a discovery config topic under `prefix`.
pub fn parse_ha_topic<'a>(prefix: &str, topic: &'a str) -> Option<HaTopic<'a>> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?.strip_suffix("/config")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["device", id] => Some(HaTopic::Device { id }),
        [component, object_id] => Some(HaTopic::Entity { component, node_id: None, object_id }),
        [component, node, object_id] => Some(HaTopic::Entity { component, node_id: Some(node), object_id }),
        _ => None,
    }
}

/// Abbreviated keys hubd reads, with their full names.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("avty_t", "availability_topic"),
    ("bri_cmd_t", "brightness_command_topic"),
    ("bri_scl", "brightness_scale"),
    ("clr_temp_cmd_t", "color_temp_command_topic"),
    ("cmd_t", "command_topic"),
    ("cmd_tpl", "command_template"),
    ("cmps", "components"),
    ("def_ent_id", "default_entity_id"),
    ("dev", "device"),
    ("dev_cla", "device_class"),
    ("o", "origin"),
    ("obj_id", "object_id"),
    ("pct_cmd_t", "percentage_command_topic"),
    ("p", "platform"),
    ("pl_cls", "payload_close"),
    ("pl_lock", "payload_lock"),
    ("pl_off", "payload_off"),
    ("pl_on", "payload_on"),
    ("pl_open", "payload_open"),
    ("pl_stop", "payload_stop"),
    ("pl_unlk", "payload_unlock"),
    ("pos_t", "position_topic"),
    ("rgb_cmd_t", "rgb_command_topic"),
    ("set_pos_t", "set_position_topic"),
    ("stat_off", "state_off"),
    ("stat_on", "state_on"),
    ("stat_t", "state_topic"),
    ("stat_val_tpl", "state_value_template"),
    ("sup_clrm", "supported_color_modes"),
    ("uniq_id", "unique_id"),
    ("val_tpl", "value_template"),
];

const DEVICE_ABBREVIATIONS: &[(&str, &str)] =
    &[("ids", "identifiers"), ("mf", "manufacturer"), ("mdl", "model"), ("sa", "suggested_area"), ("sw", "sw_version")];

fn expand(obj: &Map<String, Value>, table: &[(&str, &str)]) -> Map<String, Value> {
    obj.iter()
        .map(|(k, v)| {
            let full = table.iter().find(|(a, _)| a == k).map_or(k.as_str(), |(_, f)| f);
            (full.to_string(), v.clone())
        })
        .collect()
}

/// Expand the abbreviations and `~` (at the start or end of any `*_topic`).
fn normalise(obj: &Map<String, Value>) -> Map<String, Value> {
    let mut m = expand(obj, ABBREVIATIONS);
    for key in ["device", "origin"] {
        if let Some(Value::Object(d)) = m.get(key) {
            let d = expand(d, DEVICE_ABBREVIATIONS);
            m.insert(key.into(), Value::Object(d));
        }
    }
    if let Some(Value::String(base)) = m.get("~").cloned() {
        for (k, v) in m.iter_mut() {
            if let (true, Value::String(s)) = (k.ends_with("_topic") || k == "topic", &v) {
                let s = if let Some(rest) = s.strip_prefix('~') {
                    format!("{base}{rest}")
                } else if let Some(rest) = s.strip_suffix('~') {
                    format!("{rest}{base}")
                } else {
                    continue;
                };
                *v = Value::String(s);
            }
        }
    }
    m
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Parse one retained discovery config (non-empty; an empty payload is a
/// removal, handled by the caller). Configs whose origin is `own_origin`
/// (hubd's own entities) import nothing.
pub fn parse_ha_config(prefix: &str, topic: &str, payload: &[u8], own_origin: &str) -> Result<Parsed, ImportError> {
    let shape = |reason: &str| ImportError::Shape { topic: topic.into(), reason: reason.into() };
    let where_ = parse_ha_topic(prefix, topic).ok_or_else(|| shape("not a discovery config topic"))?;
    let Value::Object(raw) = json(topic, payload)? else {
        return Err(shape("expected a JSON object"));
    };
    let top = normalise(&raw);
    let origin = top.get("origin").and_then(|o| o.get("name")).and_then(Value::as_str);
    let mut out = Parsed::default();
    if origin == Some(own_origin) {
        return Ok(out);
    }
    match where_ {
        HaTopic::Entity { component, object_id, .. } => entity(component, object_id, &top, &mut out),
        HaTopic::Device { id } => {
            let Some(Value::Object(cmps)) = top.get("components") else {
                return Err(shape("a device config without `cmps`"));
            };
            // Options beside `dev`, `o` and `cmps` are shared by every component.
            let shared: Map<String, Value> = raw
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "dev" | "device" | "o" | "origin" | "cmps" | "components"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (key, c) in cmps {
                let Value::Object(c) = c else {
                    out.skipped.push(format!("`{id}` component `{key}`: not an object"));
                    continue;
                };
                let mut merged = shared.clone();
                merged.extend(c.iter().map(|(k, v)| (k.clone(), v.clone())));
                let mut m = normalise(&merged);
                if let Some(dev) = top.get("device") {
                    m.insert("device".into(), dev.clone());
                }
                match str_of(&m, "platform").map(str::to_string) {
                    Some(p) => entity(&p, key, &m, &mut out),
                    None => out.skipped.push(format!("`{id}` component `{key}`: no `platform`")),
                }
            }
        }
    }
    Ok(out)
}

fn kind_of(component: &str) -> Option<DeviceKind> {
    Some(match component {
        "light" => DeviceKind::Light,
        "switch" => DeviceKind::Switch,
        "fan" => DeviceKind::Fan,
        "cover" => DeviceKind::Cover,
        "lock" => DeviceKind::Lock,
        _ => return None,
    })
}

/// One entity's config (normalised) into a device, or a skip reason.
fn entity(component: &str, object_id: &str, m: &Map<String, Value>, out: &mut Parsed) {
    let Some(kind) = kind_of(component) else {
        out.skipped.push(format!(
            "`{object_id}`: a `{component}` is not imported (only lights, switches, fans, covers and locks)"
        ));
        return;
    };
    let Some(command) = str_of(m, "command_topic") else {
        out.skipped.push(format!("`{object_id}`: no `command_topic`"));
        return;
    };
    if m.contains_key("command_template") {
        out.skipped.push(format!("`{object_id}`: a `command_template` hubd cannot render"));
        return;
    }
    let defaults = [
        ("payload_open", "OPEN"),
        ("payload_close", "CLOSE"),
        ("payload_stop", "STOP"),
        ("payload_lock", "LOCK"),
        ("payload_unlock", "UNLOCK"),
    ];
    if let Some((k, _)) = defaults.iter().find(|(k, d)| str_of(m, k).is_some_and(|v| v != *d)) {
        out.skipped.push(format!("`{object_id}`: a custom `{k}`"));
        return;
    }
    if [command, str_of(m, "state_topic").unwrap_or("")].iter().any(|t| t.contains(['+', '#', '\0'])) {
        out.skipped.push(format!("`{object_id}`: an MQTT wildcard in a topic"));
        return;
    }
    let dev = m.get("device").and_then(Value::as_object);
    let dev_name = dev.and_then(|d| str_of(d, "name"));
    let name = match (m.get("name"), dev_name) {
        (Some(Value::String(n)), Some(d)) if !n.is_empty() && !n.starts_with(d) => format!("{d} {n}"),
        (Some(Value::String(n)), _) if !n.is_empty() => n.clone(),
        (_, Some(d)) => d.to_string(),
        _ => object_id.replace('_', " "),
    };
    let domain = kind.domain();
    let id = str_of(m, "default_entity_id")
        .filter(|e| e.split_once('.').is_some_and(|(d, o)| d == domain && !o.is_empty() && slug(o) == *o))
        .map(str::to_string)
        .or_else(|| str_of(m, "object_id").map(|o| format!("{domain}.{}", slug(o))))
        .unwrap_or_else(|| format!("{domain}.{}", slug(&name)));
    if id.ends_with('.') {
        out.skipped.push(format!("`{object_id}`: no letters or digits for an entity id"));
        return;
    }
    let (dialect, features) = dialect_of(kind, command, m);
    out.devices.push(Imported {
        device: Device {
            id,
            kind,
            name,
            aliases: Vec::new(),
            area: None,
            device_class: str_of(m, "device_class").map(str::to_string),
            dialect: Some(dialect),
            features,
            origin: Origin::HomeAssistant,
        },
        area: dev.and_then(|d| str_of(d, "suggested_area")).map(str::to_string),
    });
}

/// Colour modes of a JSON-schema light (and the legacy flags).
fn light_features(m: &Map<String, Value>) -> Features {
    let modes: Vec<&str> = m
        .get("supported_color_modes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let flag = |k: &str| m.get(k).and_then(Value::as_bool) == Some(true);
    let color = modes.iter().any(|c| matches!(*c, "rgb" | "rgbw" | "rgbww" | "hs" | "xy"))
        || flag("rgb")
        || flag("xy")
        || flag("hs");
    let color_temp = modes.contains(&"color_temp") || flag("color_temp");
    let dimmable = color || color_temp || modes.contains(&"brightness") || flag("brightness");
    Features { dimmable, color, color_temp, ..Features::default() }
}

fn dialect_of(kind: DeviceKind, command: &str, m: &Map<String, Value>) -> (Dialect, Features) {
    let state = str_of(m, "state_topic");
    let json = str_of(m, "schema") == Some("json");
    // Tasmota: cmnd/<topic>/POWER[<n>].
    if let Some(rest) = command.strip_prefix("cmnd/")
        && let Some((topic, cmd)) = rest.rsplit_once('/')
        && let Some(n) = cmd.strip_prefix("POWER")
        && matches!(kind, DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan)
        && (n.is_empty() || n.parse::<u8>().is_ok())
    {
        let dimmable = kind == DeviceKind::Light && m.contains_key("brightness_command_topic");
        let color = kind == DeviceKind::Light && m.contains_key("rgb_command_topic");
        let color_temp = kind == DeviceKind::Light && m.contains_key("color_temp_command_topic");
        let f = Features { dimmable: dimmable || color || color_temp, color, color_temp, ..Features::default() };
        return (Dialect::Tasmota { topic: topic.into(), relay: n.parse().ok() }, f);
    }
    // Zigbee2MQTT: <base>/<friendly>/set, state on <base>/<friendly>, JSON light schema.
    if let Some(st) = state
        && command.strip_suffix("/set") == Some(st)
        && let Some((base, friendly)) = st.split_once('/')
        && base == "zigbee2mqtt"
    {
        let f = if kind == DeviceKind::Light { light_features(m) } else { Features::default() };
        return (Dialect::Zigbee2mqtt { friendly_name: friendly.into(), base_topic: base.into() }, f);
    }
    // ESPHome: <node>/<component>/<object>/command with .../state.
    let comp = kind.domain();
    if let Some(base) = command.strip_suffix("/command")
        && state.is_some_and(|s| s.strip_suffix("/state") == Some(base))
        && let Some((node, object)) = base.split_once(&format!("/{comp}/"))
        && !object.contains('/')
        && (kind != DeviceKind::Light || json)
    {
        let f = match kind {
            DeviceKind::Light => light_features(m),
            DeviceKind::Cover => Features { position: m.contains_key("set_position_topic"), ..Features::default() },
            // ESPHome's speed fans announce `<node>/fan/<object>/speed_level/command`.
            DeviceKind::Fan => Features { speed: m.contains_key("percentage_command_topic"), ..Features::default() },
            _ => Features::default(),
        };
        return (Dialect::Esphome { node: node.into(), object_id: object.into() }, f);
    }
    // As the config says. A state read through a template is not parsed:
    // commands are then confirmed by the broker's PUBACK only.
    let templated = m.contains_key("value_template") || m.contains_key("state_value_template");
    let on = str_of(m, "payload_on").unwrap_or("ON").to_string();
    let off = str_of(m, "payload_off").unwrap_or("OFF").to_string();
    let f = if kind == DeviceKind::Light && json { light_features(m) } else { Features::default() };
    let d = Dialect::HaMqtt {
        command_topic: command.into(),
        state_topic: state.filter(|_| !templated).map(str::to_string),
        json: json && kind == DeviceKind::Light,
        payload_on: on,
        payload_off: off,
    };
    (d, f)
}

#[cfg(test)]
mod tests;
