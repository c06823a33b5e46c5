//! Timers, as Home Assistant's timer intents use them: named timers, several
//! at once, per area, paused and resumed, lengthened and shortened, and
//! timers that run a sentence when they finish ("turn off the oven in 10
//! minutes").
//!
//! [`Timers`] is the pure state machine: every operation takes `now` (Unix
//! ms) and returns the rows to save or delete, so the daemon's timer task
//! owns the clock, SQLite and the announcements. Which timer a request means
//! follows Home Assistant's `_find_timer`: name, then area, then the length
//! it was started with, then the area the request came from.

mod op;
mod reply;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use op::{Selector, TimerOp};
pub use reply::{duration_text, finished_text, response_slots, started_text};

/// One timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub id: i64,
    /// "pasta" in "set a 2 second timer for the pasta".
    pub name: Option<String>,
    /// The area the timer was set in (the satellite's).
    pub area: Option<String>,
    /// The length it was started with ("the 5 minute timer").
    pub start_secs: u64,
    /// When it ends (Unix ms) while running; `None` while paused.
    pub ends_at_ms: Option<i64>,
    /// What was left when it was paused (ms).
    pub paused_left_ms: i64,
    /// A sentence to run when it finishes.
    pub command: Option<String>,
    pub created_ms: i64,
}

impl Timer {
    pub fn is_active(&self) -> bool {
        self.ends_at_ms.is_some()
    }

    /// Milliseconds left at `now`.
    pub fn left_ms(&self, now_ms: i64) -> i64 {
        match self.ends_at_ms {
            Some(end) => (end - now_ms).max(0),
            None => self.paused_left_ms.max(0),
        }
    }

    /// Hours, minutes and seconds of the length it was started with.
    fn start_hms(&self) -> (u64, u64, u64) {
        (self.start_secs / 3600, self.start_secs % 3600 / 60, self.start_secs % 60)
    }
}

/// A timer and what is left of it, for status answers and the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimerView {
    #[serde(flatten)]
    pub timer: Timer,
    pub seconds_left: f64,
    pub is_active: bool,
}

/// A change to persist.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Saved(Timer),
    Removed(i64),
}

/// What an operation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The spoken reply (Home Assistant's English response).
    pub reply: String,
    pub changes: Vec<Change>,
    /// The timers it started, changed or cancelled, as they are now.
    pub timers: Vec<Timer>,
    /// Timers that ended now (a timer shortened to nothing): gone from the
    /// state, but their rows are the caller's to finish (mark, run, delete).
    pub finished: Vec<Timer>,
    /// For the outcome's `answer`: the timers concerned.
    pub answer: serde_json::Value,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TimerError {
    #[error("no timer matched")]
    NotFound,
    #[error("{0} timers matched; say which one (its name or length)")]
    Multiple(usize),
    #[error("a timer runs 1 second to 24 hours, not {0} s")]
    BadLength(i64),
    #[error("at most {0} timers can run at once")]
    TooMany(usize),
}

impl TimerError {
    /// The spoken reply.
    pub fn reply(&self) -> String {
        match self {
            TimerError::NotFound => "Sorry, I couldn't find that timer.".into(),
            TimerError::Multiple(_) => "Sorry, more than one timer matched. Which one do you mean?".into(),
            TimerError::BadLength(_) => "Sorry, a timer can run from 1 second to 24 hours.".into(),
            TimerError::TooMany(n) => format!("Sorry, there are already {n} timers."),
        }
    }
}

/// The longest timer (and the most a timer can be lengthened to).
pub const MAX_SECS: u64 = 24 * 3600;
/// How many timers may exist at once.
pub const MAX_TIMERS: usize = 100;

/// Every timer, by id.
#[derive(Debug, Clone, Default)]
pub struct Timers {
    timers: BTreeMap<i64, Timer>,
    next_id: i64,
}

impl Timers {
    /// Timers as stored (ids kept; new ones count on from the highest).
    pub fn new(existing: impl IntoIterator<Item = Timer>) -> Timers {
        let timers: BTreeMap<i64, Timer> = existing.into_iter().map(|t| (t.id, t)).collect();
        let next_id = timers.keys().next_back().map_or(1, |k| k + 1);
        Timers { timers, next_id }
    }

