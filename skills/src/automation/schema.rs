//! The rule language: Home Assistant's automation vocabulary in TOML
//! (`[[automation]]`), read from a JSON value so the daemon's config loader
//! can point an error at its file, line and column through [`Path`].
//!
//! Names follow Home Assistant wherever one exists: `triggers` with
//! `trigger = "state" | "numeric_state" | "time" | "sun" | "time_pattern" |
//! "mqtt" | "sentence"` (`platform` is accepted as the older spelling),
//! `conditions` with `condition = "state" | "numeric_state" | "time" | "sun" |
//! "zone" | "and" | "or" | "not" | "trigger" | "template"`, `actions` with
//! `action = "light.turn_on"`, `target`, `data`, `delay`, `wait_for_trigger`,
//! `choose`, `variables`, `stop`, `set_conversation_response`, and `mode` /
//! `max`. hubd adds the camera triggers (`event`, `motion`), `hubd_start`
//! (Home Assistant's `homeassistant` start event) and `cooldown`.
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

/// One step of a location inside a rule (`triggers[0].to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Idx(usize),
}

/// Where in a rule something is.
pub type Path = Vec<Seg>;

/// `triggers[0].to`.
pub fn path_str(p: &[Seg]) -> String {
    let mut s = String::new();
    for seg in p {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Idx(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A problem in one rule, with where it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("automation `{rule}`: {message}")]
pub struct RuleError {
    pub rule: String,
    pub path: Path,
    pub message: String,
}

/// A duration in milliseconds: `"HH:MM:SS"`, a number of seconds, or
/// `{ hours, minutes, seconds, milliseconds }` (Home Assistant's forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dur(pub u64);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        parse_duration(&v).map(Dur).map_err(serde::de::Error::custom)
    }
}

/// Parse a Home Assistant duration into milliseconds.
pub fn parse_duration(v: &Value) -> Result<u64, String> {
    let bad = || format!("`{v}` is not a duration (\"HH:MM:SS\", seconds, or {{ hours, minutes, seconds }})");
    match v {
        Value::Number(n) => {
            n.as_f64().filter(|s| *s >= 0.0 && s.is_finite()).map(|s| (s * 1000.0) as u64).ok_or_else(bad)
        }
        Value::String(s) => {
            let (neg, s) = s.strip_prefix('-').map_or((false, s.as_str()), |r| (true, r));
            if neg {
                return Err(bad());
            }
            let parts: Vec<&str> = s.split(':').collect();
            if parts.is_empty() || parts.len() > 3 {
                return Err(bad());
            }
            let mut ms = 0f64;
            for (i, p) in parts.iter().rev().enumerate() {
                let x: f64 = p.trim().parse().map_err(|_| bad())?;
                if x < 0.0 || !x.is_finite() {
                    return Err(bad());
                }
                ms += x * [1000.0, 60_000.0, 3_600_000.0][i];
            }
            Ok(ms as u64)
        }
        Value::Object(m) => {
            let mut ms = 0f64;
            for (k, x) in m {
                let f = match k.as_str() {
                    "days" => 86_400_000.0,
                    "hours" => 3_600_000.0,
                    "minutes" => 60_000.0,
                    "seconds" => 1000.0,
                    "milliseconds" => 1.0,
                    _ => {
                        return Err(format!(
                            "unknown duration key `{k}` (days, hours, minutes, seconds, milliseconds)"
                        ));
                    }
                };
                ms += x.as_f64().filter(|x| *x >= 0.0).ok_or_else(bad)? * f;
            }
            Ok(ms as u64)
        }
        _ => Err(bad()),
    }
}

/// A signed offset (`"-00:30:00"`, `-1800`), for sun events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offset(pub i64);

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let (neg, v) = match &v {
            Value::String(s) if s.starts_with('-') => (true, Value::String(s[1..].to_string())),
            Value::Number(n) if n.as_f64().is_some_and(|x| x < 0.0) => {
                (true, serde_json::json!(-n.as_f64().unwrap_or(0.0)))
            }
            other => (false, other.clone()),
        };
        let ms = parse_duration(&v).map_err(serde::de::Error::custom)? as i64;
        Ok(Offset(if neg { -ms } else { ms }))
    }
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct List(pub Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(List(vec![s])),
            Value::Array(a) => a
                .into_iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s),
                    Value::Bool(b) => Ok(if b { "on".into() } else { "off".into() }),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(serde::de::Error::custom(format!("expected a string, found `{other}`"))),
                })
                .collect::<Result<_, _>>()
                .map(List),
            Value::Bool(b) => Ok(List(vec![if b { "on".into() } else { "off".into() }])),
            Value::Number(n) => Ok(List(vec![n.to_string()])),
            other => Err(serde::de::Error::custom(format!("expected a string or a list of strings, found `{other}`"))),
        }
    }
}

