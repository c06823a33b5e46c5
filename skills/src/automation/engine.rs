//! The rule engine: triggers start runs (subject to conditions, `mode`,
//! `cooldown` and the loop guard), runs step through their actions until
//! they finish or wait (a `delay`, a `wait_for_trigger`), and every run ends
//! in a [`RunRecord`]. Time only moves through [`Engine::tick`].
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use firmware_bridge::DeviceState;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::action::{Effect, resolve};
use super::check::Checker;
use super::condition::{self, Ctx};
use super::schema::{Mode, RuleError, RuleSpec, Seg, Seq, Step, Trigger, TriggerKind};
use super::{Cause, ConditionTrace, Event, Now, Outcome, Output, RunId, RunRecord, StepTrace, render, trigger};
use crate::registry::Registry;
use crate::templates::TemplateNlu;

/// Chains of rules triggering rules stop at this depth.
pub const MAX_DEPTH: u8 = 5;
/// Camera objects remembered for de-duplication.
const SEEN_CAP: usize = 4096;

/// The home's position, for sun triggers and conditions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Home {
    pub latitude: f64,
    pub longitude: f64,
}

/// Rules that did not compile.
pub type CompileError = Vec<RuleError>;

/// A rule as `hubd automations` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub alias: Option<String>,
    pub enabled: bool,
    pub mode: Mode,
    pub running: usize,
    pub queued: usize,
    /// Triggers refused by the cooldown since start-up.
    pub cooldown_skips: u64,
    pub triggers: Vec<String>,
}

/// What the engine can see of the home.
pub struct World<'a> {
    pub registry: &'a Registry,
    pub states: &'a dyn Fn(&str) -> Option<DeviceState>,
}

struct Rule {
    spec: RuleSpec,
    enabled: bool,
    last_start: Option<i64>,
    running: Vec<RunId>,
    queue: VecDeque<(Value, Option<Cause>)>,
    cooldown_skips: u64,
}

enum Wait {
    None,
    Until(i64),
    Trigger { triggers: Vec<Trigger>, until: Option<i64>, continue_on_timeout: bool, started: i64 },
}

struct Frame {
    seq: Seq,
    idx: usize,
    path: String,
}

struct Run {
    rule: usize,
    vars: Value,
    stack: Vec<Frame>,
    wait: Wait,
    record: RunRecord,
    depth: u8,
    sentence: bool,
    reply: Option<String>,
    replied: bool,
}

struct PendingFor {
    rule: usize,
    trig: usize,
    entity: String,
    deadline: i64,
    data: Value,
    cause: Option<Cause>,
}

/// The engine. See the module docs.
pub struct Engine {
    rules: Vec<Rule>,
    runs: BTreeMap<RunId, Run>,
    next_run: RunId,
    pending: Vec<PendingFor>,
    since: HashMap<String, (String, i64)>,
    last_tick: Option<Now>,
    home: Option<(f64, f64)>,
    seen: HashSet<(usize, usize, String)>,
    seen_order: VecDeque<(usize, usize, String)>,
    sentences: Option<TemplateNlu>,
    /// Queued runs to start once the caller's world is at hand.
    ready: Vec<(usize, Value, Option<Cause>)>,
    /// (rule, trigger) of state/numeric_state triggers by entity, in rule order.
    by_entity: HashMap<String, Vec<(usize, usize)>>,
    /// (rule, trigger) of every other event trigger, in rule order.
    not_state: Vec<(usize, usize)>,
}

/// Cameras and their zones, for checking camera triggers.
pub type Cameras<'a> = &'a [(String, Vec<String>)];

fn sentence_json(specs: &[RuleSpec], language: &str) -> Option<Value> {
    let mut intents = Map::new();
    for (r, s) in specs.iter().enumerate() {
        for (t, trig) in s.triggers.iter().enumerate() {
            if let TriggerKind::Sentence { command } = &trig.kind {
                intents.insert(format!("{r}:{t}"), json!({"data": [{"sentences": command.0}]}));
            }
        }
    }
    (!intents.is_empty()).then(|| json!({"language": language, "intents": intents}))
}

