//! Shared checks for incoming payloads and outgoing values: size limit,
//! UTF-8, JSON, range checks. Every error names the topic or field.
use serde_json::Value;

use crate::{Action, BridgeError, DeviceCommand, DeviceKind, Outgoing};

/// Largest state payload the bridge parses. Real firmware state messages are
/// a few hundred bytes (a Tasmota `tele/STATE` is under 1 KiB); anything this
/// large is garbage or an attack, refused before it is even decoded.
pub const MAX_STATE_PAYLOAD: usize = 64 * 1024;

/// Size check, then UTF-8 decode. Leading/trailing whitespace is trimmed.
pub(crate) fn text<'a>(topic: &str, payload: &'a [u8]) -> Result<&'a str, BridgeError> {
    if payload.len() > MAX_STATE_PAYLOAD {
        return Err(BridgeError::TooLarge { topic: topic.to_string(), len: payload.len(), limit: MAX_STATE_PAYLOAD });
    }
    std::str::from_utf8(payload)
        .map(str::trim)
        .map_err(|e| BridgeError::BadPayload { topic: topic.to_string(), reason: format!("not UTF-8 ({e})") })
}

/// Parse a JSON object payload.
pub(crate) fn json_object(topic: &str, s: &str) -> Result<serde_json::Map<String, Value>, BridgeError> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(bad(topic, format!("expected a JSON object, got {}", json_type(&other)))),
        Err(e) => Err(bad(topic, format!("invalid JSON: {e}"))),
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn bad(topic: &str, reason: impl Into<String>) -> BridgeError {
    BridgeError::BadPayload { topic: topic.to_string(), reason: reason.into() }
}

/// A state value outside its documented range.
pub(crate) fn out_of_range(field: &'static str, value: impl ToString, range: &'static str) -> BridgeError {
    BridgeError::OutOfRange { field, value: value.to_string(), range }
}

pub(crate) fn unsupported(dialect: &'static str, cmd: &DeviceCommand, action: &Action) -> BridgeError {
    BridgeError::Unsupported {
        dialect,
        kind: cmd.kind.domain(),
        device: cmd.device_id.clone(),
        action: action.describe(),
    }
}

pub(crate) fn msg(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Outgoing {
    Outgoing { topic: topic.into(), payload: payload.into(), retain: false }
}

pub(crate) fn json_msg(topic: impl Into<String>, v: &Value) -> Outgoing {
    msg(topic, v.to_string().into_bytes())
}

/// A percentage 0..=100.
pub(crate) fn check_pct(field: &'static str, p: u8) -> Result<u8, BridgeError> {
    if p > 100 {
        return Err(out_of_range(field, p, "0..=100 %"));
    }
    Ok(p)
}

/// Percent -> a 0..=max device scale, rounded to nearest.
pub(crate) fn pct_to_scale(p: u8, max: u32) -> u32 {
    (u32::from(p) * max + 50) / 100
}

/// A 0..=max device scale -> percent, rounded to nearest.
pub(crate) fn scale_to_pct(v: u64, max: u64) -> u8 {
    // v <= max is checked by callers, so the result is <= 100.
    ((v * 100 + max / 2) / max).min(100) as u8
}

/// Percent -> one of `n` discrete speeds (1..=n; 0 % is 0, off), as Home
/// Assistant's `util/percentage.py` `percentage_to_ordered_list_item` does
/// (for 3 speeds: 1..=33 % low, 34..=66 % medium, 67..=100 % high).
pub(crate) fn pct_to_step(p: u8, n: u8) -> u8 {
    if p == 0 || n == 0 {
        return 0;
    }
    (1..=n).find(|s| u32::from(p) <= u32::from(*s) * 100 / u32::from(n)).unwrap_or(n)
}

/// A discrete speed 0..=n -> percent, as Home Assistant's
/// `ordered_list_item_to_percentage` (3 speeds: 33, 66, 100 %), so
/// `pct_to_step(step_to_pct(s))` is `s`.
pub(crate) fn step_to_pct(s: u8, n: u8) -> u8 {
    if n == 0 {
        return 0;
    }
    (u32::from(s.min(n)) * 100 / u32::from(n)) as u8
}

/// A climate fan mode as the device's `features.fan_modes` spells it (the
/// check that it is one of them is case-insensitive; custom ESPHome modes
/// match exactly).
pub(crate) fn fan_mode_name<'a>(cmd: &'a DeviceCommand, mode: &'a str) -> &'a str {
    cmd.features.fan_modes.iter().find(|m| m.eq_ignore_ascii_case(mode)).map_or(mode, String::as_str)
}

/// Home Assistant's activity words per kind: `VacuumActivity`,
/// `LawnMowerActivity`, `MediaPlayerState`.
pub(crate) fn activity_words(kind: DeviceKind) -> &'static [&'static str] {
    match kind {
        DeviceKind::Vacuum => &["cleaning", "docked", "returning", "paused", "idle", "error"],
        DeviceKind::LawnMower => &["mowing", "docked", "returning", "paused", "idle", "error"],
        DeviceKind::MediaPlayer => &["playing", "paused", "idle", "off", "on", "standby", "buffering"],
        _ => &[],
    }
}

