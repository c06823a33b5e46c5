//! Merged intents document (language JSON + custom sentence YAML, merged the
//! way Home Assistant does with hassil's `merge_dict`) -> compiled graph.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::TemplateError;
use super::engine::{
    Compiled, CompiledData, CompiledIntent, CompiledSentence, Node, NodeId, RangeList, SlotList, TextNode, TextValue,
};
use super::parse::{Expr, ListRef, is_template, parse_sentence};
use super::text::{self, lower, normalize_text};

/// Key added to every data block so errors can name the file it came from.
pub(crate) const SOURCE_KEY: &str = "__hubd_source";
/// Home Assistant's metadata key for custom sentences.
pub(crate) const CUSTOM_KEY: &str = "hass_custom_sentence";

/// hassil `merge_dict`: dicts merge recursively, lists extend, else overwrite.
pub(crate) fn merge_dict(base: &mut Map<String, Value>, new: Map<String, Value>) {
    for (k, v) in new {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(old)), Value::Object(nv)) => merge_dict(old, nv),
            (Some(Value::Array(old)), Value::Array(nv)) => old.extend(nv),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Tag data blocks with their source (and custom metadata, as HA does).
pub(crate) fn tag_sources(doc: &mut Map<String, Value>, source: &str, custom: bool) {
    let Some(Value::Object(intents)) = doc.get_mut("intents") else { return };
    for intent in intents.values_mut() {
        let Some(Value::Array(data)) = intent.get_mut("data") else { continue };
        for d in data {
            let Value::Object(d) = d else { continue };
            d.insert(SOURCE_KEY.into(), Value::String(source.into()));
            if custom {
                let meta = d.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = meta {
                    m.insert(CUSTOM_KEY.into(), Value::Bool(true));
                    m.insert("hass_custom_file".into(), Value::String(source.into()));
                }
            }
        }
    }
}

struct Builder<'n> {
    compiled: Compiled,
    numbers: &'n NumberWords,
    fragment_ids: HashMap<String, u32>,
}

/// Number words by Python `str(n)` (`"1"`, `"2.5"`); None = the spellout
/// rules failed for that number (hassil then has no words for the list).
pub(crate) type NumberWords = HashMap<String, Option<Vec<String>>>;

/// Rule bodies visible to one data block (local rules override global).
struct Rules<'x> {
    local: &'x HashMap<String, Expr>,
    global: &'x HashMap<String, Expr>,
}

impl<'x> Rules<'x> {
    fn get(&self, name: &str) -> Option<&'x Expr> {
        self.local.get(name).or_else(|| self.global.get(name))
    }
}

fn schema(source: &str, path: impl Into<String>, message: impl Into<String>) -> TemplateError {
    TemplateError::Schema { source_name: source.to_string(), path: path.into(), message: message.into() }
}

/// Which source last defined `section.name` (for error messages).
fn source_of(sources: &[(String, Map<String, Value>)], section: &str, name: &str) -> String {
    sources
        .iter()
        .rev()
        .find(|(_, d)| d.get(section).and_then(|s| s.get(name)).is_some())
        .map_or_else(|| sources.first().map(|s| s.0.clone()).unwrap_or_default(), |(n, _)| n.clone())
}

fn count_text_chunks(e: &Expr) -> usize {
    match e {
        Expr::Text(_) => 1,
        Expr::Seq(items) | Expr::Alt { items, .. } | Expr::Perm(items) => items.iter().map(count_text_chunks).sum(),
        _ => 0,
    }
}

fn direct_lists<'e>(e: &'e Expr, out: &mut Vec<&'e ListRef>) {
    match e {
        Expr::List(l) => out.push(l),
        Expr::Seq(items) | Expr::Alt { items, .. } | Expr::Perm(items) => {
            for i in items {
                direct_lists(i, out);
            }
        }
        _ => {}
    }
}

const PUNCT: &str = ".。,，?¿？؟!¡！;；:：’…—–―";

