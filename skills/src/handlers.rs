//! Skill handlers: an [`Understanding`] plus the registry and current state
//! become device commands and a spoken-style reply.
//!
//! One skill per Home Assistant intent ([`plan`] dispatches):
//! `HassTurnOn`/`HassTurnOff`/`HassToggle` (lights, switches, fans; covers
//! open/close and locks lock/unlock, as Home Assistant maps them),
//! `HassLightSet` (brightness %, colour name, colour temperature in kelvin),
//! `HassClimateSetTemperature`, `HassClimateGetTemperature`, `HassGetState`,
//! `HassSetPosition`, `HassStartTimer` (reply only) and `HassNevermind`.
//!
//! Targets come from `u.entities` when the NLU resolved them, else from the
//! `name` / `area` / `floor` / `domain` / `device_class` slots. Toggles are
//! resolved to explicit on/off from the current state, so a resent command
//! is idempotent. Every command is run through [`firmware_bridge::encode`]
//! once, so an unsupported combination is an error here, before anything is
//! enqueued.
use firmware_bridge::{Action, BridgeError, DeviceCommand, DeviceKind, DeviceState, Rgb, encode};
use serde_json::{Value, json};
use thiserror::Error;

use crate::Understanding;
use crate::registry::{Area, Device, Floor, Registry};

/// What to do and what to say.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Device commands, toggles already resolved to explicit on/off.
    pub commands: Vec<DeviceCommand>,
    /// Spoken-style English reply.
    pub reply: String,
    /// Structured answer for queries (state, temperature, timer).
    pub answer: Option<Value>,
}

#[derive(Debug, Error, PartialEq)]
pub enum SkillError {
    #[error("unknown intent `{0}`")]
    UnknownIntent(String),
    #[error("there is no device called `{0}`")]
    UnknownDevice(String),
    #[error("there is no area or floor called `{0}`")]
    UnknownArea(String),
    #[error("no {what} found{place}")]
    NoMatch { what: String, place: String },
    #[error("`{name}` could mean {}", .candidates.join(", "))]
    Ambiguous { name: String, candidates: Vec<String> },
    #[error("{intent} needs a `{slot}`")]
    MissingSlot { intent: String, slot: &'static str },
    #[error("slot `{slot}` = `{value}` is not valid: {reason}")]
    BadSlot { slot: &'static str, value: String, reason: String },
    #[error("{device} cannot {what}")]
    Unsupported { device: String, what: String },
    #[error("`{0}` is read-only (it has no firmware dialect to command)")]
    ReadOnly(String),
    #[error("the state of {0} is not known yet")]
    UnknownState(String),
    #[error(transparent)]
    Bridge(#[from] BridgeError),
}

impl SkillError {
    /// A spoken-style reply for this error ("Sorry, I don't know a device called the attic fan.").
    pub fn reply(&self) -> String {
        match self {
            SkillError::UnknownIntent(_) => "Sorry, I can't do that yet.".into(),
            SkillError::UnknownDevice(n) => {
                format!("Sorry, I don't know a device called {}.", the(n))
            }
            SkillError::UnknownArea(n) => format!("Sorry, I don't know an area called {}.", the(n)),
            SkillError::NoMatch { what, place } => format!("Sorry, there are no {what}{place}."),
            SkillError::Ambiguous { name, candidates } => {
                format!("Which {} do you mean: {}?", lower(name), or_list(candidates))
            }
            SkillError::MissingSlot { .. } => "Sorry, which device do you mean?".into(),
            SkillError::BadSlot { slot, value, .. } => {
                format!("Sorry, {value} is not a valid {slot}.")
            }
            SkillError::Unsupported { device, what } => {
                format!("Sorry, {} can't {what}.", the(device))
            }
            SkillError::ReadOnly(n) => format!("Sorry, {} can't be controlled.", the(n)),
            SkillError::UnknownState(n) => {
                format!("Sorry, I don't know the state of {} yet.", the(n))
            }
            SkillError::Bridge(BridgeError::Unsupported { device, action, .. }) => {
                format!("Sorry, {device} doesn't support {action}.")
            }
            SkillError::Bridge(e) => format!("Sorry, {e}."),
        }
    }
}

/// Plan one understanding against the registry and the current device states.
pub fn plan(
    u: &Understanding,
    reg: &Registry,
    state: &dyn Fn(&str) -> Option<DeviceState>,
) -> Result<Plan, SkillError> {
    match u.intent.as_str() {
        "HassTurnOn" => on_off(u, reg, state, OnOff::On),
        "HassTurnOff" => on_off(u, reg, state, OnOff::Off),
        "HassToggle" => on_off(u, reg, state, OnOff::Toggle),
        "HassLightSet" => light_set(u, reg),
        "HassClimateSetTemperature" => climate_set(u, reg),
        "HassClimateGetTemperature" => climate_get(u, reg, state),
        "HassGetState" => get_state(u, reg, state),
        "HassSetPosition" => set_position(u, reg),
        "HassStartTimer" => start_timer(u),
        "HassNevermind" => Ok(Plan { commands: vec![], reply: String::new(), answer: None }),
        other => Err(SkillError::UnknownIntent(other.to_string())),
    }
}

// ---------------------------------------------------------------------------
// Name folding and registry lookups (shared with `grammar`).

/// Fold case and punctuation: "Kitchen-Light!" -> "kitchen light".
/// Apostrophes are dropped ("Anna's" -> "annas"); `_` counts as a space so
/// ids ("living_room") match names ("Living Room").
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c == '\'' || c == '’' {
            continue;
        }
        if c.is_alphanumeric() || c == '%' || c == '.' {
            out.push(c);
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `text` (folded) names this id/name/alias set.
fn names_match(text: &str, id: &str, name: &str, aliases: &[String]) -> bool {
    let t = fold(text);
    let t = t.strip_prefix("the ").unwrap_or(&t);
    t == fold(name) || t == fold(id) || aliases.iter().any(|a| t == fold(a))
}

/// Area by id, name or alias.
pub fn find_area<'r>(reg: &'r Registry, text: &str) -> Option<&'r Area> {
    reg.areas.iter().find(|a| names_match(text, &a.id, &a.name, &a.aliases))
}

/// Floor by id, name or alias.
pub fn find_floor<'r>(reg: &'r Registry, text: &str) -> Option<&'r Floor> {
    reg.floors.iter().find(|f| names_match(text, &f.id, &f.name, &f.aliases))
}

