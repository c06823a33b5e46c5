//! `HassGetState`: "is the front door locked", "what is the kitchen light".
use serde_json::{Value, json};

use super::StateLookup;
use crate::Understanding;
use crate::handlers::{Plan, SkillError};
use crate::lookup::fold;
use crate::registry::{Device, Registry};
use crate::reply::{and_list, cap, plural_noun, state_word, the};
use crate::targets::targets;

pub(crate) fn get_state(u: &Understanding, reg: &Registry, state: StateLookup) -> Result<Plan, SkillError> {
    let t = targets(u, reg, &[])?;
    let asked = u.slots.state_text().map(|s| fold(&s));
    let mut answer = serde_json::Map::new();
    let mut words = Vec::new();
    for d in &t.devices {
        let st = state(&d.id).unwrap_or_default();
        let w = state_word(d, &st);
        answer.insert(d.id.clone(), json!(w));
        words.push((d, w));
    }
    let reply = match (&asked, words.as_slice()) {
        (None, [(d, w)]) => {
            if *w == "unknown" {
                format!("I don't know the state of {} yet.", the(&d.name))
            } else {
                format!("{} is {w}.", cap(&the(&d.name)))
            }
        }
        (Some(q), [(d, w)]) => {
            if *w == "unknown" {
                format!("I don't know whether {} is {q}.", the(&d.name))
            } else if same_state(q, w) {
                format!("Yes, {} is {w}.", the(&d.name))
            } else {
                format!("No, {} is {w}.", the(&d.name))
            }
        }
        (None, many) => {
            let parts: Vec<String> = many.iter().map(|(d, w)| format!("{} is {w}", the(&d.name))).collect();
            format!("{}.", cap(&and_list(&parts)))
        }
        (Some(q), many) => {
            let yes: Vec<&Device> = many.iter().filter(|(_, w)| same_state(q, w)).map(|(d, _)| **d).collect();
            let total = many.len();
            if yes.len() == total {
                format!("Yes, all {total} are {q}.")
            } else if yes.is_empty() {
                format!("No, none of the {}{} are {q}.", plural_noun(&t.devices), t.place)
            } else {
                let names: Vec<String> = yes.iter().map(|d| the(&d.name)).collect();
                format!(
                    "{} of {total}: {} {} {q}.",
                    yes.len(),
                    and_list(&names),
                    if yes.len() == 1 { "is" } else { "are" }
                )
            }
        }
    };
    Ok(Plan { commands: vec![], reply, answer: Some(Value::Object(answer)), op: None })
}

pub(crate) fn same_state(q: &str, w: &str) -> bool {
    let q = q.trim();
    q == w || (q == "open" && w.starts_with("open")) || (q == "closed" && w == "closed")
}
