//! The values a request says, so that a model's call can only use those:
//! a small model asked to "kill the kitchen light" wrote a brightness of
//! 40 that nobody said. [`values_said`] reads the numbers (digits, English number
//! words, shares such as "half") and the colour names of an English
//! request; [`Toolbox::call_schema_said`] narrows the call schema's value
//! arguments to them, dropping the ways of calling that need a value the
//! request does not have. [`Said::asks`] tells a question about how things
//! are ("is the coffee machine running") from a request, so that a model
//! can only answer it with a tool that changes nothing, and [`said_in`]
//! adds the devices, areas and floors the request mentions, the only ones
//! a call may then name.
use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::spans::share_word;
use super::{COLOR_NAMES, Toolbox};
use crate::Registry;
use crate::grammar::number;
use crate::lookup::fold;

/// Numbers and colours said in a request, whether it is a question, and
/// what it mentions of the home.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Said {
    pub numbers: BTreeSet<i64>,
    pub colors: BTreeSet<String>,
    /// A question about how things are ([`asks`]): only an intent that
    /// changes nothing ([`crate::intent::Intent::asks`]) answers it.
    pub asks: bool,
    /// The names of the devices, areas and floors the request mentions
    /// ([`said_in`]); empty when it mentions none, or was not checked.
    pub targets: BTreeSet<String>,
}

/// [`values_said`], and the devices, areas and floors of `reg` the request
/// mentions: those whose name or an alias shares a word with it ("open the
/// curtains halfway" mentions the Bedroom Curtains; plurals as singulars).
/// A model's call then names only those, when there are any
/// ([`Toolbox::call_schema_said`]): SmolLM2 answered that request by
/// turning off the coffee machine of a worked example. A device whose
/// words in the request are some of another device's is not mentioned:
/// "hallway light on" names the Hallway Light, not every "… Light" (Gemma
/// 3 had turned on the kitchen's).
pub fn said_in(reg: &Registry, text: &str) -> Said {
    let mut out = values_said(text);
    let folded = fold(text);
    let words: BTreeSet<&str> = folded.split_whitespace().map(singular).filter(|w| !NOT_A_NAME.contains(w)).collect();
    // The request's words each name (or alias) has.
    let shared = |name: &str, aliases: &[String]| -> BTreeSet<&str> {
        let names = std::iter::once(name).chain(aliases.iter().map(String::as_str));
        let said: Vec<String> =
            names.flat_map(|n| fold(n).split_whitespace().map(str::to_string).collect::<Vec<_>>()).collect();
        words.iter().copied().filter(|w| said.iter().any(|s| singular(s) == *w)).collect()
    };
    let devices: Vec<(&String, BTreeSet<&str>)> =
        reg.devices.iter().map(|d| (&d.name, shared(&d.name, &d.aliases))).filter(|(_, w)| !w.is_empty()).collect();
    let most_specific = devices
        .iter()
        .filter(|(_, w)| !devices.iter().any(|(_, other)| w.len() < other.len() && w.is_subset(other)))
        .map(|(n, _)| *n);
    let areas = reg.areas.iter().filter(|a| !shared(&a.name, &a.aliases).is_empty()).map(|a| &a.name);
    let floors = reg.floors.iter().filter(|f| !shared(&f.name, &f.aliases).is_empty()).map(|f| &f.name);
    out.targets = most_specific.chain(areas).chain(floors).cloned().collect();
    out
}

/// Words too common to mention a device, area or floor by themselves.
const NOT_A_NAME: [&str; 12] = ["the", "a", "an", "of", "in", "on", "off", "my", "to", "and", "all", "at"];

/// A folded word without a plural's "s" ("curtains", "lights").
fn singular(w: &str) -> &str {
    match w.strip_suffix('s') {
        Some(stem) if stem.len() >= 3 && !stem.ends_with('s') => stem,
        _ => w,
    }
}

/// The words that open an English question about how things are: the
/// auxiliaries of a yes/no question ("is the porch light on", "are the
/// blinds open", "did the door lock") and the wh-words ("what's on
/// upstairs", "how warm is it"). Folded: "what's" is "whats".
const QUESTION_OPENERS: [&str; 22] = [
    "is", "are", "was", "were", "isnt", "arent", "wasnt", "werent", "does", "do", "did", "doesnt", "didnt", "has",
    "have", "hasnt", "what", "whats", "which", "where", "how", "hows",
];

