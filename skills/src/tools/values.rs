//! The values a request says, so that a model's call can only use those:
//! a small model asked to "kill the kitchen light" wrote a brightness of
//! 40 that nobody said. [`values_said`] reads the numbers (digits, English number
//! words, shares such as "half") and the colour names of an English
//! request; [`Toolbox::call_schema_said`] narrows the call schema's value
//! arguments to them, dropping the ways of calling that need a value the
//! request does not have.
use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::spans::share_word;
use super::{COLOR_NAMES, Toolbox};
use crate::grammar::number;
use crate::lookup::fold;

/// Numbers and colours said in a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Said {
    pub numbers: BTreeSet<i64>,
    pub colors: BTreeSet<String>,
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
    pub fn call_schema_said(&self, intents: &[String], said: &Said) -> Value {
        let mut schema = self.call_schema_among(intents);
        if let Some(alts) = schema["anyOf"].as_array_mut() {
            alts.retain_mut(|alt| narrow(&mut alt["properties"]["arguments"], said));
        }
        schema
    }
}

/// Narrow one tool's parameters (`anyOf` ways of calling) to `said`;
/// `false` when no way of calling is left.
fn narrow(params: &mut Value, said: &Said) -> bool {
    let Some(ways) = params.get_mut("anyOf").and_then(Value::as_array_mut) else { return true };
    ways.retain_mut(|way| {
        let Some(props) = way.get_mut("properties").and_then(Value::as_object_mut) else { return true };
        props.iter_mut().all(|(key, schema)| {
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
        let s = Said { numbers: [30, 130].into(), colors: ["blue".to_string()].into() };
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
}
