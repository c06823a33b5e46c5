//! Does this event (or this tick of the clock) fire this trigger? Each match
//! returns the `trigger` template variable, in Home Assistant's shape.
use serde_json::{Value, json};

use super::schema::{Pattern, SunEvent, Trigger, TriggerKind};
use super::state::{compared, in_range, numeric, state_object};
use super::{Event, Now, sun};
use crate::registry::Registry;
use firmware_bridge::{DeviceKind, DeviceState};

fn kind_of(reg: &Registry, entity: &str) -> DeviceKind {
    reg.device(entity).map(|d| d.kind).unwrap_or(DeviceKind::Sensor)
}

fn base(t: &Trigger, idx: usize, platform: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("platform".into(), json!(platform));
    m.insert("id".into(), json!(t.id.clone().unwrap_or_else(|| idx.to_string())));
    m.insert("idx".into(), json!(idx.to_string()));
    m
}

/// Parse `"HH:MM"` or `"HH:MM:SS"` into seconds since midnight.
pub fn parse_clock(s: &str) -> Option<u32> {
    let p: Vec<&str> = s.trim().split(':').collect();
    if !(2..=3).contains(&p.len()) {
        return None;
    }
    let n = |x: &str, max: u32| x.parse::<u32>().ok().filter(|v| *v < max);
    let (h, m) = (n(p[0], 24)?, n(p[1], 60)?);
    let s = if p.len() == 3 { n(p[2], 60)? } else { 0 };
    Some(h * 3600 + m * 60 + s)
}

/// MQTT topic filter matching (`+` one level, `#` the rest).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The trigger variable if `ev` fires `t` (before any `for` wait).
pub fn on_event(t: &Trigger, idx: usize, ev: &Event, reg: &Registry) -> Option<Value> {
    match (&t.kind, ev) {
        (TriggerKind::State { entity_id, attribute, from, to, for_ }, Event::State { entity_id: e, old, new }) => {
            if !entity_id.contains(e) {
                return None;
            }
            let k = kind_of(reg, e);
            let a = attribute.as_deref();
            let (o, n) = (compared(k, old.as_deref(), a), compared(k, Some(new), a));
            if from.is_none() && to.is_none() {
                // Any change of the state (or, without `attribute`, of any attribute).
                if old.as_deref() == Some(new) || (a.is_some() && o == n) {
                    return None;
                }
            } else if o == n {
                return None;
            }
            if from.as_ref().is_some_and(|f| !o.as_deref().is_some_and(|o| f.contains(o))) {
                return None;
            }
            if to.as_ref().is_some_and(|t| !n.as_deref().is_some_and(|n| t.contains(n))) {
                return None;
            }
            let mut m = base(t, idx, "state");
            m.insert("entity_id".into(), json!(e));
            m.insert("from_state".into(), state_object(e, k, old.as_deref()));
            m.insert("to_state".into(), state_object(e, k, Some(new)));
            m.insert("attribute".into(), json!(attribute));
            m.insert("for".into(), json!(for_.map(|d| d.0 as f64 / 1000.0)));
            Some(Value::Object(m))
        }
        (
            TriggerKind::NumericState { entity_id, attribute, above, below, for_ },
            Event::State { entity_id: e, old, new },
        ) => {
            if !entity_id.contains(e) {
                return None;
            }
            let k = kind_of(reg, e);
            let a = attribute.as_deref();
            let was = in_range(numeric(k, old.as_deref(), a), *above, *below);
            let is = in_range(numeric(k, Some(new), a), *above, *below);
            if was || !is {
                return None;
            }
            let mut m = base(t, idx, "numeric_state");
            m.insert("entity_id".into(), json!(e));
            m.insert("from_state".into(), state_object(e, k, old.as_deref()));
            m.insert("to_state".into(), state_object(e, k, Some(new)));
            m.insert("above".into(), json!(above));
            m.insert("below".into(), json!(below));
            m.insert("for".into(), json!(for_.map(|d| d.0 as f64 / 1000.0)));
            Some(Value::Object(m))
        }
        (TriggerKind::Event { camera, label, zone, min_score, types }, Event::Camera { kind, after }) => {
            let s = |k: &str| after.get(k).and_then(Value::as_str).unwrap_or("");
            let wanted = types.as_ref().map_or(kind == "new" || kind == "update", |t| t.contains(kind));
            if !wanted
                || camera.as_ref().is_some_and(|c| !c.contains(s("camera")))
                || label.as_ref().is_some_and(|l| !l.contains(s("label")))
            {
                return None;
            }
            let score = after.get("top_score").or_else(|| after.get("score")).and_then(Value::as_f64).unwrap_or(0.0);
            if min_score.is_some_and(|m| score < m) {
                return None;
            }
            if let Some(z) = zone {
                let entered = after.get("entered_zones").and_then(Value::as_array);
                if !entered.is_some_and(|zs| zs.iter().any(|x| x.as_str() == Some(z))) {
                    return None;
                }
            }
            let mut m = base(t, idx, "event");
            m.insert("type".into(), json!(kind));
            m.insert("camera".into(), json!(s("camera")));
            m.insert("event".into(), after.clone());
            Some(Value::Object(m))
        }
        (TriggerKind::Motion { camera, to }, Event::Motion { camera: c, on }) => {
            if camera.as_ref().is_some_and(|x| !x.contains(c)) {
                return None;
            }
            let state = if *on { "on" } else { "off" };
            if to.as_deref().is_some_and(|t| t != state) {
                return None;
            }
            let mut m = base(t, idx, "motion");
            m.insert("camera".into(), json!(c));
            m.insert("to".into(), json!(state));
            Some(Value::Object(m))
        }
        (TriggerKind::Mqtt { topic, payload }, Event::Mqtt { topic: tp, payload: p }) => {
            if !topic_matches(topic, tp) || payload.as_ref().is_some_and(|x| x != p) {
                return None;
            }
            let mut m = base(t, idx, "mqtt");
            m.insert("topic".into(), json!(tp));
            m.insert("payload".into(), json!(p));
            if let Ok(j) = serde_json::from_str::<Value>(p) {
                m.insert("payload_json".into(), j);
            }
            Some(Value::Object(m))
        }
        (TriggerKind::HubdStart {}, Event::Start) => Some(Value::Object(base(t, idx, "hubd_start"))),
        _ => None,
    }
}