/// Devices whose name, alias or entity id is `text`.
pub fn find_devices<'r>(reg: &'r Registry, text: &str) -> Vec<&'r Device> {
    reg.devices
        .iter()
        .filter(|d| {
            let object = d.id.split_once('.').map(|(_, o)| o).unwrap_or(&d.id);
            names_match(text, object, &d.name, &d.aliases) || fold(text) == fold(&d.id)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Slots.

fn slot<'u>(u: &'u Understanding, key: &str) -> Option<&'u Value> {
    let v = u.slots.get(key)?;
    // hassil-style `{"value": .., "text": ..}` objects carry the value inside.
    match v {
        Value::Object(m) => m.get("value"),
        Value::Null => None,
        other => Some(other),
    }
}

fn slot_str(u: &Understanding, key: &str) -> Option<String> {
    match slot(u, key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Domain slot: a string or a list of strings.
fn slot_domains(u: &Understanding) -> Result<Vec<DeviceKind>, SkillError> {
    let vals: Vec<String> = match slot(u, "domain") {
        None => return Ok(vec![]),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        Some(other) => {
            return Err(SkillError::BadSlot {
                slot: "domain",
                value: other.to_string(),
                reason: "expected a domain name".into(),
            });
        }
    };
    vals.iter()
        .map(|d| {
            DeviceKind::from_domain(d.trim()).ok_or_else(|| SkillError::BadSlot {
                slot: "domain",
                value: d.clone(),
                reason: "not a known domain".into(),
            })
        })
        .collect()
}

/// A number slot (number or numeric string, `%` and `°` units stripped).
fn slot_f64(u: &Understanding, key: &'static str) -> Result<Option<f64>, SkillError> {
    let Some(v) = slot(u, key) else {
        return Ok(None);
    };
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches(['%', '°', 'c', 'C', 'k', 'K']).trim().parse::<f64>().ok(),
        _ => None,
    };
    match f {
        Some(f) if f.is_finite() => Ok(Some(f)),
        _ => Err(SkillError::BadSlot { slot: key, value: v.to_string(), reason: "expected a number".into() }),
    }
}

fn slot_pct(u: &Understanding, key: &'static str) -> Result<Option<u8>, SkillError> {
    match slot_f64(u, key)? {
        None => Ok(None),
        Some(f) if (0.0..=100.0).contains(&f) => Ok(Some(f.round() as u8)),
        Some(f) => {
            Err(SkillError::BadSlot { slot: key, value: f.to_string(), reason: "must be 0 to 100 percent".into() })
        }
    }
}

// ---------------------------------------------------------------------------
// Targets.

/// The devices a request targets, plus how to describe them in a reply.
struct Targets<'r> {
    devices: Vec<&'r Device>,
    /// " in the kitchen" / " upstairs" / "".
    place: String,
    /// Whether the request named one device (reply uses its name).
    named: bool,
}

/// Resolve the request's targets. `default_domains` applies when neither a
/// name nor a domain was given (e.g. HassLightSet -> lights).
fn targets<'r>(
    u: &Understanding,
    reg: &'r Registry,
    default_domains: &[DeviceKind],
) -> Result<Targets<'r>, SkillError> {
    if !u.entities.is_empty() {
        let mut devices = Vec::new();
        for id in &u.entities {
            devices.push(reg.device(id).ok_or_else(|| SkillError::UnknownDevice(id.clone()))?);
        }
        let named = devices.len() == 1;
        let place = slot_str(u, "area")
            .and_then(|a| find_area(reg, &a).map(|a| format!(" in {}", the(&a.name))))
            .unwrap_or_default();
        return Ok(Targets { devices, place, named });
    }
    let name = slot_str(u, "name");
    let mut area = match slot_str(u, "area") {
        Some(a) => Some(find_area(reg, &a).ok_or(SkillError::UnknownArea(a))?),
        None => None,
    };
    let floor = match slot_str(u, "floor") {
        Some(f) => Some(find_floor(reg, &f).ok_or(SkillError::UnknownArea(f))?),
        None => None,
    };
    let domains = slot_domains(u)?;
    let device_class = slot_str(u, "device_class").map(|c| fold(&c));

    let in_place = |d: &Device, area: Option<&Area>| -> bool {
        let area_ok = area.is_none_or(|a| d.area.as_deref() == Some(a.id.as_str()));
        let floor_ok = floor.is_none_or(|f| reg.device_floor(d).is_some_and(|df| df.id == f.id));
        area_ok && floor_ok
    };
    let kind_ok = |d: &Device, domains: &[DeviceKind]| -> bool {
        (domains.is_empty() || domains.contains(&d.kind))
            && device_class.as_ref().is_none_or(|c| d.device_class.as_deref().map(fold).as_ref() == Some(c))
    };

    if let Some(name) = &name {
        let by_name = find_devices(reg, name);
        if by_name.is_empty() {
            // "turn on the kitchen": a name that is an area.
            if area.is_none() && floor.is_none() {
                if let Some(a) = find_area(reg, name) {
                    area = Some(a);
                    return group(reg, area, floor, &domains, default_domains, &in_place, &kind_ok);
                }
            }
            return Err(SkillError::UnknownDevice(name.clone()));
        }
        let narrowed: Vec<&Device> =
            by_name.iter().copied().filter(|d| in_place(d, area) && kind_ok(d, &domains)).collect();
        return match narrowed.len() {
            0 => Err(SkillError::NoMatch {
                what: format!("{} called {name}", plural_of(&domains)),
                place: place_of(area, floor),
            }),
            1 => Ok(Targets { devices: narrowed, place: String::new(), named: true }),
            _ => Err(SkillError::Ambiguous {
                name: name.clone(),
                candidates: narrowed.iter().map(|d| describe_with_area(reg, d)).collect(),
            }),
        };
    }
    if area.is_none() && floor.is_none() && domains.is_empty() && device_class.is_none() {
        return Err(SkillError::MissingSlot { intent: u.intent.clone(), slot: "name" });
    }
    group(reg, area, floor, &domains, default_domains, &in_place, &kind_ok)
}

