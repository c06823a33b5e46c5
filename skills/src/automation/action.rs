//! Service actions (`action = "light.turn_on"`, `target`, `data`) as device
//! commands through the one command builder, or as the hub's own services:
//! `mqtt.publish`, `notify.<target>`, `assist_satellite.announce` (said on the
//! hub's loudspeaker), `automation.turn_on|turn_off|trigger`, `scene.turn_on`
//! (the scene's commands) and `script.turn_on` (runs the script's rule).
use firmware_bridge::{Action, DeviceCommand, DeviceKind, DeviceState, Rgb};
use serde_json::{Map, Value};

use super::render;
use super::schema::Target;
use crate::command;
use crate::handlers::SkillError;
use crate::registry::{Device, Registry};

/// What a service action does.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Commands { entities: Vec<String>, commands: Vec<DeviceCommand> },
    Publish { topic: String, payload: String, retain: bool },
    Notify { target: String, title: Option<String>, message: String },
    Announce { message: String },
    Enable { rules: Vec<String>, enabled: bool },
    Trigger { rules: Vec<String> },
}

/// Services that act on devices, by domain (`homeassistant` = any actuator).
const DEVICE_SERVICES: &[(&str, &[&str])] = &[
    ("light", &["turn_on", "turn_off", "toggle"]),
    ("switch", &["turn_on", "turn_off", "toggle"]),
    ("fan", &["turn_on", "turn_off", "toggle", "set_percentage"]),
    (
        "media_player",
        &[
            "turn_on",
            "turn_off",
            "toggle",
            "media_pause",
            "media_play",
            "media_next_track",
            "media_previous_track",
            "volume_set",
            "volume_mute",
        ],
    ),
    ("cover", &["open_cover", "close_cover", "stop_cover", "set_cover_position", "toggle"]),
    ("valve", &["open_valve", "close_valve", "stop_valve", "set_valve_position", "toggle"]),
    ("lock", &["lock", "unlock"]),
    ("climate", &["set_temperature", "set_fan_mode", "turn_on", "turn_off"]),
    ("vacuum", &["start", "pause", "stop", "return_to_base"]),
    ("lawn_mower", &["start_mowing", "pause", "dock"]),
    ("button", &["press"]),
    ("input_boolean", &["turn_on", "turn_off", "toggle"]),
    ("homeassistant", &["turn_on", "turn_off", "toggle"]),
];

/// Data keys each service takes; Home Assistant keys hubd does not act on
/// are refused as not implemented rather than ignored.
fn data_keys(service: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match service {
        "light.turn_on" => (
            &["brightness_pct", "brightness", "rgb_color", "color_name", "color_temp_kelvin", "kelvin"],
            &["transition", "flash", "effect", "xy_color", "hs_color", "rgbw_color", "white", "profile"],
        ),
        "light.turn_off" => (&[], &["transition", "flash"]),
        "cover.set_cover_position" => (&["position"], &[]),
        "climate.set_temperature" => (&["temperature"], &["hvac_mode", "target_temp_high", "target_temp_low"]),
        "lock.lock" | "lock.unlock" => (&[], &["code"]),
        "fan.turn_on" => (&["percentage"], &["preset_mode"]),
        "fan.set_percentage" => (&["percentage"], &[]),
        "valve.set_valve_position" => (&["position"], &[]),
        "climate.set_fan_mode" => (&["fan_mode"], &[]),
        "media_player.volume_set" => (&["volume_level"], &[]),
        "media_player.volume_mute" => (&["is_volume_muted"], &[]),
        _ => (&[], &[]),
    }
}

fn text_list(l: &Option<super::schema::List>) -> Vec<String> {
    l.as_ref().map(|l| l.0.clone()).unwrap_or_default()
}