/// Whether folded `words` ask how things are. An opener followed by
/// "about" is a follow-up ("what about upstairs", "how about the
/// kitchen"), by "you" or "it possible" a request put as a question ("do
/// you mind turning on…", "is it possible to open…"), and "do not" or
/// "dont" an order; requests opened by "can", "could" or "would" are not
/// questions here.
fn asks(words: &[&str]) -> bool {
    let (Some(first), second) = (words.first(), words.get(1).copied()) else { return false };
    if !QUESTION_OPENERS.contains(first) {
        return false;
    }
    !matches!((second, words.get(2).copied()), (Some("about" | "you" | "not"), _) | (Some("it"), Some("possible")))
}

/// The longest number phrase read at a word.
const MAX_NUMBER_WORDS: usize = 4;

/// A share of the whole said at the start of `words` ([`share_word`], of
/// one or two words), in percent, and how many words it took.
fn share(words: &[&str]) -> Option<(i64, usize)> {
    (1..=2).rev().filter(|&len| len <= words.len()).find_map(|len| Some((share_word(&words[..len].join(" "))?, len)))
}

/// The numbers and [`COLOR_NAMES`] in English `text`: "30%", "twenty one",
/// "a hundred", "half", "three quarters"; "a" and "one" alone count as 1.
pub fn values_said(text: &str) -> Said {
    let folded = fold(text);
    let words: Vec<&str> = folded.split_whitespace().map(|w| w.trim_end_matches(['%', '.'])).collect();
    let mut out = Said::default();
    let mut i = 0;
    while let Some(rest) = words.get(i..).filter(|r| !r.is_empty()) {
        if let Some((n, len)) = share(rest) {
            out.numbers.insert(n);
            i += len;
            continue;
        }
        // The longest run of words that reads as one whole number.
        let read = (1..=MAX_NUMBER_WORDS.min(rest.len())).rev().find_map(|len| {
            let phrase = rest[..len].join(" ");
            let whole = number(&phrase).filter(|n| n.fract() == 0.0 && n.abs() < 1e6)?;
            (rest[0] != "and" && rest[len - 1] != "and").then_some((whole as i64, len))
        });
        match read {
            Some((n, len)) if !(len == 1 && rest[0] == "a") => {
                out.numbers.insert(n);
                i += len;
            }
            _ => i += 1,
        }
    }
    out.asks = asks(&words);
    let padded = format!(" {} ", words.join(" "));
    out.colors =
        (COLOR_NAMES.iter()).filter(|c| padded.contains(&format!(" {} ", fold(c)))).map(|c| c.to_string()).collect();
    out
}

impl Toolbox {
    /// [`Toolbox::call_schema_among`] with each value argument (brightness,
    /// position, temperature, colour) narrowed to what `said` holds within
    /// its range; a way of calling whose value the request does not say is
    /// left out, and so is a tool left with none.
    ///
    /// When the request mentions devices, areas or floors ([`Said::targets`]),
    /// a way of naming the target keeps only those; a way left with none
    /// goes, so a call names something the request spoke of.
    ///
    /// A question ([`Said::asks`]) keeps only the tools that change
    /// nothing ([`crate::intent::Intent::asks`]) among `intents` (all of
    /// them when `intents` has none), so a model cannot answer "is the
    /// coffee machine running" by switching it; with no such tool only
    /// [`super::NO_TOOL`] is left.
    pub fn call_schema_said(&self, intents: &[String], said: &Said) -> Value {
        let intents = if said.asks { self.asking_among(intents) } else { intents.to_vec() };
        let mut schema = self.call_schema_among(&intents);
        if let Some(alts) = schema["anyOf"].as_array_mut() {
            alts.retain_mut(|alt| narrow(&mut alt["properties"]["arguments"], said));
        }
        schema
    }

    /// The tools among `intents` (every tool when empty) that change
    /// nothing; all such tools when `intents` holds none, and a name no
    /// tool has when the toolbox has none (so only [`super::NO_TOOL`] stays).
    fn asking_among(&self, intents: &[String]) -> Vec<String> {
        let asking = |among: &[String]| -> Vec<String> {
            (self.tools.iter())
                .filter(|t| t.intent.asks() && (among.is_empty() || among.iter().any(|i| i == t.intent.as_str())))
                .map(|t| t.intent.as_str().to_string())
                .collect()
        };
        let mut out = asking(intents);
        if out.is_empty() {
            out = asking(&[]);
        }
        if out.is_empty() {
            out.push(super::NO_TOOL.to_string());
        }
        out
    }
}