fn group<'r>(
    reg: &'r Registry,
    area: Option<&Area>,
    floor: Option<&Floor>,
    domains: &[DeviceKind],
    default_domains: &[DeviceKind],
    in_place: &dyn Fn(&Device, Option<&Area>) -> bool,
    kind_ok: &dyn Fn(&Device, &[DeviceKind]) -> bool,
) -> Result<Targets<'r>, SkillError> {
    let domains = if domains.is_empty() { default_domains } else { domains };
    let devices: Vec<&Device> = reg.devices.iter().filter(|d| in_place(d, area) && kind_ok(d, domains)).collect();
    let place = place_of(area, floor);
    if devices.is_empty() {
        return Err(SkillError::NoMatch { what: plural_of(domains), place });
    }
    Ok(Targets { devices, place, named: false })
}

fn place_of(area: Option<&Area>, floor: Option<&Floor>) -> String {
    match (area, floor) {
        (Some(a), _) => format!(" in {}", the(&a.name)),
        (None, Some(f)) => format!(" on {}", the(&f.name)),
        (None, None) => String::new(),
    }
}

fn describe_with_area(reg: &Registry, d: &Device) -> String {
    match d.area.as_deref().and_then(|a| reg.area(a)) {
        Some(a) => format!("{} in {}", the(&d.name), the(&a.name)),
        None => the(&d.name),
    }
}

/// The command for one device, checked against the bridge.
fn command(d: &Device, action: Action) -> Result<DeviceCommand, SkillError> {
    let dialect = d.dialect.clone().ok_or_else(|| SkillError::ReadOnly(d.name.clone()))?;
    let cmd = DeviceCommand {
        device_id: d.id.clone(),
        kind: d.kind,
        dialect,
        action: d.kind.normalize(&action),
        features: d.features.clone(),
    };
    match encode(&cmd) {
        Ok(_) => Ok(cmd),
        Err(BridgeError::Unsupported { action, .. }) => {
            Err(SkillError::Unsupported { device: d.name.clone(), what: action })
        }
        Err(e) => Err(SkillError::Bridge(e)),
    }
}

// ---------------------------------------------------------------------------
// Skills.

#[derive(Clone, Copy, PartialEq)]
enum OnOff {
    On,
    Off,
    Toggle,
}

/// Kinds an area-wide "turn on/off" reaches when no domain is given. Locks
/// and covers are left out on purpose: "turn off the kitchen" must not
/// unlock a door or open the blinds.
const SWITCHABLE: &[DeviceKind] = &[DeviceKind::Light, DeviceKind::Switch, DeviceKind::Fan];

fn on_off(
    u: &Understanding,
    reg: &Registry,
    state: &dyn Fn(&str) -> Option<DeviceState>,
    op: OnOff,
) -> Result<Plan, SkillError> {
    let t = targets(u, reg, SWITCHABLE)?;
    let mut commands = Vec::new();
    let mut verbs = Vec::new();
    for d in &t.devices {
        if !d.kind.is_actuator() {
            if t.named {
                return Err(SkillError::Unsupported { device: d.name.clone(), what: "be switched".into() });
            }
            continue;
        }
        let on = match op {
            OnOff::On => true,
            OnOff::Off => false,
            OnOff::Toggle => {
                let st = state(&d.id).unwrap_or_default();
                let now_on = match d.kind {
                    DeviceKind::Lock => st.locked,
                    DeviceKind::Cover => st.position.map(|p| p > 0).or(st.on),
                    _ => st.on,
                };
                match now_on {
                    Some(v) => !v,
                    None => return Err(SkillError::UnknownState(d.name.clone())),
                }
            }
        };
        let action = if on { Action::TurnOn } else { Action::TurnOff };
        let cmd = command(d, action)?;
        verbs.push(past_tense(&cmd.action));
        commands.push(cmd);
    }
    if commands.is_empty() {
        return Err(SkillError::NoMatch { what: "devices that can be switched".into(), place: t.place });
    }
    let verb = if verbs.iter().all(|v| *v == verbs[0]) { verbs[0] } else { "Switched" };
    let reply = if let (true, [d]) = (t.named || commands.len() == 1, t.devices.as_slice()) {
        format!("{verb} {}.", the(&d.name))
    } else {
        format!("{verb} {}{}.", count_noun(&t.devices, commands.len()), t.place)
    };
    Ok(Plan { commands, reply, answer: None })
}

fn past_tense(a: &Action) -> &'static str {
    match a {
        Action::TurnOn => "Turned on",
        Action::TurnOff => "Turned off",
        Action::Open => "Opened",
        Action::Close => "Closed",
        Action::Lock => "Locked",
        Action::Unlock => "Unlocked",
        _ => "Set",
    }
}

