//! Automations: rules in Home Assistant's vocabulary, evaluated purely.
//!
//! The daemon's automation task feeds an [`Engine`] what happens ([`Event`]:
//! state changes, camera events, motion, MQTT messages, start-up), the clock
//! ([`Engine::tick`] with a [`Now`]) and requests (run by hand, enable,
//! sentences); the engine answers with [`Output`]s: device commands built by
//! [`crate::command`] (the one builder), MQTT publications, notifications,
//! conversation replies and the finished run's trace. No I/O, no clock reads:
//! every test drives it with plain vectors and an injected time.
//!
//! - `schema`: the rule language and its parser (errors carry a path);
//! - `state`: device states as Home Assistant's state strings/attributes;
//! - `sun`: sunrise/sunset;
//! - `trigger`, `condition`, `action`, `render`: evaluation;
//! - `engine`: modes, cooldowns, `for` timers, runs and traces.

mod action;
mod check;
mod condition;
mod engine;
mod render;
pub mod schema;
mod script;
pub mod state;
pub mod sun;
#[cfg(test)]
mod tests;
mod trigger;

use firmware_bridge::DeviceState;
use serde::Serialize;
use serde_json::Value;

pub use engine::{CompileError, Engine, Home, RuleInfo, World};
pub use schema::{Mode, Path, RuleError, RuleSpec, Seg, parse_rule, path_str};
pub use script::{SCRIPT_KEYS, parse_script};

/// The time, in UTC and on the home's wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Unix milliseconds.
    pub ms: i64,
    /// The home's UTC offset at `ms`, in seconds.
    pub offset_s: i32,
    /// Local civil date.
    pub year: i32,
    pub month: u32,
    pub day: u32,
    /// Seconds since local midnight.
    pub secs: u32,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u32,
}

impl Now {
    /// `ms` seen from a wall clock `offset_s` seconds ahead of UTC.
    pub fn at(ms: i64, offset_s: i32) -> Now {
        let local = ms.div_euclid(1000) + offset_s as i64;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let weekday = (days + 3).rem_euclid(7) as u32;
        Now { ms, offset_s, year, month, day, secs, weekday }
    }

    /// Local days since 1970-01-01.
    pub fn local_days(&self) -> i64 {
        sun::days_from_civil(self.year, self.month, self.day)
    }

    /// `YYYY-MM-DDTHH:MM:SS±HH:MM`.
    pub fn iso(&self) -> String {
        let (h, m, s) = (self.secs / 3600, self.secs / 60 % 60, self.secs % 60);
        let o = self.offset_s.abs();
        let sign = if self.offset_s < 0 { '-' } else { '+' };
        format!(
            "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}{sign}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            o / 3600,
            o / 60 % 60
        )
    }
}

/// (year, month, day) of a count of days since 1970-01-01 (H. Hinnant).
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// Something that happened, as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A device's state changed (boxed: a state is large next to the other events).
    State { entity_id: String, old: Option<Box<DeviceState>>, new: Box<DeviceState> },
    /// A camera event: Frigate's `type` (`new`, `update`, `end`) and its
    /// `after` object (`id`, `camera`, `label`, `top_score`, `entered_zones`…).
    Camera { kind: String, after: Value },
    /// Motion on a camera turned on or off.
    Motion { camera: String, on: bool },
    /// An MQTT message on a topic some rule listens to.
    Mqtt { topic: String, payload: String },
    /// The hub started.
    Start,
}

/// Which rule's commands caused an event (a device echo of a command a run
/// sent), so a rule that would trigger itself is stopped instead of looping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub rule: String,
    /// How many rule runs led here (a run caused by a run caused by …).
    pub depth: u8,
}

/// Run identifier (unique while the engine lives; the daemon stores runs
/// under its own row ids).
pub type RunId = u64;

/// What a run did at one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTrace {
    /// Where in the rule: `actions[1]`, `actions[2].choose[0].sequence[0]`.
    pub path: String,
    /// `action`, `delay`, `wait_for_trigger`, `choose`, `condition`, …
    pub kind: String,
    /// What happened (the service and entities, the chosen option, …).
    pub detail: Value,
    /// Unix ms.
    pub at: i64,
    /// Set by the daemon: outbox ids of the commands this step enqueued.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command_ids: Vec<i64>,
    /// Why the step failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A condition's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionTrace {
    pub path: String,
    pub condition: String,
    pub result: bool,
}

/// How a run ended (or why it never started).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every action ran.
    Finished,
    /// A `stop` action ended it.
    Stopped,
    /// The rule's conditions were false: nothing ran.
    ConditionFailed,
    /// A `condition` step inside the actions was false: the rest was skipped.
    ConditionStopped,
    /// `mode = "single"` and a run was already going.
    AlreadyRunning,
    /// `queued`/`parallel` with `max` reached.
    MaxExceeded,
    /// A newer trigger restarted the rule (`mode = "restart"`).
    Restarted,
    /// The rule would have triggered itself (or a chain of rules was too deep).
    LoopStopped,
    /// A `wait_for_trigger` timed out with `continue_on_timeout = false`.
    Timeout,
    /// An action failed (the error is in its step).
    Error,
    /// Cancelled: the rule was disabled, removed or reloaded.
    Cancelled,
}

/// A finished (or refused) run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub run: RunId,
    pub rule: String,
    /// The `trigger` variable (platform, entity, states, event, …).
    pub trigger: Value,
    pub started: i64,
    pub ended: i64,
    pub conditions: Vec<ConditionTrace>,
    pub steps: Vec<StepTrace>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub cause: Option<Cause>,
}

/// What the engine asks the daemon to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A run started (for the event bus).
    Started { run: RunId, rule: String, trigger: Value },
    /// Enqueue these commands; `step` indexes the run's trace.
    Commands { run: RunId, rule: String, depth: u8, step: usize, commands: Vec<firmware_bridge::DeviceCommand> },
    /// Publish an MQTT message.
    Publish { run: RunId, topic: String, payload: String, retain: bool },
    /// Send a notification (`notify.<target>`).
    Notify { run: RunId, rule: String, target: String, title: Option<String>, message: String },
    /// Say this on the hub's loudspeaker (`assist_satellite.announce`).
    Announce { run: RunId, rule: String, message: String },
    /// The reply to a sentence that triggered `run` of `rule`.
    Reply { run: RunId, rule: String, text: String },
    /// A rule was enabled or disabled by an action (`automation.turn_off`).
    Enabled { rule: String, enabled: bool },
    /// A run ended, or a trigger was refused (its record says why).
    Ended(RunRecord),
}