/// The devices a target names, for a service of `domain`.
fn targets<'r>(reg: &'r Registry, domain: &str, target: &Target) -> Result<Vec<&'r Device>, String> {
    let fits = |d: &Device| if domain == "homeassistant" { d.kind.is_actuator() } else { d.kind.domain() == domain };
    let mut out: Vec<&Device> = Vec::new();
    for e in text_list(&target.entity_id) {
        let d = reg.device(&e).ok_or_else(|| format!("unknown entity `{e}`"))?;
        if !fits(d) {
            return Err(format!("`{e}` is not a {domain} entity"));
        }
        out.push(d);
    }
    for a in text_list(&target.area_id) {
        if reg.area(&a).is_none() {
            return Err(format!("unknown area `{a}`"));
        }
        out.extend(reg.devices.iter().filter(|d| d.area.as_deref() == Some(a.as_str()) && fits(d)));
    }
    for f in text_list(&target.floor_id) {
        if reg.floor(&f).is_none() {
            return Err(format!("unknown floor `{f}`"));
        }
        out.extend(reg.devices.iter().filter(|d| reg.device_floor(d).is_some_and(|x| x.id == f) && fits(d)));
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|d| seen.insert(d.id.clone()));
    Ok(out)
}

fn num(data: &Map<String, Value>, k: &str) -> Result<Option<f64>, String> {
    match data.get(k) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| format!("`data.{k}` must be a number, found `{v}`")),
    }
}

fn pct(x: f64, what: &str) -> Result<u8, String> {
    if (0.0..=100.0).contains(&x) { Ok(x.round() as u8) } else { Err(format!("`{what}` must be 0–100, found {x}")) }
}

/// The firmware actions one device service means.
fn actions(service: &str, data: &Map<String, Value>) -> Result<Vec<Action>, String> {
    let (_, name) = service.split_once('.').unwrap_or(("", service));
    let mut acts = Vec::new();
    match name {
        "turn_on" => {
            if let Some(p) = num(data, "brightness_pct")? {
                acts.push(Action::Brightness { percent: pct(p, "brightness_pct")? });
            } else if let Some(b) = num(data, "brightness")? {
                if !(0.0..=255.0).contains(&b) {
                    return Err(format!("`brightness` must be 0–255, found {b}"));
                }
                acts.push(Action::Brightness { percent: (b * 100.0 / 255.0).round() as u8 });
            }
            if let Some(c) = data.get("rgb_color") {
                let a: Vec<u8> = c
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_u64()).map(|x| x as u8).collect())
                    .unwrap_or_default();
                if a.len() != 3 {
                    return Err(format!("`rgb_color` must be [r, g, b], found `{c}`"));
                }
                acts.push(Action::Color { rgb: Rgb { r: a[0], g: a[1], b: a[2] } });
            } else if let Some(n) = data.get("color_name").and_then(Value::as_str) {
                let rgb = crate::slots::color_rgb(n).ok_or_else(|| format!("unknown `color_name` `{n}`"))?;
                acts.push(Action::Color { rgb });
            }
            if let Some(k) = num(data, "color_temp_kelvin")?.or(num(data, "kelvin")?) {
                acts.push(Action::ColorTemp { kelvin: k.round() as u32 });
            }
            if let Some(p) = num(data, "percentage")? {
                acts.push(Action::FanSpeed { percent: pct(p, "percentage")? });
            }
            if acts.is_empty() {
                acts.push(Action::TurnOn);
            }
        }
        "set_percentage" => {
            let p = num(data, "percentage")?.ok_or("`data.percentage` is required")?;
            acts.push(Action::FanSpeed { percent: pct(p, "percentage")? });
        }
        "open_valve" => acts.push(Action::Open),
        "close_valve" => acts.push(Action::Close),
        "stop_valve" | "stop" => acts.push(Action::Stop),
        "set_valve_position" => {
            let p = num(data, "position")?.ok_or("`data.position` is required")?;
            acts.push(Action::Position { percent: pct(p, "position")? });
        }
        "set_fan_mode" => match data.get("fan_mode").and_then(Value::as_str).map(str::trim) {
            Some(m) if !m.is_empty() => acts.push(Action::FanMode { mode: m.to_lowercase() }),
            _ => return Err("`data.fan_mode` (a mode name) is required".into()),
        },
        "media_pause" | "pause" => acts.push(Action::Pause),
        "media_play" => acts.push(Action::Play),
        "media_next_track" => acts.push(Action::NextTrack),
        "media_previous_track" => acts.push(Action::PreviousTrack),
        "volume_set" => {
            let v = num(data, "volume_level")?.ok_or("`data.volume_level` (0–1) is required")?;
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("`volume_level` must be 0–1, found {v}"));
            }
            acts.push(Action::Volume { percent: (v * 100.0).round() as u8 });
        }
        "volume_mute" => match data.get("is_volume_muted").and_then(Value::as_bool) {
            Some(muted) => acts.push(Action::Mute { muted }),
            None => return Err("`data.is_volume_muted` (true or false) is required".into()),
        },
        "start" | "start_mowing" => acts.push(Action::Start),
        "return_to_base" | "dock" => acts.push(Action::Dock),
        "press" => acts.push(Action::Press),
        "turn_off" => acts.push(Action::TurnOff),
        "toggle" => acts.push(Action::Toggle),
        "open_cover" => acts.push(Action::Open),
        "close_cover" => acts.push(Action::Close),
        "stop_cover" => acts.push(Action::Stop),
        "set_cover_position" => {
            let p = num(data, "position")?.ok_or("`data.position` is required")?;
            acts.push(Action::Position { percent: pct(p, "position")? });
        }
        "lock" => acts.push(Action::Lock),
        "unlock" => acts.push(Action::Unlock),
        "set_temperature" => {
            let t = num(data, "temperature")?.ok_or("`data.temperature` is required")?;
            acts.push(Action::TargetTemperature { celsius: t as f32 });
        }
        other => return Err(format!("unknown service `{other}`")),
    }
    Ok(acts)
}

