//! The timer intents' slots as an operation on [`super::Timers`].

use serde_json::Value;

use crate::Understanding;
use crate::handlers::SkillError;
use crate::intent::Intent;

/// Which timer a request means (Home Assistant's slots `name`, `area`,
/// `start_hours`/`start_minutes`/`start_seconds`, plus where it was said).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub name: Option<String>,
    pub area: Option<String>,
    /// The length it was started with, as hours, minutes, seconds.
    pub start: (Option<u64>, Option<u64>, Option<u64>),
    /// The area the request came from, to choose between several.
    pub origin_area: Option<String>,
}

/// One timer operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerOp {
    Start {
        secs: u64,
        name: Option<String>,
        area: Option<String>,
        command: Option<String>,
    },
    Cancel(Selector),
    CancelAll {
        area: Option<String>,
    },
    /// Lengthen (positive) or shorten (negative) by seconds.
    Add(Selector, i64),
    Pause(Selector),
    Unpause(Selector),
    Status(Selector),
}

impl TimerOp {
    /// The operation a timer intent asks for; `None` for other intents.
    /// `origin_area` is where the request was heard.
    pub fn from_understanding(u: &Understanding, origin_area: Option<&str>) -> Result<Option<TimerOp>, SkillError> {
        let sel = || -> Result<Selector, SkillError> {
            Ok(Selector {
                name: u.slots.name_text().map(|n| timer_name(&n)),
                area: u.slots.area_text(),
                start: (whole(u, "start_hours")?, whole(u, "start_minutes")?, whole(u, "start_seconds")?),
                origin_area: origin_area.map(str::to_string),
            })
        };
        let op = match &u.intent {
            Intent::HassStartTimer => TimerOp::Start {
                secs: length(u)?,
                name: u.slots.name_text().map(|n| timer_name(&n)).filter(|n| !n.is_empty()),
                area: origin_area.map(str::to_string),
                command: text(u.slots.other.get("conversation_command")),
            },
            Intent::HassCancelTimer => TimerOp::Cancel(sel()?),
            Intent::HassCancelAllTimers => TimerOp::CancelAll { area: u.slots.area_text() },
            Intent::HassIncreaseTimer => TimerOp::Add(sel()?, length(u)? as i64),
            Intent::HassDecreaseTimer => TimerOp::Add(sel()?, -(length(u)? as i64)),
            Intent::HassPauseTimer => TimerOp::Pause(sel()?),
            Intent::HassUnpauseTimer => TimerOp::Unpause(sel()?),
            Intent::HassTimerStatus => TimerOp::Status(sel()?),
            _ => return Ok(None),
        };
        Ok(Some(op))
    }
}

impl TimerOp {
    /// The same operation heard in `area`: a new timer belongs to it, and it
    /// chooses between several timers that match.
    pub fn heard_in(mut self, area: Option<&str>) -> TimerOp {
        let area = area.map(str::to_string);
        match &mut self {
            TimerOp::Start { area: a, .. } => *a = area,
            TimerOp::Cancel(s) | TimerOp::Add(s, _) | TimerOp::Pause(s) | TimerOp::Unpause(s) | TimerOp::Status(s) => {
                s.origin_area = area
            }
            TimerOp::CancelAll { .. } => {}
        }
        self
    }
}

/// The `hours`/`minutes`/`seconds` slots as whole seconds, 1 s to 24 h.
fn length(u: &Understanding) -> Result<u64, SkillError> {
    let total = u.slots.duration_secs()?;
    if !(0.5..=super::MAX_SECS as f64).contains(&total) {
        return Err(SkillError::BadSlot {
            slot: "minutes",
            value: format!("{total} s"),
            reason: "a timer runs 1 second to 24 hours".into(),
        });
    }
    Ok(total.round() as u64)
}

/// A whole number from a slot kept in `other` (`start_minutes`).
fn whole(u: &Understanding, slot: &'static str) -> Result<Option<u64>, SkillError> {
    let Some(v) = u.slots.other.get(slot) else { return Ok(None) };
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 && n <= super::MAX_SECS as f64 => Ok(Some(n.round() as u64)),
        _ => Err(SkillError::BadSlot { slot, value: v.to_string(), reason: "expected a whole number".into() }),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// "the pasta" -> "pasta": the article is not part of a timer's name.
fn timer_name(n: &str) -> String {
    let n = n.trim();
    let lower = n.to_lowercase();
    for article in ["the ", "my ", "a "] {
        if lower.starts_with(article) {
            return n[article.len()..].trim().to_string();
        }
    }
    n.to_string()
}
