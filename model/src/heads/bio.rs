//! BIO slot tags over WordPiece tokens, and back to spans of the original
//! text through the tokenizer's byte offsets.
//!
//! Tag ids for `n` slot types: `0` is `O`, `1 + 2k` is `B-<slot k>`,
//! `2 + 2k` is `I-<slot k>` (so `2n + 1` tags). Every token of a span is
//! labelled (first `B`, the rest `I`); special tokens are not labelled
//! ([`IGNORE`]). Decoding works on words: the pieces of one word (same
//! pre-tokenizer word id) follow the decision on the word's first piece,
//! so a span never ends inside a word.
use std::collections::BTreeSet;
use std::ops::Range;

use crate::bert::TokenizedText;

/// Label of tokens that do not count in the loss (`[CLS]`, `[SEP]`).
pub const IGNORE: i64 = -100;

/// Tag names for `slot_types`: `O`, `B-x`, `I-x`, ...
pub fn tag_names(slot_types: &[String]) -> Vec<String> {
    let mut v = vec!["O".to_string()];
    for s in slot_types {
        v.push(format!("B-{s}"));
        v.push(format!("I-{s}"));
    }
    v
}

/// A slot value found in (or given for) a text: byte range into the text.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotSpan {
    pub slot: String,
    /// Byte range in the original text (always on char boundaries).
    pub range: Range<usize>,
    /// `text[range]`.
    pub text: String,
    /// Mean over the span's tokens of the chosen tag's probability
    /// (1.0 for gold spans).
    pub confidence: f32,
}

/// Per-token tag ids for gold `spans` (`(byte range, slot index)`): a token
/// belongs to the span its first byte falls in.
pub fn token_tags(tokens: &TokenizedText, spans: &[(Range<usize>, usize)]) -> Vec<i64> {
    let mut started = vec![false; spans.len()];
    tokens
        .offsets
        .iter()
        .zip(&tokens.special)
        .map(|(&(a, b), &special)| {
            if special || b <= a {
                return IGNORE;
            }
            match spans.iter().position(|(r, _)| r.start <= a && a < r.end) {
                None => 0,
                Some(i) => {
                    let slot = spans[i].1 as i64;
                    if std::mem::replace(&mut started[i], true) { 2 + 2 * slot } else { 1 + 2 * slot }
                }
            }
        })
        .collect()
}

/// `text[at..]` starts with a unit (a letter or a sign such as `°`) right
/// after a digit.
fn unit_after_number(text: &str, at: usize) -> bool {
    let (Some(before), Some(after)) = (text.get(..at), text.get(at..)) else { return false };
    before.ends_with(|c: char| c.is_ascii_digit()) && after.starts_with(|c: char| !c.is_numeric())
}

/// Sentence punctuation and unit signs a span may have picked up at its
/// end ("outside.", "sixteen°"): never part of a value.
const TRAILING: &[char] = &['.', ',', '!', '?', ';', ':', '%', '°'];

/// Spans from per-token `(tag id, probability)` on `text`, whose
/// tokenisation is `tokens`. Tags out of range are treated as `O`.
pub fn decode_spans(text: &str, tokens: &TokenizedText, tags: &[(i64, f32)], slot_types: &[String]) -> Vec<SlotSpan> {
    struct Open {
        slot: usize,
        start: usize,
        end: usize,
        probs: Vec<f32>,
    }
    let mut out = Vec::new();
    let close = |open: &mut Option<Open>, out: &mut Vec<SlotSpan>| {
        if let Some(o) = open.take()
            && let (Some(name), Some(t)) = (slot_types.get(o.slot), text.get(o.start..o.end))
            && let t = t.trim_end_matches(|c: char| TRAILING.contains(&c) || c.is_whitespace())
            && !t.is_empty()
        {
            let confidence = o.probs.iter().sum::<f32>() / o.probs.len().max(1) as f32;
            out.push(SlotSpan {
                slot: name.clone(),
                range: o.start..o.start + t.len(),
                text: t.to_string(),
                confidence,
            });
        }
    };
    let mut open: Option<Open> = None;
    // The decision on the current word's first piece: inside a span or not.
    let mut word: Option<u32> = None;
    let mut word_in_span = false;
    for (i, &(tag, p)) in tags.iter().enumerate() {
        let (Some(&(a, b)), Some(&special)) = (tokens.offsets.get(i), tokens.special.get(i)) else { break };
        if special || b <= a {
            close(&mut open, &mut out);
            word = None;
            continue;
        }
        let w = tokens.words.get(i).copied().flatten();
        if w.is_some() && w == word {
            // A later piece of the same word follows the first piece, except
            // that a number ends where its glued unit starts ("4900" of
            // "4900kelvin") when the unit's piece is tagged outside.
            if word_in_span && let Some(o) = open.as_mut() {
                if tag == 0 && unit_after_number(text, a) {
                    word_in_span = false;
                } else {
                    o.end = b;
                    o.probs.push(p);
                }
            }
            continue;
        }
        word = w;
        if tag < 1 || tag > 2 * slot_types.len() as i64 {
            close(&mut open, &mut out);
            word_in_span = false;
            continue;
        }
        let (begin, slot) = (tag % 2 == 1, ((tag - 1) / 2) as usize);
        match open.as_mut() {
            Some(o) if !begin && o.slot == slot => {
                o.end = b;
                o.probs.push(p);
            }
            _ => {
                close(&mut open, &mut out);
                open = Some(Open { slot, start: a, end: b, probs: vec![p] });
            }
        }
        word_in_span = true;
    }
    close(&mut open, &mut out);
    out
}