/// Narrow one tool's parameters (`anyOf` ways of calling) to `said`;
/// `false` when no way of calling is left.
fn narrow(params: &mut Value, said: &Said) -> bool {
    let Some(ways) = params.get_mut("anyOf").and_then(Value::as_array_mut) else { return true };
    ways.retain_mut(|way| {
        let Some(props) = way.get_mut("properties").and_then(Value::as_object_mut) else { return true };
        props.iter_mut().all(|(key, schema)| {
            if matches!(key.as_str(), "name" | "area" | "floor") {
                return narrow_target(schema, &said.targets);
            }
            let allowed: Vec<Value> = match key.as_str() {
                "color" => said.colors.iter().map(|c| json!(c)).collect(),
                "brightness" | "position" | "temperature" => {
                    let (lo, hi) = (schema["minimum"].as_i64(), schema["maximum"].as_i64());
                    let within = |n: &&i64| lo.is_none_or(|lo| **n >= lo) && hi.is_none_or(|hi| **n <= hi);
                    said.numbers.iter().filter(within).map(|n| json!(n)).collect()
                }
                _ => return true,
            };
            let known = |v: &Value| schema["enum"].as_array().is_none_or(|e| e.contains(v));
            let allowed: Vec<Value> = allowed.into_iter().filter(known).collect();
            *schema = json!({"enum": allowed});
            !allowed.is_empty()
        })
    });
    !ways.is_empty()
}