impl List {
    pub fn contains(&self, s: &str) -> bool {
        self.0.iter().any(|x| x == s)
    }
}

/// `mode`: what a new trigger does while the rule is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Ignore the new trigger (reported as `already_running`).
    #[default]
    Single,
    /// Stop the running run and start a new one.
    Restart,
    /// Run after the running ones, up to `max` waiting.
    Queued,
    /// Run beside the running ones, up to `max` at once.
    Parallel,
}

/// `sunrise` or `sunset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SunEvent {
    Sunrise,
    Sunset,
}

/// A `time_pattern` field: `"*"`, `"/5"` (every 5th) or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Any,
    Every(u32),
    At(u32),
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let bad = || serde::de::Error::custom(format!("`{v}` is not a time pattern (\"*\", \"/5\" or a number)"));
        match &v {
            Value::Number(n) => n.as_u64().map(|x| Pattern::At(x as u32)).ok_or_else(bad),
            Value::String(s) if s == "*" => Ok(Pattern::Any),
            Value::String(s) => match s.strip_prefix('/') {
                Some(n) => n.parse().ok().filter(|x| *x > 0).map(Pattern::Every).ok_or_else(bad),
                None => s.parse().map(Pattern::At).map_err(|_| bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl Pattern {
    pub fn matches(self, x: u32) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Every(n) => x.is_multiple_of(n),
            Pattern::At(a) => x == a,
        }
    }
}

/// A trigger platform and its options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "trigger", rename_all = "snake_case", deny_unknown_fields)]
pub enum TriggerKind {
    State {
        entity_id: List,
        #[serde(default)]
        attribute: Option<String>,
        #[serde(default)]
        from: Option<List>,
        #[serde(default)]
        to: Option<List>,
        #[serde(default, rename = "for")]
        for_: Option<Dur>,
    },
    NumericState {
        entity_id: List,
        #[serde(default)]
        attribute: Option<String>,
        #[serde(default)]
        above: Option<f64>,
        #[serde(default)]
        below: Option<f64>,
        #[serde(default, rename = "for")]
        for_: Option<Dur>,
    },
    /// A camera event (Frigate's `new` / `update` / `end`).
    Event {
        #[serde(default)]
        camera: Option<List>,
        #[serde(default)]
        label: Option<List>,
        /// Fires when the object has entered this zone.
        #[serde(default)]
        zone: Option<String>,
        #[serde(default)]
        min_score: Option<f64>,
        /// Event types, default `new` (and `update`s that newly enter `zone`).
        #[serde(default, rename = "type")]
        types: Option<List>,
    },
    /// Camera motion turning on or off.
    Motion {
        #[serde(default)]
        camera: Option<List>,
        #[serde(default)]
        to: Option<String>,
    },
    Time {
        at: List,
    },
    Sun {
        event: SunEvent,
        #[serde(default)]
        offset: Offset,
    },
    TimePattern {
        #[serde(default)]
        hours: Option<Pattern>,
        #[serde(default)]
        minutes: Option<Pattern>,
        #[serde(default)]
        seconds: Option<Pattern>,
    },
    Sentence {
        command: List,
    },
    Mqtt {
        topic: String,
        #[serde(default)]
        payload: Option<String>,
    },
    HubdStart {},
}

/// A trigger with its optional `id` (what `trigger.id` and the `trigger`
/// condition see).
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub id: Option<String>,
    pub kind: TriggerKind,
}

