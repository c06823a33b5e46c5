//! Seeded noise a real speaker and a small ASR model produce: dropped
//! articles and politeness, fillers, ASR-like confusions, swapped words,
//! verb/noun synonyms, number words for spoken numbers, lower case.
//!
//! The sentence is cut into tokens where a slot value is one atomic token:
//! transformations only rewrite the words between slot values (a slot value
//! changes only its case, or a digit string becomes its number words), and
//! the spans are recomputed when the tokens are joined again.

use std::ops::Range;

use rand::Rng;
use rand::seq::IndexedRandom;

/// One word, or one whole slot value.
#[derive(Debug, Clone, PartialEq)]
struct Tok {
    text: String,
    slot: Option<String>,
    /// No space before it in the text (`50%`: `%` is glued to `50`).
    glued: bool,
}

/// Verb/noun synonyms: a phrase and what a speaker may say instead.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("turn on", &["switch on", "put on", "power on", "activate"]),
    ("turn off", &["switch off", "shut off", "kill", "cut"]),
    ("lights", &["lamps", "lighting"]),
    ("light", &["lamp"]),
    ("close", &["shut"]),
    ("open", &["raise"]),
    ("temperature", &["temp"]),
    ("what is", &["what's", "whats"]),
    ("set", &["change", "make"]),
    ("start", &["begin"]),
];

/// Words a small ASR model confuses (both ways).
const CONFUSIONS: &[(&str, &str)] = &[
    ("light", "lite"),
    ("lights", "lites"),
    ("on", "an"),
    ("off", "of"),
    ("two", "to"),
    ("for", "four"),
    ("one", "won"),
    ("eight", "ate"),
    ("hour", "our"),
    ("set", "said"),
];

const DROPPABLE: &[&str] = &["the", "a", "an", "my", "our", "please"];
const FILLERS: &[&str] = &["uh", "um", "er", "hmm", "uhm"];
const OPENERS: &[&str] = &["could you", "can you", "please", "hey", "okay", "would you"];

/// Which noise applies: the lexical tables are English.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Noise {
    pub english: bool,
}

fn tokenize(text: &str, slots: &[(String, Range<usize>)]) -> Vec<Tok> {
    let mut order: Vec<&(String, Range<usize>)> = slots.iter().collect();
    order.sort_by_key(|(_, r)| r.start);
    let mut toks = Vec::new();
    let mut cursor = 0;
    let words = |seg: &str, at: usize, toks: &mut Vec<Tok>| {
        let mut glued = at > 0 && !text[..at].ends_with(char::is_whitespace) && !seg.starts_with(char::is_whitespace);
        for (i, w) in seg.split(char::is_whitespace).enumerate() {
            if i > 0 {
                glued = false;
            }
            if !w.is_empty() {
                toks.push(Tok { text: w.to_string(), slot: None, glued });
            }
        }
    };
    for (name, r) in order {
        if r.start < cursor || r.end > text.len() || !text.is_char_boundary(r.start) || !text.is_char_boundary(r.end) {
            continue;
        }
        words(&text[cursor..r.start], cursor, &mut toks);
        let glued = r.start > 0 && !text[..r.start].ends_with(char::is_whitespace);
        toks.push(Tok { text: text[r.clone()].to_string(), slot: Some(name.clone()), glued });
        cursor = r.end;
    }
    words(&text[cursor..], cursor, &mut toks);
    toks
}

fn render(toks: &[Tok]) -> (String, Vec<(String, Range<usize>)>) {
    let mut text = String::new();
    let mut slots = Vec::new();
    for t in toks {
        if !text.is_empty() && !t.glued {
            text.push(' ');
        }
        let start = text.len();
        text.push_str(&t.text);
        if let Some(s) = &t.slot {
            slots.push((s.clone(), start..text.len()));
        }
    }
    (text, slots)
}

fn words(phrase: &str, glued: bool) -> Vec<Tok> {
    phrase
        .split(' ')
        .enumerate()
        .map(|(i, w)| Tok { text: w.to_string(), slot: None, glued: glued && i == 0 })
        .collect()
}

fn is_word(t: &Tok, w: &str) -> bool {
    t.slot.is_none() && t.text.eq_ignore_ascii_case(w)
}

/// English words for 0..=999 ("twenty one"); larger numbers stay digits.
pub(crate) fn number_words(n: u64) -> Option<String> {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
    let small = |n: u64| -> String {
        let n = n as usize;
        match n {
            0..=19 => ONES[n].to_string(),
            _ if n.is_multiple_of(10) => TENS[n / 10].to_string(),
            _ => format!("{} {}", TENS[n / 10], ONES[n % 10]),
        }
    };
    match n {
        0..=99 => Some(small(n)),
        100..=999 if n.is_multiple_of(100) => Some(format!("{} hundred", ONES[(n / 100) as usize])),
        100..=999 => Some(format!("{} hundred {}", ONES[(n / 100) as usize], small(n % 100))),
        _ => None,
    }
}

/// Every number [`number_words`] spells, 0 to 999 ("forty two").
pub(crate) fn english_spelled_numbers() -> Vec<String> {
    (0..1000).filter_map(number_words).collect()
}

