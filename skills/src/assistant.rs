//! The one facade for understanding and answering a request.
//!
//! The daemon builds an [`Assistant`] once (after loading the language
//! files) and calls it per request: [`Assistant::understand`] runs the chain
//! (Home Assistant sentence templates, then the registry grammar; later the
//! model heads and the LLM), [`Assistant::plan`] turns an understanding into
//! device commands through the skills, and [`Assistant::reply`] renders the
//! spoken reply in the configured [`ReplyStyle`].
use std::sync::Arc;

use firmware_bridge::{Action, DeviceCommand, DeviceState};
use serde::{Deserialize, Serialize};

use crate::command;
use crate::grammar;
use crate::handlers::{self, Plan, SkillError};
use crate::intent::{NluContext, Source, Understanding};
use crate::registry::Registry;
use crate::templates::TemplateNlu;

/// How spoken replies are phrased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStyle {
    /// The language's `responses.intents` templates for template matches,
    /// as Home Assistant answers ("Turned on the light").
    Language,
    /// hubd's English replies naming the device ("Turned on the kitchen light.").
    Detailed,
}

/// Understanding, planning and replying over one registry.
#[derive(Debug)]
pub struct Assistant {
    registry: Arc<Registry>,
    templates: Option<TemplateNlu>,
    replies: ReplyStyle,
}

impl Assistant {
    /// `templates` is `None` when the language data is missing: the grammar
    /// alone understands.
    pub fn new(registry: Arc<Registry>, templates: Option<TemplateNlu>, replies: ReplyStyle) -> Assistant {
        Assistant { registry, templates, replies }
    }