/// hassil `_required_clauses` (CNF of literal fragments).
fn required_clauses(e: &Expr, rules: &Rules<'_>, depth: usize) -> HashSet<Vec<String>> {
    let mut out = HashSet::new();
    if depth > 24 {
        return out;
    }
    match e {
        Expr::Text(t) => {
            for piece in t.split_whitespace() {
                if !piece.chars().any(|c| PUNCT.contains(c)) {
                    out.insert(vec![lower(piece)]);
                }
            }
        }
        Expr::Alt { items, optional } => {
            if *optional || items.is_empty() {
                return out;
            }
            let branches: Vec<_> = items.iter().map(|i| required_clauses(i, rules, depth + 1)).collect();
            if branches.iter().any(HashSet::is_empty) {
                return out;
            }
            let mut merged: Vec<String> = Vec::new();
            for b in branches {
                if let Some(smallest) = b.iter().min_by_key(|c| c.len()) {
                    for f in smallest {
                        if !merged.contains(f) {
                            merged.push(f.clone());
                        }
                    }
                }
            }
            merged.sort();
            out.insert(merged);
        }
        Expr::Seq(items) | Expr::Perm(items) => {
            for i in items {
                out.extend(required_clauses(i, rules, depth + 1));
            }
        }
        Expr::Rule(name) => {
            if let Some(r) = rules.get(name) {
                return required_clauses(r, rules, depth + 1);
            }
        }
        Expr::List(_) => {}
    }
    out
}

