//! Conditions, evaluated against the home's states and the clock.
use serde_json::Value;

use super::schema::{Condition, SunEvent};
use super::state::{compared, in_range, numeric};
use super::trigger::parse_clock;
use super::{Now, render, sun};
use crate::registry::Registry;
use firmware_bridge::{DeviceKind, DeviceState};

/// What a condition can look at.
pub struct Ctx<'a> {
    pub reg: &'a Registry,
    pub states: &'a dyn Fn(&str) -> Option<DeviceState>,
    /// Since when (unix ms) an entity has had its current state string.
    pub since: &'a dyn Fn(&str) -> Option<i64>,
    pub now: Now,
    pub home: Option<(f64, f64)>,
    /// The run's variables (with `trigger`).
    pub vars: &'a Value,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn kind(reg: &Registry, e: &str) -> DeviceKind {
    reg.device(e).map(|d| d.kind).unwrap_or(DeviceKind::Sensor)
}

fn opt<T: std::fmt::Display>(label: &str, v: Option<T>) -> String {
    v.map(|v| format!(" {label} {v}")).unwrap_or_default()
}

/// A one-line description for traces.
pub fn describe(c: &Condition) -> String {
    let sun = |e: &Option<SunEvent>, off: i64| {
        e.map(|e| {
            let name = if e == SunEvent::Sunrise { "sunrise" } else { "sunset" };
            if off == 0 { name.to_string() } else { format!("{name} {:+} min", off / 60_000) }
        })
    };
    match c {
        Condition::State { entity_id, state, .. } => {
            format!("state {} is {}", entity_id.0.join(", "), state.0.join("/"))
        }
        Condition::NumericState { entity_id, above, below, .. } => {
            format!("numeric_state {}{}{}", entity_id.0.join(", "), opt("above", *above), opt("below", *below))
        }
        Condition::Time { after, before, weekday } => format!(
            "time{}{}{}",
            opt("after", after.as_deref()),
            opt("before", before.as_deref()),
            opt("on", weekday.as_ref().map(|w| w.0.join(", ")))
        ),
        Condition::Sun { after, after_offset, before, before_offset } => {
            format!("sun{}{}", opt("after", sun(after, after_offset.0)), opt("before", sun(before, before_offset.0)))
        }
        Condition::Zone { entity_id, zone } => format!("zone {} in {zone}", entity_id.0.join(", ")),
        Condition::And { conditions } => format!("and ({})", conditions.len()),
        Condition::Or { conditions } => format!("or ({})", conditions.len()),
        Condition::Not { conditions } => format!("not ({})", conditions.len()),
        Condition::Trigger { id } => format!("trigger id {}", id.0.join("/")),
        Condition::Template { value_template } => format!("template {value_template}"),
    }
}

/// Evaluate a condition. Errors (a template that fails) count as false for
/// the caller, with the message in the trace.
pub fn check(c: &Condition, ctx: &Ctx) -> Result<bool, String> {
    Ok(match c {
        Condition::State { entity_id, state, attribute, for_ } => entity_id.0.iter().all(|e| {
            let st = (ctx.states)(e);
            let ok = compared(kind(ctx.reg, e), st.as_ref(), attribute.as_deref()).is_some_and(|s| state.contains(&s));
            let long_enough = for_.is_none_or(|f| (ctx.since)(e).is_some_and(|since| ctx.now.ms - since >= f.0 as i64));
            ok && long_enough
        }),
        Condition::NumericState { entity_id, attribute, above, below } => entity_id.0.iter().all(|e| {
            let st = (ctx.states)(e);
            in_range(numeric(kind(ctx.reg, e), st.as_ref(), attribute.as_deref()), *above, *below)
        }),
        Condition::Time { after, before, weekday } => {
            let t = ctx.now.secs;
            let a = after.as_deref().and_then(parse_clock);
            let b = before.as_deref().and_then(parse_clock);
            let in_time = match (a, b) {
                (Some(a), Some(b)) if a > b => t >= a || t < b, // wraps midnight
                (a, b) => a.is_none_or(|a| t >= a) && b.is_none_or(|b| t < b),
            };
            let day = WEEKDAYS[ctx.now.weekday as usize % 7];
            in_time && weekday.as_ref().is_none_or(|w| w.contains(day))
        }
        Condition::Sun { after, after_offset, before, before_offset } => {
            let Some((lat, lon)) = ctx.home else {
                return Err("sun condition needs [home] latitude and longitude".into());
            };
            let t = sun::sun_times(ctx.now.year, ctx.now.month, ctx.now.day, lat, lon);
            let at = |e: SunEvent| match e {
                SunEvent::Sunrise => t.sunrise,
                SunEvent::Sunset => t.sunset,
            };
            let a = after.map(|e| at(e).map(|x| x + after_offset.0));
            let b = before.map(|e| at(e).map(|x| x + before_offset.0));
            let now = ctx.now.ms;
            match (a, b) {
                (Some(None), _) | (_, Some(None)) => false,
                // after sunset, before sunrise: the night, across midnight.
                (Some(Some(a)), Some(Some(b))) if a > b => now >= a || now < b,
                (a, b) => a.flatten().is_none_or(|a| now >= a) && b.flatten().is_none_or(|b| now < b),
            }
        }
        Condition::Zone { entity_id, zone } => {
            let z = zone.strip_prefix("zone.").unwrap_or(zone);
            entity_id.0.iter().all(|e| compared(kind(ctx.reg, e), (ctx.states)(e).as_ref(), None).as_deref() == Some(z))
        }
        Condition::And { conditions } => {
            for c in conditions {
                if !check(c, ctx)? {
                    return Ok(false);
                }
            }
            true
        }
        Condition::Or { conditions } => {
            for c in conditions {
                if check(c, ctx)? {
                    return Ok(true);
                }
            }
            false
        }
        Condition::Not { conditions } => {
            for c in conditions {
                if check(c, ctx)? {
                    return Ok(false);
                }
            }
            true
        }
        Condition::Trigger { id } => {
            let tid = ctx.vars.get("trigger").and_then(|t| t.get("id")).and_then(Value::as_str).unwrap_or("");
            id.contains(tid)
        }
        Condition::Template { value_template } => {
            render::truthy(&render::render(value_template, ctx.vars, ctx.reg, ctx.states)?)
        }
    })
}
