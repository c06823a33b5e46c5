//! `HassStartTimer`: a reply and the timer's length; the hub keeps no timers yet.
use serde_json::json;

use crate::Understanding;
use crate::handlers::{Plan, SkillError};
use crate::reply::{and_list, lower};

pub(crate) fn start_timer(u: &Understanding) -> Result<Plan, SkillError> {
    let total = u.slots.duration_secs()?;
    if total <= 0.0 || total > 24.0 * 3600.0 {
        return Err(SkillError::BadSlot {
            slot: "minutes",
            value: format!("{total} s"),
            reason: "a timer runs 1 second to 24 hours".into(),
        });
    }
    let secs = total.round() as u64;
    let name = u.slots.name_text();
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
