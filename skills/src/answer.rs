//! What Home Assistant's responses to questions read besides the slots:
//! `state` (the entity asked about) and `query` (`matched` / `unmatched`
//! entities), built from a question's plan, so "is the front door locked"
//! is answered with the language's own "Yes" / "Ja" and "what is the
//! temperature" with "20.5 degrees" / "20,5 Grad".
use firmware_bridge::{DeviceKind, DeviceState};
use serde_json::{Value, json};

use crate::Understanding;
use crate::handlers::Plan;
use crate::intent::Intent;
use crate::lookup::fold;
use crate::registry::{Device, Registry};
use crate::reply::state_word;
use crate::skill::StateLookup;
use crate::skill::get_state::same_state;

/// The state as Home Assistant names it: covers and valves `open` /
/// `closed`, climate its mode (`heat` while on), the rest hubd's word.
fn ha_state(d: &Device, st: &DeviceState) -> String {
    match d.kind {
        DeviceKind::Cover | DeviceKind::Valve => match st.position {
            Some(0) => "closed".into(),
            Some(_) => "open".into(),
            None => state_word(d, st),
        },
        DeviceKind::Climate => match st.on {
            Some(false) => "off".into(),
            Some(true) => "heat".into(),
            None => "unknown".into(),
        },
        _ => state_word(d, st),
    }
}

fn entity(d: &Device, st: &DeviceState, attributes: Value) -> Value {
    let s = ha_state(d, st);
    json!({
        "entity_id": d.id, "domain": d.kind.domain(), "name": d.name,
        "state": s, "state_with_unit": s, "attributes": attributes,
    })
}

/// `state` and `query` for the language's response to a question plan
/// (`HassGetState`, `HassClimateGetTemperature`); None for other intents.
pub(crate) fn question_extra(u: &Understanding, plan: &Plan, reg: &Registry, state: StateLookup) -> Option<Value> {
    let answer = plan.answer.as_ref()?;
    match u.intent {
        Intent::HassGetState => {
            let words = answer.as_object()?;
            let asked = u.slots.state_text().map(|s| fold(&s));
            let (mut matched, mut unmatched) = (Vec::new(), Vec::new());
            let mut first = None;
            let subject = u.entities.first().map(String::as_str).or_else(|| words.keys().next().map(String::as_str));
            for (id, word) in words {
                let d = reg.device(id)?;
                let st = state(id).unwrap_or_default();
                let e = entity(d, &st, json!({}));
                if Some(id.as_str()) == subject {
                    first = Some(e.clone());
                }
                let yes = asked.as_deref().is_none_or(|q| same_state(q, word.as_str().unwrap_or_default()));
                if yes { matched.push(e) } else { unmatched.push(e) }
            }
            Some(json!({ "state": first?, "query": { "matched": matched, "unmatched": unmatched } }))
        }
        Intent::HassClimateGetTemperature => {
            let id = answer.get("entity_id")?.as_str()?;
            let d = reg.device(id)?;
            let st = state(id).unwrap_or_default();
            let mut attributes = json!({ "current_temperature": answer.get("temperature")? });
            if let Some(t) = answer.get("target_temperature") {
                attributes["temperature"] = t.clone();
            }
            let e = entity(d, &st, attributes);
            Some(json!({ "state": e.clone(), "query": { "matched": [e], "unmatched": [] } }))
        }
        _ => None,
    }
}
