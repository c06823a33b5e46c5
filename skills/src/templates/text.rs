//! Text normalization as hassil's `util.py` does it: whitespace, NFC, the
//! typographic apostrophe, punctuation removal around words, skip words, and
//! whitespace between CJK characters.

use unicode_normalization::UnicodeNormalization;

/// Python `re` `\w` for str patterns: alphanumeric (L*, N*) or `_`.
#[inline]
pub(crate) fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    c.is_alphanumeric()
}

const PUNCT_NO_PERIOD: &str = "。,，?¿？؟!¡！;；:：’…—–―";

#[inline]
fn is_punct(c: char) -> bool {
    c == '.' || PUNCT_NO_PERIOD.contains(c)
}

#[inline]
fn is_punct_no_period(c: char) -> bool {
    PUNCT_NO_PERIOD.contains(c)
}

/// Collapse whitespace runs to one space, NFC, `’` -> `'` (hassil `normalize_text`).
pub(crate) fn normalize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_ws = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_ws {
                out.push(' ');
            }
            in_ws = true;
        } else {
            out.push(c);
            in_ws = false;
        }
    }
    let out: String = if out.is_ascii() { out } else { out.nfc().collect() };
    if out.contains('’') { out.replace('’', "'") } else { out }
}

/// `(?<=L)[SET]+(?=\W)`-style removal where the lookahead is satisfied by a
/// following punctuation char (regex backtracking), see `util.py`.
fn remove_runs(chars: &[char], keep: &mut Vec<char>, pre_w: bool, set: fn(char) -> bool) {
    keep.clear();
    let n = chars.len();
    let mut i = 0;
    while i < n {
        let c = chars[i];
        let before_ok = i > 0 && (is_word_char(chars[i - 1]) == pre_w);
        if before_ok && set(c) {
            let mut j = i;
            while j < n && set(chars[j]) {
                j += 1;
            }
            // Greedy run, then (?=\W): full run if followed by a non-word char,
            // otherwise give back one char (a set char is itself \W).
            let end = if j < n && !is_word_char(chars[j]) {
                Some(j)
            } else if j - i >= 2 {
                Some(j - 1)
            } else {
                None
            };
            if let Some(end) = end {
                i = end;
                continue;
            }
        }
        keep.push(c);
        i += 1;
    }
}

/// hassil `remove_punctuation` (`_remove_punctuation`).
pub(crate) fn remove_punctuation(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    // ^[P]+
    let lead = chars.iter().take_while(|c| is_punct(**c)).count();
    chars.drain(..lead);
    // [P]+$ unless the text ends with an initialism (\b(?:\w\.){2,}$)
    if !ends_with_initialism(&chars) {
        let trail = chars.iter().rev().take_while(|c| is_punct(**c)).count();
        chars.truncate(chars.len() - trail);
    }
    let mut buf = Vec::with_capacity(chars.len());
    // (?<=\W)[P]+(?=\w)
    {
        buf.clear();
        let n = chars.len();
        let mut i = 0;
        while i < n {
            if i > 0 && !is_word_char(chars[i - 1]) && is_punct(chars[i]) {
                let mut j = i;
                while j < n && is_punct(chars[j]) {
                    j += 1;
                }
                if j < n && is_word_char(chars[j]) {
                    i = j;
                    continue;
                }
            }
            buf.push(chars[i]);
            i += 1;
        }
        std::mem::swap(&mut chars, &mut buf);
    }
    // (?<=\w)[P no period]+(?=\W)
    remove_runs(&chars, &mut buf, true, is_punct_no_period);
    std::mem::swap(&mut chars, &mut buf);
    // (?<!\w\.\w)\.(?=\W)
    {
        buf.clear();
        let n = chars.len();
        for i in 0..n {
            if chars[i] == '.' && i + 1 < n && !is_word_char(chars[i + 1]) {
                let initialism =
                    i >= 3 && is_word_char(chars[i - 3]) && chars[i - 2] == '.' && is_word_char(chars[i - 1]);
                if !initialism {
                    continue;
                }
            }
            buf.push(chars[i]);
        }
        std::mem::swap(&mut chars, &mut buf);
    }
    // (?<=\W)[P]+(?=\W)
    remove_runs(&chars, &mut buf, false, is_punct);
    buf.into_iter().collect()
}

