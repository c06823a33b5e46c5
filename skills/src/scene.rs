//! Scenes (`[[scene]]` in the config): a named set of entity states,
//! activated by "turn on movie night" / "activate movie night"
//! (`HassTurnOn` on a `scene.*` entity) or an automation's `scene.turn_on`.
//!
//! Each entity's state is written as Home Assistant writes scene states: a
//! word (`"on"`, `"off"`, `"open"`, `"closed"`, `"locked"`, `"unlocked"`) or
//! a table with `state` and attributes (`brightness_pct`, `brightness`
//! 0..255, `color_temp_kelvin`, `rgb_color`, `position`/`current_position`,
//! `temperature`, `percentage`, `volume_level` 0..1, `fan_mode`). Any other
//! attribute is refused as not implemented, so a scene never half-applies.
use firmware_bridge::{Action, DeviceKind, Rgb};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scene: the actions that reach each entity's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// `scene.<object>`.
    pub id: String,
    pub targets: Vec<SceneTarget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneTarget {
    pub entity_id: String,
    pub actions: Vec<Action>,
}

/// The actions that bring an entity of `kind` to the written state.
/// Errors name the offending key.
pub fn scene_actions(kind: DeviceKind, state: &Value) -> Result<Vec<Action>, String> {
    let (word, attrs) = match state {
        Value::String(s) => (Some(s.as_str()), None),
        Value::Bool(b) => (Some(if *b { "on" } else { "off" }), None),
        Value::Object(m) => (m.get("state").and_then(Value::as_str), Some(m)),
        other => return Err(format!("expected a state word or a table, found {other}")),
    };
    if let Some(m) = attrs
        && let Some(v) = m.get("state")
        && !v.is_string()
    {
        return Err(format!("`state` must be a word, found {v}"));
    }
    let mut out = Vec::new();
    if let Some(w) = word {
        out.push(state_word(kind, w)?);
    }
    let off = matches!(out.first(), Some(Action::TurnOff | Action::Close | Action::Unlock));
    for (k, v) in attrs.into_iter().flatten() {
        if k == "state" {
            continue;
        }
        if off {
            return Err(format!(
                "`{k}` with state `{}`: an entity that is off takes no attributes",
                word.unwrap_or("")
            ));
        }
        out.push(attribute(k, v)?);
    }
    if out.is_empty() {
        return Err("an empty state: give `state` or an attribute".into());
    }
    Ok(out)
}

fn state_word(kind: DeviceKind, w: &str) -> Result<Action, String> {
    Ok(match (kind, w.trim().to_ascii_lowercase().as_str()) {
        (_, "on") => Action::TurnOn,
        (_, "off") => Action::TurnOff,
        (DeviceKind::Cover | DeviceKind::Valve, "open") => Action::Open,
        (DeviceKind::Cover | DeviceKind::Valve, "closed" | "close") => Action::Close,
        (DeviceKind::Lock, "locked") => Action::Lock,
        (DeviceKind::Lock, "unlocked") => Action::Unlock,
        (DeviceKind::MediaPlayer, "playing") => Action::Play,
        (DeviceKind::MediaPlayer, "paused") => Action::Pause,
        (DeviceKind::Vacuum, "cleaning") | (DeviceKind::LawnMower, "mowing") => Action::Start,
        (DeviceKind::Vacuum | DeviceKind::LawnMower, "docked") => Action::Dock,
        (_, other) => return Err(format!("state `{other}` is not one a {} scene can set", kind.domain())),
    })
}

fn number(k: &str, v: &Value, lo: f64, hi: f64) -> Result<f64, String> {
    match v.as_f64() {
        Some(f) if (lo..=hi).contains(&f) => Ok(f),
        _ => Err(format!("`{k}` must be a number from {lo} to {hi}, found {v}")),
    }
}

fn attribute(k: &str, v: &Value) -> Result<Action, String> {
    Ok(match k {
        "brightness_pct" => Action::Brightness { percent: number(k, v, 0.0, 100.0)?.round() as u8 },
        "brightness" => Action::Brightness { percent: (number(k, v, 0.0, 255.0)? * 100.0 / 255.0).round() as u8 },
        "color_temp_kelvin" => Action::ColorTemp { kelvin: number(k, v, 1000.0, 10000.0)?.round() as u32 },
        "rgb_color" => {
            let c: Option<Vec<u8>> =
                v.as_array().map(|a| a.iter().filter_map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok())).collect());
            match c.as_deref() {
                Some(&[r, g, b]) => Action::Color { rgb: Rgb { r, g, b } },
                _ => return Err(format!("`rgb_color` must be [r, g, b] with 0..255, found {v}")),
            }
        }
        "position" | "current_position" => Action::Position { percent: number(k, v, 0.0, 100.0)?.round() as u8 },
        "temperature" => Action::TargetTemperature { celsius: number(k, v, 4.0, 35.0)? as f32 },
        "percentage" => Action::FanSpeed { percent: number(k, v, 0.0, 100.0)?.round() as u8 },
        "volume_level" => Action::Volume { percent: (number(k, v, 0.0, 1.0)? * 100.0).round() as u8 },
        "fan_mode" => match v.as_str() {
            Some(m) if !m.trim().is_empty() => Action::FanMode { mode: m.trim().to_lowercase() },
            _ => return Err(format!("`fan_mode` must be a mode name, found {v}")),
        },
        other => return Err(format!("attribute `{other}` is not implemented yet")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_become_actions() {
        let light = scene_actions(DeviceKind::Light, &json!({"state": "on", "brightness_pct": 20})).unwrap();
        assert_eq!(light, vec![Action::TurnOn, Action::Brightness { percent: 20 }]);
        let dim = scene_actions(DeviceKind::Light, &json!({"brightness": 255, "color_temp_kelvin": 2700})).unwrap();
        assert_eq!(dim, vec![Action::Brightness { percent: 100 }, Action::ColorTemp { kelvin: 2700 }]);
        assert_eq!(scene_actions(DeviceKind::Cover, &json!("closed")).unwrap(), vec![Action::Close]);
        assert_eq!(scene_actions(DeviceKind::Lock, &json!("locked")).unwrap(), vec![Action::Lock]);
        let tv = scene_actions(DeviceKind::MediaPlayer, &json!({"state": "on", "volume_level": 0.3})).unwrap();
        assert_eq!(tv, vec![Action::TurnOn, Action::Volume { percent: 30 }]);
        let red = scene_actions(DeviceKind::Light, &json!({"rgb_color": [255, 0, 0]})).unwrap();
        assert_eq!(red, vec![Action::Color { rgb: Rgb { r: 255, g: 0, b: 0 } }]);
    }

    #[test]
    fn bad_states_name_the_key() {
        let e = |k, v| scene_actions(k, &v).unwrap_err();
        assert!(e(DeviceKind::Light, json!({"effect": "rainbow"})).contains("`effect` is not implemented yet"));
        assert!(e(DeviceKind::Light, json!({"brightness_pct": 140})).contains("`brightness_pct`"));
        assert!(e(DeviceKind::Light, json!("open")).contains("state `open`"));
        assert!(e(DeviceKind::Light, json!({"state": "off", "brightness_pct": 20})).contains("`brightness_pct`"));
        assert!(e(DeviceKind::Light, json!({"rgb_color": [1, 2]})).contains("rgb_color"));
        assert!(e(DeviceKind::Light, json!({})).contains("empty"));
        assert!(e(DeviceKind::Light, json!(3)).contains("expected a state word"));
    }
}