fn light_set(u: &Understanding, reg: &Registry) -> Result<Plan, SkillError> {
    let brightness = slot_pct(u, "brightness")?;
    let color = match slot_str(u, "color") {
        Some(c) => Some((
            c.clone(),
            color_rgb(&c).ok_or(SkillError::BadSlot {
                slot: "color",
                value: c,
                reason: "unknown colour name".into(),
            })?,
        )),
        None => None,
    };
    let kelvin = match slot_f64(u, "temperature")? {
        None => None,
        Some(k) if (1000.0..=10000.0).contains(&k) => Some(k.round() as u32),
        Some(k) => {
            return Err(SkillError::BadSlot {
                slot: "temperature",
                value: k.to_string(),
                reason: "colour temperature is 1000 to 10000 K".into(),
            });
        }
    };
    if brightness.is_none() && color.is_none() && kelvin.is_none() {
        return Err(SkillError::MissingSlot { intent: u.intent.clone(), slot: "brightness" });
    }
    let t = targets(u, reg, &[DeviceKind::Light])?;
    let mut commands = Vec::new();
    for d in &t.devices {
        if let Some((_, rgb)) = &color {
            commands.push(command(d, Action::Color { rgb: *rgb })?);
        }
        if let Some(k) = kelvin {
            commands.push(command(d, Action::ColorTemp { kelvin: k })?);
        }
        if let Some(p) = brightness {
            commands.push(command(d, Action::Brightness { percent: p })?);
        }
    }
    let mut what = Vec::new();
    if let Some((name, _)) = &color {
        what.push(lower(name));
    }
    if let Some(k) = kelvin {
        what.push(format!("{k} K"));
    }
    if let Some(p) = brightness {
        what.push(format!("{p}%"));
    }
    let target = if t.named {
        the(&t.devices[0].name)
    } else {
        format!("{}{}", count_noun(&t.devices, t.devices.len()), t.place)
    };
    Ok(Plan { commands, reply: format!("Set {target} to {}.", what.join(" at ")), answer: None })
}

fn climate_set(u: &Understanding, reg: &Registry) -> Result<Plan, SkillError> {
    let c =
        slot_f64(u, "temperature")?.ok_or(SkillError::MissingSlot { intent: u.intent.clone(), slot: "temperature" })?;
    if !(4.0..=35.0).contains(&c) {
        return Err(SkillError::BadSlot {
            slot: "temperature",
            value: c.to_string(),
            reason: "thermostats take 4 to 35 °C".into(),
        });
    }
    let t = climate_targets(u, reg)?;
    let celsius = c as f32;
    let commands =
        t.devices.iter().map(|d| command(d, Action::TargetTemperature { celsius })).collect::<Result<Vec<_>, _>>()?;
    let target = if t.devices.len() == 1 {
        the(&t.devices[0].name)
    } else {
        format!("{}{}", count_noun(&t.devices, t.devices.len()), t.place)
    };
    Ok(Plan { commands, reply: format!("Set {target} to {}.", celsius_str(celsius)), answer: None })
}

/// Climate targets; with no target at all, every thermostat in the home.
fn climate_targets<'r>(u: &Understanding, reg: &'r Registry) -> Result<Targets<'r>, SkillError> {
    let has_target = !u.entities.is_empty() || ["name", "area", "floor"].iter().any(|k| slot_str(u, k).is_some());
    if has_target {
        return targets(u, reg, &[DeviceKind::Climate]);
    }
    let devices: Vec<&Device> = reg.devices.iter().filter(|d| d.kind == DeviceKind::Climate).collect();
    if devices.is_empty() {
        return Err(SkillError::NoMatch { what: "thermostats".into(), place: String::new() });
    }
    Ok(Targets { devices, place: String::new(), named: false })
}

fn climate_get(
    u: &Understanding,
    reg: &Registry,
    state: &dyn Fn(&str) -> Option<DeviceState>,
) -> Result<Plan, SkillError> {
    let has_target = !u.entities.is_empty() || ["name", "area", "floor"].iter().any(|k| slot_str(u, k).is_some());
    let t = if has_target {
        targets(u, reg, &[DeviceKind::Climate, DeviceKind::Sensor])?
    } else {
        // No place given: every thermostat and temperature sensor in the home.
        let devices: Vec<&Device> =
            reg.devices.iter().filter(|d| matches!(d.kind, DeviceKind::Climate | DeviceKind::Sensor)).collect();
        Targets { devices, place: String::new(), named: false }
    };
    let mut readings = Vec::new();
    for d in &t.devices {
        let is_temp_sensor =
            d.kind == DeviceKind::Sensor && d.device_class.as_deref().is_none_or(|c| c == "temperature");
        if d.kind != DeviceKind::Climate && !is_temp_sensor {
            continue;
        }
        let st = state(&d.id).unwrap_or_default();
        let reading = st.current_temperature.or_else(|| st.value.as_ref().and_then(Value::as_f64).map(|v| v as f32));
        if let Some(c) = reading {
            readings.push((d, c));
        }
    }
    // Prefer the thermostat's own sensor; otherwise the first sensor.
    readings.sort_by_key(|(d, _)| if d.kind == DeviceKind::Climate { 0 } else { 1 });
    let Some((d, c)) = readings.first().copied() else {
        let who = if t.named { the(&t.devices[0].name) } else { format!("the temperature{}", t.place) };
        return Err(SkillError::UnknownState(who));
    };
    let subject = match (t.named, d.area.as_deref().and_then(|a| reg.area(a))) {
        (true, _) => format!("The {} temperature", lower(&d.name)),
        (false, Some(a)) if !t.place.is_empty() || reg.areas.len() > 1 => {
            format!("The {} temperature", lower(&a.name))
        }
        _ => "The temperature".to_string(),
    };
    let st = state(&d.id).unwrap_or_default();
    let mut answer = json!({"entity_id": d.id, "temperature": round1(c)});
    let mut reply = format!("{subject} is {}.", celsius_str(c));
    if let (DeviceKind::Climate, Some(target)) = (d.kind, st.target_temperature) {
        answer["target_temperature"] = json!(round1(target));
        if (target - c).abs() >= 0.5 {
            reply = format!("{subject} is {}, set to {}.", celsius_str(c), celsius_str(target));
        }
    }
    Ok(Plan { commands: vec![], reply, answer: Some(answer) })
}