fn ends_with_initialism(chars: &[char]) -> bool {
    // \b(?:\w\.){2,}$
    let mut n = chars.len();
    let mut pairs = 0;
    while n >= 2 && chars[n - 1] == '.' && is_word_char(chars[n - 2]) {
        pairs += 1;
        n -= 2;
        if pairs >= 2 {
            // \b before the first \w: previous char is not \w (or start).
            if n == 0 || !is_word_char(chars[n - 1]) {
                return true;
            }
        }
    }
    false
}

/// hassil `normalize_for_matching`: normalize, remove punctuation, strip.
pub(crate) fn normalize_for_matching(text: &str) -> String {
    remove_punctuation(&normalize_text(text)).trim().to_string()
}

/// Collapse whitespace runs into single spaces (no NFC) and trim.
fn collapse_ws_trim(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_ws = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_ws {
                out.push(' ');
            }
            in_ws = true;
        } else {
            out.push(c);
            in_ws = false;
        }
    }
    out.trim().to_string()
}

/// Skip words, lowercased, de-duplicated, longest first (hassil's order).
pub(crate) fn prepare_skip_words<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for w in words {
        let w = lower(w.trim());
        if !w.is_empty() && !v.contains(&w) {
            v.push(w);
        }
    }
    // Python sorts a set by length (stable over an unordered set); equal
    // lengths cannot both match at one position unless one is a prefix of the
    // other, which needs different lengths, so ties do not matter.
    v.sort_by_key(|s| std::cmp::Reverse(s.chars().count()));
    v
}

/// Which ends skip words may be removed from.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum SkipMode {
    Anywhere,
    StartOnly,
    EndOnly,
}

/// hassil `remove_skip_words` (case-insensitive).
pub(crate) fn remove_skip_words(text: &str, skip: &[String], ignore_ws: bool, mode: SkipMode) -> String {
    if skip.is_empty() {
        return text.to_string();
    }
    let lo = lower(text);
    if ignore_ws {
        match mode {
            SkipMode::Anywhere => {
                let mut out = String::with_capacity(text.len());
                let mut i = 0;
                'outer: while i < lo.len() {
                    for w in skip {
                        if lo[i..].starts_with(w.as_str()) {
                            i += w.len();
                            continue 'outer;
                        }
                    }
                    let c = text[i..].chars().next().unwrap_or(' ');
                    out.push(c);
                    i += c.len_utf8();
                }
                out
            }
            SkipMode::StartOnly => {
                let mut cur = text.to_string();
                loop {
                    let l = lower(&cur);
                    match skip.iter().find(|w| l.starts_with(w.as_str())) {
                        Some(w) => cur = cur[w.len()..].to_string(),
                        None => return cur,
                    }
                }
            }
            SkipMode::EndOnly => {
                let mut cur = text.to_string();
                loop {
                    let l = lower(&cur);
                    match skip.iter().find(|w| l.ends_with(w.as_str())) {
                        Some(w) => cur.truncate(cur.len() - w.len()),
                        None => return cur,
                    }
                }
            }
        }
    } else {
        match mode {
            SkipMode::Anywhere => {
                // (?<!\w)(?:words)(?!\w) -> " ", collapse, strip
                let mut out = String::with_capacity(text.len());
                let mut i = 0;
                let mut prev: Option<char> = None;
                'outer2: while i < lo.len() {
                    if !prev.is_some_and(is_word_char) {
                        for w in skip {
                            if lo[i..].starts_with(w.as_str()) {
                                let next = lo[i + w.len()..].chars().next();
                                if !next.is_some_and(is_word_char) {
                                    out.push(' ');
                                    prev = w.chars().last();
                                    i += w.len();
                                    continue 'outer2;
                                }
                            }
                        }
                    }
                    let c = text[i..].chars().next().unwrap_or(' ');
                    out.push(c);
                    prev = Some(c);
                    i += c.len_utf8();
                }
                collapse_ws_trim(&out)
            }
            SkipMode::StartOnly => {
                // ^\s*(?:words)(?=\s|$|[^\w])\s*
                let mut cur = text.to_string();
                loop {
                    let l = lower(&cur);
                    let lt = l.trim_start();
                    let off = l.len() - lt.len();
                    let hit = skip.iter().find(|w| {
                        lt.starts_with(w.as_str()) && !lt[w.len()..].chars().next().is_some_and(is_word_char)
                    });
                    match hit {
                        Some(w) => {
                            let rest = &cur[off + w.len()..];
                            cur = collapse_ws_trim(rest.trim_start());
                        }
                        None => return collapse_ws_trim(&cur),
                    }
                }
            }
            SkipMode::EndOnly => {
                // \s*(?<!\w)(?:words)\s*$
                let mut cur = text.to_string();
                loop {
                    let l = lower(&cur);
                    let lt = l.trim_end();
                    let hit = skip.iter().find(|w| {
                        lt.ends_with(w.as_str()) && !lt[..lt.len() - w.len()].chars().last().is_some_and(is_word_char)
                    });
                    match hit {
                        Some(w) => {
                            let keep = lt.len() - w.len();
                            cur = collapse_ws_trim(&cur[..keep]);
                        }
                        None => return collapse_ws_trim(&cur),
                    }
                }
            }
        }
    }
}