impl Builder<'_> {
    /// hassil `_build_range_trie` from the number-words table.
    fn number_words(
        &mut self,
        start: i64,
        stop: i64,
        step: i64,
        fractions: &[f64],
        mult: Option<f64>,
    ) -> Vec<(TextNode, f64)> {
        if self.numbers.is_empty() || step <= 0 {
            return Vec::new();
        }
        let mut raw: Vec<(String, f64)> = Vec::new();
        let mut i = start;
        while i <= stop {
            let mut nums: Vec<(String, f64)> = vec![(i.to_string(), i as f64)];
            for f in fractions {
                let n = i as f64 + f;
                nums.push((format!("{n}"), n));
            }
            for (key, n) in nums {
                let Some(Some(words)) = self.numbers.get(&key) else { return Vec::new() };
                let v = mult.map_or(n, |m| n * m);
                let mut used: Vec<String> = Vec::new();
                for w in words {
                    if used.contains(w) {
                        continue;
                    }
                    raw.push((w.clone(), v));
                    used.push(w.clone());
                    let b = w.replace(['-', '_'], " ");
                    if used.contains(&b) {
                        continue;
                    }
                    raw.push((b.clone(), v));
                    used.push(b);
                }
            }
            i += step;
        }
        let mut out: Vec<(TextNode, f64)> = raw
            .into_iter()
            .map(|(w, v)| {
                let m = lower(&w);
                let lstrip = (m.len() - m.trim_start().len()) as u32;
                let chars = m.trim().chars().count() as u32;
                let ends_word = w.ends_with(' ') || w.ends_with('\'');
                (TextNode { folded: m.into_boxed_str(), lstrip, chars, empty: w.is_empty(), ends_word }, v)
            })
            .collect();
        out.sort_by_key(|(t, _)| t.folded.chars().count());
        out
    }

    fn intern(map: &mut HashMap<String, u32>, name: &str) -> u32 {
        let n = map.len() as u32;
        *map.entry(name.to_string()).or_insert(n)
    }

    fn fragment_id(&mut self, f: String) -> u32 {
        if let Some(&id) = self.fragment_ids.get(&f) {
            return id;
        }
        let id = self.compiled.fragments.len() as u32;
        self.fragment_ids.insert(f.clone(), id);
        self.compiled.fragments.push(f);
        id
    }

    fn list_id(&mut self, name: &str) -> u32 {
        let id = Self::intern(&mut self.compiled.list_ids, name);
        if self.compiled.global_lists.len() <= id as usize {
            self.compiled.global_lists.resize(id as usize + 1, None);
        }
        id
    }

    fn rule_id(&mut self, name: &str) -> u32 {
        let id = Self::intern(&mut self.compiled.rule_ids, name);
        if self.compiled.global_rules.len() <= id as usize {
            self.compiled.global_rules.resize(id as usize + 1, None);
        }
        id
    }

    fn push(&mut self, n: Node) -> NodeId {
        self.compiled.nodes.push(n);
        (self.compiled.nodes.len() - 1) as NodeId
    }

    fn text_node(&mut self, t: &str) -> NodeId {
        let m = if self.compiled.ignore_ws { text::remove_cjk_whitespace(t) } else { t.to_string() };
        let m = lower(&m);
        let lstrip = (m.len() - m.trim_start().len()) as u32;
        let chars = m.trim().chars().count() as u32;
        self.push(Node::Text(TextNode {
            folded: m.into_boxed_str(),
            lstrip,
            chars,
            empty: t.is_empty(),
            ends_word: t.ends_with(' ') || t.ends_with('\''),
        }))
    }

    fn compile(&mut self, e: &Expr) -> NodeId {
        match e {
            Expr::Text(t) => self.text_node(t),
            Expr::Seq(items) => {
                let ids = items.iter().map(|i| self.compile(i)).collect();
                self.push(Node::Seq(ids))
            }
            Expr::Alt { items, .. } => {
                let ids = items.iter().map(|i| self.compile(i)).collect();
                self.push(Node::Alt(ids))
            }
            Expr::Perm(items) => {
                let ids = items.iter().map(|i| self.compile(i)).collect();
                self.push(Node::Perm(ids))
            }
            Expr::List(l) => {
                let id = self.list_id(&l.list);
                if let Some((a, b, step)) = l.inline_range
                    && self.compiled.global_lists[id as usize].is_none()
                    && a <= b
                    && step > 0
                {
                    let words = self.number_words(a, b, step, &[], None);
                    self.compiled.lists.push(SlotList::Range(RangeList {
                        start: a,
                        stop: b,
                        step,
                        fractions: Vec::new(),
                        multiplier: None,
                        digits: true,
                        words_enabled: true,
                        words,
                    }));
                    self.compiled.global_lists[id as usize] = Some((self.compiled.lists.len() - 1) as u32);
                }
                self.push(Node::List {
                    list: id,
                    slot: l.slot.clone().into_boxed_str(),
                    capture: l.capture,
                    end_of_word: l.end_of_word,
                })
            }
            Expr::Rule(r) => {
                let id = self.rule_id(r);
                self.push(Node::Rule(id))
            }
        }
    }

    fn parse_list(&mut self, source: &str, path: &str, def: &Value) -> Result<SlotList, TemplateError> {
        let Value::Object(def) = def else { return Err(schema(source, path, "a list must be a mapping")) };
        if let Some(values) = def.get("values") {
            let Value::Array(values) = values else { return Err(schema(source, path, "`values` must be a list")) };
            let mut out = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                let vpath = format!("{path}.values[{i}]");
                let (input, out_v, context) = match v {
                    Value::String(s) => (s.clone(), Some(Value::String(s.clone())), None),
                    Value::Object(o) => {
                        let input = match o.get("in") {
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Number(n)) => n.to_string(),
                            _ => return Err(schema(source, &vpath, "a value needs a string `in`")),
                        };
                        let out_v = o.get("out").filter(|v| !v.is_null()).cloned();
                        let context = match o.get("context") {
                            Some(Value::Object(m)) => Some(m.clone()),
                            Some(Value::Null) | None => None,
                            Some(_) => return Err(schema(source, &vpath, "`context` must be a mapping")),
                        };
                        (input, out_v, context)
                    }
                    Value::Number(n) => (n.to_string(), Some(v.clone()), None),
                    _ => return Err(schema(source, &vpath, "a value must be a string or {in, out}")),
                };
                out.push(self.text_value(source, &vpath, &input, true, out_v, context)?);
            }
            return Ok(SlotList::Text(out));
        }
        if let Some(r) = def.get("range") {
            let Value::Object(r) = r else { return Err(schema(source, path, "`range` must be a mapping")) };
            let int = |k: &str| -> Result<Option<i64>, TemplateError> {
                match r.get(k) {
                    None => Ok(None),
                    Some(v) => v
                        .as_i64()
                        .or_else(|| v.as_f64().map(|f| f as i64))
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                        .map(Some)
                        .ok_or_else(|| schema(source, format!("{path}.range.{k}"), "must be an integer")),
                }
            };
            let start = int("from")?.ok_or_else(|| schema(source, format!("{path}.range"), "missing `from`"))?;
            let stop = int("to")?.ok_or_else(|| schema(source, format!("{path}.range"), "missing `to`"))?;
            let step = int("step")?.unwrap_or(1);
            if start > stop {
                return Err(schema(source, format!("{path}.range"), "start cannot be greater than stop"));
            }
            if step <= 0 {
                return Err(schema(source, format!("{path}.range"), "step must be positive"));
            }
            let fractions = match r.get("fractions").and_then(Value::as_str) {
                None => Vec::new(),
                Some("halves") => vec![0.5],
                Some("tenths") => vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
                Some(other) => {
                    return Err(schema(
                        source,
                        format!("{path}.range.fractions"),
                        format!("unknown fractions `{other}`"),
                    ));
                }
            };
            let multiplier = r.get("multiplier").and_then(Value::as_f64);
            let digits = r.get("digits").is_none_or(|v| v.as_bool().unwrap_or(true));
            let words = r.get("words").is_none_or(|v| v.as_bool().unwrap_or(true));
            if !digits && !words {
                return Err(schema(source, format!("{path}.range"), "must have digits, words, or both"));
            }
            let words_lang = r.get("words_language").and_then(Value::as_str);
            let w = if words { self.number_words(start, stop, step, &fractions, multiplier) } else { Vec::new() };
            // Another language's words are not loaded: no words (hassil would use them).
            let w = if words_lang.is_some() { Vec::new() } else { w };
            return Ok(SlotList::Range(RangeList {
                start,
                stop,
                step,
                fractions,
                multiplier,
                digits,
                words_enabled: words,
                words: w,
            }));
        }
        if def.get("wildcard").and_then(Value::as_bool) == Some(true) {
            return Ok(SlotList::Wildcard);
        }
        Err(schema(source, path, "unknown slot list type (expected `values`, `range` or `wildcard: true`)"))
    }

    fn text_value(
        &mut self,
        source: &str,
        path: &str,
        input: &str,
        allow_template: bool,
        out: Option<Value>,
        context: Option<Map<String, Value>>,
    ) -> Result<TextValue, TemplateError> {
        if allow_template && is_template(input) {
            let e = parse_sentence(input).map_err(|e| TemplateError::Template {
                source_name: source.to_string(),
                intent: None,
                location: path.to_string(),
                template: input.to_string(),
                position: e.position,
                message: e.message,
            })?;
            let id = self.compile(&e);
            return Ok(TextValue { input: id, key: None, blank: false, out, context });
        }
        let t = normalize_text(input);
        let blank = t.trim().is_empty();
        let lt = t.trim_start();
        let folds_cleanly = !lt
            .chars()
            .any(|c| c == 'ß' || c == 'ẞ' || ('\u{FB00}'..='\u{FB06}').contains(&c) || c.to_lowercase().count() > 1);
        let key = (!blank && folds_cleanly && !self.compiled.ignore_ws).then(|| lower(lt).into_boxed_str());
        let id = self.text_node(&t);
        Ok(TextValue { input: id, key, blank, out, context })
    }
}

