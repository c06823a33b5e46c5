//! Sampling one sentence from a parsed template: alternatives and optionals
//! pick a random branch, permutations a random order, `<rules>` expand,
//! `{lists}` take a random value (the registry's names / areas / floors, the
//! language's value lists, numbers from range lists). The byte span of every
//! slot value in the produced text is recorded.

use std::collections::HashMap;
use std::ops::Range;

use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Map, Value};

use crate::registry::Registry;
use crate::templates::{Expr, ListRef, parse_sentence};

/// Rules nest (`<are_any>` -> `<any>` -> `<the>`); deeper means a loop.
const MAX_DEPTH: usize = 32;

/// Values for wildcard lists the skills use (free text in the templates).
const WILDCARD_SAMPLES: &[(&str, &[&str])] =
    &[("timer_name", &["pizza", "tea", "pasta", "laundry", "eggs", "bread", "oven", "nap"])];

/// One list's values.
#[derive(Debug, Clone)]
pub(crate) enum ListValues {
    /// Spoken forms (parsed, `(closed|shut)` is a template) with the value's
    /// context (`domain`, `device_class` for registry names).
    Values(Vec<(Expr, Map<String, Value>)>),
    /// Numbers `from..=to` by `step`; `temperature` ranges sample a
    /// plausible thermostat band.
    Range { from: i64, to: i64, step: i64, temperature: bool },
}

/// Every list a sentence can refer to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lists {
    lists: HashMap<String, ListValues>,
}

fn text_expr(s: &str) -> Expr {
    Expr::Text(s.to_string())
}

fn range_of(v: &Value) -> Option<ListValues> {
    let r = v.get("range")?;
    let from = r.get("from")?.as_i64()?;
    let to = r.get("to")?.as_i64()?;
    let step = r.get("step").and_then(Value::as_i64).unwrap_or(1).max(1);
    let temperature = r.get("type").and_then(Value::as_str) == Some("temperature");
    (from <= to).then_some(ListValues::Range { from, to, step, temperature })
}

fn values_of(v: &Value) -> Option<ListValues> {
    let items = v.get("values")?.as_array()?;
    let mut out = Vec::new();
    for it in items {
        let (spoken, ctx) = match it {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Object(o) => {
                let Some(s) = o.get("in").and_then(Value::as_str) else { continue };
                let ctx = o.get("context").and_then(Value::as_object).cloned().unwrap_or_default();
                (s, ctx)
            }
            _ => continue,
        };
        match parse_sentence(spoken) {
            Ok(e) => out.push((e, ctx)),
            Err(_) => out.push((text_expr(spoken), ctx)),
        }
    }
    (!out.is_empty()).then_some(ListValues::Values(out))
}

impl Lists {
    /// The language's `lists` plus the registry's `name` / `area` / `floor`
    /// (names and aliases, as the matcher fills them).
    pub(crate) fn new(doc: &Map<String, Value>, reg: &Registry) -> Self {
        let mut lists = HashMap::new();
        if let Some(Value::Object(ls)) = doc.get("lists") {
            for (name, v) in ls {
                if let Some(l) = range_of(v).or_else(|| values_of(v)) {
                    lists.insert(name.clone(), l);
                }
            }
        }
        for (name, samples) in WILDCARD_SAMPLES {
            lists
                .entry((*name).to_string())
                .or_insert_with(|| ListValues::Values(samples.iter().map(|s| (text_expr(s), Map::new())).collect()));
        }
        let mut names = Vec::new();
        for d in &reg.devices {
            let mut ctx = Map::new();
            ctx.insert("domain".into(), Value::String(d.kind.domain().into()));
            if let Some(dc) = &d.device_class {
                ctx.insert("device_class".into(), Value::String(dc.clone()));
            }
            for n in std::iter::once(&d.name).chain(&d.aliases) {
                if !n.trim().is_empty() {
                    names.push((text_expr(n.trim()), ctx.clone()));
                }
            }
        }
        let areas = reg.areas.iter().flat_map(|a| std::iter::once(&a.name).chain(&a.aliases));
        let floors = reg.floors.iter().flat_map(|f| std::iter::once(&f.name).chain(&f.aliases));
        for (key, vals) in [
            ("name", names),
            ("area", areas.filter(|n| !n.trim().is_empty()).map(|n| (text_expr(n.trim()), Map::new())).collect()),
            ("floor", floors.filter(|n| !n.trim().is_empty()).map(|n| (text_expr(n.trim()), Map::new())).collect()),
        ] {
            if vals.is_empty() {
                lists.remove(key);
            } else {
                lists.insert(key.to_string(), ListValues::Values(vals));
            }
        }
        Lists { lists }
    }
}

