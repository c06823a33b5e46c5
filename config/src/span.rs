//! The spanned document: the TOML text with line starts, its spanned tree,
//! lookups by path, and deserialisation of one section or entry at a time so
//! that one bad entry does not hide the next.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::validate::sorted;
use super::{ConfigError, Diagnostic};

/// A path into the document: table keys and array indices.
#[derive(Debug, Clone, Copy)]
pub(super) enum Seg<'a> {
    Key(&'a str),
    Idx(usize),
}

/// The configuration text with its name and line starts. The spanned tree
/// borrows from it, so it is (re)parsed on demand by [`Source::doc`].
pub(super) struct Source {
    pub(super) name: String,
    text: String,
    line_starts: Vec<usize>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Source {
    pub(super) fn new(text: &str, name: &str) -> Source {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source { name: name.to_string(), text: text.to_string(), line_starts }
    }

    /// Parse into a spanned tree; every syntax error becomes a diagnostic.
    pub(super) fn parse(&self) -> Result<Doc<'_>, ConfigError> {
        let (root, errors) = DeTable::parse_recoverable(&self.text);
        if errors.is_empty() {
            Ok(Doc { src: self, root })
        } else {
            let diags = errors.iter().map(|e| self.toml_error(e, "")).collect();
            Err(ConfigError::Invalid(sorted(diags)))
        }
    }

    /// The tree of a text that already parsed once (errors are impossible
    /// then; should one occur the tree is partial and lookups fall back).
    pub(super) fn doc(&self) -> Doc<'_> {
        let (root, _) = DeTable::parse_recoverable(&self.text);
        Doc { src: self, root }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    pub(super) fn diag(&self, span: Range<usize>, message: String, expected: Option<String>) -> Diagnostic {
        let (line, column) = self.line_col(span.start);
        Diagnostic { file: self.name.clone(), line, column, message, expected }
    }

    /// A toml/serde error, split into message and `expected` where the
    /// message has serde's `..., expected ...` form.
    pub(super) fn toml_error(&self, e: &toml::de::Error, context: &str) -> Diagnostic {
        let msg = e.message().trim().to_string();
        let (message, expected) = match msg.split_once(", expected ") {
            Some((m, x)) => (m.to_string(), Some(x.to_string())),
            None => (msg, None),
        };
        let message = if context.is_empty() { message } else { format!("{context}: {message}") };
        match e.span() {
            Some(span) => self.diag(span, message, expected),
            None => Diagnostic { file: self.name.clone(), line: 0, column: 0, message, expected },
        }
    }
}

/// A parsed document: lookups by path, diagnostics at spans.
pub(super) struct Doc<'a> {
    pub(super) src: &'a Source,
    pub(super) root: Spanned<DeTable<'a>>,
}

impl<'a> Doc<'a> {
    pub(super) fn lookup(&self, path: &[Seg<'_>]) -> Option<&Spanned<DeValue<'a>>> {
        let (first, rest) = path.split_first()?;
        let Seg::Key(k) = first else { return None };
        let mut cur = self.root.get_ref().get(*k)?;
        for seg in rest {
            cur = match seg {
                Seg::Key(k) => cur.get_ref().get(*k)?,
                Seg::Idx(i) => cur.get_ref().get(*i)?,
            };
        }
        Some(cur)
    }

    /// Span of the value at `path`, or of its closest existing ancestor.
    fn span_of(&self, path: &[Seg<'_>]) -> Range<usize> {
        for n in (1..=path.len()).rev() {
            if let Some(prefix) = path.get(..n)
                && let Some(v) = self.lookup(prefix)
            {
                return v.span();
            }
        }
        0..0
    }

    pub(super) fn at(&self, path: &[Seg<'_>], message: String, expected: Option<String>) -> Diagnostic {
        self.src.diag(self.span_of(path), message, expected)
    }
}

/// Deserialise one `[section]` into `slot`; on errors, record them and keep the default.
pub(super) fn section<T: DeserializeOwned>(
    src: &Source,
    name: &str,
    value: &Spanned<DeValue<'_>>,
    slot: &mut T,
    diags: &mut Vec<Diagnostic>,
) {
    if !matches!(value.get_ref(), DeValue::Table(_)) {
        diags.push(src.diag(value.span(), format!("`{name}` must be a table"), Some(format!("`[{name}]`"))));
        return;
    }
    match deserialize_all(src, value, &format!("[{name}]")) {
        Ok(v) => *slot = v,
        Err(mut d) => diags.append(&mut d),
    }
}

/// Deserialise each entry of an array of tables separately.
pub(super) fn entries<T: DeserializeOwned>(
    src: &Source,
    name: &str,
    value: &Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<T> {
    let DeValue::Array(arr) = value.get_ref() else {
        diags.push(src.diag(
            value.span(),
            format!("`{name}` must be an array of tables"),
            Some(format!("`[[{name}]]` entries")),
        ));
        return Vec::new();
    };
    let mut out = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        let ctx = match item.get_ref().get("id").and_then(|v| v.get_ref().as_str()) {
            Some(id) => format!("[[{name}]] `{id}`"),
            None => format!("[[{name}]] #{}", i + 1),
        };
        if !matches!(item.get_ref(), DeValue::Table(_)) {
            diags.push(src.diag(item.span(), format!("{ctx}: must be a table"), Some("a table".into())));
            continue;
        }
        match deserialize_all(src, item, &ctx) {
            Ok(v) => out.push(v),
            Err(mut d) => diags.append(&mut d),
        }
    }
    out
}

/// Deserialise a table, reporting *every* bad key rather than serde's first:
/// after an error, the key it points into is removed and the rest is tried
/// again, until it deserialises or an error cannot be placed on a key. A
/// "missing field" error for a key removed that way is an echo of an error
/// already reported, not a new one.
fn deserialize_all<T: DeserializeOwned>(
    src: &Source,
    value: &Spanned<DeValue<'_>>,
    ctx: &str,
) -> Result<T, Vec<Diagnostic>> {
    let mut value = value.clone();
    let mut diags = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    loop {
        let err = match T::deserialize(value.clone().into_deserializer()) {
            Ok(v) if diags.is_empty() => return Ok(v),
            Ok(_) => return Err(diags),
            Err(e) => e,
        };
        let echo = err
            .message()
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .is_some_and(|f| removed.iter().any(|r| r == f));
        if echo {
            return Err(diags);
        }
        diags.push(src.toml_error(&err, ctx));
        let (Some(span), DeValue::Table(table)) = (err.span(), value.get_mut()) else { return Err(diags) };
        let at = span.start;
        let key = table
            .iter()
            .find(|(k, v)| {
                k.span().contains(&at) || v.span().contains(&at) || (k.span().start..v.span().end).contains(&at)
            })
            .map(|(k, _)| k.get_ref().to_string());
        match key {
            Some(k) if removed.len() < 64 => {
                table.remove(k.as_str());
                removed.push(k);
            }
            _ => return Err(diags),
        }
    }
}