    pub fn len(&self) -> usize {
        self.timers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    pub fn get(&self, id: i64) -> Option<&Timer> {
        self.timers.get(&id)
    }

    /// Every timer with what is left, soonest first.
    pub fn views(&self, now_ms: i64) -> Vec<TimerView> {
        let mut v: Vec<TimerView> = self.timers.values().map(|t| view(t, now_ms)).collect();
        v.sort_by_key(|t| (!t.is_active, t.timer.left_ms(now_ms), t.timer.id));
        v
    }

    /// When the next running timer ends.
    pub fn next_deadline(&self) -> Option<i64> {
        self.timers.values().filter_map(|t| t.ends_at_ms).min()
    }

    /// Remove and return the timers that have ended by `now`, oldest end first.
    pub fn take_due(&mut self, now_ms: i64) -> Vec<Timer> {
        let due: Vec<i64> =
            self.timers.values().filter(|t| t.ends_at_ms.is_some_and(|e| e <= now_ms)).map(|t| t.id).collect();
        let mut out: Vec<Timer> = due.iter().filter_map(|id| self.timers.remove(id)).collect();
        out.sort_by_key(|t| (t.ends_at_ms, t.id));
        out
    }

    /// Apply one operation at `now`.
    pub fn apply(&mut self, op: &TimerOp, now_ms: i64) -> Result<Applied, TimerError> {
        match op {
            TimerOp::Start { secs, name, area, command } => self.start(*secs, name, area, command, now_ms),
            TimerOp::Cancel(sel) => {
                let id = self.find(sel, |_| true)?;
                let t = self.timers.remove(&id).ok_or(TimerError::NotFound)?;
                Ok(applied("Timer cancelled.".into(), vec![Change::Removed(id)], &[t], now_ms))
            }
            TimerOp::CancelAll { area } => {
                let ids: Vec<i64> = self
                    .timers
                    .values()
                    .filter(|t| area.as_ref().is_none_or(|a| same(t.area.as_deref(), a)))
                    .map(|t| t.id)
                    .collect();
                let gone: Vec<Timer> = ids.iter().filter_map(|id| self.timers.remove(id)).collect();
                let reply = reply::cancelled_all(gone.len(), area.as_deref());
                Ok(applied(reply, ids.into_iter().map(Change::Removed).collect(), &gone, now_ms))
            }
            TimerOp::Add(sel, delta) => self.add(sel, *delta, now_ms),
            TimerOp::Pause(sel) => {
                let id = self.find(sel, Timer::is_active)?;
                let t = self.timers.get_mut(&id).ok_or(TimerError::NotFound)?;
                t.paused_left_ms = t.left_ms(now_ms);
                t.ends_at_ms = None;
                let t = t.clone();
                Ok(applied("Timer paused.".into(), vec![Change::Saved(t.clone())], &[t], now_ms))
            }
            TimerOp::Unpause(sel) => {
                let id = self.find(sel, |t| !t.is_active())?;
                let t = self.timers.get_mut(&id).ok_or(TimerError::NotFound)?;
                t.ends_at_ms = Some(now_ms + t.paused_left_ms);
                t.paused_left_ms = 0;
                let t = t.clone();
                Ok(applied("Timer resumed.".into(), vec![Change::Saved(t.clone())], &[t], now_ms))
            }
            TimerOp::Status(sel) => {
                let found = self.find_all(sel);
                let views: Vec<TimerView> = found.iter().map(|t| view(t, now_ms)).collect();
                let reply = reply::status(&views, self.timers.len());
                Ok(Applied {
                    reply,
                    changes: vec![],
                    timers: vec![],
                    finished: vec![],
                    answer: serde_json::json!({ "timers": views }),
                })
            }
        }
    }

    fn start(
        &mut self,
        secs: u64,
        name: &Option<String>,
        area: &Option<String>,
        command: &Option<String>,
        now_ms: i64,
    ) -> Result<Applied, TimerError> {
        if secs == 0 || secs > MAX_SECS {
            return Err(TimerError::BadLength(secs as i64));
        }
        if self.timers.len() >= MAX_TIMERS {
            return Err(TimerError::TooMany(MAX_TIMERS));
        }
        let t = Timer {
            id: self.next_id,
            name: name.clone(),
            area: area.clone(),
            start_secs: secs,
            ends_at_ms: Some(now_ms + secs as i64 * 1000),
            paused_left_ms: 0,
            command: command.clone(),
            created_ms: now_ms,
        };
        self.next_id += 1;
        self.timers.insert(t.id, t.clone());
        let reply = reply::started(&t);
        Ok(applied(reply, vec![Change::Saved(t.clone())], &[t], now_ms))
    }

    fn add(&mut self, sel: &Selector, delta: i64, now_ms: i64) -> Result<Applied, TimerError> {
        let id = self.find(sel, |_| true)?;
        let t = self.timers.get_mut(&id).ok_or(TimerError::NotFound)?;
        let left = t.left_ms(now_ms) + delta * 1000;
        if left > MAX_SECS as i64 * 1000 {
            return Err(TimerError::BadLength(left / 1000));
        }
        let left = left.max(0);
        match t.ends_at_ms {
            Some(_) => t.ends_at_ms = Some(now_ms + left),
            None => t.paused_left_ms = left,
        }
        let t = t.clone();
        let text = duration_text(delta.unsigned_abs());
        let reply = if delta >= 0 { format!("{text} added to timer.") } else { format!("{text} removed from timer.") };
        if t.is_active() && left == 0 {
            self.timers.remove(&id);
            let mut a = applied(reply, vec![], std::slice::from_ref(&t), now_ms);
            a.timers.clear();
            a.finished = vec![t];
            return Ok(a);
        }
        Ok(applied(reply, vec![Change::Saved(t.clone())], &[t], now_ms))
    }

    /// Home Assistant's `_find_timer`: narrow by name, area and starting
    /// length (one left wins); with no filter, the only timer; then the
    /// request's own area.
    fn find(&self, sel: &Selector, keep: impl Fn(&Timer) -> bool) -> Result<i64, TimerError> {
        let mut matching: Vec<&Timer> = self.timers.values().filter(|t| keep(t)).collect();
        let mut filtered = false;
        if let Some(name) = &sel.name {
            filtered = true;
            matching.retain(|t| same(t.name.as_deref(), name));
            if let [one] = matching.as_slice() {
                return Ok(one.id);
            }
        }
        if let Some(area) = &sel.area {
            filtered = true;
            matching.retain(|t| same(t.area.as_deref(), area));
            if let [one] = matching.as_slice() {
                return Ok(one.id);
            }
        }
        if sel.start != (None, None, None) {
            filtered = true;
            matching.retain(|t| starts_as(t, sel.start));
            if let [one] = matching.as_slice() {
                return Ok(one.id);
            }
        }
        if !filtered && let [one] = matching.as_slice() {
            return Ok(one.id);
        }
        if let Some(origin) = &sel.origin_area {
            let here: Vec<&&Timer> = matching.iter().filter(|t| same(t.area.as_deref(), origin)).collect();
            if let [one] = here.as_slice() {
                return Ok(one.id);
            }
        }
        match matching.len() {
            0 => Err(TimerError::NotFound),
            n => Err(TimerError::Multiple(n)),
        }
    }

    /// Home Assistant's `_find_timers` (status): every timer the filters
    /// leave, without asking which one.
    fn find_all(&self, sel: &Selector) -> Vec<&Timer> {
        self.timers
            .values()
            .filter(|t| sel.name.as_ref().is_none_or(|n| same(t.name.as_deref(), n)))
            .filter(|t| sel.area.as_ref().is_none_or(|a| same(t.area.as_deref(), a)))
            .filter(|t| starts_as(t, sel.start))
            .collect()
    }
}

fn starts_as(t: &Timer, (h, m, s): (Option<u64>, Option<u64>, Option<u64>)) -> bool {
    let (th, tm, ts) = t.start_hms();
    h.is_none_or(|h| h == th) && m.is_none_or(|m| m == tm) && s.is_none_or(|s| s == ts)
}

/// Names and areas compare folded ("Pasta" is "pasta").
fn same(have: Option<&str>, want: &str) -> bool {
    have.is_some_and(|h| h.trim().eq_ignore_ascii_case(want.trim()))
}

fn view(t: &Timer, now_ms: i64) -> TimerView {
    TimerView { timer: t.clone(), seconds_left: t.left_ms(now_ms) as f64 / 1000.0, is_active: t.is_active() }
}

fn applied(reply: String, changes: Vec<Change>, timers: &[Timer], now_ms: i64) -> Applied {
    let views: Vec<TimerView> = timers.iter().map(|t| view(t, now_ms)).collect();
    let answer = serde_json::json!({ "timers": views });
    Applied { reply, changes, timers: timers.to_vec(), finished: vec![], answer }
}

#[cfg(test)]
mod tests;
