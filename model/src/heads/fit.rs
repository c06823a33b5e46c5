//! Decoded slot spans fitted to the values a slot type can take.
//!
//! An area, floor, device class, state or colour is one of a closed list
//! (the registry's areas and floors, the language's lists), so a span the
//! tagger gives such a type is checked against that list
//! ([`fit_to_values`]): one word too many is trimmed ("awning is"), a value
//! of another type the intent takes is retyped ("curtains" tagged as an
//! area is a device class), and a state or colour that is no value at all
//! is dropped ("are" tagged as a state). An area, floor or device class
//! that is none stays as tagged: dropped, "the lights in the gazebo" would
//! become every light, where the registry check names what the home
//! lacks. Names, numbers and free text (timer names, list items, messages)
//! are left as tagged.
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::bio::SlotSpan;

/// How a span's text is looked up among a type's values: lower case, words
/// separated by one space.
pub fn value_key(text: &str) -> String {
    text.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

/// The closed types a span of which is dropped when it is no value: leaving
/// them out narrows nothing (a state qualifies a question, a colour is
/// the value a light is set to, and a reading without it is incomplete).
const DROPPED_WHEN_NO_VALUE: [&str; 2] = ["state", "color"];

/// The byte ranges of the whitespace-separated words of `text[range]`.
fn words(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let Some(s) = text.get(range.clone()) else { return Vec::new() };
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(a)) => {
                out.push(range.start + a..range.start + i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(a) = start {
        out.push(range.start + a..range.end);
    }
    out
}

/// `r` without punctuation at its ends ("shut." as "shut").
fn trimmed(text: &str, r: Range<usize>) -> Range<usize> {
    let Some(s) = text.get(r.clone()) else { return r };
    let lead = s.len() - s.trim_start_matches(|c: char| !c.is_alphanumeric()).len();
    let tail = s.len() - s.trim_end_matches(|c: char| !c.is_alphanumeric()).len();
    if lead + tail >= s.len() { r } else { r.start + lead..r.end - tail }
}

/// The longest run of the span's words that is one of `set` (the first of
/// equal length), as is or without punctuation at its ends.
fn longest_value(text: &str, span: &Range<usize>, set: &BTreeSet<String>) -> Option<Range<usize>> {
    let ws = words(text, span.clone());
    let is_value = |r: &Range<usize>| text.get(r.clone()).is_some_and(|t| set.contains(&value_key(t)));
    for len in (1..=ws.len()).rev() {
        for run in ws.windows(len) {
            let (Some(first), Some(last)) = (run.first(), run.last()) else { continue };
            let r = first.start..last.end;
            if is_value(&r) {
                return Some(r);
            }
            let t = trimmed(text, r);
            if is_value(&t) {
                return Some(t);
            }
        }
    }
    None
}

/// Each span of a type in `values` (type -> its values as [`value_key`]s)
/// kept when it is one of them; else given the first other type in
/// `values` that `takes` (the intent's slot types; `None`: any) and holds
/// the whole span ("garage door" tagged as an area is a device class, not
/// the Garage area); else shrunk to the longest run of its words that is a
/// value of its own type; else dropped if a state or colour
/// ([`DROPPED_WHEN_NO_VALUE`]) and kept as tagged otherwise. Spans of other
/// types pass unchanged; a span left the same as one before it is dropped.
pub fn fit_to_values(
    text: &str,
    spans: Vec<SlotSpan>,
    values: &BTreeMap<String, BTreeSet<String>>,
    takes: Option<&BTreeSet<String>>,
) -> Vec<SlotSpan> {
    if values.is_empty() {
        return spans;
    }
    let mut out: Vec<SlotSpan> = Vec::with_capacity(spans.len());
    for mut s in spans {
        if let Some(set) = values.get(&s.slot) {
            let whole = trimmed(text, s.range.clone());
            let key = text.get(whole.clone()).map(value_key).unwrap_or_default();
            let other = || {
                values.iter().find(|(t, vs)| **t != s.slot && takes.is_none_or(|k| k.contains(*t)) && vs.contains(&key))
            };
            if set.contains(&key) {
                s.range = whole;
            } else if let Some((t, _)) = other() {
                (s.slot, s.range) = (t.clone(), whole);
            } else if let Some(r) = longest_value(text, &s.range, set) {
                s.range = r;
            } else if DROPPED_WHEN_NO_VALUE.contains(&s.slot.as_str()) {
                continue;
            }
            s.text = text.get(s.range.clone()).unwrap_or_default().to_string();
        }
        if !out.iter().any(|o| o.slot == s.slot && o.range == s.range) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str, slot: &str, part: &str) -> SlotSpan {
        let a = text.find(part).expect("part of the text");
        SlotSpan { slot: slot.into(), range: a..a + part.len(), text: part.into(), confidence: 0.9 }
    }

    fn values() -> BTreeMap<String, BTreeSet<String>> {
        let set = |vs: &[&str]| vs.iter().map(|v| v.to_string()).collect::<BTreeSet<_>>();
        [
            ("area".to_string(), set(&["living room", "garage", "hall"])),
            ("floor".to_string(), set(&["ground floor", "upstairs"])),
            ("device_class".to_string(), set(&["awning", "curtains", "garage door"])),
            ("state".to_string(), set(&["open", "locked", "on"])),
        ]
        .into_iter()
        .collect()
    }

    fn fit(text: &str, spans: Vec<SlotSpan>, takes: Option<&[&str]>) -> Vec<String> {
        let takes: Option<BTreeSet<String>> = takes.map(|t| t.iter().map(|s| s.to_string()).collect());
        fit_to_values(text, spans, &values(), takes.as_ref())
            .into_iter()
            .map(|s| format!("{}={}", s.slot, s.text))
            .collect()
    }

    #[test]
    fn a_value_stays_and_extra_words_are_trimmed() {
        let t = "how many of my awning is opening upstairs";
        let out = fit(t, vec![span(t, "device_class", "awning is"), span(t, "floor", "upstairs")], None);
        assert_eq!(out, ["device_class=awning", "floor=upstairs"]);
        let t = "is the Living Room lounge uhm lit";
        assert_eq!(fit(t, vec![span(t, "area", "Living Room lounge")], None), ["area=Living Room"]);
        let t = "are the garage doors open.";
        let out = fit(t, vec![span(t, "state", "open.")], None);
        assert_eq!(out, ["state=open"]);
    }

    #[test]
    fn a_value_of_another_type_the_intent_takes_is_retyped() {
        let t = "lift up every first floor curtains";
        assert_eq!(
            fit(t, vec![span(t, "area", "curtains")], Some(&["area", "device_class"])),
            ["device_class=curtains"]
        );
        // Not a type the intent takes: no value of its own type, kept as
        // tagged for the registry check to name.
        assert_eq!(fit(t, vec![span(t, "area", "curtains")], Some(&["area"])), ["area=curtains"]);
        // A whole value of another type before a part of its own.
        let t = "open the garage door";
        let out = fit(t, vec![span(t, "area", "garage door")], Some(&["area", "device_class"]));
        assert_eq!(out, ["device_class=garage door"]);
        assert_eq!(fit(t, vec![span(t, "area", "garage door")], Some(&["area"])), ["area=garage"]);
    }

    #[test]
    fn a_state_that_is_no_value_is_dropped_a_place_kept_and_other_types_pass() {
        let t = "is hallway motion detected across ground floor";
        let spans = vec![
            span(t, "name", "hallway motion"),
            span(t, "state", "detected"),
            span(t, "floor", "across"),
            span(t, "floor", "ground floor"),
        ];
        // "detected" is not in this test's state list, so it goes; a floor
        // that is none stays (dropped, the request would widen).
        assert_eq!(fit(t, spans, None), ["name=hallway motion", "floor=across", "floor=ground floor"]);
        let t = "turn off the lights in the gazebo";
        assert_eq!(fit(t, vec![span(t, "area", "gazebo")], None), ["area=gazebo"]);
        let t = "which locks are locked";
        let out = fit(t, vec![span(t, "state", "are"), span(t, "state", "locked")], None);
        assert_eq!(out, ["state=locked"]);
        // Without values nothing changes.
        let s = vec![span(t, "state", "are")];
        assert_eq!(fit_to_values(t, s.clone(), &BTreeMap::new(), None), s);
    }

    #[test]
    fn a_trimmed_span_equal_to_a_kept_one_is_not_repeated() {
        let t = "hall hall lights on";
        let a = SlotSpan { slot: "area".into(), range: 0..4, text: "hall".into(), confidence: 0.9 };
        let b = SlotSpan { slot: "area".into(), range: 0..9, text: "hall hall".into(), confidence: 0.8 };
        assert_eq!(fit(t, vec![a, b], None), ["area=hall"]);
    }
}