/// A condition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    State {
        entity_id: List,
        state: List,
        #[serde(default)]
        attribute: Option<String>,
        #[serde(default, rename = "for")]
        for_: Option<Dur>,
    },
    NumericState {
        entity_id: List,
        #[serde(default)]
        attribute: Option<String>,
        #[serde(default)]
        above: Option<f64>,
        #[serde(default)]
        below: Option<f64>,
    },
    Time {
        #[serde(default)]
        after: Option<String>,
        #[serde(default)]
        before: Option<String>,
        #[serde(default)]
        weekday: Option<List>,
    },
    Sun {
        #[serde(default)]
        after: Option<SunEvent>,
        #[serde(default)]
        after_offset: Offset,
        #[serde(default)]
        before: Option<SunEvent>,
        #[serde(default)]
        before_offset: Offset,
    },
    Zone {
        entity_id: List,
        zone: String,
    },
    And {
        conditions: Vec<Condition>,
    },
    Or {
        conditions: Vec<Condition>,
    },
    Not {
        conditions: Vec<Condition>,
    },
    Trigger {
        id: List,
    },
    Template {
        value_template: String,
    },
}

/// `target` of a service action.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default)]
    pub entity_id: Option<List>,
    #[serde(default)]
    pub area_id: Option<List>,
    #[serde(default)]
    pub floor_id: Option<List>,
}

/// One `choose` option.
#[derive(Debug, Clone, PartialEq)]
pub struct ChooseOption {
    pub conditions: Vec<Condition>,
    pub sequence: Seq,
}

/// A sequence of steps, shared by running runs.
pub type Seq = Arc<[Step]>;

/// One action step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `action = "domain.service"` with `target` and `data`.
    Service {
        service: String,
        target: Target,
        data: Map<String, Value>,
    },
    Delay(Dur),
    WaitForTrigger {
        triggers: Vec<Trigger>,
        timeout: Option<Dur>,
        continue_on_timeout: bool,
    },
    Choose {
        options: Vec<ChooseOption>,
        default: Seq,
    },
    Condition(Condition),
    Variables(Map<String, Value>),
    Stop(String),
    ConversationResponse(String),
}

/// A rule as written.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub id: String,
    pub alias: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub mode: Mode,
    pub max: u32,
    pub cooldown: Option<Dur>,
    pub triggers: Vec<Trigger>,
    pub conditions: Vec<Condition>,
    pub actions: Seq,
    pub variables: Map<String, Value>,
}

struct Reader<'a> {
    rule: &'a str,
    errors: Vec<RuleError>,
}

fn key(path: &[Seg], k: &str) -> Path {
    let mut p = path.to_vec();
    p.push(Seg::Key(k.to_string()));
    p
}

fn idx(path: &[Seg], i: usize) -> Path {
    let mut p = path.to_vec();
    p.push(Seg::Idx(i));
    p
}

