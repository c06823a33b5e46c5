//! A device's state in Home Assistant's words: the state string (`on`,
//! `off`, `locked`, `open`, `home`, `21.5`, `unavailable`, `unknown`) and
//! its attributes, which is what `state` / `numeric_state` triggers and
//! conditions and the `trigger.to_state` template variable compare.
use firmware_bridge::{DeviceKind, DeviceState};
use serde_json::{Map, Value, json};

/// The Home Assistant state string of a device of `kind`.
pub fn state_string(kind: DeviceKind, st: Option<&DeviceState>) -> String {
    let Some(st) = st else { return "unknown".into() };
    if st.available == Some(false) {
        return "unavailable".into();
    }
    let on_off = |b: Option<bool>| b.map(|b| if b { "on" } else { "off" }.to_string());
    let s = match kind {
        DeviceKind::Lock => st.locked.map(|l| if l { "locked" } else { "unlocked" }.to_string()),
        DeviceKind::MediaPlayer | DeviceKind::Vacuum | DeviceKind::LawnMower => {
            st.activity.clone().or_else(|| on_off(st.on))
        }
        DeviceKind::Weather => match &st.value {
            Some(Value::Object(o)) => o.get("condition").and_then(Value::as_str).map(str::to_string),
            _ => value_text(st),
        },
        DeviceKind::Cover | DeviceKind::Valve => {
            st.position.map(|p| p > 0).or(st.on).map(|o| if o { "open" } else { "closed" }.to_string())
        }
        DeviceKind::Climate => st.on.map(|o| if o { "heat" } else { "off" }.to_string()).or_else(|| value_text(st)),
        DeviceKind::Sensor | DeviceKind::Person => {
            value_text(st).or_else(|| st.current_temperature.map(|t| t.to_string())).or_else(|| on_off(st.on))
        }
        _ => on_off(st.on).or_else(|| value_text(st)),
    };
    s.unwrap_or_else(|| "unknown".into())
}

fn value_text(st: &DeviceState) -> Option<String> {
    match st.value.as_ref()? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        Value::Bool(b) => Some(if *b { "on" } else { "off" }.into()),
        Value::Object(o) => o.get("state").and_then(Value::as_str).map(str::to_string),
        other => Some(other.to_string()),
    }
}

/// The attributes Home Assistant would show: `brightness` (0–255),
/// `brightness_pct`, `rgb_color`, `color_temp_kelvin`, `current_temperature`,
/// `temperature` (the target), `current_position`, `value`, `percentage`,
/// `fan_mode`, `volume_level` (0–1), `is_volume_muted`.
pub fn attributes(st: Option<&DeviceState>) -> Map<String, Value> {
    let mut m = Map::new();
    let Some(st) = st else { return m };
    if let Some(p) = st.brightness_pct {
        m.insert("brightness".into(), json!(((p as f64) * 255.0 / 100.0).round() as u64));
        m.insert("brightness_pct".into(), json!(p));
    }
    if let Some(c) = st.rgb {
        m.insert("rgb_color".into(), json!([c.r, c.g, c.b]));
    }
    if let Some(k) = st.color_temp_kelvin {
        m.insert("color_temp_kelvin".into(), json!(k));
    }
    if let Some(t) = st.current_temperature {
        m.insert("current_temperature".into(), json!(t));
    }
    if let Some(t) = st.target_temperature {
        m.insert("temperature".into(), json!(t));
    }
    if let Some(p) = st.position {
        m.insert("current_position".into(), json!(p));
    }
    if let Some(v) = &st.value {
        m.insert("value".into(), v.clone());
    }
    if let Some(p) = st.fan_speed_pct {
        m.insert("percentage".into(), json!(p));
    }
    if let Some(f) = &st.fan_mode {
        m.insert("fan_mode".into(), json!(f));
    }
    if let Some(v) = st.volume_pct {
        m.insert("volume_level".into(), json!(f64::from(v) / 100.0));
    }
    if let Some(muted) = st.muted {
        m.insert("is_volume_muted".into(), json!(muted));
    }
    m
}

/// `{entity_id, state, attributes}`: the `trigger.to_state` shape.
pub fn state_object(entity_id: &str, kind: DeviceKind, st: Option<&DeviceState>) -> Value {
    json!({
        "entity_id": entity_id,
        "state": state_string(kind, st),
        "attributes": Value::Object(attributes(st)),
    })
}

/// The value a `state` trigger or condition compares: the state string, or
/// an attribute rendered as text (`None` when the attribute is absent).
pub fn compared(kind: DeviceKind, st: Option<&DeviceState>, attribute: Option<&str>) -> Option<String> {
    match attribute {
        None => Some(state_string(kind, st)),
        Some(a) => attributes(st).get(a).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    }
}

/// The number a `numeric_state` trigger or condition compares.
pub fn numeric(kind: DeviceKind, st: Option<&DeviceState>, attribute: Option<&str>) -> Option<f64> {
    match attribute {
        None => state_string(kind, st).parse().ok(),
        Some(a) => attributes(st).get(a).and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))),
    }
}

/// Whether `x` is within `above`/`below` (both exclusive, as in Home Assistant).
pub fn in_range(x: Option<f64>, above: Option<f64>, below: Option<f64>) -> bool {
    match x {
        None => false,
        Some(x) => above.is_none_or(|a| x > a) && below.is_none_or(|b| x < b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_per_kind() {
        let on = DeviceState { on: Some(true), brightness_pct: Some(50), ..Default::default() };
        assert_eq!(state_string(DeviceKind::Light, Some(&on)), "on");
        assert_eq!(state_string(DeviceKind::Light, None), "unknown");
        let locked = DeviceState { locked: Some(true), ..Default::default() };
        assert_eq!(state_string(DeviceKind::Lock, Some(&locked)), "locked");
        let cover = DeviceState { position: Some(0), ..Default::default() };
        assert_eq!(state_string(DeviceKind::Cover, Some(&cover)), "closed");
        let away = DeviceState { value: Some(json!("not_home")), ..Default::default() };
        assert_eq!(state_string(DeviceKind::Person, Some(&away)), "not_home");
        let t = DeviceState { value: Some(json!(21.5)), ..Default::default() };
        assert_eq!(numeric(DeviceKind::Sensor, Some(&t), None), Some(21.5));
        let gone = DeviceState { on: Some(true), available: Some(false), ..Default::default() };
        assert_eq!(state_string(DeviceKind::Switch, Some(&gone)), "unavailable");
        assert_eq!(numeric(DeviceKind::Light, Some(&on), Some("brightness")), Some(128.0));
        assert!(in_range(Some(5.0), Some(4.0), None) && !in_range(Some(4.0), Some(4.0), None));
    }
}