/// CJK ideographs, kana, hangul (hassil `CJK`).
#[inline]
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{3040}'..='\u{30ff}' | '\u{ac00}'..='\u{d7af}')
}

/// Remove whitespace between two CJK characters (hassil `CJK_WHITESPACE`).
pub(crate) fn remove_cjk_whitespace(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() && i > 0 && is_cjk(chars[i - 1]) {
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if j < chars.len() && is_cjk(chars[j]) {
                i = j;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Lowercase char by char, keeping the UTF-8 length of every char, so byte
/// offsets in the lowered text are offsets in the original (case-insensitive
/// matching like `re.IGNORECASE`).
pub(crate) fn lower(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let mut l = c.to_lowercase();
        match (l.next(), l.next()) {
            (Some(lc), None) if lc.len_utf8() == c.len_utf8() => out.push(lc),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_like_hassil() {
        let cases = [
            ("Turn on the lights.", "Turn on the lights"),
            ("what's the time?", "what's the time"),
            ("hello, world!", "hello world"),
            ("turn on the A.C.", "turn on the A.C."),
            ("¿qué hora es?", "qué hora es"),
            ("a ... b", "a  b"),
            ("3.5 degrees", "3.5 degrees"),
            ("set it to 3. now", "set it to 3 now"),
        ];
        for (i, o) in cases {
            assert_eq!(remove_punctuation(i), o, "{i}");
        }
    }

    #[test]
    fn skip_words_like_hassil() {
        let sw = prepare_skip_words(["please", "can you", "could you"]);
        assert_eq!(
            remove_skip_words("Please turn on the light please", &sw, false, SkipMode::Anywhere),
            "turn on the light"
        );
        assert_eq!(remove_skip_words("pleased to meet", &sw, false, SkipMode::Anywhere), "pleased to meet");
        assert_eq!(remove_skip_words("can you please add milk", &sw, false, SkipMode::StartOnly), "add milk");
        assert_eq!(remove_skip_words("add milk please", &sw, false, SkipMode::StartOnly), "add milk please");
        assert_eq!(remove_skip_words("add milk please", &sw, false, SkipMode::EndOnly), "add milk");
    }

    #[test]
    fn cjk_whitespace() {
        assert_eq!(remove_cjk_whitespace("打开 客厅 的灯 ok go"), "打开客厅的灯 ok go");
    }
}