    pub fn with_replies(mut self, replies: ReplyStyle) -> Assistant {
        self.replies = replies;
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The sentence templates in use, if the language data loaded.
    pub fn templates(&self) -> Option<&TemplateNlu> {
        self.templates.as_ref()
    }

    pub fn replies(&self) -> ReplyStyle {
        self.replies
    }

    /// Understand one utterance: the templates first, then the grammar.
    pub fn understand(&self, text: &str, ctx: &NluContext) -> Option<Understanding> {
        if let Some(t) = &self.templates
            && let Some(u) = t.understand(text, ctx)
        {
            return Some(u);
        }
        grammar::understand(text, &self.registry, ctx)
    }

    /// Device commands and hubd's reply for an understanding.
    pub fn plan(&self, u: &Understanding, state: &dyn Fn(&str) -> Option<DeviceState>) -> Result<Plan, SkillError> {
        let mut plan = handlers::plan(u, &self.registry, state)?;
        // `HassRespond` outside English: the language's own answer.
        if u.intent == crate::intent::Intent::HassRespond
            && let Some(t) = self.templates.as_ref().filter(|t| !crate::templates::is_english(t.language()))
            && let Some(r) = t.response(u, None)
        {
            plan.reply = r;
        }
        Ok(plan)
    }

    /// One direct device command (the API's `POST /api/commands`, automations,
    /// LLM tools): see [`command::build`].
    pub fn command(
        &self,
        device_id: &str,
        action: Action,
        state: &dyn Fn(&str) -> Option<DeviceState>,
    ) -> Result<DeviceCommand, SkillError> {
        command::build(&self.registry, device_id, action, state)
    }

    /// The reply once a plan's commands all went through: the language's
    /// response when the style asks for it and it renders, else the plan's.
    pub fn reply(&self, u: &Understanding, plan: &Plan, state: &dyn Fn(&str) -> Option<DeviceState>) -> String {
        let language = if plan.commands.is_empty() {
            Self::speaks_without_commands(u, plan).then(|| self.answer_reply(u, plan, state)).flatten()
        } else {
            let found = Self::with_found_media(u, plan.answer.as_ref());
            self.language_reply(found.as_ref().unwrap_or(u), Self::subject(plan).as_deref(), state)
        };
        language.unwrap_or_else(|| plan.reply.clone())
    }

    /// Plans without commands that the language's responses answer from
    /// the plan alone: questions (`HassGetState`, the temperature), the
    /// weather, media not found, and a script started ("Started").
    pub fn speaks_without_commands(u: &Understanding, plan: &Plan) -> bool {
        use crate::intent::Intent;
        matches!(
            u.intent,
            Intent::HassGetWeather
                | Intent::HassMediaSearchAndPlay
                | Intent::HassGetState
                | Intent::HassClimateGetTemperature
        ) || matches!(plan.op, Some(handlers::HubOp::Script(_)))
    }

    /// The language's reply to a plan without commands (see
    /// [`Self::speaks_without_commands`]): a question gets Home Assistant's
    /// `state` and `query` ([`crate::answer`]), the rest the subject's state.
    pub fn answer_reply(
        &self,
        u: &Understanding,
        plan: &Plan,
        state: &dyn Fn(&str) -> Option<DeviceState>,
    ) -> Option<String> {
        if self.replies != ReplyStyle::Language || u.source != Source::Template {
            return None;
        }
        if let Some(extra) = crate::answer::question_extra(u, plan, &self.registry, state) {
            return self.templates.as_ref()?.response(u, Some(&extra));
        }
        let found = Self::with_found_media(u, plan.answer.as_ref());
        self.language_reply(found.as_ref().unwrap_or(u), Self::subject(plan).as_deref(), state)
    }

    /// `HassMediaSearchAndPlay`'s response asks for `slots.media`, the item
    /// found (Home Assistant's search result): `u` with that slot, the
    /// item's name or empty when the plan's `answer` found none.
    pub fn with_found_media(u: &Understanding, answer: Option<&serde_json::Value>) -> Option<Understanding> {
        if u.intent != crate::intent::Intent::HassMediaSearchAndPlay {
            return None;
        }
        let media = answer?.get("media")?;
        let name = media.get("name").and_then(serde_json::Value::as_str).unwrap_or_default();
        let mut with = u.clone();
        let mut slots = with.slots.to_map();
        slots.insert("media".into(), serde_json::json!(name));
        with.slots = crate::slots::Slots::from_map(slots);
        Some(with)
    }

    /// The entity a plan is about when the request named none ("pause",
    /// "what is the weather"): its first command's device or its answer's.
    pub fn subject(plan: &Plan) -> Option<String> {
        plan.commands.first().map(|c| c.device_id.clone()).or_else(|| {
            plan.answer.as_ref().and_then(|a| a.get("entity_id")).and_then(|v| v.as_str()).map(str::to_string)
        })
    }

    /// The language's reply to a request the running hub answered (timers,
    /// lists, the clock, broadcasts), rendered with the request's slots plus
    /// `extra` (e.g. `canceled`, `timers`, `time`, `date`), English
    /// included; [`ReplyStyle::Detailed`] keeps hubd's sentences, which name
    /// the timer or item. [`ReplyStyle::Language`] and template matches
    /// only; None when the language has no such response or it needs more
    /// than it was given.
    pub fn language_reply_with(
        &self,
        u: &Understanding,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Option<String> {
        if self.replies != ReplyStyle::Language || u.source != Source::Template {
            return None;
        }
        self.templates.as_ref()?.response_with(u, &extra, None)
    }

    /// The language's reply for a template match ([`ReplyStyle::Language`]
    /// only), with `state` describing the (first) targeted entity, or
    /// `subject` when the request named none.
    pub fn language_reply(
        &self,
        u: &Understanding,
        subject: Option<&str>,
        state: &dyn Fn(&str) -> Option<DeviceState>,
    ) -> Option<String> {
        if self.replies != ReplyStyle::Language || u.source != Source::Template {
            return None;
        }
        let t = self.templates.as_ref()?;
        let Some(id) = u.entities.first().map(String::as_str).or(subject) else { return t.response(u, None) };
        let d = self.registry.device(id)?;
        let st = state(id).unwrap_or_default();
        let word = match (d.kind, &st) {
            (firmware_bridge::DeviceKind::Weather, s) => crate::reply::weather_condition(s),
            (_, DeviceState { activity: Some(a), .. }) => Some(a.clone()),
            (_, DeviceState { on: Some(true), .. }) => Some("on".into()),
            (_, DeviceState { on: Some(false), .. }) => Some("off".into()),
            _ => None,
        }
        .unwrap_or_else(|| "unknown".into());
        let mut attributes = serde_json::Map::new();
        if let Some(t) = st.current_temperature {
            attributes.insert("temperature".into(), serde_json::json!(crate::reply::round1(t)));
            attributes.insert("temperature_unit".into(), serde_json::json!("°C"));
        }
        let extra = serde_json::json!({"state": {
            "entity_id": id, "domain": d.kind.domain(), "name": d.name, "state": word, "state_with_unit": word,
            "attributes": attributes,
        }});
        t.response(u, Some(&extra))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::tests::{demo, states};
    use crate::intent::Intent;

    #[test]
    fn grammar_only_chain() {
        let a = Assistant::new(Arc::new(demo()), None, ReplyStyle::Language);
        let ctx = NluContext::default();
        let u = a.understand("toggle the kitchen light", &ctx).expect("understood");
        assert_eq!((u.intent.clone(), u.source), (Intent::HassToggle, Source::Grammar));
        let p = a.plan(&u, &states).unwrap();
        assert_eq!(p.commands.len(), 1);
        assert_eq!(p.commands[0].action, Action::TurnOff);
        // No templates: the language style falls back to hubd's reply.
        assert_eq!(a.reply(&u, &p, &states), "Turned off the kitchen light.");
        assert!(a.understand("sing a song", &ctx).is_none());
        assert_eq!(a.command("lock.front_door", Action::Toggle, &states).map(|c| c.action), Ok(Action::Unlock));
    }
}