/// Whether a pending `for` still holds after `new` (a later state of the
/// same entity): the trigger's `to`/range still matches.
pub fn still_holds(t: &Trigger, reg: &Registry, entity: &str, new: &DeviceState) -> bool {
    let k = kind_of(reg, entity);
    match &t.kind {
        TriggerKind::State { to: Some(to), attribute, .. } => {
            compared(k, Some(new), attribute.as_deref()).is_some_and(|n| to.contains(&n))
        }
        TriggerKind::State { .. } => false,
        TriggerKind::NumericState { attribute, above, below, .. } => {
            in_range(numeric(k, Some(new), attribute.as_deref()), *above, *below)
        }
        _ => true,
    }
}

/// The `for` duration of a trigger, in ms.
pub fn for_ms(t: &Trigger) -> Option<u64> {
    match &t.kind {
        TriggerKind::State { for_, .. } | TriggerKind::NumericState { for_, .. } => for_.map(|d| d.0),
        _ => None,
    }
}

/// Whether the local clock crossed `at` (seconds since midnight) in
/// `(prev, now]`, at most one day apart.
fn crossed(prev: &Now, now: &Now, at: u32) -> bool {
    match now.local_days() - prev.local_days() {
        0 => prev.secs < at && at <= now.secs,
        1 => at > prev.secs || at <= now.secs,
        _ => false,
    }
}

/// Sunrise/sunset (plus offset) that fall in `(prev.ms, now.ms]`.
fn sun_crossed(prev: &Now, now: &Now, ev: SunEvent, offset: i64, home: (f64, f64)) -> bool {
    // The event of the local day before, of today and of tomorrow: an offset
    // can move it across midnight.
    (-1..=1).any(|d| {
        let (y, m, dd) = super::civil_from_days(now.local_days() + d);
        let t = sun::sun_times(y, m, dd, home.0, home.1);
        let at = match ev {
            SunEvent::Sunrise => t.sunrise,
            SunEvent::Sunset => t.sunset,
        };
        at.is_some_and(|a| prev.ms < a + offset && a + offset <= now.ms)
    })
}

/// The trigger variable if the clock moving from `prev` to `now` fires `t`.
pub fn on_tick(t: &Trigger, idx: usize, prev: &Now, now: &Now, home: Option<(f64, f64)>) -> Option<Value> {
    let fired = match &t.kind {
        TriggerKind::Time { at } => at.0.iter().filter_map(|a| parse_clock(a)).any(|a| crossed(prev, now, a)),
        TriggerKind::Sun { event, offset } => home.is_some_and(|h| sun_crossed(prev, now, *event, offset.0, h)),
        TriggerKind::TimePattern { hours, minutes, seconds } => {
            let gap = (now.ms - prev.ms).clamp(0, 3_600_000) / 1000;
            let (h, m, s) = (hours.unwrap_or(Pattern::Any), minutes.unwrap_or(Pattern::Any), seconds);
            // Home Assistant: an unset `seconds` means 0 when hours/minutes are set.
            let s = s.unwrap_or(if hours.is_some() || minutes.is_some() { Pattern::At(0) } else { Pattern::Any });
            (0..gap).any(|k| {
                let x = (now.secs + 86_400 - k as u32) % 86_400;
                h.matches(x / 3600) && m.matches(x / 60 % 60) && s.matches(x % 60)
            })
        }
        _ => false,
    };
    if !fired {
        return None;
    }
    let platform = match &t.kind {
        TriggerKind::Time { .. } => "time",
        TriggerKind::Sun { .. } => "sun",
        _ => "time_pattern",
    };
    let mut m = base(t, idx, platform);
    m.insert("now".into(), json!(now.iso()));
    if let TriggerKind::Sun { event, offset } = &t.kind {
        m.insert("event".into(), json!(event));
        m.insert("offset".into(), json!(offset.0 as f64 / 1000.0));
    }
    Some(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_clock() {
        assert!(topic_matches("home/+/state", "home/garage/state"));
        assert!(topic_matches("home/#", "home/garage/door/state"));
        assert!(!topic_matches("home/+", "home/garage/state"));
        assert!(!topic_matches("home/garage", "home/garage/state"));
        assert_eq!(parse_clock("07:30"), Some(27_000));
        assert_eq!(parse_clock("23:59:59"), Some(86_399));
        assert_eq!(parse_clock("24:00"), None);
        assert_eq!(parse_clock("7"), None);
    }

    #[test]
    fn midnight_crossing() {
        let prev = Now::at(86_400_000 - 1000, 0); // 23:59:59
        let now = Now::at(86_400_000 + 1000, 0); // 00:00:01 next day
        assert!(crossed(&prev, &now, 0));
        assert!(!crossed(&prev, &now, 86_399), "23:59:59 was reached before prev");
        assert!(!crossed(&prev, &now, 3600));
    }
}
