//! The sentence-template language, parsed exactly as hassil's
//! `parser.py` + `parse_expression.py` chunk it (words keep their trailing
//! spaces, `{list}` remembers whether whitespace follows it, permutation
//! items get a space chunk at both ends), so matching behaves the same.

use super::text::normalize_text;

/// A parsed template expression (hassil's `Expression` tree).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// Literal text, normalized (whitespace, NFC, `’` -> `'`), case kept.
    Text(String),
    Seq(Vec<Expr>),
    /// `(a|b)`; `[x]` is an optional alternative whose last item is `Text("")`.
    Alt {
        items: Vec<Expr>,
        optional: bool,
    },
    /// `(a;b)`: every item, in any order.
    Perm(Vec<Expr>),
    List(ListRef),
    Rule(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListRef {
    pub list: String,
    pub slot: String,
    /// `{list:@name}`: captured for the response only, not a slot.
    pub capture: bool,
    /// Whitespace follows the reference in the template.
    pub end_of_word: bool,
    /// `{1..10:slot}` / `{0..100,5:slot}`.
    pub inline_range: Option<(i64, i64, i64)>,
}

/// A parse error with the character position inside the template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError {
    pub position: usize,
    pub message: String,
}

impl ParseError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        ParseError { position, message: message.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Word,
    Group,
    Opt,
    List,
    Rule,
    Alt,
    Perm,
}

struct Chunk {
    start: usize,
    end: usize,
    kind: Kind,
}

const ESCAPE: char = '\\';

fn is_delim(c: char) -> bool {
    matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>')
}

fn find_end_delimiter(text: &[char], start: usize, open: char, close: char) -> Option<usize> {
    let mut stack = 1i32;
    let mut escaped = false;
    for (i, &c) in text.iter().enumerate().skip(start) {
        if escaped {
            escaped = false;
            continue;
        }
        if c == ESCAPE {
            escaped = true;
            continue;
        }
        if c == close {
            stack -= 1;
            if stack < 0 {
                return None;
            }
            if stack == 0 {
                return Some(i + 1);
            }
        }
        if c == open {
            stack += 1;
        }
    }
    None
}

fn find_end_word(text: &[char], start: usize) -> Option<usize> {
    let mut escaped = false;
    let mut sep = false;
    for (i, &c) in text.iter().enumerate().skip(start) {
        if escaped {
            escaped = false;
            continue;
        }
        if c == ESCAPE {
            escaped = true;
            continue;
        }
        if i > start && c == ' ' {
            sep = true;
            continue;
        }
        if sep && c != ' ' {
            return Some(i);
        }
        if c == '|' || c == ';' || is_delim(c) {
            return Some(i);
        }
    }
    if start < text.len() { Some(text.len()) } else { None }
}

fn next_chunk(text: &[char], start: usize) -> Result<Option<Chunk>, ParseError> {
    let Some(&c) = text.get(start) else { return Ok(None) };
    let (kind, end) = match c {
        '(' | '[' | '{' | '<' => {
            let (kind, close, what) = match c {
                '(' => (Kind::Group, ')', "group ')'"),
                '[' => (Kind::Opt, ']', "optional ']'"),
                '{' => (Kind::List, '}', "list '}'"),
                _ => (Kind::Rule, '>', "rule '>'"),
            };
            let end = find_end_delimiter(text, start + 1, c, close)
                .ok_or_else(|| ParseError::new(start, format!("unable to find end of {what}")))?;
            (kind, end)
        }
        '|' => (Kind::Alt, start + 1),
        ';' => (Kind::Perm, start + 1),
        _ => {
            let end = find_end_word(text, start).ok_or_else(|| ParseError::new(start, "unable to find end of word"))?;
            (Kind::Word, end)
        }
    };
    Ok(Some(Chunk { start, end, kind }))
}

fn remove_escapes(text: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut it = text.iter();
    while let Some(&c) = it.next() {
        if c == ESCAPE
            && let Some(&n) = it.next()
        {
            out.push(n);
            continue;
        }
        out.push(c);
    }
    out
}