/// `requires_context` / `excludes_context` of one data block, as far as
/// list values carry context (the registry's `domain` / `device_class`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ContextRules {
    pub requires: Map<String, Value>,
    pub excludes: Map<String, Value>,
}

fn allowed(spec: &Value) -> Option<Vec<&str>> {
    match spec {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect()),
        // `{"slot": true}` etc. are satisfied by the satellite, not a value.
        _ => None,
    }
}

impl ContextRules {
    fn accepts(&self, ctx: &Map<String, Value>) -> bool {
        let has = |key: &str| ctx.get(key).and_then(Value::as_str);
        for (key, spec) in &self.requires {
            if let (Some(ok), Some(v)) = (allowed(spec), has(key))
                && !ok.contains(&v)
            {
                return false;
            }
            // A value list without the key cannot satisfy a required domain.
            if allowed(spec).is_some() && has(key).is_none() && key != "area" && !ctx.is_empty() {
                return false;
            }
        }
        for (key, spec) in &self.excludes {
            if let (Some(bad), Some(v)) = (allowed(spec), has(key))
                && bad.contains(&v)
            {
                return false;
            }
        }
        true
    }
}

/// A sampled sentence: the text and `(slot, byte range)` per slot value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sampled {
    pub text: String,
    pub slots: Vec<(String, Range<usize>)>,
}

/// The sampler for one data block.
pub(crate) struct Expander<'a> {
    pub lists: &'a Lists,
    pub global_rules: &'a HashMap<String, Expr>,
    pub local_rules: &'a HashMap<String, Expr>,
    pub context: &'a ContextRules,
}

/// Why a sentence could not be sampled (a list with no usable value).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NoValue;