/// A state word for `kind`'s activity, checked against Home Assistant's
/// list.
pub(crate) fn activity(topic: &str, kind: DeviceKind, word: &str) -> Result<String, BridgeError> {
    let words = activity_words(kind);
    if words.contains(&word) {
        Ok(word.to_string())
    } else {
        Err(bad(topic, format!("{} state should be one of {}, got `{}`", kind.domain(), words.join("|"), clip(word))))
    }
}

/// Colour temperature the bridge accepts at all: 1000..=10000 K.
pub(crate) fn check_kelvin(k: u32) -> Result<u32, BridgeError> {
    if !(1000..=10_000).contains(&k) {
        return Err(out_of_range("color_temp", format!("{k} K"), "1000..=10000 K"));
    }
    Ok(k)
}

/// Target temperatures the bridge sends: finite, 4..=35 °C (the span of
/// thermostats' own limits: TRVs 5..30, HVAC 16..32).
pub(crate) fn check_celsius(c: f32) -> Result<f32, BridgeError> {
    if !c.is_finite() || !(4.0..=35.0).contains(&c) {
        return Err(out_of_range("target_temperature", format!("{c} °C"), "4..=35 °C"));
    }
    Ok(c)
}

/// Format a temperature the way firmware prints it: no trailing zeros
/// ("21", "21.5").
pub(crate) fn fmt_temp(c: f32) -> String {
    let r = (c * 10.0).round() / 10.0;
    if r.fract() == 0.0 { format!("{r:.0}") } else { format!("{r:.1}") }
}

/// JSON number for a temperature, rounded to 0.1 so `21.5` stays `21.5`.
pub(crate) fn temp_json(c: f32) -> Value {
    let r = (f64::from(c) * 10.0).round() / 10.0;
    serde_json::Number::from_f64(r).map(Value::Number).unwrap_or(Value::Null)
}

/// Read a JSON number as f32 (finite).
pub(crate) fn num_f32(topic: &str, key: &str, v: &Value) -> Result<f32, BridgeError> {
    match v.as_f64() {
        Some(f) if f.is_finite() => Ok(f as f32),
        _ => Err(bad(topic, format!("`{key}` should be a number, got {}", json_type(v)))),
    }
}

/// Read a JSON non-negative integer (accepting 12.0 too).
pub(crate) fn num_u64(topic: &str, key: &str, v: &Value) -> Result<u64, BridgeError> {
    if let Some(u) = v.as_u64() {
        return Ok(u);
    }
    match v.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f <= u64::MAX as f64 => Ok(f.round() as u64),
        _ => Err(bad(topic, format!("`{key}` should be a non-negative number, got {v}"))),
    }
}

/// Parse a plain-number payload ("21.5").
pub(crate) fn parse_f32(topic: &str, s: &str) -> Result<f32, BridgeError> {
    match s.parse::<f32>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => Err(bad(topic, format!("expected a number, got `{}`", clip(s)))),
    }
}

/// First 40 characters of a payload, for error messages.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().nth(40).is_some() {
        out.push('…');
    }
    out
}

/// A position/percentage number 0..=100 from a state message.
pub(crate) fn state_pct(field: &'static str, v: u64) -> Result<u8, BridgeError> {
    if v > 100 {
        return Err(out_of_range(field, v, "0..=100"));
    }
    Ok(v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_round_trips_every_percent() {
        for max in [100u32, 254, 255] {
            for p in 0..=100u8 {
                let v = pct_to_scale(p, max);
                assert!(v <= max);
                assert_eq!(scale_to_pct(u64::from(v), u64::from(max)), p, "max {max} p {p}");
            }
        }
    }

    #[test]
    fn discrete_speeds_round_trip() {
        // util/percentage.py with 3 ordered speeds.
        let cases = [(0u8, 0u8), (1, 1), (33, 1), (34, 2), (50, 2), (66, 2), (67, 3), (100, 3)];
        for (p, s) in cases {
            assert_eq!(pct_to_step(p, 3), s, "{p} %");
        }
        assert_eq!([step_to_pct(1, 3), step_to_pct(2, 3), step_to_pct(3, 3)], [33, 66, 100]);
        for n in 1..=10u8 {
            for s in 0..=n {
                assert_eq!(pct_to_step(step_to_pct(s, n), n), s, "n {n} s {s}");
            }
        }
    }

    #[test]
    fn text_limits_and_utf8() {
        let big = vec![b'a'; MAX_STATE_PAYLOAD + 1];
        assert!(matches!(text("t", &big), Err(BridgeError::TooLarge { len, .. }) if len == MAX_STATE_PAYLOAD + 1));
        let e = text("x/y", &[0xff, 0xfe]).unwrap_err();
        assert!(matches!(&e, BridgeError::BadPayload { topic, .. } if topic == "x/y"), "{e}");
        assert_eq!(text("t", b" ON\n").unwrap(), "ON");
    }

    #[test]
    fn temperature_formatting() {
        assert_eq!(fmt_temp(21.0), "21");
        assert_eq!(fmt_temp(21.5), "21.5");
        assert_eq!(fmt_temp(19.25), "19.3");
    }
}