/// Items one `(a;b;…)` permutation may have: the matcher tries every
/// order, within its step budget (a fuzzed `;;;…` of 65 items overflowed
/// its 64-bit set of used items).
pub const MAX_PERMUTATION: usize = 16;

enum Group {
    Seq(Vec<Expr>),
    Alt(Vec<Vec<Expr>>),
    Perm(Vec<Vec<Expr>>),
}

/// `text` is the whole (wrapped) template, `chunk` a group/optional in it.
fn parse_group(text: &[char], chunk: &Chunk) -> Result<Expr, ParseError> {
    let inner_start = chunk.start + 1;
    let inner_end = chunk.end - 1;
    let inner = &text[..inner_end];
    let mut grp = Group::Seq(Vec::new());
    let mut pos = inner_start;
    while let Some(item) = next_chunk(inner, pos)? {
        match item.kind {
            Kind::Word | Kind::Group | Kind::Opt | Kind::List | Kind::Rule => {
                let end_of_word = item.end < inner_end && inner[item.end].is_whitespace();
                let expr = parse_expression(text, &item, end_of_word)?;
                match &mut grp {
                    Group::Seq(items) => items.push(expr),
                    Group::Alt(seqs) | Group::Perm(seqs) => {
                        if let Some(last) = seqs.last_mut() {
                            last.push(expr);
                        }
                    }
                }
            }
            Kind::Alt => {
                grp = match grp {
                    Group::Seq(items) => Group::Alt(vec![items, Vec::new()]),
                    Group::Alt(mut seqs) => {
                        seqs.push(Vec::new());
                        Group::Alt(seqs)
                    }
                    Group::Perm(_) => {
                        return Err(ParseError::new(item.start, "cannot mix '|' and ';' in one group"));
                    }
                };
            }
            Kind::Perm => {
                grp = match grp {
                    Group::Seq(items) => Group::Perm(vec![items, Vec::new()]),
                    Group::Perm(mut seqs) => {
                        seqs.push(Vec::new());
                        Group::Perm(seqs)
                    }
                    Group::Alt(_) => {
                        return Err(ParseError::new(item.start, "cannot mix '|' and ';' in one group"));
                    }
                };
            }
        }
        if item.end == pos {
            return Err(ParseError::new(pos, "unable to proceed"));
        }
        pos = item.end;
    }
    if let Group::Perm(seqs) = &grp
        && seqs.len() > MAX_PERMUTATION
    {
        return Err(ParseError::new(
            chunk.start,
            format!("a permutation of {} items (at most {MAX_PERMUTATION}: it matches in every order)", seqs.len()),
        ));
    }
    Ok(match grp {
        Group::Seq(items) => Expr::Seq(items),
        Group::Alt(seqs) => Expr::Alt { items: seqs.into_iter().map(Expr::Seq).collect(), optional: false },
        Group::Perm(seqs) => Expr::Perm(
            seqs.into_iter()
                .map(|mut s| {
                    s.insert(0, Expr::Text(" ".into()));
                    s.push(Expr::Text(" ".into()));
                    Expr::Seq(s)
                })
                .collect(),
        ),
    })
}