fn check_data(service: &str, data: &Map<String, Value>) -> Result<(), String> {
    let (ok, later) = data_keys(service);
    for k in data.keys() {
        if later.contains(&k.as_str()) {
            return Err(format!("`data.{k}` of {service}: not implemented yet"));
        }
        if !ok.contains(&k.as_str()) {
            let expected = if ok.is_empty() { "none".to_string() } else { ok.join(", ") };
            return Err(format!("unknown `data.{k}` for {service} (expected {expected})"));
        }
    }
    Ok(())
}

fn render_data(
    data: &Map<String, Value>,
    vars: &Value,
    reg: &Registry,
    st: &dyn Fn(&str) -> Option<DeviceState>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (k, v) in data {
        let v = match v {
            Value::String(s) if render::is_template(s) => {
                let r = render::render(s, vars, reg, st)?;
                serde_json::from_str(&r).unwrap_or(Value::String(r))
            }
            other => other.clone(),
        };
        out.insert(k.clone(), v);
    }
    Ok(out)
}

fn automation_ids(target: &Target, rules: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for e in text_list(&target.entity_id) {
        let id = e.strip_prefix("automation.").ok_or_else(|| format!("`{e}` is not an automation.<id> entity"))?;
        if !rules.iter().any(|r| r == id) {
            return Err(format!("unknown automation `{id}`"));
        }
        out.push(id.to_string());
    }
    if out.is_empty() {
        return Err("`target.entity_id` must name automation.<id> entities".into());
    }
    Ok(out)
}

