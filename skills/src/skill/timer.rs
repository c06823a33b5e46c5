//! The timer intents: the operation for the hub's timer task, and the reply
//! a dry run gives (the task answers for real: it knows the timers).
use serde_json::json;

use crate::Understanding;
use crate::handlers::{HubOp, Plan, SkillError};
use crate::timers::{TimerOp, started_text};

pub(crate) fn start_timer(u: &Understanding) -> Result<Plan, SkillError> {
    let op = TimerOp::from_understanding(u, None)?;
    let Some(TimerOp::Start { secs, name, command, .. }) = &op else {
        return Err(SkillError::UnknownIntent(u.intent.to_string()));
    };
    let reply = started_text(*secs, name.as_deref(), command.is_some());
    let answer = Some(json!({"timer": {"seconds": secs, "name": name, "command": command}}));
    Ok(Plan { commands: vec![], reply, answer, op: op.map(HubOp::Timer) })
}

/// Cancel, pause, resume, lengthen, shorten, status.
pub(crate) fn timer_op(u: &Understanding) -> Result<Plan, SkillError> {
    let op = TimerOp::from_understanding(u, None)?;
    Ok(Plan {
        commands: vec![],
        reply: "Timers are kept by the running hub.".into(),
        answer: None,
        op: op.map(HubOp::Timer),
    })
}