/// Registry-derived lists, as Home Assistant's default agent builds them.
pub(crate) struct RegistryLists {
    /// (text, out, context)
    pub names: Vec<(String, String, Map<String, Value>)>,
    pub areas: Vec<(String, String)>,
    pub floors: Vec<(String, String)>,
}

fn str_map(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// Compile the merged document. `sources` are (name, original document) for
/// error attribution; `doc` is their merge.
pub(crate) fn build(
    doc: &Map<String, Value>,
    sources: &[(String, Map<String, Value>)],
    reg: &RegistryLists,
    numbers: &NumberWords,
) -> Result<(Compiled, Vec<String>), TemplateError> {
    let base_name = sources.first().map(|s| s.0.clone()).unwrap_or_default();
    let mut b = Builder { compiled: Compiled::default(), numbers, fragment_ids: HashMap::new() };
    let mut global_rule_exprs: HashMap<String, Expr> = HashMap::new();
    b.compiled.ignore_ws =
        doc.get("settings").and_then(|s| s.get("ignore_whitespace")).and_then(Value::as_bool).unwrap_or(false);
    let skip: Vec<&str> = match doc.get("skip_words") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    b.compiled.skip_words = text::prepare_skip_words(skip);

    // Expansion rules.
    if let Some(rules) = doc.get("expansion_rules") {
        let Value::Object(rules) = rules else {
            return Err(schema(&base_name, "expansion_rules", "must be a mapping"));
        };
        for (name, body) in rules {
            let src = source_of(sources, "expansion_rules", name);
            let Value::String(body) = body else {
                return Err(schema(&src, format!("expansion_rules.{name}"), "a rule must be a string"));
            };
            let e = parse_sentence(body).map_err(|e| TemplateError::Template {
                source_name: src.clone(),
                intent: None,
                location: format!("expansion_rules.{name}"),
                template: body.clone(),
                position: e.position,
                message: e.message,
            })?;
            let id = b.compile(&e);
            let rid = b.rule_id(name);
            b.compiled.global_rules[rid as usize] = Some(id);
            global_rule_exprs.insert(name.clone(), e);
        }
    }
    // Lists.
    let mut wildcard_lists: HashSet<String> = HashSet::new();
    if let Some(lists) = doc.get("lists") {
        let Value::Object(lists) = lists else { return Err(schema(&base_name, "lists", "must be a mapping")) };
        for (name, def) in lists {
            let src = source_of(sources, "lists", name);
            if def.get("wildcard").and_then(Value::as_bool) == Some(true) {
                wildcard_lists.insert(name.clone());
            }
            let l = b.parse_list(&src, &format!("lists.{name}"), def)?;
            b.compiled.lists.push(l);
            let id = b.list_id(name);
            b.compiled.global_lists[id as usize] = Some((b.compiled.lists.len() - 1) as u32);
        }
    }
    // Registry lists override the language's (HA passes them as slot_lists).
    {
        let mut names = Vec::new();
        for (t, out, ctx) in &reg.names {
            names.push(b.text_value(
                "registry",
                "name",
                t,
                false,
                Some(Value::String(out.clone())),
                Some(ctx.clone()),
            )?);
        }
        let mut areas = Vec::new();
        for (t, out) in &reg.areas {
            areas.push(b.text_value("registry", "area", t, false, Some(Value::String(out.clone())), None)?);
        }
        let mut floors = Vec::new();
        for (t, out) in &reg.floors {
            floors.push(b.text_value("registry", "floor", t, false, Some(Value::String(out.clone())), None)?);
        }
        for (name, vals) in [("name", names), ("area", areas), ("floor", floors)] {
            b.compiled.lists.push(SlotList::Text(vals));
            let id = b.list_id(name);
            b.compiled.global_lists[id as usize] = Some((b.compiled.lists.len() - 1) as u32);
        }
    }

    // Intents.
    let mut warnings = Vec::new();
    let Some(Value::Object(intents)) = doc.get("intents") else {
        return Err(schema(&base_name, "intents", "missing `intents` mapping"));
    };
    for (iname, idef) in intents {
        let Some(Value::Array(data)) = idef.get("data") else {
            return Err(schema(&base_name, format!("intents.{iname}"), "an intent needs a `data` list"));
        };
        let mut ic = CompiledIntent { name: iname.clone(), data: Vec::with_capacity(data.len()) };
        for (di, d) in data.iter().enumerate() {
            let Value::Object(d) = d else {
                return Err(schema(&base_name, format!("intents.{iname}.data[{di}]"), "must be a mapping"));
            };
            let src = d.get(SOURCE_KEY).and_then(Value::as_str).unwrap_or(&base_name).to_string();
            let dpath = format!("intents.{iname}.data[{di}]");
            let tmpl_err = |loc: String, template: &str, position: usize, message: String| TemplateError::Template {
                source_name: src.clone(),
                intent: Some(iname.clone()),
                location: loc,
                template: template.to_string(),
                position,
                message,
            };
            // local rules
            let mut local_rule_exprs: HashMap<String, Expr> = HashMap::new();
            let mut local_rules = Vec::new();
            if let Some(Value::Object(rules)) = d.get("expansion_rules") {
                for (name, body) in rules {
                    let Value::String(body) = body else {
                        return Err(schema(&src, format!("{dpath}.expansion_rules.{name}"), "a rule must be a string"));
                    };
                    let e = parse_sentence(body).map_err(|e| {
                        tmpl_err(format!("{dpath}.expansion_rules.{name}"), body, e.position, e.message)
                    })?;
                    let id = b.compile(&e);
                    local_rules.push((b.rule_id(name), id));
                    local_rule_exprs.insert(name.clone(), e);
                }
            }
            let mut local_lists = Vec::new();
            let mut local_list_names = HashSet::new();
            if let Some(Value::Object(lists)) = d.get("lists") {
                for (name, def) in lists {
                    let l = b.parse_list(&src, &format!("{dpath}.lists.{name}"), def)?;
                    b.compiled.lists.push(l);
                    local_lists.push((b.list_id(name), (b.compiled.lists.len() - 1) as u32));
                    local_list_names.insert(name.clone());
                }
            }
            let Some(Value::Array(sents)) = d.get("sentences") else {
                return Err(schema(&src, &dpath, "a data block needs a `sentences` list"));
            };
            let mut parsed: Vec<(usize, String, Expr)> = Vec::with_capacity(sents.len());
            for (si, s) in sents.iter().enumerate() {
                let Value::String(s) = s else {
                    return Err(schema(&src, format!("{dpath}.sentences[{si}]"), "a sentence must be a string"));
                };
                let e = parse_sentence(s)
                    .map_err(|e| tmpl_err(format!("{dpath}.sentences[{si}]"), s, e.position, e.message))?;
                parsed.push((si, s.clone(), e));
            }
            // hassil's order: wildcard sentences with more text chunks first.
            parsed.sort_by_key(|(_, _, e)| {
                let mut ls = Vec::new();
                direct_lists(e, &mut ls);
                if ls.iter().any(|l| wildcard_lists.contains(&l.list)) { -(count_text_chunks(e) as i64) } else { 0 }
            });
            let rule_lookup = Rules { local: &local_rule_exprs, global: &global_rule_exprs };
            let mut sentences = Vec::with_capacity(parsed.len());
            let mut pending = Vec::new();
            for (si, s, e) in &parsed {
                let clauses: Vec<Vec<String>> = {
                    let mut v: Vec<Vec<String>> = required_clauses(e, &rule_lookup, 0).into_iter().collect();
                    v.sort();
                    v
                };
                // Validate references (missing lists/rules, rule cycles).
                check_refs(
                    e,
                    &rule_lookup,
                    &|l: &ListRef| {
                        l.inline_range.is_some()
                            || local_list_names.contains(&l.list)
                            || doc.get("lists").and_then(|x| x.get(&l.list)).is_some()
                            || matches!(l.list.as_str(), "name" | "area" | "floor")
                    },
                    &mut Vec::new(),
                )
                .map_err(|m| tmpl_err(format!("{dpath}.sentences[{si}]"), s, 0, m))?;
                pending.push((s.clone(), e.clone(), clauses));
            }
            for (s, e, clauses) in pending {
                let clauses: Vec<Vec<u32>> =
                    clauses.into_iter().map(|cl| cl.into_iter().map(|f| b.fragment_id(f)).collect()).collect();
                let root = b.compile(&e);
                let (only, first, last) = b.compiled.wildcard_shape(root);
                let lits = if only || first || last {
                    None
                } else {
                    match b.compiled.first_lits(root, &local_lists, &local_rules, 0) {
                        Some((l, false)) if !l.is_empty() && l.len() <= 256 => Some(l),
                        _ => None,
                    }
                };
                sentences.push(CompiledSentence {
                    root,
                    text: s,
                    clauses,
                    only_wildcard: only,
                    starts_wildcard: first,
                    ends_wildcard: last,
                    first: lits,
                });
            }
            let custom = d.get("metadata").and_then(|m| m.get(CUSTOM_KEY)).and_then(Value::as_bool).unwrap_or(false);
            let required_keywords = match d.get("required_keywords") {
                Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_str).map(String::from).collect()),
                _ => None,
            };
            ic.data.push(CompiledData {
                sentences,
                slots: str_map(d.get("slots")),
                response: d.get("response").and_then(Value::as_str).map(String::from),
                requires: str_map(d.get("requires_context")),
                excludes: str_map(d.get("excludes_context")),
                local_rules,
                local_lists,
                required_keywords,
                custom,
            });
        }
        if ic.data.iter().all(|d| d.sentences.is_empty()) {
            warnings.push(format!("intent {iname} has no sentences"));
        }
        b.compiled.intents.push(ic);
    }
    Ok((b.compiled, warnings))
}

fn check_refs(
    e: &Expr,
    rules: &Rules<'_>,
    list_ok: &dyn Fn(&ListRef) -> bool,
    stack: &mut Vec<String>,
) -> Result<(), String> {
    match e {
        Expr::Text(_) => Ok(()),
        Expr::Seq(items) | Expr::Alt { items, .. } | Expr::Perm(items) => {
            for i in items {
                check_refs(i, rules, list_ok, stack)?;
            }
            Ok(())
        }
        Expr::List(l) => {
            if list_ok(l) {
                Ok(())
            } else {
                Err(format!("missing slot list {{{}}}", l.list))
            }
        }
        Expr::Rule(r) => {
            if stack.iter().any(|s| s == r) {
                return Err(format!("expansion rule <{r}> refers to itself ({} -> {r})", stack.join(" -> ")));
            }
            let Some(body) = rules.get(r) else { return Err(format!("missing expansion rule <{r}>")) };
            stack.push(r.clone());
            let res = check_refs(body, rules, list_ok, stack);
            stack.pop();
            res
        }
    }
}