/// Resolve a service action at run time (`validate_only`: at load time,
/// where toggles and templates cannot be resolved yet).
#[allow(clippy::too_many_arguments)]
pub fn resolve(
    service: &str,
    target: &Target,
    data: &Map<String, Value>,
    reg: &Registry,
    states: &dyn Fn(&str) -> Option<DeviceState>,
    vars: &Value,
    rules: &[String],
    validate_only: bool,
) -> Result<Effect, String> {
    let (domain, name) = service.split_once('.').ok_or_else(|| format!("`{service}` is not `domain.service`"))?;
    let text = |k: &str, data: &Map<String, Value>| -> Result<Option<String>, String> {
        match data.get(k) {
            None => Ok(None),
            Some(Value::String(s)) if validate_only => render::check(s).map(|_| Some(s.clone())),
            Some(Value::String(s)) => render::render(s, vars, reg, states).map(Some),
            Some(other) if k == "payload" => Ok(Some(other.to_string())),
            Some(other) => Err(format!("`data.{k}` must be a string, found `{other}`")),
        }
    };
    match domain {
        "mqtt" if name == "publish" => {
            for k in data.keys() {
                if !["topic", "payload", "retain", "qos"].contains(&k.as_str()) {
                    return Err(format!("unknown `data.{k}` for mqtt.publish (expected topic, payload, retain, qos)"));
                }
            }
            if data.get("qos").is_some_and(|q| q.as_u64() != Some(1)) {
                return Err(
                    "mqtt.publish: hubd publishes with QoS 1; other `qos` values are not implemented yet".into()
                );
            }
            let topic = text("topic", data)?.ok_or("mqtt.publish needs `data.topic`")?;
            if topic.is_empty() || topic.contains(['+', '#']) {
                return Err(format!("`{topic}` is not a topic to publish to"));
            }
            let payload = text("payload", data)?.unwrap_or_default();
            let retain = data.get("retain").and_then(Value::as_bool).unwrap_or(false);
            Ok(Effect::Publish { topic, payload, retain })
        }
        "notify" => {
            for k in data.keys() {
                if !["message", "title"].contains(&k.as_str()) {
                    return Err(format!("unknown `data.{k}` for {service} (expected message, title)"));
                }
            }
            let message = text("message", data)?.ok_or_else(|| format!("{service} needs `data.message`"))?;
            let title = text("title", data)?;
            Ok(Effect::Notify { target: name.to_string(), title, message })
        }
        "assist_satellite" if name == "announce" => {
            for k in data.keys() {
                if k != "message" {
                    return Err(format!("{service}: `data.{k}` is not implemented yet (expected message)"));
                }
            }
            let message = text("message", data)?.filter(|m| !m.trim().is_empty());
            let message = message.ok_or_else(|| format!("{service} needs `data.message`"))?;
            Ok(Effect::Announce { message })
        }
        "scene" if name == "turn_on" => {
            if !data.is_empty() {
                return Err(format!("{service}: `data` is not implemented yet"));
            }
            let mut commands = Vec::new();
            let ids = text_list(&target.entity_id);
            if ids.is_empty() {
                return Err(format!("{service} needs `target.entity_id` (scene.<id>)"));
            }
            for id in &ids {
                let scene = reg.scene(id).ok_or_else(|| format!("unknown scene `{id}`"))?;
                for t in &scene.targets {
                    for a in &t.actions {
                        match command::build(reg, &t.entity_id, a.clone(), states) {
                            Ok(c) => commands.push(c),
                            Err(e) if !validate_only => return Err(e.to_string()),
                            Err(_) => {}
                        }
                    }
                }
            }
            Ok(Effect::Commands { entities: ids, commands })
        }
        "script" if name == "turn_on" => {
            if !data.is_empty() {
                return Err(format!("{service}: `data` (script fields) is not implemented yet"));
            }
            let ids = text_list(&target.entity_id);
            if ids.is_empty() {
                return Err(format!("{service} needs `target.entity_id` (script.<id>)"));
            }
            if let Some(bad) = ids.iter().find(|id| !id.starts_with("script.") || !rules.contains(id)) {
                return Err(format!("unknown script `{bad}`"));
            }
            Ok(Effect::Trigger { rules: ids })
        }
        "automation" => {
            let rules = automation_ids(target, rules)?;
            match name {
                "turn_on" | "turn_off" => Ok(Effect::Enable { rules, enabled: name == "turn_on" }),
                "trigger" => Ok(Effect::Trigger { rules }),
                _ => Err(format!("unknown service `{service}` (automation.turn_on, turn_off, trigger)")),
            }
        }
        _ => {
            let known = DEVICE_SERVICES.iter().find(|(d, _)| *d == domain).is_some_and(|(_, s)| s.contains(&name));
            if !known {
                return Err(format!("unknown service `{service}`"));
            }
            check_data(service, data)?;
            let devices = targets(reg, domain, target)?;
            if devices.is_empty() {
                return Err(format!("{service}: the target names no {domain} devices"));
            }
            let data = if validate_only { data.clone() } else { render_data(data, vars, reg, states)? };
            let templated = data.values().any(|v| v.as_str().is_some_and(render::is_template));
            let acts = if validate_only && templated { vec![Action::TurnOn] } else { actions(service, &data)? };
            let mut commands = Vec::new();
            for d in &devices {
                for a in &acts {
                    match command::for_device(d, a.clone(), states) {
                        Ok(c) => commands.push(c),
                        Err(SkillError::UnknownState(_)) if validate_only => {}
                        Err(e) if validate_only && d.kind == DeviceKind::Light && templated => drop(e),
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            Ok(Effect::Commands { entities: devices.iter().map(|d| d.id.clone()).collect(), commands })
        }
    }
}