fn get_state(
    u: &Understanding,
    reg: &Registry,
    state: &dyn Fn(&str) -> Option<DeviceState>,
) -> Result<Plan, SkillError> {
    let t = targets(u, reg, &[])?;
    let asked = slot_str(u, "state").map(|s| fold(&s));
    let mut answer = serde_json::Map::new();
    let mut words = Vec::new();
    for d in &t.devices {
        let st = state(&d.id).unwrap_or_default();
        let w = state_word(d, &st);
        answer.insert(d.id.clone(), json!(w));
        words.push((d, w));
    }
    let reply = match (&asked, words.as_slice()) {
        (None, [(d, w)]) => {
            if *w == "unknown" {
                format!("I don't know the state of {} yet.", the(&d.name))
            } else {
                format!("{} is {w}.", cap(&the(&d.name)))
            }
        }
        (Some(q), [(d, w)]) => {
            if *w == "unknown" {
                format!("I don't know whether {} is {q}.", the(&d.name))
            } else if same_state(q, w) {
                format!("Yes, {} is {w}.", the(&d.name))
            } else {
                format!("No, {} is {w}.", the(&d.name))
            }
        }
        (None, many) => {
            let parts: Vec<String> = many.iter().map(|(d, w)| format!("{} is {w}", the(&d.name))).collect();
            format!("{}.", cap(&and_list(&parts)))
        }
        (Some(q), many) => {
            let yes: Vec<&Device> = many.iter().filter(|(_, w)| same_state(q, w)).map(|(d, _)| **d).collect();
            let total = many.len();
            if yes.len() == total {
                format!("Yes, all {total} are {q}.")
            } else if yes.is_empty() {
                format!("No, none of the {}{} are {q}.", plural_noun(&t.devices), t.place)
            } else {
                let names: Vec<String> = yes.iter().map(|d| the(&d.name)).collect();
                format!(
                    "{} of {total}: {} {} {q}.",
                    yes.len(),
                    and_list(&names),
                    if yes.len() == 1 { "is" } else { "are" }
                )
            }
        }
    };
    Ok(Plan { commands: vec![], reply, answer: Some(Value::Object(answer)) })
}

fn same_state(q: &str, w: &str) -> bool {
    let q = q.trim();
    q == w || (q == "open" && w.starts_with("open")) || (q == "closed" && w == "closed")
}

/// A device's state in words ("on", "locked", "40% open", "21.5 °C").
fn state_word(d: &Device, st: &DeviceState) -> String {
    if st.available == Some(false) {
        return "unavailable".into();
    }
    let unknown = || "unknown".to_string();
    match d.kind {
        DeviceKind::Light | DeviceKind::Switch | DeviceKind::Fan | DeviceKind::MediaPlayer => {
            st.on.map(|o| if o { "on" } else { "off" }.to_string()).unwrap_or_else(unknown)
        }
        DeviceKind::Lock => {
            st.locked.map(|l| if l { "locked" } else { "unlocked" }.to_string()).unwrap_or_else(unknown)
        }
        DeviceKind::Cover => match (st.position, st.on) {
            (Some(0), _) => "closed".into(),
            (Some(100), _) => "open".into(),
            (Some(p), _) => format!("{p}% open"),
            (None, Some(true)) => "open".into(),
            (None, Some(false)) => "closed".into(),
            (None, None) => unknown(),
        },
        DeviceKind::Climate => match (st.current_temperature, st.target_temperature) {
            (Some(c), Some(t)) => format!("at {}, set to {}", celsius_str(c), celsius_str(t)),
            (Some(c), None) => format!("at {}", celsius_str(c)),
            (None, Some(t)) => format!("set to {}", celsius_str(t)),
            (None, None) => unknown(),
        },
        DeviceKind::BinarySensor => {
            let (yes, no) = match d.device_class.as_deref() {
                Some("door" | "window" | "opening" | "garage_door") => ("open", "closed"),
                Some("motion" | "occupancy" | "presence") => ("detecting motion", "clear"),
                _ => ("on", "off"),
            };
            st.on.map(|o| if o { yes } else { no }.to_string()).unwrap_or_else(unknown)
        }
        DeviceKind::Sensor => match (st.current_temperature, &st.value) {
            (Some(c), _) if d.device_class.as_deref().is_none_or(|c| c == "temperature") => celsius_str(c),
            (_, Some(Value::Number(n))) => n.to_string(),
            (_, Some(Value::String(s))) => s.clone(),
            _ => unknown(),
        },
        DeviceKind::Person => match &st.value {
            Some(Value::String(s)) => s.replace('_', " "),
            _ => unknown(),
        },
    }
}

fn set_position(u: &Understanding, reg: &Registry) -> Result<Plan, SkillError> {
    let p = slot_pct(u, "position")?.ok_or(SkillError::MissingSlot { intent: u.intent.clone(), slot: "position" })?;
    let t = targets(u, reg, &[DeviceKind::Cover])?;
    let commands =
        t.devices.iter().map(|d| command(d, Action::Position { percent: p })).collect::<Result<Vec<_>, _>>()?;
    let target = if t.named {
        the(&t.devices[0].name)
    } else {
        format!("{}{}", count_noun(&t.devices, t.devices.len()), t.place)
    };
    Ok(Plan { commands, reply: format!("Set {target} to {p}%."), answer: None })
}

fn start_timer(u: &Understanding) -> Result<Plan, SkillError> {
    let h = slot_f64(u, "hours")?.unwrap_or(0.0);
    let m = slot_f64(u, "minutes")?.unwrap_or(0.0);
    let s = slot_f64(u, "seconds")?.unwrap_or(0.0);
    let total = h * 3600.0 + m * 60.0 + s;
    if total <= 0.0 || total > 24.0 * 3600.0 {
        return Err(SkillError::BadSlot {
            slot: "minutes",
            value: format!("{total} s"),
            reason: "a timer runs 1 second to 24 hours".into(),
        });
    }
    let secs = total.round() as u64;
    let name = slot_str(u, "name");
    let mut parts = Vec::new();
    for (n, unit) in [(secs / 3600, "hour"), (secs % 3600 / 60, "minute"), (secs % 60, "second")] {
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    let what = match &name {
        Some(n) => format!("{} timer", lower(n)),
        None => "Timer".to_string(),
    };
    let reply = if name.is_some() {
        format!("The {what} is set for {}.", and_list(&parts))
    } else {
        format!("{what} set for {}.", and_list(&parts))
    };
    Ok(Plan { commands: vec![], reply, answer: Some(json!({"timer": {"seconds": secs, "name": name}})) })
}

// ---------------------------------------------------------------------------
// Words.

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// "Kitchen Light" -> "the kitchen light".
fn the(name: &str) -> String {
    let l = name.trim().to_lowercase();
    if l.starts_with("the ") { l } else { format!("the {l}") }
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn kind_noun(k: DeviceKind, plural: bool) -> &'static str {
    match (k, plural) {
        (DeviceKind::Light, false) => "light",
        (DeviceKind::Light, true) => "lights",
        (DeviceKind::Switch, false) => "switch",
        (DeviceKind::Switch, true) => "switches",
        (DeviceKind::Fan, false) => "fan",
        (DeviceKind::Fan, true) => "fans",
        (DeviceKind::Cover, false) => "cover",
        (DeviceKind::Cover, true) => "covers",
        (DeviceKind::Lock, false) => "lock",
        (DeviceKind::Lock, true) => "locks",
        (DeviceKind::Climate, false) => "thermostat",
        (DeviceKind::Climate, true) => "thermostats",
        (DeviceKind::MediaPlayer, false) => "media player",
        (DeviceKind::MediaPlayer, true) => "media players",
        (_, false) => "device",
        (_, true) => "devices",
    }
}

fn plural_noun(devices: &[&Device]) -> &'static str {
    match devices.first() {
        Some(first) if devices.iter().all(|d| d.kind == first.kind) => kind_noun(first.kind, true),
        _ => "devices",
    }
}

