//! Spoken replies for timers, after Home Assistant's English responses.

use super::{Timer, TimerView};

/// "1 hour, 5 minutes and 3 seconds".
pub fn duration_text(secs: u64) -> String {
    let mut parts = Vec::new();
    for (n, unit) in [(secs / 3600, "hour"), (secs % 3600 / 60, "minute"), (secs % 60, "second")] {
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    if parts.is_empty() {
        return "0 seconds".into();
    }
    crate::reply::and_list(&parts)
}

pub(super) fn started(t: &Timer) -> String {
    started_text(t.start_secs, t.name.as_deref(), t.command.is_some())
}

/// The reply to a new timer of `secs` (one that runs a sentence says when).
pub fn started_text(secs: u64, name: Option<&str>, runs_command: bool) -> String {
    let len = duration_text(secs);
    match (runs_command, name) {
        (true, _) => format!("Command will be executed in {len}."),
        (false, Some(name)) => format!("The {} timer is set for {len}.", crate::reply::lower(name)),
        (false, None) => format!("Timer set for {len}."),
    }
}

/// What is said when a timer ends: "The pasta timer is done." A timer
/// that runs a sentence says nothing (its command is the announcement).
pub fn finished_text(t: &Timer) -> Option<String> {
    if t.command.is_some() {
        return None;
    }
    Some(match &t.name {
        Some(name) => format!("The {} timer is done.", crate::reply::lower(name)),
        None => format!("Your {} timer is done.", length_adjective(t.start_secs)),
    })
}

/// "5 minute", "1 hour 30 minute": a length before a noun.
fn length_adjective(secs: u64) -> String {
    let parts: Vec<String> = [(secs / 3600, "hour"), (secs % 3600 / 60, "minute"), (secs % 60, "second")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if parts.is_empty() { "0 second".into() } else { parts.join(" ") }
}

pub(super) fn cancelled_all(n: usize, area: Option<&str>) -> String {
    let place = area.map(|a| format!(" in {a}")).unwrap_or_default();
    match n {
        0 => format!("No timers were canceled{place}."),
        1 => format!("Canceled 1 timer{place}."),
        n => format!("Canceled {n} timers{place}."),
    }
}

/// Home Assistant's `HassTimerStatus` response: how many timers run or are
/// paused, then what is left on the one that ends first (and which one it
/// is when there are several).
pub(super) fn status(found: &[TimerView], total: usize) -> String {
    if found.is_empty() {
        return "No timers.".into();
    }
    let active: Vec<&TimerView> = found.iter().filter(|t| t.is_active).collect();
    let paused = found.len() - active.len();
    let mut out = Vec::new();
    let next = if active.is_empty() {
        if paused == 1 {
            out.push("Timer is paused.".to_string());
            found.first()
        } else {
            out.push(format!("{paused} paused timers."));
            None
        }
    } else {
        if active.len() > 1 {
            out.push(format!("{} running timers.", active.len()));
        }
        match paused {
            0 => {}
            1 => out.push("1 paused timer.".into()),
            n => out.push(format!("{n} paused timers.")),
        }
        active.iter().min_by(|a, b| a.seconds_left.total_cmp(&b.seconds_left)).copied()
    };
    if let Some(t) = next {
        let left = rounded(t.seconds_left.ceil() as u64);
        if total > 1 {
            let which = match (&t.timer.name, &t.timer.area) {
                (Some(n), _) => format!("{n} "),
                (None, Some(a)) => format!("{a} "),
                (None, None) => String::new(),
            };
            out.push(format!("{left} left on the {} {which}timer.", length_label(t.timer.start_secs)));
        } else {
            out.push(format!("{left} left."));
        }
    }
    out.join(" ")
}

/// The slots Home Assistant's timer responses read beyond the request's
/// own: `canceled` (how many timers `HassCancelAllTimers` cancelled) and
/// `timers` (`HassTimerStatus`: each with `name`, `area`, `is_active`,
/// `total_seconds_left`, `rounded_{hours,minutes,seconds}_left` and
/// `start_{hours,minutes,seconds}`), from an operation's `answer`.
pub fn response_slots(
    intent: &crate::Intent,
    answer: &serde_json::Value,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{Value, json};
    let timers = answer.get("timers").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut m = serde_json::Map::new();
    match intent {
        crate::Intent::HassCancelAllTimers => {
            m.insert("canceled".into(), json!(timers.len()));
        }
        crate::Intent::HassTimerStatus => {
            let views: Vec<Value> = timers
                .iter()
                .map(|t| {
                    let left = t.get("seconds_left").and_then(Value::as_f64).unwrap_or(0.0).max(0.0).ceil() as u64;
                    let start = t.get("start_secs").and_then(Value::as_u64).unwrap_or(0);
                    let (h, m, s) =
                        if left >= 3600 { (left / 3600, left % 3600 / 60, 0) } else { (0, left / 60, left % 60) };
                    json!({
                        "name": t.get("name"), "area": t.get("area"), "is_active": t.get("is_active"),
                        "total_seconds_left": left,
                        "rounded_hours_left": h, "rounded_minutes_left": m, "rounded_seconds_left": s,
                        "start_hours": start / 3600, "start_minutes": start % 3600 / 60, "start_seconds": start % 60,
                    })
                })
                .collect();
            m.insert("timers".into(), Value::Array(views));
        }
        _ => {}
    }
    m
}

/// What is left as Home Assistant rounds it: hours and minutes above an
/// hour, minutes and seconds below.
fn rounded(secs: u64) -> String {
    if secs >= 3600 { duration_text(secs / 60 * 60) } else { duration_text(secs) }
}

/// "5 minute" in "the 5 minute timer".
fn length_label(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m, s) {
        (h, 0, _) if h > 0 => format!("{h} hour"),
        (h, m, _) if h > 0 => format!("{h} hour and {m} minute"),
        (0, m, 0) if m > 0 => format!("{m} minute"),
        (0, m, s) if m > 0 => format!("{m} minute and {s} second"),
        (_, _, s) => format!("{s} second"),
    }
}