fn parse_inline_range(name: &str) -> Option<(i64, i64, i64)> {
    // ^(\d+)..(\d+)(?:,(\d+))?$  (the dots are regex wildcards in hassil)
    let chars: Vec<char> = name.chars().collect();
    let mut i = 0;
    let digits = |i: &mut usize| -> Option<i64> {
        let s = *i;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == s { None } else { chars[s..*i].iter().collect::<String>().parse().ok() }
    };
    // Greedy \d+ followed by any two chars: emulate by trying split points.
    let a = digits(&mut i)?;
    let _ = a;
    // Backtracking: the first number may give up digits to the "..".
    for split in (1..=i).rev() {
        if split + 2 > chars.len() {
            continue;
        }
        let first: String = chars[..split].iter().collect();
        let mut j = split + 2;
        let s2 = j;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        if j == s2 {
            continue;
        }
        let second: String = chars[s2..j].iter().collect();
        let step = if j == chars.len() {
            None
        } else if chars[j] == ',' {
            let s3 = j + 1;
            let mut k = s3;
            while k < chars.len() && chars[k].is_ascii_digit() {
                k += 1;
            }
            if k == s3 || k != chars.len() {
                continue;
            }
            Some(chars[s3..k].iter().collect::<String>())
        } else {
            continue;
        };
        let (Ok(a), Ok(b)) = (first.parse::<i64>(), second.parse::<i64>()) else { continue };
        let step = match step {
            Some(s) => s.parse::<i64>().ok()?,
            None => 1,
        };
        return Some((a, b, step));
    }
    None
}

fn parse_expression(text: &[char], chunk: &Chunk, end_of_word: bool) -> Result<Expr, ParseError> {
    let body = &text[chunk.start..chunk.end];
    match chunk.kind {
        Kind::Word => Ok(Expr::Text(normalize_text(&remove_escapes(body)))),
        Kind::Group => parse_group(text, chunk),
        Kind::Opt => {
            let grp = parse_group(text, chunk)?;
            let mut items = match grp {
                Expr::Alt { items, .. } => items,
                other => vec![other],
            };
            items.push(Expr::Text(String::new()));
            Ok(Expr::Alt { items, optional: true })
        }
        Kind::List => {
            let name = remove_escapes(body);
            let inner: String = name.chars().skip(1).take(name.chars().count().saturating_sub(2)).collect();
            if inner.is_empty() {
                return Err(ParseError::new(chunk.start, "empty list reference {}"));
            }
            let (list, slot, capture, inline_range) = match inner.split_once(':') {
                Some((list, slot)) => {
                    let (slot, capture) = match slot.strip_prefix('@') {
                        Some(s) => (s.to_string(), true),
                        None => (slot.to_string(), false),
                    };
                    (list.to_string(), slot, capture, parse_inline_range(list))
                }
                None => match inner.strip_prefix('@') {
                    Some(l) => (l.to_string(), l.to_string(), true, None),
                    None => (inner.clone(), inner.clone(), false, None),
                },
            };
            if list.is_empty() || slot.is_empty() {
                return Err(ParseError::new(chunk.start, format!("bad list reference {{{inner}}}")));
            }
            Ok(Expr::List(ListRef { list, slot, capture, end_of_word, inline_range }))
        }
        Kind::Rule => {
            let name = remove_escapes(body);
            let inner: String = name.chars().skip(1).take(name.chars().count().saturating_sub(2)).collect();
            if inner.is_empty() {
                return Err(ParseError::new(chunk.start, "empty rule reference <>"));
            }
            Ok(Expr::Rule(inner))
        }
        Kind::Alt | Kind::Perm => Err(ParseError::new(chunk.start, "unexpected separator")),
    }
}

/// Parse one sentence template (hassil `parse_sentence`). Positions in errors
/// are character offsets into `template`.
pub(crate) fn parse_sentence(template: &str) -> Result<Expr, ParseError> {
    parse_sentence_inner(template).map_err(|e| bracket_error(template).unwrap_or(e))
}

/// A more precise position for bracket errors than the chunker gives.
fn bracket_error(template: &str) -> Option<ParseError> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut escaped = false;
    for (i, c) in template.chars().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            ESCAPE => escaped = true,
            '(' | '[' | '{' | '<' => stack.push((c, i)),
            ')' | ']' | '}' | '>' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    '}' => '{',
                    _ => '<',
                };
                match stack.pop() {
                    Some((o, _)) if o == open => {}
                    Some((o, p)) => {
                        return Some(ParseError::new(i, format!("'{c}' closes '{o}' opened at {p}")));
                    }
                    None => return Some(ParseError::new(i, format!("unbalanced brackets: unexpected '{c}'"))),
                }
            }
            _ => {}
        }
    }
    stack.pop().map(|(o, p)| ParseError::new(p, format!("unclosed '{o}'")))
}