fn plural_of(domains: &[DeviceKind]) -> String {
    match domains {
        [k] => kind_noun(*k, true).to_string(),
        _ => "devices".to_string(),
    }
}

/// "3 lights", "1 light", "4 devices".
fn count_noun(devices: &[&Device], n: usize) -> String {
    let noun = match devices.first() {
        Some(first) if devices.iter().all(|d| d.kind == first.kind) => kind_noun(first.kind, n != 1),
        _ => {
            if n == 1 {
                "device"
            } else {
                "devices"
            }
        }
    };
    format!("{n} {noun}")
}

fn round1(c: f32) -> f64 {
    (f64::from(c) * 10.0).round() / 10.0
}

/// "21 °C", "21.5 °C".
fn celsius_str(c: f32) -> String {
    let r = round1(c);
    if r.fract() == 0.0 { format!("{r:.0} °C") } else { format!("{r:.1} °C") }
}

/// Colour names (CSS/X11 names, as Home Assistant's `color_name_to_rgb`
/// uses) to RGB. Folded lookup: "Light Blue" == "lightblue".
pub fn color_rgb(name: &str) -> Option<Rgb> {
    let key: String = fold(name).chars().filter(|c| !c.is_whitespace()).collect();
    let (r, g, b) = match key.as_str() {
        "white" => (255, 255, 255),
        "warmwhite" => (255, 244, 229),
        "red" => (255, 0, 0),
        "green" => (0, 128, 0),
        "lime" => (0, 255, 0),
        "blue" => (0, 0, 255),
        "yellow" => (255, 255, 0),
        "orange" => (255, 165, 0),
        "purple" => (128, 0, 128),
        "pink" => (255, 192, 203),
        "hotpink" => (255, 105, 180),
        "cyan" | "aqua" => (0, 255, 255),
        "magenta" | "fuchsia" => (255, 0, 255),
        "violet" => (238, 130, 238),
        "indigo" => (75, 0, 130),
        "turquoise" => (64, 224, 208),
        "teal" => (0, 128, 128),
        "gold" => (255, 215, 0),
        "brown" => (165, 42, 42),
        "navy" | "navyblue" => (0, 0, 128),
        "maroon" => (128, 0, 0),
        "olive" => (128, 128, 0),
        "coral" => (255, 127, 80),
        "salmon" => (250, 128, 114),
        "lavender" => (230, 230, 250),
        "crimson" => (220, 20, 60),
        "beige" => (245, 245, 220),
        "lightblue" => (173, 216, 230),
        "skyblue" => (135, 206, 235),
        "darkblue" => (0, 0, 139),
        "lightgreen" => (144, 238, 144),
        "darkgreen" => (0, 100, 0),
        "darkred" => (139, 0, 0),
        "amber" => (255, 191, 0),
        _ => return None,
    };
    Some(Rgb { r, g, b })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Source;
    use crate::registry::Features;
    use crate::registry::{Area, Floor};
    use firmware_bridge::Dialect;
    use std::collections::BTreeMap;

    fn dev(id: &str, kind: DeviceKind, name: &str, area: &str, dialect: Option<Dialect>, features: Features) -> Device {
        Device {
            id: id.into(),
            kind,
            name: name.into(),
            aliases: vec![],
            area: Some(area.into()),
            device_class: None,
            dialect,
            features,
        }
    }

    fn z2m(n: &str) -> Option<Dialect> {
        Some(Dialect::Zigbee2mqtt { friendly_name: n.into(), base_topic: "zigbee2mqtt".into() })
    }

    pub(crate) fn demo() -> Registry {
        let color = Features { dimmable: true, color: true, color_temp: true, position: false };
        let mut front = dev(
            "lock.front_door",
            DeviceKind::Lock,
            "Front Door",
            "hall",
            Some(Dialect::Esphome { node: "hall".into(), object_id: "front_door".into() }),
            Features::default(),
        );
        front.aliases = vec!["front door lock".into()];
        let mut blinds = dev(
            "cover.living_room_blinds",
            DeviceKind::Cover,
            "Living Room Blinds",
            "living_room",
            Some(Dialect::ShellyGen1 { device_id: "shellyswitch25-1".into(), relay: 0 }),
            Features { position: true, ..Default::default() },
        );
        blinds.device_class = Some("blind".into());
        let mut temp = dev(
            "sensor.bedroom_temperature",
            DeviceKind::Sensor,
            "Bedroom Temperature",
            "bedroom",
            None,
            Features::default(),
        );
        temp.device_class = Some("temperature".into());
        Registry::new(
            vec![
                Floor {
                    id: "ground".into(),
                    name: "Ground Floor".into(),
                    aliases: vec!["downstairs".into()],
                    level: Some(0),
                },
                Floor {
                    id: "first".into(),
                    name: "First Floor".into(),
                    aliases: vec!["upstairs".into()],
                    level: Some(1),
                },
            ],
            vec![
                Area { id: "kitchen".into(), name: "Kitchen".into(), floor: Some("ground".into()), aliases: vec![] },
                Area {
                    id: "living_room".into(),
                    name: "Living Room".into(),
                    floor: Some("ground".into()),
                    aliases: vec!["lounge".into()],
                },
                Area { id: "hall".into(), name: "Hall".into(), floor: Some("ground".into()), aliases: vec![] },
                Area { id: "bedroom".into(), name: "Bedroom".into(), floor: Some("first".into()), aliases: vec![] },
            ],
            vec![
                dev(
                    "light.kitchen_light",
                    DeviceKind::Light,
                    "Kitchen Light",
                    "kitchen",
                    z2m("kitchen_light"),
                    color.clone(),
                ),
                dev(
                    "light.kitchen_spots",
                    DeviceKind::Light,
                    "Kitchen Spots",
                    "kitchen",
                    Some(Dialect::Tasmota { topic: "spots".into(), relay: None }),
                    Features::default(),
                ),
                dev(
                    "light.under_cabinet",
                    DeviceKind::Light,
                    "Under Cabinet",
                    "kitchen",
                    z2m("under_cabinet"),
                    Features { dimmable: true, ..Default::default() },
                ),
                dev(
                    "switch.kettle",
                    DeviceKind::Switch,
                    "Kettle",
                    "kitchen",
                    Some(Dialect::ShellyGen1 { device_id: "shellyplug-1".into(), relay: 0 }),
                    Features::default(),
                ),
                dev(
                    "light.living_room_lamp",
                    DeviceKind::Light,
                    "Lamp",
                    "living_room",
                    Some(Dialect::Esphome { node: "lounge".into(), object_id: "lamp".into() }),
                    color.clone(),
                ),
                dev("light.bedroom_lamp", DeviceKind::Light, "Lamp", "bedroom", z2m("bedroom_lamp"), color),
                blinds,
                front,
                dev(
                    "climate.living_room_thermostat",
                    DeviceKind::Climate,
                    "Living Room Thermostat",
                    "living_room",
                    z2m("trv"),
                    Features::default(),
                ),
                temp,
            ],
        )
        .unwrap()
    }

    fn u(intent: &str, slots: &[(&str, Value)]) -> Understanding {
        Understanding {
            text: String::new(),
            intent: intent.into(),
            slots: slots.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
            entities: vec![],
            candidates: vec![],
            confidence: 1.0,
            source: Source::Template,
            response: None,
        }
    }

    fn states(id: &str) -> Option<DeviceState> {
        match id {
            "light.kitchen_light" => Some(DeviceState { on: Some(true), ..Default::default() }),
            "light.kitchen_spots" => Some(DeviceState { on: Some(false), ..Default::default() }),
            "lock.front_door" => Some(DeviceState { locked: Some(true), ..Default::default() }),
            "climate.living_room_thermostat" => Some(DeviceState {
                current_temperature: Some(21.5),
                target_temperature: Some(21.5),
                ..Default::default()
            }),
            "sensor.bedroom_temperature" => Some(DeviceState { current_temperature: Some(18.0), ..Default::default() }),
            "cover.living_room_blinds" => Some(DeviceState { position: Some(40), ..Default::default() }),
            _ => None,
        }
    }

    fn ids(p: &Plan) -> Vec<(&str, Action)> {
        p.commands.iter().map(|c| (c.device_id.as_str(), c.action.clone())).collect()
    }

    #[test]
    fn table() {
        let reg = demo();
        let s = |v: &str| json!(v);
        let cases: Vec<(Understanding, Vec<(&str, Action)>, &str)> = vec![
            (
                u("HassTurnOn", &[("name", s("Kitchen Light"))]),
                vec![("light.kitchen_light", Action::TurnOn)],
                "Turned on the kitchen light.",
            ),
            (
                u("HassTurnOff", &[("area", s("Kitchen")), ("domain", s("light"))]),
                vec![
                    ("light.kitchen_light", Action::TurnOff),
                    ("light.kitchen_spots", Action::TurnOff),
                    ("light.under_cabinet", Action::TurnOff),
                ],
                "Turned off 3 lights in the kitchen.",
            ),
            // Area-wide without a domain: lights, switches, fans only.
            (
                u("HassTurnOff", &[("area", s("kitchen"))]),
                vec![
                    ("light.kitchen_light", Action::TurnOff),
                    ("light.kitchen_spots", Action::TurnOff),
                    ("light.under_cabinet", Action::TurnOff),
                    ("switch.kettle", Action::TurnOff),
                ],
                "Turned off 4 devices in the kitchen.",
            ),
            // Covers open, locks lock (Home Assistant's HassTurnOn mapping).
            (
                u("HassTurnOn", &[("name", s("living room blinds"))]),
                vec![("cover.living_room_blinds", Action::Open)],
                "Opened the living room blinds.",
            ),
            (
                u("HassTurnOff", &[("name", s("Front Door"))]),
                vec![("lock.front_door", Action::Unlock)],
                "Unlocked the front door.",
            ),
            // Toggle resolved from state: kitchen light is on -> off; front door locked -> unlock.
            (
                u("HassToggle", &[("name", s("kitchen light"))]),
                vec![("light.kitchen_light", Action::TurnOff)],
                "Turned off the kitchen light.",
            ),
            (
                u("HassToggle", &[("name", s("front door lock"))]),
                vec![("lock.front_door", Action::Unlock)],
                "Unlocked the front door.",
            ),
            // Same name in two areas, disambiguated by the area slot.
            (
                u("HassTurnOn", &[("name", s("Lamp")), ("area", s("Bedroom"))]),
                vec![("light.bedroom_lamp", Action::TurnOn)],
                "Turned on the lamp.",
            ),
            // A name that is an area.
            (
                u("HassTurnOn", &[("name", s("lounge")), ("domain", s("light"))]),
                vec![("light.living_room_lamp", Action::TurnOn)],
                "Turned on the lamp.",
            ),
            // Floor.
            (
                u("HassTurnOn", &[("floor", s("upstairs")), ("domain", s("light"))]),
                vec![("light.bedroom_lamp", Action::TurnOn)],
                "Turned on the lamp.",
            ),
            (
                u("HassLightSet", &[("name", s("kitchen light")), ("brightness", json!(40))]),
                vec![("light.kitchen_light", Action::Brightness { percent: 40 })],
                "Set the kitchen light to 40%.",
            ),
            (
                u("HassLightSet", &[("name", s("kitchen light")), ("color", s("red"))]),
                vec![("light.kitchen_light", Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } })],
                "Set the kitchen light to red.",
            ),
            (
                u("HassLightSet", &[("name", s("kitchen light")), ("temperature", json!(2700))]),
                vec![("light.kitchen_light", Action::ColorTemp { kelvin: 2700 })],
                "Set the kitchen light to 2700 K.",
            ),
            (
                u("HassClimateSetTemperature", &[("temperature", json!(21))]),
                vec![("climate.living_room_thermostat", Action::TargetTemperature { celsius: 21.0 })],
                "Set the living room thermostat to 21 °C.",
            ),
            (
                u("HassSetPosition", &[("name", s("living room blinds")), ("position", json!(40))]),
                vec![("cover.living_room_blinds", Action::Position { percent: 40 })],
                "Set the living room blinds to 40%.",
            ),
            (
                u("HassClimateGetTemperature", &[("area", s("Living Room"))]),
                vec![],
                "The living room temperature is 21.5 °C.",
            ),
            (u("HassClimateGetTemperature", &[("area", s("bedroom"))]), vec![], "The bedroom temperature is 18 °C."),
            (
                u("HassGetState", &[("name", s("front door")), ("state", s("locked"))]),
                vec![],
                "Yes, the front door is locked.",
            ),
            (
                u("HassGetState", &[("name", s("kitchen spots")), ("state", s("on"))]),
                vec![],
                "No, the kitchen spots is off.",
            ),
            (u("HassGetState", &[("name", s("living room blinds"))]), vec![], "The living room blinds is 40% open."),
            (u("HassStartTimer", &[("minutes", json!(5))]), vec![], "Timer set for 5 minutes."),
            (u("HassNevermind", &[]), vec![], ""),
        ];
        for (req, want_cmds, want_reply) in cases {
            let p = plan(&req, &reg, &states).unwrap_or_else(|e| panic!("{req:?}: {e}"));
            assert_eq!(ids(&p), want_cmds, "{req:?}");
            assert_eq!(p.reply, want_reply, "{req:?}");
            for c in &p.commands {
                assert!(!matches!(c.action, Action::Toggle));
            }
        }
    }

    #[test]
    fn entities_take_precedence() {
        let reg = demo();
        let mut req = u("HassTurnOn", &[("name", json!("something else"))]);
        req.entities = vec!["light.bedroom_lamp".into(), "switch.kettle".into()];
        let p = plan(&req, &reg, &states).unwrap();
        assert_eq!(ids(&p), vec![("light.bedroom_lamp", Action::TurnOn), ("switch.kettle", Action::TurnOn)]);
        assert_eq!(p.reply, "Turned on 2 devices.");
    }

    #[test]
    fn errors() {
        let reg = demo();
        let s = |v: &str| json!(v);
        let e = plan(&u("HassTurnOn", &[("name", s("attic fan"))]), &reg, &states).unwrap_err();
        assert_eq!(e, SkillError::UnknownDevice("attic fan".into()));
        assert_eq!(e.reply(), "Sorry, I don't know a device called the attic fan.");
        let mut req = u("HassTurnOn", &[]);
        req.entities = vec!["light.nope".into()];
        assert_eq!(plan(&req, &reg, &states).unwrap_err(), SkillError::UnknownDevice("light.nope".into()));
        assert!(matches!(
            plan(&u("HassTurnOn", &[("name", s("Lamp"))]), &reg, &states),
            Err(SkillError::Ambiguous { .. })
        ));
        assert!(matches!(
            plan(&u("HassTurnOn", &[("area", s("garage"))]), &reg, &states),
            Err(SkillError::UnknownArea(_))
        ));
        assert!(matches!(plan(&u("HassTurnOn", &[]), &reg, &states), Err(SkillError::MissingSlot { .. })));
        assert!(matches!(plan(&u("HassDance", &[]), &reg, &states), Err(SkillError::UnknownIntent(_))));
        // Colour on a Tasmota light without the colour feature.
        let e =
            plan(&u("HassLightSet", &[("name", s("kitchen spots")), ("color", s("red"))]), &reg, &states).unwrap_err();
        assert!(matches!(&e, SkillError::Unsupported { device, .. } if device == "Kitchen Spots"), "{e:?}");
        assert!(matches!(
            plan(&u("HassLightSet", &[("name", s("kitchen light")), ("color", s("blurple"))]), &reg, &states),
            Err(SkillError::BadSlot { slot: "color", .. })
        ));
        assert!(matches!(
            plan(&u("HassLightSet", &[("name", s("kitchen light")), ("brightness", json!(140))]), &reg, &states),
            Err(SkillError::BadSlot { .. })
        ));
        // Toggle with unknown state.
        assert!(matches!(
            plan(&u("HassToggle", &[("name", s("kettle"))]), &reg, &states),
            Err(SkillError::UnknownState(_))
        ));
        // A sensor cannot be switched.
        assert!(matches!(
            plan(&u("HassTurnOn", &[("name", s("bedroom temperature"))]), &reg, &states),
            Err(SkillError::Unsupported { .. })
        ));
    }

    #[test]
    fn fold_names() {
        assert_eq!(fold("  Kitchen-Light! "), "kitchen light");
        assert_eq!(fold("Anna's Lamp"), "annas lamp");
        assert_eq!(fold("living_room"), "living room");
        assert_eq!(color_rgb("Light Blue"), Some(Rgb { r: 173, g: 216, b: 230 }));
    }
}