impl Expander<'_> {
    /// Sample `e` into text; `None` when a list it needs has no value that
    /// fits (no registry device of the required domain, a free-text list).
    pub(crate) fn sample<R: Rng>(&self, e: &Expr, rng: &mut R) -> Result<Sampled, NoValue> {
        let mut raw = String::new();
        let mut slots = Vec::new();
        self.walk(e, rng, &mut raw, &mut slots, 0, true)?;
        Ok(collapse_whitespace(&raw, &slots))
    }

    fn walk<R: Rng>(
        &self,
        e: &Expr,
        rng: &mut R,
        out: &mut String,
        slots: &mut Vec<(String, Range<usize>)>,
        depth: usize,
        record: bool,
    ) -> Result<(), NoValue> {
        if depth > MAX_DEPTH {
            return Err(NoValue);
        }
        match e {
            Expr::Text(t) => out.push_str(t),
            Expr::Seq(items) => {
                for i in items {
                    self.walk(i, rng, out, slots, depth + 1, record)?;
                }
            }
            Expr::Alt { items, .. } => {
                let pick = items.choose(rng).ok_or(NoValue)?;
                self.walk(pick, rng, out, slots, depth + 1, record)?;
            }
            Expr::Perm(items) => {
                let mut order: Vec<&Expr> = items.iter().collect();
                rand::seq::SliceRandom::shuffle(order.as_mut_slice(), rng);
                for i in order {
                    self.walk(i, rng, out, slots, depth + 1, record)?;
                }
            }
            Expr::Rule(name) => {
                let body = self.local_rules.get(name).or_else(|| self.global_rules.get(name)).ok_or(NoValue)?;
                self.walk(body, rng, out, slots, depth + 1, record)?;
            }
            Expr::List(l) => {
                let start = out.len();
                self.list_value(l, rng, out, depth)?;
                if record && !l.capture {
                    slots.push((l.slot.clone(), start..out.len()));
                }
            }
        }
        Ok(())
    }

    fn list_value<R: Rng>(&self, l: &ListRef, rng: &mut R, out: &mut String, depth: usize) -> Result<(), NoValue> {
        if let Some((from, to, step)) = l.inline_range {
            out.push_str(&sample_range(from, to, step, false, rng).ok_or(NoValue)?);
            return Ok(());
        }
        match self.lists.lists.get(&l.list).ok_or(NoValue)? {
            ListValues::Range { from, to, step, temperature } => {
                out.push_str(&sample_range(*from, *to, *step, *temperature, rng).ok_or(NoValue)?);
            }
            ListValues::Values(vals) => {
                let fitting: Vec<&(Expr, Map<String, Value>)> =
                    vals.iter().filter(|(_, ctx)| self.context.accepts(ctx)).collect();
                let (e, _) = fitting.choose(rng).ok_or(NoValue)?;
                let mut inner = Vec::new();
                let mut spoken = String::new();
                self.walk(e, rng, &mut spoken, &mut inner, depth + 1, false)?;
                out.push_str(&spoken.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        Ok(())
    }
}

fn sample_range<R: Rng>(from: i64, to: i64, step: i64, temperature: bool, rng: &mut R) -> Option<String> {
    let (lo, hi) = if temperature && from <= 16 && to >= 28 { (16, 28) } else { (from, to) };
    let steps = (hi - lo) / step.max(1);
    if steps < 0 {
        return None;
    }
    Some((lo + rng.random_range(0..=steps) * step.max(1)).to_string())
}

/// Collapse runs of whitespace to one space and trim, moving the spans
/// with the text (spans are trimmed of surrounding whitespace too).
pub(crate) fn collapse_whitespace(raw: &str, slots: &[(String, Range<usize>)]) -> Sampled {
    let mut text = String::with_capacity(raw.len());
    // map[i] = position in `text` of raw byte i (and of raw.len()).
    let mut map = vec![0usize; raw.len() + 1];
    let mut pending_space = false;
    for (i, c) in raw.char_indices() {
        if c.is_whitespace() {
            pending_space = !text.is_empty();
            for m in map.iter_mut().skip(i).take(c.len_utf8()) {
                *m = text.len() + usize::from(pending_space);
            }
            continue;
        }
        if pending_space {
            text.push(' ');
            pending_space = false;
        }
        for m in map.iter_mut().skip(i).take(c.len_utf8()) {
            *m = text.len();
        }
        text.push(c);
    }
    map[raw.len()] = text.len();
    let slots = slots
        .iter()
        .map(|(name, r)| {
            let (mut s, mut e) = (map[r.start].min(text.len()), map[r.end].min(text.len()));
            while s < e && text[s..].starts_with(' ') {
                s += 1;
            }
            while e > s && text[..e].ends_with(' ') {
                e -= 1;
            }
            (name.clone(), s..e)
        })
        .collect();
    Sampled { text, slots }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_keeps_spans_on_their_words() {
        let raw = "  turn  on   the  Kitchen Light  now ";
        let s = raw.find("Kitchen").unwrap();
        let out = collapse_whitespace(raw, &[("name".into(), s..s + "Kitchen Light".len())]);
        assert_eq!(out.text, "turn on the Kitchen Light now");
        assert_eq!(&out.text[out.slots[0].1.clone()], "Kitchen Light");
    }
}
