//! Load-time checks of rules against the registry and the cameras: unknown
//! entities, cameras and zones, times that do not parse, templates that do
//! not compile, actions a device cannot do — each with its place in the rule.
use serde_json::Value;

use super::action::resolve;
use super::engine::Cameras;
use super::render;
use super::schema::{Condition, Path, RuleError, Seg, Step, Trigger, TriggerKind};
use super::trigger;
use crate::registry::Registry;

pub(crate) struct Checker<'a> {
    pub reg: &'a Registry,
    pub cameras: Option<Cameras<'a>>,
    pub rules: &'a [String],
    pub home: bool,
    pub rule: String,
    pub errors: Vec<RuleError>,
}

impl Checker<'_> {
    pub fn err(&mut self, path: Path, message: String) {
        self.errors.push(RuleError { rule: self.rule.clone(), path, message });
    }

    fn entities(&mut self, path: Path, ids: &[String]) {
        for e in ids {
            if self.reg.device(e).is_none() {
                self.err(path.clone(), format!("unknown entity `{e}`"));
            }
        }
    }

    pub fn trigger(&mut self, path: Path, t: &Trigger) {
        let k = |k: &str| {
            let mut p = path.clone();
            p.push(Seg::Key(k.into()));
            p
        };
        match &t.kind {
            TriggerKind::State { entity_id, .. } | TriggerKind::NumericState { entity_id, .. } => {
                self.entities(k("entity_id"), &entity_id.0)
            }
            TriggerKind::Event { camera, zone, .. } => {
                if let Some(cams) = self.cameras {
                    for c in camera.iter().flat_map(|c| c.0.iter()) {
                        match cams.iter().find(|(id, _)| id == c) {
                            None => self.err(k("camera"), format!("unknown camera `{c}`")),
                            Some((_, zones)) => {
                                if let Some(z) = zone
                                    && !zones.contains(z)
                                {
                                    self.err(k("zone"), format!("camera `{c}` has no zone `{z}`"));
                                }
                            }
                        }
                    }
                }
            }
            TriggerKind::Motion { camera, to } => {
                if let Some(cams) = self.cameras {
                    for c in camera.iter().flat_map(|c| c.0.iter()) {
                        if !cams.iter().any(|(id, _)| id == c) {
                            self.err(k("camera"), format!("unknown camera `{c}`"));
                        }
                    }
                }
                if to.as_deref().is_some_and(|t| t != "on" && t != "off") {
                    self.err(k("to"), "motion `to` is \"on\" or \"off\"".into());
                }
            }
            TriggerKind::Time { at } => {
                for a in &at.0 {
                    if trigger::parse_clock(a).is_none() {
                        self.err(k("at"), format!("`{a}` is not a time of day (\"HH:MM\" or \"HH:MM:SS\")"));
                    }
                }
            }
            TriggerKind::Sun { .. } if !self.home => {
                self.err(path, "a sun trigger needs [home] latitude and longitude".into())
            }
            TriggerKind::Mqtt { topic, .. } if !valid_filter(topic) => {
                self.err(k("topic"), format!("`{topic}` is not a valid MQTT topic filter"))
            }
            _ => {}
        }
    }

    pub fn condition(&mut self, path: Path, c: &Condition) {
        let k = |k: &str| {
            let mut p = path.clone();
            p.push(Seg::Key(k.into()));
            p
        };
        match c {
            Condition::State { entity_id, .. }
            | Condition::NumericState { entity_id, .. }
            | Condition::Zone { entity_id, .. } => self.entities(k("entity_id"), &entity_id.0),
            Condition::Time { after, before, weekday } => {
                for (name, v) in [("after", after), ("before", before)] {
                    if let Some(v) = v
                        && trigger::parse_clock(v).is_none()
                    {
                        self.err(k(name), format!("`{v}` is not a time of day (\"HH:MM\" or \"HH:MM:SS\")"));
                    }
                }
                for d in weekday.iter().flat_map(|w| w.0.iter()) {
                    if !["mon", "tue", "wed", "thu", "fri", "sat", "sun"].contains(&d.as_str()) {
                        self.err(k("weekday"), format!("`{d}` is not a weekday (mon … sun)"));
                    }
                }
            }
            Condition::Sun { .. } if !self.home => {
                self.err(path, "a sun condition needs [home] latitude and longitude".into())
            }
            Condition::And { conditions } | Condition::Or { conditions } | Condition::Not { conditions } => {
                for (i, c) in conditions.iter().enumerate() {
                    let mut p = k("conditions");
                    p.push(Seg::Idx(i));
                    self.condition(p, c);
                }
            }
            Condition::Template { value_template } => {
                if let Err(e) = render::check(value_template) {
                    self.err(k("value_template"), format!("template does not parse: {e}"));
                }
            }
            _ => {}
        }
    }

    pub fn seq(&mut self, path: Path, seq: &[Step]) {
        for (i, s) in seq.iter().enumerate() {
            let mut p = path.clone();
            p.push(Seg::Idx(i));
            let k = |k: &str| {
                let mut q = p.clone();
                q.push(Seg::Key(k.into()));
                q
            };
            match s {
                Step::Service { service, target, data } => {
                    let none = |_: &str| None;
                    if let Err(e) = resolve(service, target, data, self.reg, &none, &Value::Null, self.rules, true) {
                        self.err(k("action"), e);
                    }
                }
                Step::WaitForTrigger { triggers, .. } => {
                    for (j, t) in triggers.iter().enumerate() {
                        let mut q = k("wait_for_trigger");
                        q.push(Seg::Idx(j));
                        self.trigger(q, t);
                    }
                }
                Step::Choose { options, default } => {
                    for (j, o) in options.iter().enumerate() {
                        let mut q = k("choose");
                        q.push(Seg::Idx(j));
                        for (ci, c) in o.conditions.iter().enumerate() {
                            let mut r = q.clone();
                            r.extend([Seg::Key("conditions".into()), Seg::Idx(ci)]);
                            self.condition(r, c);
                        }
                        let mut r = q.clone();
                        r.push(Seg::Key("sequence".into()));
                        self.seq(r, &o.sequence);
                    }
                    self.seq(k("default"), default);
                }
                Step::Condition(c) => self.condition(p.clone(), c),
                Step::ConversationResponse(t) => {
                    if let Err(e) = render::check(t) {
                        self.err(k("set_conversation_response"), format!("template does not parse: {e}"));
                    }
                }
                Step::Variables(vars) => {
                    for (name, v) in vars {
                        if let Some(t) = v.as_str()
                            && let Err(e) = render::check(t)
                        {
                            self.err(k("variables"), format!("`{name}`: template does not parse: {e}"));
                        }
                    }
                }
                Step::Delay(_) | Step::Stop(_) => {}
            }
        }
    }
}

/// MQTT topic filter syntax: `#` only last, wildcards fill whole levels.
pub fn valid_filter(f: &str) -> bool {
    !f.is_empty()
        && f.split('/').enumerate().all(|(i, l)| {
            (!l.contains(['+', '#']) || l == "+" || l == "#") && (l != "#" || i == f.split('/').count() - 1)
        })
}
