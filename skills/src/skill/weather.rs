//! `HassGetWeather`: the current conditions of a weather entity (fed by a
//! configured MQTT sensor topic), the named one or the home's first.
use firmware_bridge::DeviceKind;
use serde_json::json;

use super::StateLookup;
use crate::Understanding;
use crate::handlers::{Plan, SkillError};
use crate::registry::Registry;
use crate::reply::{celsius_str, weather_condition};
use crate::targets::{everywhere, targets};

pub(crate) fn get_weather(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let t = if !u.entities.is_empty() || u.slots.name_text().is_some() {
        targets(u, reg, &[DeviceKind::Weather])?
    } else {
        everywhere(reg, &[DeviceKind::Weather])
    };
    let Some(d) = t.devices.first() else {
        return Err(SkillError::NoMatch { what: "weather entities".into(), place: String::new() });
    };
    if d.kind != DeviceKind::Weather {
        return Err(SkillError::Unsupported { device: d.name.clone(), what: "tell the weather".into() });
    }
    let st = state(&d.id).unwrap_or_default();
    let condition = weather_condition(&st);
    let reply = match (&condition, st.current_temperature) {
        (Some(c), Some(t)) => format!("{} {}.", celsius_str(t), condition_phrase(c)),
        (None, Some(t)) => format!("{}.", celsius_str(t)),
        (Some(c), None) => {
            format!("It is {}.", condition_phrase(c).trim_start_matches("and ").trim_start_matches("with "))
        }
        (None, None) => return Err(SkillError::UnknownState(d.name.clone())),
    };
    let answer = json!({
        "entity_id": d.id,
        "condition": condition,
        "temperature": st.current_temperature,
        "value": st.value,
    });
    Ok(Plan { commands: vec![], reply, answer: Some(answer), op: None })
}

/// Home Assistant's English phrase for a condition (its `HassGetWeather`
/// response), e.g. `partlycloudy` → "and partly cloudy".
pub(crate) fn condition_phrase(condition: &str) -> String {
    let p = match condition.to_ascii_lowercase().as_str() {
        "clear" | "clear-night" => "and clear",
        "cloudy" => "and cloudy",
        "exceptional" => "and exceptional",
        "fog" => "with fog",
        "hail" => "with hail",
        "lightning" => "with lightning",
        "lightning-rainy" => "with lightning and rain",
        "partlycloudy" => "and partly cloudy",
        "pouring" => "and pouring rain",
        "rainy" => "and raining",
        "snowy" => "and snowing",
        "snowy-rainy" => "with snow and rain",
        "sunny" => "and sunny",
        "windy" => "and windy",
        "windy-variant" => "with wind and clouds",
        other => return format!("and {}", other.replace(['-', '_'], " ")),
    };
    p.to_string()
}
