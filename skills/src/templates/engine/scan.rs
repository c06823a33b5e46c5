//! Scanning the input text and comparing slot values: word boundaries,
//! prefix and number matching over the pre-normalized input, and hassil's
//! Python-style value comparisons for requires/excludes context.

use serde_json::{Map, Value};

use super::super::text::{is_word_char, lower};

/// The input text in the four forms matching needs: lowercased / original
/// case, and with `-`/`_` broken into spaces (hassil's break-words retry).
pub(super) struct InputText {
    pub(super) lo: [String; 2],
    pub(super) orig: [String; 2],
    /// Offset of the first non-whitespace byte of `lo`.
    pub(super) start: usize,
    /// The text has `-` or `_` (the first-literal pre-check does not apply).
    pub(super) has_break: bool,
}

impl InputText {
    pub(super) fn new(text: String) -> InputText {
        let lo = lower(&text);
        let brk = |s: &str| s.replace(['-', '_'], " ");
        let start = lo.len() - lo.trim_start().len();
        let has_break = lo.contains(['-', '_']);
        InputText { lo: [brk(&lo), lo], orig: [brk(&text), text], start, has_break }
    }
    #[inline]
    pub(super) fn lo(&self, broken: bool) -> &str {
        &self.lo[usize::from(!broken)]
    }
    #[inline]
    pub(super) fn orig(&self, broken: bool) -> &str {
        &self.orig[usize::from(!broken)]
    }
}

pub(super) fn next_boundary(s: &str, i: usize) -> usize {
    let mut j = i + 1;
    while j < s.len() && !s.is_char_boundary(j) {
        j += 1;
    }
    j
}

/// hassil `match_first`: position (relative to `s`) of `prefix` in
/// `s[from..]`, optionally only at a `\b` (evaluated in the slice).
pub(super) fn match_first(s: &str, prefix: &str, from: usize, start_of_word: bool) -> Option<usize> {
    if from > s.len() {
        return None;
    }
    let hay = &s[from..];
    let mut off = 0;
    while let Some(i) = hay[off..].find(prefix) {
        let at = off + i;
        if !start_of_word || {
            let prev = hay[..at].chars().next_back().is_some_and(is_word_char);
            let next = hay[at..].chars().next().is_some_and(is_word_char);
            prev != next
        } {
            return Some(from + at);
        }
        off = next_boundary(hay, at);
        if off > hay.len() {
            return None;
        }
    }
    None
}

/// `(\s*-?[0-9]+(?:[.,][0-9]+)?)` at byte `i` of `s`: end of the match.
pub(super) fn number_at(s: &str, i: usize, float: bool) -> Option<usize> {
    let b = s.as_bytes();
    let mut j = i;
    // \s* (unicode whitespace)
    while j < s.len() {
        let c = s[j..].chars().next()?;
        if c.is_whitespace() {
            j += c.len_utf8();
        } else {
            break;
        }
    }
    let ws_end = j;
    if j < b.len() && b[j] == b'-' {
        j += 1;
    }
    let d0 = j;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if j == d0 {
        // Backtrack the \s*: a shorter whitespace prefix cannot help either.
        let _ = ws_end;
        return None;
    }
    if float && j + 1 < b.len() && (b[j] == b'.' || b[j] == b',') && b[j + 1].is_ascii_digit() {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    Some(j)
}

pub(super) fn parse_number(s: &str) -> Option<f64> {
    s.trim().replace(',', ".").parse::<f64>().ok()
}

pub(super) fn unpack(v: &Value) -> &Value {
    match v {
        Value::Object(m) => m.get("value").unwrap_or(&Value::Null),
        other => other,
    }
}

pub(super) fn ctx_get<'a>(ctx: &[(&'a str, &'a Value)], key: &str) -> Option<&'a Value> {
    ctx.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Python equality for JSON-ish values (1 == 1.0).
pub(super) fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

pub(super) fn py_in(v: &Value, coll: &Value) -> bool {
    match coll {
        Value::Array(a) => a.iter().any(|x| py_eq(x, v)),
        Value::Object(m) => v.as_str().is_some_and(|s| m.contains_key(s)),
        _ => false,
    }
}

pub(super) fn is_collection(v: &Value) -> bool {
    matches!(v, Value::Array(_) | Value::Object(_))
}

/// hassil `check_required_context`.
pub(crate) fn check_required<'a>(
    required: &Map<String, Value>,
    lookup: &dyn Fn(&str) -> Option<&'a Value>,
    allow_missing: bool,
) -> bool {
    for (k, req) in required {
        let Some(actual) = lookup(k) else {
            if allow_missing {
                continue;
            }
            return false;
        };
        let req = unpack(req);
        let actual = unpack(actual);
        if is_collection(req) {
            if !py_in(actual, req) {
                return false;
            }
        } else if !req.is_null() && !py_eq(actual, req) {
            return false;
        }
    }
    true
}

/// hassil `check_excluded_context`.
pub(crate) fn check_excluded<'a>(excluded: &Map<String, Value>, lookup: &dyn Fn(&str) -> Option<&'a Value>) -> bool {
    for (k, ex) in excluded {
        let Some(actual) = lookup(k) else { continue };
        let ex = unpack(ex);
        let actual = unpack(actual);
        if is_collection(ex) {
            if py_in(actual, ex) {
                return false;
            }
        } else if py_eq(actual, ex) {
            return false;
        }
    }
    true
}