impl Engine {
    /// Check and load rules. `cameras` (`None` = not checked) lists camera
    /// ids with their zones.
    pub fn new(
        specs: Vec<RuleSpec>,
        reg: &Registry,
        home: Option<Home>,
        cameras: Option<Cameras>,
        language: &str,
    ) -> Result<Engine, CompileError> {
        let ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
        let mut errors = Vec::new();
        let mut seen_ids = HashSet::new();
        for s in &specs {
            let mut c =
                Checker { reg, cameras, rules: &ids, home: home.is_some(), rule: s.id.clone(), errors: Vec::new() };
            if !seen_ids.insert(s.id.clone()) {
                c.err(vec![Seg::Key("id".into())], format!("duplicate automation id `{}`", s.id));
            }
            for (i, t) in s.triggers.iter().enumerate() {
                c.trigger(vec![Seg::Key("triggers".into()), Seg::Idx(i)], t);
            }
            for (i, cond) in s.conditions.iter().enumerate() {
                c.condition(vec![Seg::Key("conditions".into()), Seg::Idx(i)], cond);
            }
            c.seq(vec![Seg::Key("actions".into())], &s.actions);
            errors.extend(c.errors);
        }
        let sentences = match sentence_json(&specs, language) {
            None => None,
            Some(doc) => match TemplateNlu::from_language_json_named("automation sentences", &doc.to_string(), reg) {
                Ok(t) => Some(t),
                Err(e) => {
                    errors.push(RuleError { rule: String::new(), path: Vec::new(), message: e.to_string() });
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut by_entity: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut not_state = Vec::new();
        for (r, s) in specs.iter().enumerate() {
            for (t, trig) in s.triggers.iter().enumerate() {
                match &trig.kind {
                    TriggerKind::State { entity_id, .. } | TriggerKind::NumericState { entity_id, .. } => {
                        for e in &entity_id.0 {
                            by_entity.entry(e.clone()).or_default().push((r, t));
                        }
                    }
                    _ => not_state.push((r, t)),
                }
            }
        }
        let rules = specs
            .into_iter()
            .map(|spec| Rule {
                enabled: spec.enabled,
                spec,
                last_start: None,
                running: Vec::new(),
                queue: VecDeque::new(),
                cooldown_skips: 0,
            })
            .collect();
        Ok(Engine {
            rules,
            runs: BTreeMap::new(),
            next_run: 1,
            pending: Vec::new(),
            since: HashMap::new(),
            last_tick: None,
            home: home.map(|h| (h.latitude, h.longitude)),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            sentences,
            ready: Vec::new(),
            by_entity,
            not_state,
        })
    }

    /// The rules, in config order.
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.rules
            .iter()
            .map(|r| RuleInfo {
                id: r.spec.id.clone(),
                alias: r.spec.alias.clone(),
                enabled: r.enabled,
                mode: r.spec.mode,
                running: r.running.len(),
                queued: r.queue.len(),
                cooldown_skips: r.cooldown_skips,
                triggers: r.spec.triggers.iter().map(|t| platform(&t.kind).to_string()).collect(),
            })
            .collect()
    }

    /// Every MQTT topic filter some rule (or waiting run) listens to.
    pub fn mqtt_topics(&self) -> Vec<String> {
        fn walk(seq: &[Step], out: &mut Vec<String>) {
            for s in seq {
                match s {
                    Step::WaitForTrigger { triggers, .. } => out.extend(triggers.iter().filter_map(mqtt_topic)),
                    Step::Choose { options, default } => {
                        options.iter().for_each(|o| walk(&o.sequence, out));
                        walk(default, out);
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for r in &self.rules {
            out.extend(r.spec.triggers.iter().filter_map(mqtt_topic));
            walk(&r.spec.actions, &mut out);
        }
        out.sort();
        out.dedup();
        out
    }

    /// The earliest time a delay, a wait's timeout or a `for` is due.
    pub fn next_deadline(&self) -> Option<i64> {
        let runs = self.runs.values().filter_map(|r| match r.wait {
            Wait::Until(t) => Some(t),
            Wait::Trigger { until, .. } => until,
            Wait::None => None,
        });
        runs.chain(self.pending.iter().map(|p| p.deadline)).min()
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.rules.iter().position(|r| r.spec.id == id)
    }

    /// Enable or disable a rule; disabling cancels its runs and timers.
    pub fn set_enabled(&mut self, id: &str, enabled: bool, now: Now) -> Result<Vec<Output>, String> {
        let r = self.index(id).ok_or_else(|| format!("no automation `{id}`"))?;
        let mut out = Vec::new();
        self.rules[r].enabled = enabled;
        if !enabled {
            self.pending.retain(|p| p.rule != r);
            self.rules[r].queue.clear();
            for run in self.rules[r].running.clone() {
                self.finish(run, Outcome::Cancelled, None, now, &mut out);
            }
        }
        out.push(Output::Enabled { rule: id.to_string(), enabled });
        Ok(out)
    }

    /// Stop every run (reload, shutdown).
    pub fn cancel_all(&mut self, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        self.rules.iter_mut().for_each(|r| r.queue.clear());
        self.pending.clear();
        for id in self.runs.keys().copied().collect::<Vec<_>>() {
            self.finish(id, Outcome::Cancelled, None, now, &mut out);
        }
        out
    }

    /// Run a rule by hand (`hubd automations trigger`): conditions are
    /// skipped unless asked for, as Home Assistant's `automation.trigger`.
    pub fn trigger(&mut self, id: &str, skip_condition: bool, w: &World, now: Now) -> Result<Vec<Output>, String> {
        let r = self.index(id).ok_or_else(|| format!("no automation `{id}`"))?;
        let mut out = Vec::new();
        let t = json!({"platform": "manual", "id": "manual", "idx": "manual"});
        self.start(r, t, None, skip_condition, false, w, now, &mut out);
        Ok(out)
    }

    /// A sentence trigger: the run's outputs (including its `Reply`), or
    /// `None` when no rule's sentence matches `text`.
    pub fn sentence(&mut self, text: &str, w: &World, now: Now) -> Option<Vec<Output>> {
        let m = self.sentences.as_ref()?.recognize(text, &Default::default())?;
        let (r, t) = m.intent.split_once(':')?;
        let (r, t): (usize, usize) = (r.parse().ok()?, t.parse().ok()?);
        if !self.rules.get(r)?.enabled {
            return None;
        }
        let trig = self.rules[r].spec.triggers.get(t)?.clone();
        let slots: Map<String, Value> = m.slots.iter().map(|s| (s.name.clone(), json!(s.text))).collect();
        let data = json!({
            "platform": "conversation", "id": trig.id.unwrap_or_else(|| t.to_string()), "idx": t.to_string(),
            "sentence": text, "slots": slots,
        });
        let mut out = Vec::new();
        self.start(r, data, None, false, true, w, now, &mut out);
        if !out.iter().any(|o| matches!(o, Output::Reply { .. })) {
            // Refused (condition, mode, cooldown): Home Assistant still answers.
            out.push(Output::Reply { run: 0, rule: self.rules[r].spec.id.clone(), text: "Done".into() });
        }
        Some(out)
    }

    /// Something happened.
    pub fn handle(&mut self, ev: &Event, cause: Option<Cause>, w: &World, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        if let Event::State { entity_id, new, .. } = ev {
            let kind = w.registry.device(entity_id).map(|d| d.kind).unwrap_or(firmware_bridge::DeviceKind::Sensor);
            let s = super::state::state_string(kind, Some(new));
            match self.since.get(entity_id) {
                Some((old, _)) if *old == s => {}
                _ => {
                    self.since.insert(entity_id.clone(), (s, now.ms));
                }
            }
            let rules = &self.rules;
            self.pending.retain(|p| {
                p.entity != *entity_id
                    || trigger::still_holds(&rules[p.rule].spec.triggers[p.trig], w.registry, entity_id, new)
            });
        }
        // Runs waiting for a trigger.
        let waiting: Vec<RunId> =
            self.runs.iter().filter(|(_, r)| matches!(r.wait, Wait::Trigger { .. })).map(|(id, _)| *id).collect();
        for id in waiting {
            let Some(run) = self.runs.get_mut(&id) else { continue };
            let Wait::Trigger { triggers, until, started, .. } = &run.wait else { continue };
            let hit = triggers.iter().enumerate().find_map(|(i, t)| trigger::on_event(t, i, ev, w.registry));
            if let Some(data) = hit {
                let remaining = until.map(|u| (u - now.ms).max(0) as f64 / 1000.0);
                let waited = now.ms - started;
                if let Some(v) = run.vars.as_object_mut() {
                    v.insert("wait".into(), json!({"trigger": data, "remaining": remaining}));
                }
                if let Some(st) = run.record.steps.last_mut() {
                    st.detail["waited_ms"] = json!(waited);
                }
                run.wait = Wait::None;
                self.advance(id, w, now, &mut out);
            }
        }
        // Only the triggers that can match: by entity for state changes.
        let candidates: Vec<(usize, usize)> = match ev {
            Event::State { entity_id, .. } => self.by_entity.get(entity_id).cloned().unwrap_or_default(),
            _ => self.not_state.clone(),
        };
        for (r, t) in candidates {
            {
                if !self.rules[r].enabled {
                    continue;
                }
                let trig = &self.rules[r].spec.triggers[t];
                let Some(data) = trigger::on_event(trig, t, ev, w.registry) else { continue };
                if let Some(ms) = trigger::for_ms(trig) {
                    let entity = data["entity_id"].as_str().unwrap_or("").to_string();
                    if !self.pending.iter().any(|p| p.rule == r && p.trig == t && p.entity == entity) {
                        let deadline = now.ms + ms as i64;
                        self.pending.push(PendingFor {
                            rule: r,
                            trig: t,
                            entity,
                            deadline,
                            data,
                            cause: cause.clone(),
                        });
                    }
                    continue;
                }
                if let Event::Camera { kind, after } = ev
                    && !self.fresh_camera(r, t, kind, after)
                {
                    continue;
                }
                self.start(r, data, cause.clone(), false, false, w, now, &mut out);
            }
        }
        self.drain_ready(w, now, &mut out);
        out
    }

    /// De-duplication of camera updates: one run per object and trigger
    /// (an `end` forgets the object).
    fn fresh_camera(&mut self, r: usize, t: usize, kind: &str, after: &Value) -> bool {
        let id = after.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        let key = (r, t, id);
        if kind == "end" {
            self.seen.remove(&key);
            return true;
        }
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.seen_order.push_back(key);
        if self.seen_order.len() > SEEN_CAP
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    /// The clock moved to `now`.
    pub fn tick(&mut self, w: &World, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(prev) = self.last_tick.replace(now) else { return out };
        if now.ms <= prev.ms {
            return out;
        }
        for r in 0..self.rules.len() {
            if !self.rules[r].enabled {
                continue;
            }
            for t in 0..self.rules[r].spec.triggers.len() {
                if let Some(data) = trigger::on_tick(&self.rules[r].spec.triggers[t], t, &prev, &now, self.home) {
                    self.start(r, data, None, false, false, w, now, &mut out);
                }
            }
        }
        let (due, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.deadline <= now.ms);
        self.pending = keep;
        for p in due {
            self.start(p.rule, p.data, p.cause, false, false, w, now, &mut out);
        }
        let due: Vec<RunId> = self
            .runs
            .iter()
            .filter(|(_, r)| match r.wait {
                Wait::Until(t) => t <= now.ms,
                Wait::Trigger { until, .. } => until.is_some_and(|u| u <= now.ms),
                Wait::None => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(run) = self.runs.get_mut(&id) else { continue };
            if let Wait::Trigger { continue_on_timeout, .. } = run.wait {
                if let Some(v) = run.vars.as_object_mut() {
                    v.insert("wait".into(), json!({"trigger": null, "remaining": 0}));
                }
                if let Some(st) = run.record.steps.last_mut() {
                    st.detail["timed_out"] = json!(true);
                }
                if !continue_on_timeout {
                    self.finish(id, Outcome::Timeout, None, now, &mut out);
                    self.drain_ready(w, now, &mut out);
                    continue;
                }
            }
            if let Some(run) = self.runs.get_mut(&id) {
                run.wait = Wait::None;
            }
            self.advance(id, w, now, &mut out);
        }
        self.drain_ready(w, now, &mut out);
        out
    }

    fn record(&self, r: usize, trigger: Value, cause: Option<Cause>, now: Now, outcome: Outcome) -> RunRecord {
        RunRecord {
            run: 0,
            rule: self.rules[r].spec.id.clone(),
            trigger,
            started: now.ms,
            ended: now.ms,
            conditions: Vec::new(),
            steps: Vec::new(),
            outcome,
            error: None,
            cause,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        r: usize,
        trigger: Value,
        cause: Option<Cause>,
        skip_conditions: bool,
        sentence: bool,
        w: &World,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let id = self.rules[r].spec.id.clone();
        if cause.as_ref().is_some_and(|c| c.rule == id || c.depth >= MAX_DEPTH) {
            let mut rec = self.record(r, trigger, cause, now, Outcome::LoopStopped);
            rec.error =
                Some(format!("`{id}` would trigger itself through its own commands (or a chain of {MAX_DEPTH} rules)"));
            out.push(Output::Ended(rec));
            return;
        }
        let mut vars = Map::new();
        vars.insert("trigger".into(), trigger.clone());
        vars.insert("this".into(), json!({"entity_id": format!("automation.{id}")}));
        let mut vars = Value::Object(vars);
        for (k, v) in self.rules[r].spec.variables.clone() {
            let v = match v.as_str() {
                Some(s) => render::render(s, &vars, w.registry, w.states).map(Value::String).unwrap_or(v),
                None => v,
            };
            if let Some(m) = vars.as_object_mut() {
                m.insert(k, v);
            }
        }
        let mut conditions = Vec::new();
        if !skip_conditions {
            let since = |e: &str| self.since.get(e).map(|x| x.1);
            let ctx = Ctx { reg: w.registry, states: w.states, since: &since, now, home: self.home, vars: &vars };
            for (i, c) in self.rules[r].spec.conditions.iter().enumerate() {
                let res = condition::check(c, &ctx);
                let ok = *res.as_ref().unwrap_or(&false);
                let mut desc = condition::describe(c);
                if let Err(e) = res {
                    desc = format!("{desc}: {e}");
                }
                conditions.push(ConditionTrace { path: format!("conditions[{i}]"), condition: desc, result: ok });
                if !ok {
                    let mut rec = self.record(r, trigger, cause, now, Outcome::ConditionFailed);
                    rec.conditions = conditions;
                    out.push(Output::Ended(rec));
                    return;
                }
            }
        }
        let rule = &mut self.rules[r];
        if let Some(cd) = rule.spec.cooldown
            && rule.last_start.is_some_and(|t| now.ms - t < cd.0 as i64)
        {
            rule.cooldown_skips += 1;
            return;
        }
        let running = rule.running.len();
        match rule.spec.mode {
            Mode::Single if running > 0 => {
                let mut rec = self.record(r, trigger, cause, now, Outcome::AlreadyRunning);
                rec.conditions = conditions;
                out.push(Output::Ended(rec));
                return;
            }
            Mode::Restart if running > 0 => {
                for run in rule.running.clone() {
                    self.finish(run, Outcome::Restarted, None, now, out);
                }
            }
            Mode::Queued if running > 0 => {
                if (rule.queue.len() as u32) < rule.spec.max {
                    rule.queue.push_back((trigger, cause));
                } else {
                    let rec = self.record(r, trigger, cause, now, Outcome::MaxExceeded);
                    out.push(Output::Ended(rec));
                }
                return;
            }
            Mode::Parallel if running as u32 >= rule.spec.max => {
                let rec = self.record(r, trigger, cause, now, Outcome::MaxExceeded);
                out.push(Output::Ended(rec));
                return;
            }
            _ => {}
        }
        self.launch(r, vars, cause, conditions, sentence, now, w, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn launch(
        &mut self,
        r: usize,
        vars: Value,
        cause: Option<Cause>,
        conditions: Vec<ConditionTrace>,
        sentence: bool,
        now: Now,
        w: &World,
        out: &mut Vec<Output>,
    ) {
        let id = self.next_run;
        self.next_run += 1;
        let depth = cause.as_ref().map_or(1, |c| c.depth + 1);
        let trigger = vars.get("trigger").cloned().unwrap_or(Value::Null);
        let mut record = self.record(r, trigger.clone(), cause, now, Outcome::Finished);
        record.run = id;
        record.conditions = conditions;
        let rule = &mut self.rules[r];
        rule.last_start = Some(now.ms);
        rule.running.push(id);
        let stack = vec![Frame { seq: rule.spec.actions.clone(), idx: 0, path: "actions".into() }];
        out.push(Output::Started { run: id, rule: rule.spec.id.clone(), trigger });
        let run = Run { rule: r, vars, stack, wait: Wait::None, record, depth, sentence, reply: None, replied: false };
        self.runs.insert(id, run);
        self.advance(id, w, now, out);
    }

    /// Step a run until it waits or ends.
    fn advance(&mut self, id: RunId, w: &World, now: Now, out: &mut Vec<Output>) {
        let names: Vec<String> = self.rules.iter().map(|r| r.spec.id.clone()).collect();
        let mut deferred: Vec<Effect> = Vec::new();
        let end = loop {
            let Some(run) = self.runs.get_mut(&id) else { return };
            let Some(frame) = run.stack.last_mut() else { break Some((Outcome::Finished, None)) };
            let Some(step) = frame.seq.get(frame.idx).cloned() else {
                run.stack.pop();
                continue;
            };
            let path = format!("{}[{}]", frame.path, frame.idx);
            frame.idx += 1;
            let mut trace = StepTrace {
                path: path.clone(),
                kind: kind(&step).into(),
                detail: Value::Null,
                at: now.ms,
                command_ids: Vec::new(),
                error: None,
            };
            match step {
                Step::Service { service, target, data } => {
                    match resolve(&service, &target, &data, w.registry, w.states, &run.vars, &names, false) {
                        Err(e) => {
                            trace.detail = json!({"action": service});
                            trace.error = Some(e.clone());
                            run.record.steps.push(trace);
                            break Some((Outcome::Error, Some(e)));
                        }
                        Ok(Effect::Commands { entities, commands }) => {
                            trace.detail = json!({"action": service, "entities": entities, "commands": commands.iter().map(|c| c.action.describe()).collect::<Vec<_>>()});
                            run.record.steps.push(trace);
                            let step = run.record.steps.len() - 1;
                            let rule = run.record.rule.clone();
                            out.push(Output::Commands { run: id, rule, depth: run.depth, step, commands });
                        }
                        Ok(Effect::Publish { topic, payload, retain }) => {
                            trace.detail = json!({"action": service, "topic": topic, "payload": payload});
                            run.record.steps.push(trace);
                            out.push(Output::Publish { run: id, topic, payload, retain });
                        }
                        Ok(Effect::Notify { target, title, message }) => {
                            trace.detail = json!({"action": service, "message": message});
                            run.record.steps.push(trace);
                            let rule = run.record.rule.clone();
                            out.push(Output::Notify { run: id, rule, target, title, message });
                        }
                        Ok(Effect::Announce { message }) => {
                            trace.detail = json!({"action": service, "message": message});
                            run.record.steps.push(trace);
                            let rule = run.record.rule.clone();
                            out.push(Output::Announce { run: id, rule, message });
                        }
                        Ok(e) => {
                            trace.detail = json!({"action": service});
                            run.record.steps.push(trace);
                            deferred.push(e);
                        }
                    }
                }
                Step::Delay(d) => {
                    trace.detail = json!({"delay_ms": d.0});
                    run.record.steps.push(trace);
                    run.wait = Wait::Until(now.ms + d.0 as i64);
                    break None;
                }
                Step::WaitForTrigger { triggers, timeout, continue_on_timeout } => {
                    trace.detail = json!({"timeout_ms": timeout.map(|t| t.0)});
                    run.record.steps.push(trace);
                    let until = timeout.map(|t| now.ms + t.0 as i64);
                    run.wait = Wait::Trigger { triggers, until, continue_on_timeout, started: now.ms };
                    break None;
                }
                Step::Choose { options, default } => {
                    let since = |e: &str| self.since.get(e).map(|x| x.1);
                    let ctx =
                        Ctx { reg: w.registry, states: w.states, since: &since, now, home: self.home, vars: &run.vars };
                    let chosen = options
                        .iter()
                        .position(|o| o.conditions.iter().all(|c| condition::check(c, &ctx).unwrap_or(false)));
                    trace.detail = json!({"choice": chosen.map_or(json!("default"), |i| json!(i))});
                    run.record.steps.push(trace);
                    let (seq, sub) = match chosen {
                        Some(i) => (options[i].sequence.clone(), format!("{path}.choose[{i}].sequence")),
                        None => (default, format!("{path}.default")),
                    };
                    run.stack.push(Frame { seq, idx: 0, path: sub });
                }
                Step::Condition(c) => {
                    let since = |e: &str| self.since.get(e).map(|x| x.1);
                    let ctx =
                        Ctx { reg: w.registry, states: w.states, since: &since, now, home: self.home, vars: &run.vars };
                    let res = condition::check(&c, &ctx);
                    let ok = *res.as_ref().unwrap_or(&false);
                    trace.detail = json!({"condition": condition::describe(&c), "result": ok});
                    trace.error = res.err();
                    run.record.steps.push(trace);
                    if !ok {
                        break Some((Outcome::ConditionStopped, None));
                    }
                }
                Step::Variables(vars) => {
                    for (k, v) in vars {
                        let v = match v.as_str() {
                            Some(s) => {
                                render::render(s, &run.vars, w.registry, w.states).map(Value::String).unwrap_or(v)
                            }
                            None => v,
                        };
                        if let Some(m) = run.vars.as_object_mut() {
                            m.insert(k, v);
                        }
                    }
                    run.record.steps.push(trace);
                }
                Step::Stop(why) => {
                    trace.detail = json!({"stop": why});
                    run.record.steps.push(trace);
                    break Some((Outcome::Stopped, None));
                }
                Step::ConversationResponse(t) => {
                    let text = render::render(&t, &run.vars, w.registry, w.states).unwrap_or(t);
                    trace.detail = json!({"response": text});
                    run.record.steps.push(trace);
                    run.reply = Some(text);
                }
            }
        };
        let cause = self.runs.get(&id).map(|r| Cause { rule: r.record.rule.clone(), depth: r.depth });
        match end {
            Some((outcome, err)) => self.finish(id, outcome, err, now, out),
            None => self.reply_once(id, out),
        }
        self.drain_ready(w, now, out);
        for e in deferred {
            match e {
                Effect::Enable { rules, enabled } => {
                    for r in rules {
                        if let Ok(o) = self.set_enabled(&r, enabled, now) {
                            out.extend(o);
                        }
                    }
                }
                Effect::Trigger { rules } => {
                    for r in rules {
                        if let Some(i) = self.index(&r) {
                            let t = json!({"platform": "automation", "id": "automation", "idx": "automation"});
                            self.start(i, t, cause.clone(), true, false, w, now, out);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn reply_once(&mut self, id: RunId, out: &mut Vec<Output>) {
        if let Some(run) = self.runs.get_mut(&id)
            && run.sentence
            && !run.replied
        {
            run.replied = true;
            let text = run.reply.clone().unwrap_or_else(|| "Done".into());
            out.push(Output::Reply { run: id, rule: run.record.rule.clone(), text });
        }
    }

    fn finish(&mut self, id: RunId, outcome: Outcome, error: Option<String>, now: Now, out: &mut Vec<Output>) {
        self.reply_once(id, out);
        let Some(mut run) = self.runs.remove(&id) else { return };
        run.record.ended = now.ms;
        run.record.outcome = outcome;
        run.record.error = error;
        out.push(Output::Ended(run.record));
        let r = run.rule;
        self.rules[r].running.retain(|x| *x != id);
        if self.rules[r].spec.mode == Mode::Queued
            && self.rules[r].running.is_empty()
            && let Some((trigger, cause)) = self.rules[r].queue.pop_front()
        {
            let mut vars = Map::new();
            vars.insert("trigger".into(), trigger);
            // The queued trigger's conditions were checked when it came in.
            self.ready.push((r, Value::Object(vars), cause));
        }
    }

    /// Start queued runs whose turn has come.
    fn drain_ready(&mut self, w: &World, now: Now, out: &mut Vec<Output>) {
        while let Some((r, vars, cause)) = self.ready.pop() {
            self.launch(r, vars, cause, Vec::new(), false, now, w, out);
        }
    }
}

fn kind(s: &Step) -> &'static str {
    match s {
        Step::Service { .. } => "action",
        Step::Delay(_) => "delay",
        Step::WaitForTrigger { .. } => "wait_for_trigger",
        Step::Choose { .. } => "choose",
        Step::Condition(_) => "condition",
        Step::Variables(_) => "variables",
        Step::Stop(_) => "stop",
        Step::ConversationResponse(_) => "set_conversation_response",
    }
}

fn platform(k: &TriggerKind) -> &'static str {
    match k {
        TriggerKind::State { .. } => "state",
        TriggerKind::NumericState { .. } => "numeric_state",
        TriggerKind::Event { .. } => "event",
        TriggerKind::Motion { .. } => "motion",
        TriggerKind::Time { .. } => "time",
        TriggerKind::Sun { .. } => "sun",
        TriggerKind::TimePattern { .. } => "time_pattern",
        TriggerKind::Sentence { .. } => "sentence",
        TriggerKind::Mqtt { .. } => "mqtt",
        TriggerKind::HubdStart {} => "hubd_start",
    }
}

fn mqtt_topic(t: &Trigger) -> Option<String> {
    match &t.kind {
        TriggerKind::Mqtt { topic, .. } => Some(topic.clone()),
        _ => None,
    }
}