fn parse_sentence_inner(template: &str) -> Result<Expr, ParseError> {
    let trimmed = template.trim();
    let lead = template.chars().count() - template.trim_start().chars().count();
    let wrapped: Vec<char> = std::iter::once('(').chain(trimmed.chars()).chain(std::iter::once(')')).collect();
    let fix = |e: ParseError| ParseError { position: (e.position + lead).saturating_sub(1), message: e.message };
    let chunk = next_chunk(&wrapped, 0).map_err(fix)?.ok_or_else(|| ParseError::new(0, "empty template"))?;
    if chunk.kind != Kind::Group || chunk.end != wrapped.len() {
        return Err(fix(ParseError::new(chunk.end, "unbalanced brackets (text after the end of the template)")));
    }
    if wrapped.len() <= 2 {
        return Err(ParseError::new(0, "empty template"));
    }
    let grp = parse_group(&wrapped, &chunk).map_err(fix)?;
    Ok(match grp {
        Expr::Seq(mut items)
            if items.len() == 1 && matches!(items[0], Expr::Seq(_) | Expr::Alt { .. } | Expr::Perm(_)) =>
        {
            items.remove(0)
        }
        other => other,
    })
}

/// hassil `is_template`: the value contains template syntax.
pub(crate) fn is_template(text: &str) -> bool {
    text.chars().any(|c| matches!(c, '(' | ')' | '{' | '}' | '<' | '>' | '[' | ']' | '|' | '@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_trailing_space() {
        let e = parse_sentence("turn on [the] {name}").unwrap();
        let Expr::Seq(items) = e else { panic!("{e:?}") };
        assert_eq!(items[0], Expr::Text("turn ".into()));
        assert_eq!(items[1], Expr::Text("on ".into()));
        assert!(matches!(&items[2], Expr::Alt { optional: true, items } if items.len() == 2));
        assert_eq!(items[3], Expr::Text(" ".into()));
        assert!(matches!(&items[4], Expr::List(l) if l.list == "name" && !l.end_of_word));
    }

    /// Found by the `templates` fuzz target: `;;;…` (64 separators at the
    /// top level, a permutation of 65 empty items) overflowed the matcher's
    /// 64-bit set of used items.
    #[test]
    fn permutations_are_bounded() {
        let e = parse_sentence(&";".repeat(64)).unwrap_err();
        assert!(e.message.contains("permutation of 65 items"), "{e:?}");
        let most = ["w"; MAX_PERMUTATION].join(";");
        assert!(parse_sentence(&format!("({most})")).is_ok());
        assert!(parse_sentence(&format!("({most};x)")).is_err());
    }

    #[test]
    fn alternatives_permutations_and_ranges() {
        let e = parse_sentence("(a|b c)").unwrap();
        assert!(matches!(e, Expr::Alt { ref items, optional: false } if items.len() == 2));
        let e = parse_sentence("(x;y)").unwrap();
        let Expr::Perm(items) = e else { panic!() };
        assert_eq!(items[0], Expr::Seq(vec![Expr::Text(" ".into()), Expr::Text("x".into()), Expr::Text(" ".into())]));
        let e = parse_sentence("{1..10:n} x").unwrap();
        let Expr::Seq(items) = e else { panic!() };
        assert!(
            matches!(&items[0], Expr::List(l) if l.inline_range == Some((1, 10, 1)) && l.slot == "n" && l.end_of_word)
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = parse_sentence("turn on (the light").unwrap_err();
        assert_eq!(e.position, 8, "{e:?}");
        let e = parse_sentence("turn on the] light").unwrap_err();
        assert!(e.message.contains("unbalanced"), "{e:?}");
        assert!(parse_sentence("(a|b;c)").is_err());
    }
}