/// The word (a run of letters and digits) of `text` that starts at
/// `at` after spaces or one hyphen, as `(start, end)`.
fn word_after(text: &str, at: usize) -> Option<(usize, usize)> {
    let rest = text.get(at..)?;
    let skipped = rest.len() - rest.trim_start_matches(' ').len();
    let mut start = at + skipped;
    if skipped == 0 {
        start += usize::from(rest.starts_with('-'));
    }
    let len = text.get(start..)?.find(|c: char| !c.is_alphanumeric()).unwrap_or(text.len() - start);
    (len > 0 && start > at).then_some((start, start + len))
}

/// The word of `text` that ends at `at` before spaces or one hyphen.
fn word_before(text: &str, at: usize) -> Option<(usize, usize)> {
    let head = text.get(..at)?;
    let skipped = head.len() - head.trim_end_matches(' ').len();
    let mut end = at - skipped;
    if skipped == 0 && head.ends_with('-') {
        end -= 1;
    }
    let start = text.get(..end)?.rfind(|c: char| !c.is_alphanumeric()).map_or(0, |i| i + 1);
    (end > start && end < at).then_some((start, end))
}

/// `text` as a spelled number is looked up: lower case, hyphens as spaces.
fn spelling(text: &str) -> String {
    text.to_lowercase().split([' ', '-']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A span that is a spelled number (`numbers`, e.g. "forty two") takes in
/// the word next to it while the two still spell one number, and a
/// neighbouring span of the same slot that does: "forty" of "forty two
/// hours" becomes "forty two", "one" + "hundred" one span; "two" (an ASR's
/// "to") stays out of "two twenty three". A tagger that marks one word of
/// a spelled number would otherwise hand on a different number.
pub fn join_spelled_numbers(text: &str, spans: Vec<SlotSpan>, numbers: &BTreeSet<String>) -> Vec<SlotSpan> {
    if numbers.is_empty() {
        return spans;
    }
    let mut out: Vec<SlotSpan> = Vec::with_capacity(spans.len());
    let spelled = |r: &Range<usize>| text.get(r.clone()).is_some_and(|t| numbers.contains(&spelling(t)));
    let mut spans = spans.into_iter().peekable();
    while let Some(mut s) = spans.next() {
        if !spelled(&s.range) {
            out.push(s);
            continue;
        }
        // Leftwards over a free word (the span before ends before it).
        let floor = out.last().map_or(0, |p| p.range.end);
        while let Some((a, _)) = word_before(text, s.range.start).filter(|w| w.0 >= floor)
            && spelled(&(a..s.range.end))
        {
            s.range.start = a;
        }
        // Rightwards over free words and spans of one word.
        while let Some((a, b)) = word_after(text, s.range.end) {
            // The next span, when it starts inside the word: it must be
            // that word alone.
            let held = spans.peek().filter(|n| n.range.start < b).map(|n| n.range == (a..b));
            if held == Some(false) || !spelled(&(s.range.start..b)) {
                break;
            }
            // Of another slot, the surer tag names the number's slot.
            if let Some(n) = spans.next_if(|_| held.is_some())
                && n.slot != s.slot
                && n.confidence > s.confidence
            {
                (s.slot, s.confidence) = (n.slot, n.confidence);
            }
            s.range.end = b;
        }
        if let Some(t) = text.get(s.range.clone()) {
            s.text = t.to_string();
        }
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "turn on the living room lamp" with a made-up split of "lamp" into two pieces.
    fn toks() -> (String, TokenizedText) {
        let text = "turn on the living room lamp".to_string();
        let offsets = vec![(0, 0), (0, 4), (5, 7), (8, 11), (12, 18), (19, 23), (24, 26), (26, 28), (0, 0)];
        let words = vec![None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(5), Some(5), None];
        let special = words.iter().map(Option::is_none).collect();
        (text, TokenizedText { ids: vec![0; 9], offsets, special, words })
    }

    #[test]
    fn gold_spans_to_tags_and_back() {
        let (text, t) = toks();
        let slots = vec!["area".to_string(), "name".to_string()];
        assert_eq!(tag_names(&slots), ["O", "B-area", "I-area", "B-name", "I-name"]);
        let spans = vec![(12..23, 0), (24..28, 1)];
        let tags = token_tags(&t, &spans);
        assert_eq!(tags, vec![IGNORE, 0, 0, 0, 1, 2, 3, 4, IGNORE]);
        let with_p: Vec<(i64, f32)> = tags.iter().map(|&t| (t, 0.5)).collect();
        let got = decode_spans(&text, &t, &with_p, &slots);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].slot.as_str(), got[0].text.as_str(), got[0].range.clone()), ("area", "living room", 12..23));
        assert_eq!((got[1].slot.as_str(), got[1].text.as_str()), ("name", "lamp"));
    }

    /// Gold span -> tags -> spans.
    fn encode_decode_round_trip(text: &str, t: &TokenizedText, slots: &[String], span: Range<usize>) -> Vec<String> {
        let tags: Vec<(i64, f32)> = token_tags(t, &[(span, 0)]).into_iter().map(|g| (g.max(0), 1.0)).collect();
        decode_spans(text, t, &tags, slots).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn decoding_is_lenient_and_word_aligned() {
        let (text, t) = toks();
        let slots = vec!["area".to_string(), "name".to_string()];
        // I- without B- opens a span; the second piece of "lamp" tagged O
        // still follows its first piece; an out-of-range tag is O.
        let tags = [(0, 1.0), (0, 1.0), (0, 1.0), (99, 1.0), (2, 0.8), (2, 0.6), (3, 1.0), (0, 1.0), (0, 1.0)];
        let got = decode_spans(&text, &t, &tags, &slots);
        let v: Vec<(&str, &str)> = got.iter().map(|s| (s.slot.as_str(), s.text.as_str())).collect();
        assert_eq!(v, [("area", "living room"), ("name", "lamp")]);
        assert!((got[0].confidence - 0.7).abs() < 1e-6);
        // B- after B- of the same slot starts a new span.
        let tags = [(0, 1.0), (0, 1.0), (0, 1.0), (0, 1.0), (1, 1.0), (1, 1.0), (0, 1.0), (0, 1.0), (0, 1.0)];
        assert_eq!(decode_spans(&text, &t, &tags, &slots).len(), 2);
        // A number glued to its unit: the unit's piece tagged O ends the
        // span there; tagged inside, it stays in the span; a letter piece
        // after letters follows its word either way.
        let text = "set it to 4900kelvin".to_string();
        let offsets = vec![(0, 0), (0, 3), (4, 6), (7, 9), (10, 13), (13, 14), (14, 17), (17, 20), (0, 0)];
        let words = vec![None, Some(0), Some(1), Some(2), Some(3), Some(3), Some(3), Some(3), None];
        let special = words.iter().map(Option::is_none).collect();
        let t = TokenizedText { ids: vec![0; 9], offsets, special, words };
        let slots = vec!["temperature".to_string()];
        let spans = |tags: &[(i64, f32)]| -> Vec<String> {
            decode_spans(&text, &t, tags, &slots).into_iter().map(|s| s.text).collect()
        };
        let o = (0, 1.0);
        assert_eq!(spans(&[o, o, o, o, (1, 1.0), (2, 1.0), o, o, o]), ["4900"]);
        assert_eq!(spans(&[o, o, o, o, (1, 1.0), o, (2, 1.0), (2, 1.0), o]), ["4900kelvin"]);
        assert_eq!(spans(&[o, o, o, o, (1, 1.0), (2, 1.0), (2, 1.0), o, o]), ["4900kelvin"]);
        assert_eq!(encode_decode_round_trip(&text, &t, &slots, 10..14), ["4900"]);
        // A degree sign is a unit too.
        let text = "set it to 21°".to_string();
        let offsets = vec![(0, 0), (0, 3), (4, 6), (7, 9), (10, 12), (12, 14), (0, 0)];
        let words = vec![None, Some(0), Some(1), Some(2), Some(3), Some(3), None];
        let special = words.iter().map(Option::is_none).collect();
        let t = TokenizedText { ids: vec![0; 7], offsets, special, words };
        let got = decode_spans(&text, &t, &[o, o, o, o, (1, 1.0), o, o], &slots);
        assert_eq!(got.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["21"]);
        // Tagged with the number, the sign is still not part of the value.
        let got = decode_spans(&text, &t, &[o, o, o, o, (1, 1.0), (2, 1.0), o], &slots);
        assert_eq!(got.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["21"]);
        // Sentence punctuation at a span's end is not part of the value;
        // a span of punctuation alone is dropped.
        let text = "what is outside .".to_string();
        let offsets = vec![(0, 0), (0, 4), (5, 7), (8, 15), (16, 17), (0, 0)];
        let words = vec![None, Some(0), Some(1), Some(2), Some(3), None];
        let special = words.iter().map(Option::is_none).collect();
        let t = TokenizedText { ids: vec![0; 6], offsets, special, words };
        let got = decode_spans(&text, &t, &[o, o, o, (1, 1.0), (2, 1.0), o], &slots);
        assert_eq!((got[0].text.as_str(), got[0].range.clone()), ("outside", 8..15));
        assert!(decode_spans(&text, &t, &[o, o, o, o, (1, 1.0), o], &slots).is_empty());
        // Too few tags: decodes what is there.
        assert!(decode_spans(&text, &t, &[], &slots).is_empty());
    }

    #[test]
    fn spans_take_in_the_spelled_numbers_next_to_them() {
        let numbers: BTreeSet<String> = [
            "two",
            "forty",
            "forty two",
            "fifty",
            "fifty six",
            "six",
            "twenty",
            "twenty three",
            "three",
            "one",
            "one hundred",
        ]
        .iter()
        .map(|w| w.to_string())
        .collect();
        let span = |text: &str, slot: &str, word: &str| {
            let a = text.find(word).unwrap();
            SlotSpan { slot: slot.into(), range: a..a + word.len(), text: word.into(), confidence: 0.9 }
        };
        let join = |text: &str, spans: Vec<SlotSpan>| -> Vec<String> {
            join_spelled_numbers(text, spans, &numbers).into_iter().map(|s| format!("{}={}", s.slot, s.text)).collect()
        };
        let text = "timer for Forty two hours and 42 minutes";
        assert_eq!(join(text, vec![span(text, "hours", "Forty")]), ["hours=Forty two"]);
        assert_eq!(join(text, vec![span(text, "hours", "two")]), ["hours=Forty two"]);
        let text = "start a fifty-six second timer";
        assert_eq!(join(text, vec![span(text, "seconds", "fifty")]), ["seconds=fifty-six"]);
        // The range follows the text.
        let out = join_spelled_numbers(text, vec![span(text, "seconds", "six")], &numbers);
        assert_eq!((&text[out[0].range.clone()], out[0].confidence), ("fifty-six", 0.9));
        // Two words that do not spell one number stay apart ("two" was
        // an ASR's "to"); a span of the same slot joins, and so does
        // another slot's, the surer of the two naming the slot: "thirty
        // eight-minute" is one number, not thirty seconds and eight minutes.
        let text = "set temp two twenty three";
        assert_eq!(join(text, vec![span(text, "temperature", "twenty three")]), ["temperature=twenty three"]);
        let text = "open it to one hundred%";
        let parts = vec![span(text, "position", "one"), span(text, "position", "hundred")];
        assert_eq!(join(text, parts), ["position=one hundred"]);
        let text = "twenty three";
        let both = vec![span(text, "hours", "twenty"), span(text, "minutes", "three")];
        assert_eq!(join(text, both), ["hours=twenty three"]);
        let mut both = vec![span(text, "seconds", "twenty"), span(text, "minutes", "three")];
        both[1].confidence = 0.95;
        assert_eq!(join(text, both), ["minutes=twenty three"]);
        let text = "two hours twenty";
        let apart = vec![span(text, "hours", "two"), span(text, "minutes", "twenty")];
        assert_eq!(join(text, apart), ["hours=two", "minutes=twenty"]);
        // A span that is not a number keeps to itself; a glued unit is no
        // neighbour.
        let text = "turn on lamp two";
        assert_eq!(join(text, vec![span(text, "name", "lamp")]), ["name=lamp"]);
        let text = "set it to twentythree";
        assert_eq!(join(text, vec![span(text, "brightness", "twenty")]), ["brightness=twenty"]);
        // No numbers (a language the corpus does not spell them in).
        let text = "forty two";
        let out = join_spelled_numbers(text, vec![span(text, "hours", "forty")], &BTreeSet::new());
        assert_eq!(out[0].text, "forty");
    }
}