impl Noise {
    /// A noisy variant of `text` (spans recomputed). Every step is seeded
    /// by `rng`; slot values keep their words.
    pub(crate) fn apply<R: Rng>(
        &self,
        text: &str,
        slots: &[(String, Range<usize>)],
        rng: &mut R,
    ) -> (String, Vec<(String, Range<usize>)>) {
        let mut toks = tokenize(text, slots);
        if self.english {
            synonyms(&mut toks, rng);
            toks.retain(|t| !(DROPPABLE.iter().any(|w| is_word(t, w)) && rng.random_bool(0.5)));
            for t in toks.iter_mut().filter(|t| t.slot.is_none()) {
                if let Some(to) = CONFUSIONS.iter().find_map(|(a, b)| {
                    if t.text.eq_ignore_ascii_case(a) {
                        Some(*b)
                    } else if t.text.eq_ignore_ascii_case(b) {
                        Some(*a)
                    } else {
                        None
                    }
                }) && rng.random_bool(0.15)
                {
                    t.text = to.to_string();
                }
            }
            spell_numbers(&mut toks, rng);
        }
        if rng.random_bool(0.2) {
            swap_adjacent(&mut toks, rng);
        }
        if rng.random_bool(0.35) {
            let candidates: Vec<usize> = (0..=toks.len()).filter(|&i| toks.get(i).is_none_or(|t| !t.glued)).collect();
            if let (Some(&at), Some(f)) = (candidates.choose(rng), FILLERS.choose(rng)) {
                toks.insert(at, Tok { text: (*f).to_string(), slot: None, glued: false });
            }
        }
        if self.english
            && rng.random_bool(0.2)
            && let Some(o) = OPENERS.choose(rng)
        {
            let mut front = words(o, false);
            front.append(&mut toks);
            toks = front;
        }
        if self.english && rng.random_bool(0.1) {
            toks.push(Tok { text: "please".into(), slot: None, glued: false });
        }
        if rng.random_bool(0.5) {
            for t in &mut toks {
                t.text = t.text.to_lowercase();
            }
        }
        if !toks.is_empty() && rng.random_bool(0.15) {
            let p = if rng.random_bool(0.5) { "?" } else { "." };
            toks.push(Tok { text: p.into(), slot: None, glued: true });
        }
        render(&toks)
    }
}

/// Replace phrases from [`SYNONYMS`] (only between slot values).
fn synonyms<R: Rng>(toks: &mut Vec<Tok>, rng: &mut R) {
    let mut i = 0;
    while i < toks.len() {
        let mut replaced = false;
        for (from, alts) in SYNONYMS {
            let pat: Vec<&str> = from.split(' ').collect();
            let hit = toks.get(i..i + pat.len()).is_some_and(|ts| ts.iter().zip(&pat).all(|(t, w)| is_word(t, w)));
            if hit && rng.random_bool(0.4) {
                let Some(alt) = alts.choose(rng) else { continue };
                let new = words(alt, toks[i].glued);
                let n = new.len();
                toks.splice(i..i + pat.len(), new);
                i += n;
                replaced = true;
                break;
            }
        }
        if !replaced {
            i += 1;
        }
    }
}

/// Digits in a slot value (a brightness, a temperature, timer minutes)
/// sometimes become the words an ASR model writes for them.
fn spell_numbers<R: Rng>(toks: &mut [Tok], rng: &mut R) {
    for t in toks.iter_mut() {
        if let Ok(n) = t.text.parse::<u64>()
            && let Some(w) = number_words(n)
            && rng.random_bool(0.3)
        {
            t.text = w;
        }
    }
}

/// Swap two neighbouring tokens (a slot value moves whole), keeping glued
/// pairs (`50` `%`) together.
fn swap_adjacent<R: Rng>(toks: &mut [Tok], rng: &mut R) {
    let ok: Vec<usize> = (0..toks.len().saturating_sub(1))
        .filter(|&i| !toks[i].glued && !toks[i + 1].glued && toks.get(i + 2).is_none_or(|t| !t.glued))
        .collect();
    if let Some(&i) = ok.choose(rng) {
        toks.swap(i, i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn tokens_round_trip_with_glued_units() {
        let text = "set the Kitchen Light brightness to 50%";
        let a = text.find("Kitchen").unwrap();
        let b = text.find("50").unwrap();
        let slots = vec![("name".to_string(), a..a + 13), ("brightness".to_string(), b..b + 2)];
        let (out, spans) = render(&tokenize(text, &slots));
        assert_eq!(out, text);
        assert_eq!(spans, slots);
    }

    #[test]
    fn noise_keeps_slot_spans_on_the_values() {
        let text = "turn on the lights in the Living Room to 40 percent";
        let a = text.find("Living").unwrap();
        let b = text.find("40").unwrap();
        let slots = vec![("area".to_string(), a..a + 11), ("brightness".to_string(), b..b + 2)];
        let mut rng = StdRng::seed_from_u64(7);
        let mut changed = 0;
        for _ in 0..300 {
            let (out, spans) = Noise { english: true }.apply(text, &slots, &mut rng);
            changed += usize::from(out != text);
            assert_eq!(spans.len(), 2, "{out}");
            assert!(out[spans[0].1.clone()].eq_ignore_ascii_case("Living Room"), "{out} {spans:?}");
            let n = &out[spans[1].1.clone()];
            assert!(n == "40" || n == "forty", "{out} {spans:?}");
        }
        assert!(changed > 200, "noise changed only {changed} of 300");
    }

    #[test]
    fn number_words_spell_english() {
        assert_eq!(number_words(0).as_deref(), Some("zero"));
        assert_eq!(number_words(21).as_deref(), Some("twenty one"));
        assert_eq!(number_words(100).as_deref(), Some("one hundred"));
        assert_eq!(number_words(305).as_deref(), Some("three hundred five"));
        assert_eq!(number_words(1000), None);
        let all = english_spelled_numbers();
        assert_eq!((all.len(), all[42].as_str(), all[999].as_str()), (1000, "forty two", "nine hundred ninety nine"));
    }
}