/// A name, area or floor argument narrowed to the `targets` said (none
/// said: unchanged); `false` when none of its names is left.
fn narrow_target(schema: &mut Value, targets: &BTreeSet<String>) -> bool {
    if targets.is_empty() {
        return true;
    }
    if let Some(c) = schema.get("const").and_then(Value::as_str) {
        return targets.contains(c);
    }
    let Some(names) = schema.get_mut("enum").and_then(Value::as_array_mut) else { return true };
    names.retain(|n| n.as_str().is_some_and(|n| targets.contains(n)));
    !names.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::tests::demo;

    fn numbers(text: &str) -> Vec<i64> {
        values_said(text).numbers.into_iter().collect()
    }

    #[test]
    fn reads_the_numbers_and_colours_said() {
        assert_eq!(numbers("bring the kitchen light down to 30%"), [30]);
        assert_eq!(numbers("set the heating to twenty one degrees"), [21]);
        assert_eq!(numbers("open the curtains halfway"), [50]);
        assert_eq!(numbers("three quarters open, and a hundred percent bright"), [75, 100]);
        assert_eq!(numbers("kitchen light to full brightness"), [100]);
        assert!(numbers("kill the kitchen light").is_empty());
        assert!(numbers("turn on a lamp and the fan").is_empty(), "a lone 'a' is an article");
        let s = values_said("could you put the living room lamp on Green, and the hall warm white");
        assert_eq!(s.colors.into_iter().collect::<Vec<_>>(), ["green", "warm white", "white"]);
        assert!(values_said("the greenhouse light").colors.is_empty(), "whole words only");
    }

    #[test]
    fn value_arguments_take_only_what_was_said() {
        let tb = Toolbox::new(&demo());
        let compiled = |s: &Said| {
            let schema = tb.call_schema_said(&[], s);
            let names: Vec<String> = (schema["anyOf"].as_array().unwrap().iter())
                .map(|a| a["properties"]["name"]["const"].as_str().unwrap().to_string())
                .collect();
            (schema, names)
        };
        // Nothing said: no tool that needs a value.
        let (_, names) = compiled(&Said::default());
        assert!(names.contains(&"HassTurnOff".to_string()) && names.contains(&"none".to_string()), "{names:?}");
        for t in ["HassLightSet", "HassSetPosition", "HassClimateSetTemperature"] {
            assert!(!names.iter().any(|n| n == t), "{t} without a value: {names:?}");
        }
        // 30 and blue: brightness and position 30, colour blue; 30 °C is
        // within the thermostat's range, 130 nowhere.
        let s = Said { numbers: [30, 130].into(), colors: ["blue".to_string()].into(), ..Said::default() };
        let (schema, names) = compiled(&s);
        assert!(names.iter().any(|n| n == "HassClimateSetTemperature"), "{names:?}");
        let text = schema.to_string();
        assert!(text.contains(r#""brightness":{"enum":[30]}"#), "{text}");
        assert!(text.contains(r#""color":{"enum":["blue"]}"#), "{text}");
        assert!(!text.contains("130") && !text.contains("\"red\""), "{text}");
        // 3 °C is under the thermostat's minimum: no temperature to set.
        let (_, names) = compiled(&Said { numbers: [3].into(), ..Said::default() });
        assert!(!names.iter().any(|n| n == "HassClimateSetTemperature") && names.iter().any(|n| n == "HassLightSet"));
    }

    #[test]
    fn a_question_about_how_things_are_is_told_from_a_request() {
        for q in [
            "is the coffee machine running",
            "Are the bedroom curtains open?",
            "what's on in the living room",
            "how warm is it outside",
            "which lights are on upstairs",
            "did I leave the porch light on",
            "isn't the kitchen light on",
        ] {
            assert!(values_said(q).asks, "{q}");
        }
        for r in [
            "turn off the coffee machine",
            "could the porch be lit please",
            "can you open the curtains",
            "what about upstairs",
            "how about the kitchen",
            "do you mind turning on the fan",
            "don't turn off the hall light",
            "is it possible to dim the lamp",
            "the hallway is pitch black",
            "",
        ] {
            assert!(!values_said(r).asks, "{r}");
        }
    }

    #[test]
    fn a_question_keeps_only_the_tools_that_change_nothing() {
        let tb = Toolbox::new(&demo());
        let names = |intents: &[&str]| -> Vec<String> {
            let intents: Vec<String> = intents.iter().map(|s| s.to_string()).collect();
            let schema = tb.call_schema_said(&intents, &Said { asks: true, ..Said::default() });
            (schema["anyOf"].as_array().unwrap().iter())
                .map(|a| a["properties"]["name"]["const"].as_str().unwrap().to_string())
                .collect()
        };
        let all = names(&[]);
        assert!(all.contains(&"HassGetState".to_string()) && all.contains(&"none".to_string()), "{all:?}");
        let changing: Vec<&String> =
            all.iter().filter(|n| *n != "none" && !crate::intent::Intent::from_name(n).asks()).collect();
        assert!(changing.is_empty(), "{changing:?}");
        // A shortlist with an asking tool keeps it alone; one without any
        // gives way to every asking tool, never to the shortlist's actions.
        assert_eq!(names(&["HassTurnOff", "HassGetState"]), ["HassGetState", "none"]);
        assert_eq!(names(&["HassTurnOff", "HassToggle"]), all);
    }

    #[test]
    fn the_targets_mentioned_are_the_ones_a_call_may_name() {
        let reg = demo();
        let tb = Toolbox::new(&reg);
        let targets = |text: &str| said_in(&reg, text).targets.into_iter().collect::<Vec<_>>();
        let all_names = |text: &str| -> Vec<String> {
            let schema = tb.call_schema_said(&[], &said_in(&reg, text));
            let mut v: Vec<String> = (schema.to_string().split('"'))
                .filter(|w| reg.devices.iter().any(|d| d.name == *w) || reg.areas.iter().any(|a| a.name == *w))
                .map(str::to_string)
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let m = targets("open the blinds halfway");
        assert_eq!(m, ["Living Room Blinds"]);
        assert_eq!(all_names("open the blinds halfway"), m, "only what was mentioned");
        // Nothing mentioned: nothing narrowed.
        assert!(targets("I'm cold").is_empty());
        assert!(all_names("I'm cold").len() > 3);
        // An area by its name; small words mention nothing.
        let k = targets("make the kitchen cosy");
        assert!(k.iter().any(|n| n == "Kitchen"), "{k:?}");
        assert!(targets("turn it on and off at all").is_empty());
        // The device the most words name: the blinds, not the thermostat
        // that shares "living room" with them; the area stays.
        assert_eq!(targets("the living room blinds halfway"), ["Living Room", "Living Room Blinds"]);
        let both = targets("is the living room warm");
        assert!(both.iter().any(|n| n == "Living Room Thermostat") && both.iter().any(|n| n == "Living Room Blinds"));
    }
}