impl Reader<'_> {
    fn err(&mut self, path: Path, message: impl Into<String>) {
        self.errors.push(RuleError { rule: self.rule.to_string(), path, message: message.into() });
    }

    /// serde with the failing field's path appended to `path`.
    fn de<T: for<'de> Deserialize<'de>>(&mut self, path: &[Seg], v: &Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(v) {
            Ok(t) => Some(t),
            Err(e) => {
                let mut p = path.to_vec();
                for s in e.path().iter() {
                    match s {
                        serde_path_to_error::Segment::Map { key } => p.push(Seg::Key(key.clone())),
                        serde_path_to_error::Segment::Seq { index } => p.push(Seg::Idx(*index)),
                        _ => {}
                    }
                }
                let msg = e.into_inner().to_string();
                self.err(p, msg);
                None
            }
        }
    }

    /// A list, or one table standing for a list of one.
    fn list<'v>(&mut self, path: &[Seg], v: &'v Value) -> Vec<&'v Value> {
        match v {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![v],
            _ => {
                self.err(path.to_vec(), "expected a list of tables");
                Vec::new()
            }
        }
    }

    fn triggers(&mut self, path: &[Seg], v: &Value) -> Vec<Trigger> {
        let items = self.list(path, v);
        let many = matches!(v, Value::Array(_));
        let mut out = Vec::new();
        for (i, t) in items.into_iter().enumerate() {
            let p = if many { idx(path, i) } else { path.to_vec() };
            let Some(mut m) = t.as_object().cloned() else {
                self.err(p, "a trigger is a table with `trigger = \"<platform>\"`");
                continue;
            };
            if let Some(pl) = m.remove("platform")
                && !m.contains_key("trigger")
            {
                m.insert("trigger".into(), pl);
            }
            let id = match m.remove("id") {
                None => None,
                Some(Value::String(s)) => Some(s),
                Some(other) => Some(other.to_string()),
            };
            if !m.contains_key("trigger") {
                self.err(p, "missing `trigger` (the platform: state, numeric_state, event, motion, time, sun, time_pattern, sentence, mqtt, hubd_start)");
                continue;
            }
            if let Some(kind) = self.de::<TriggerKind>(&p, &Value::Object(m)) {
                out.push(Trigger { id, kind });
            }
        }
        out
    }

    fn conditions(&mut self, path: &[Seg], v: &Value) -> Vec<Condition> {
        let items = self.list(path, v);
        let many = matches!(v, Value::Array(_));
        let mut out = Vec::new();
        for (i, c) in items.into_iter().enumerate() {
            let p = if many { idx(path, i) } else { path.to_vec() };
            if let Some(c) = self.de::<Condition>(&p, c) {
                out.push(c);
            }
        }
        out
    }

    fn seq(&mut self, path: &[Seg], v: &Value) -> Seq {
        let items = self.list(path, v);
        let many = matches!(v, Value::Array(_));
        let mut out = Vec::new();
        for (i, s) in items.into_iter().enumerate() {
            let p = if many { idx(path, i) } else { path.to_vec() };
            if let Some(s) = self.step(&p, s) {
                out.push(s);
            }
        }
        out.into()
    }

    fn step(&mut self, path: &[Seg], v: &Value) -> Option<Step> {
        let Some(m) = v.as_object() else {
            self.err(path.to_vec(), "an action is a table");
            return None;
        };
        let allowed = |keys: &[&str], me: &mut Self| {
            for k in m.keys() {
                if !keys.contains(&k.as_str()) && k != "alias" && k != "enabled" {
                    me.err(key(path, k), format!("unknown key `{k}` here (expected one of {})", keys.join(", ")));
                }
            }
        };
        if let Some(s) = m.get("action").or_else(|| m.get("service")) {
            allowed(&["action", "service", "target", "data"], self);
            let Some(service) = s.as_str() else {
                self.err(key(path, "action"), "expected `domain.service`");
                return None;
            };
            let target = match m.get("target") {
                Some(t) => self.de::<Target>(&key(path, "target"), t)?,
                None => Target::default(),
            };
            let data = match m.get("data") {
                Some(Value::Object(d)) => d.clone(),
                Some(_) => {
                    self.err(key(path, "data"), "expected a table");
                    return None;
                }
                None => Map::new(),
            };
            return Some(Step::Service { service: service.to_string(), target, data });
        }
        if let Some(d) = m.get("delay") {
            allowed(&["delay"], self);
            return self.de::<Dur>(&key(path, "delay"), d).map(Step::Delay);
        }
        if let Some(w) = m.get("wait_for_trigger") {
            allowed(&["wait_for_trigger", "timeout", "continue_on_timeout"], self);
            let triggers = self.triggers(&key(path, "wait_for_trigger"), w);
            let timeout = match m.get("timeout") {
                Some(t) => Some(self.de::<Dur>(&key(path, "timeout"), t)?),
                None => None,
            };
            let continue_on_timeout = m.get("continue_on_timeout").and_then(Value::as_bool).unwrap_or(true);
            return Some(Step::WaitForTrigger { triggers, timeout, continue_on_timeout });
        }
        if let Some(c) = m.get("choose") {
            allowed(&["choose", "default"], self);
            let mut options = Vec::new();
            let cp = key(path, "choose");
            for (i, o) in self.list(&cp, c).into_iter().enumerate() {
                let op = idx(&cp, i);
                let conditions = match o.get("conditions") {
                    Some(cv) => self.conditions(&key(&op, "conditions"), cv),
                    None => Vec::new(),
                };
                let Some(sv) = o.get("sequence") else {
                    self.err(op, "a `choose` option needs a `sequence`");
                    continue;
                };
                let sequence = self.seq(&key(&op, "sequence"), sv);
                options.push(ChooseOption { conditions, sequence });
            }
            let default = match m.get("default") {
                Some(d) => self.seq(&key(path, "default"), d),
                None => Vec::new().into(),
            };
            return Some(Step::Choose { options, default });
        }
        if m.contains_key("condition") {
            return self.de::<Condition>(path, v).map(Step::Condition);
        }
        if let Some(vars) = m.get("variables") {
            allowed(&["variables"], self);
            return match vars {
                Value::Object(o) => Some(Step::Variables(o.clone())),
                _ => {
                    self.err(key(path, "variables"), "expected a table");
                    None
                }
            };
        }
        if let Some(s) = m.get("stop") {
            allowed(&["stop"], self);
            return Some(Step::Stop(s.as_str().unwrap_or("stopped").to_string()));
        }
        if let Some(s) = m.get("set_conversation_response") {
            allowed(&["set_conversation_response"], self);
            return match s.as_str() {
                Some(s) => Some(Step::ConversationResponse(s.to_string())),
                None => {
                    self.err(key(path, "set_conversation_response"), "expected a string");
                    None
                }
            };
        }
        self.err(
            path.to_vec(),
            "unknown action (expected `action`, `delay`, `wait_for_trigger`, `choose`, `condition`, `variables`, `stop` or `set_conversation_response`)",
        );
        None
    }
}

const RULE_KEYS: &[&str] = &[
    "id",
    "alias",
    "description",
    "enabled",
    "mode",
    "max",
    "cooldown",
    "triggers",
    "trigger",
    "conditions",
    "condition",
    "actions",
    "action",
    "variables",
];

/// Read one rule. Every problem is reported, not only the first.
pub fn parse_rule(v: &Value) -> Result<RuleSpec, Vec<RuleError>> {
    let id = v.get("id").and_then(Value::as_str).unwrap_or("").to_string();
    let mut r = Reader { rule: &id, errors: Vec::new() };
    let Some(m) = v.as_object() else {
        r.err(Vec::new(), "an automation is a table");
        return Err(r.errors);
    };
    for k in m.keys() {
        if !RULE_KEYS.contains(&k.as_str()) {
            r.err(vec![Seg::Key(k.clone())], format!("unknown key `{k}` (expected one of {})", RULE_KEYS.join(", ")));
        }
    }
    if id.is_empty() {
        r.err(vec![Seg::Key("id".into())], "missing `id` (a unique name for the rule)");
    } else if !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        r.err(vec![Seg::Key("id".into())], format!("invalid id `{id}`: lowercase letters, digits and `_`"));
    }
    let get = |a: &'static str, b: &'static str| m.get(a).map(|v| (a, v)).or_else(|| m.get(b).map(|v| (b, v)));
    let triggers = match get("triggers", "trigger") {
        Some((k, t)) => r.triggers(&[Seg::Key(k.into())], t),
        None => {
            r.err(Vec::new(), "missing `triggers`");
            Vec::new()
        }
    };
    let conditions = match get("conditions", "condition") {
        Some((k, c)) => r.conditions(&[Seg::Key(k.into())], c),
        None => Vec::new(),
    };
    let actions = match get("actions", "action") {
        Some((k, a)) => {
            let s = r.seq(&[Seg::Key(k.into())], a);
            if s.is_empty() && r.errors.is_empty() {
                r.err(vec![Seg::Key(k.into())], "`actions` is empty");
            }
            s
        }
        None => {
            r.err(Vec::new(), "missing `actions`");
            Vec::new().into()
        }
    };
    let mode = match m.get("mode") {
        Some(x) => r.de::<Mode>(&[Seg::Key("mode".into())], x).unwrap_or_default(),
        None => Mode::Single,
    };
    let max = match m.get("max") {
        Some(x) => match x.as_u64().filter(|n| *n >= 1 && *n <= 10_000) {
            Some(n) => n as u32,
            None => {
                r.err(vec![Seg::Key("max".into())], "`max` is a whole number from 1 to 10000");
                10
            }
        },
        None => 10,
    };
    let cooldown = m.get("cooldown").and_then(|c| r.de::<Dur>(&[Seg::Key("cooldown".into())], c));
    let variables = match m.get("variables") {
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            r.err(vec![Seg::Key("variables".into())], "expected a table");
            Map::new()
        }
        None => Map::new(),
    };
    let text = |k: &str, r: &mut Reader| match m.get(k) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            r.err(vec![Seg::Key(k.into())], "expected a string");
            None
        }
    };
    let alias = text("alias", &mut r);
    let description = text("description", &mut r);
    let enabled = match m.get("enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            r.err(vec![Seg::Key("enabled".into())], "expected true or false");
            true
        }
    };
    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    Ok(RuleSpec { id, alias, description, enabled, mode, max, cooldown, triggers, conditions, actions, variables })
}
