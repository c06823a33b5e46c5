//! What the slot tagger read, as a tool call.
//!
//! The heads give an intent and slot spans of the user's own words ("the
//! office", "fifty percent", "kitchn light" as a small ASR heard it).
//! [`call_from_spans`] maps each span to the registry's own spelling (a
//! device, area or floor name; a colour; an integer) so that the call goes
//! through [`Toolbox::understand`](super::Toolbox::understand), the same
//! check an LLM's call gets. A span that names nothing in the home is kept
//! as said, and the check refuses it, naming it.
use serde_json::{Map, Value, json};

use super::{COLOR_NAMES, sensitive};
use crate::grammar::number;
use crate::lookup::{find_area, find_devices, find_floor, fold};
use crate::registry::{Device, Registry};

/// Plural and generic words a speaker adds to a name: "the office lights",
/// "the kitchen lamps".
const TRAILING: &[&str] = &["lights", "lamps", "light", "lamp", "devices", "stuff"];

/// A tool call `{"name": intent, "arguments": {…}}` from the heads' reading.
/// `domain` is the one the intent's phrasing fixes ("turn off the {area}
/// lights"); it is used only with an area or floor target. Slots the tools
/// take no argument for (duration, item, message, …) are left out.
pub fn call_from_spans(reg: &Registry, intent: &str, domain: Option<&str>, spans: &[(String, String)]) -> Value {
    let mut args = Map::new();
    for (slot, text) in spans {
        if args.contains_key(slot.as_str()) {
            continue;
        }
        let v = match slot.as_str() {
            "name" => json!(device_name(reg, text).unwrap_or_else(|| text.trim().to_string())),
            "area" => json!(area_name(reg, text).unwrap_or_else(|| text.trim().to_string())),
            "floor" => json!(floor_name(reg, text).unwrap_or_else(|| text.trim().to_string())),
            "brightness" | "position" | "temperature" => match integer(text).or_else(|| share(slot, text)) {
                Some(n) => json!(n),
                None => json!(text.trim()),
            },
            "color" => json!(color(text).unwrap_or_else(|| fold(text))),
            _ => continue,
        };
        args.insert(slot.clone(), v);
    }
    // A name one device has needs no place (the tool takes none with it).
    if let Some(n) = args.get("name").and_then(Value::as_str)
        && reg.devices.iter().filter(|d| d.name == n).count() == 1
    {
        args.remove("area");
        args.remove("floor");
    }
    if args.contains_key("area") && args.contains_key("floor") {
        args.remove("floor");
    }
    if let Some(d) = domain
        && !args.contains_key("name")
        && (args.contains_key("area") || args.contains_key("floor"))
    {
        args.insert("domain".into(), json!(d));
    }
    json!({"name": intent, "arguments": args})
}

/// Whether a call that targets an area or floor rather than a device
/// reaches something there of its kind ([`reaches`]); a call that names a
/// device or targets no place does.
pub fn place_reaches(reg: &Registry, call: &Value) -> bool {
    let arg = |k: &str| call["arguments"].get(k).is_some();
    let placed = !arg("name") && (arg("area") || arg("floor"));
    !placed || !reaches(reg, call).is_empty()
}

/// Whether an action call could move a lock, door or gate: one it
/// [`reaches`].
pub fn moves_sensitive(reg: &Registry, call: &Value) -> bool {
    reaches(reg, call).into_iter().any(sensitive)
}

/// The devices a call reaches: the ones it names, or those in the area or
/// on the floor it targets of its domain, if given, else of the kinds its
/// intent reaches by default ([`crate::default_kinds`]; any kind for an
/// intent without defaults or a call without one). None without a target.
pub fn reaches<'r>(reg: &'r Registry, call: &Value) -> Vec<&'r Device> {
    let args = &call["arguments"];
    let arg = |k: &str| args.get(k).and_then(Value::as_str);
    let defaults = call["name"].as_str().map(|i| crate::default_kinds(&crate::Intent::from_name(i))).unwrap_or(&[]);
    (reg.devices.iter())
        .filter(|d| {
            if let Some(n) = arg("name") {
                return d.name == n;
            }
            let in_area =
                arg("area").is_some_and(|a| d.area.as_deref().and_then(|id| reg.area(id)).is_some_and(|x| x.name == a));
            let on_floor = arg("floor").is_some_and(|f| reg.device_floor(d).is_some_and(|x| x.name == f));
            let reached = match arg("domain") {
                Some(dom) => d.kind.domain() == dom,
                None => defaults.is_empty() || defaults.contains(&d.kind),
            };
            (in_area || on_floor) && reached
        })
        .collect()
}

/// `text`, then `text` without a leading article or trailing generic word,
/// folded.
fn variants(text: &str) -> Vec<String> {
    let t = fold(text);
    let t = t.strip_prefix("the ").or_else(|| t.strip_prefix("my ")).unwrap_or(&t).to_string();
    let mut out = vec![t.clone()];
    for w in TRAILING {
        if let Some(s) = t.strip_suffix(w).map(str::trim_end)
            && !s.is_empty()
        {
            out.push(s.to_string());
        }
    }
    out
}

/// The closest of `names` within a small edit distance of `text` (one edit
/// per five characters), if exactly one is closest.
fn closest<'a>(text: &str, names: impl Iterator<Item = (&'a str, &'a str)>) -> Option<&'a str> {
    let budget = (text.chars().count() / 5).max(1);
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for (spoken, canonical) in names {
        let d = strsim::levenshtein(text, &fold(spoken));
        if d > budget {
            continue;
        }
        match best {
            Some((b, c)) if d == b && c != canonical => tie = true,
            Some((b, _)) if d >= b => {}
            _ => {
                best = Some((d, canonical));
                tie = false;
            }
        }
    }
    if tie { None } else { best.map(|(_, c)| c) }
}

/// The registry's spelling of `text` among `items` (each with its name and
/// aliases): a variant that `exact` finds, else the closest name or alias.
fn resolve<'r, T>(
    text: &str,
    items: &'r [T],
    exact: impl Fn(&str) -> Option<&'r str>,
    names: impl Fn(&'r T) -> (&'r str, &'r [String]),
) -> Option<String> {
    let vs = variants(text);
    if let Some(n) = vs.iter().find_map(|v| exact(v)) {
        return Some(n.to_string());
    }
    let all = || {
        items.iter().flat_map(|x| {
            let (name, aliases) = names(x);
            std::iter::once(name).chain(aliases.iter().map(String::as_str)).map(move |n| (n, name))
        })
    };
    vs.iter().find_map(|v| closest(v, all())).map(str::to_string)
}

fn device_name(reg: &Registry, text: &str) -> Option<String> {
    let exact = |v: &str| find_devices(reg, v).first().map(|d| d.name.as_str());
    resolve(text, &reg.devices, exact, |d| (d.name.as_str(), d.aliases.as_slice()))
}

fn area_name(reg: &Registry, text: &str) -> Option<String> {
    let exact = |v: &str| find_area(reg, v).map(|a| a.name.as_str());
    resolve(text, &reg.areas, exact, |a| (a.name.as_str(), a.aliases.as_slice()))
}

fn floor_name(reg: &Registry, text: &str) -> Option<String> {
    let exact = |v: &str| find_floor(reg, v).map(|f| f.name.as_str());
    resolve(text, &reg.floors, exact, |f| (f.name.as_str(), f.aliases.as_slice()))
}

/// "50", "50%", "fifty percent", "21 degrees" -> the integer.
fn integer(text: &str) -> Option<i64> {
    let t = fold(text);
    let t = t.trim_end_matches('%');
    let t = ["percent", "per cent", "degrees celsius", "degrees", "celsius", "°c"]
        .iter()
        .find_map(|u| t.strip_suffix(u))
        .unwrap_or(t)
        .trim()
        .trim_end_matches('%');
    let n = number(t)?;
    (n.fract() == 0.0 && n.abs() < 1e6).then_some(n as i64)
}

/// A brightness or position said as a share of the whole: "full", "half",
/// "halfway", "a quarter", "three quarters" (percent).
fn share(slot: &str, text: &str) -> Option<i64> {
    if slot == "temperature" {
        return None;
    }
    let t = fold(text);
    let t = t.strip_prefix("a ").unwrap_or(&t);
    let t = ["brightness", "way", "open", "power"].iter().find_map(|w| t.strip_suffix(w)).unwrap_or(t).trim();
    Some(match t {
        "all the" => 100,
        "half the" => 50,
        "quarter of the" => 25,
        "three quarters of the" => 75,
        _ => share_word(t)?,
    })
}

/// A share of the whole said in so many words ("full", "half", "three
/// quarters"), in percent.
pub(super) fn share_word(words: &str) -> Option<i64> {
    Some(match words {
        "full" | "max" | "maximum" => 100,
        "half" | "halfway" => 50,
        "quarter" => 25,
        "three quarters" => 75,
        _ => return None,
    })
}

fn color(text: &str) -> Option<String> {
    let t = fold(text);
    COLOR_NAMES.iter().find(|c| fold(c) == t).map(|c| (*c).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::tests::demo;
    use crate::tools::Toolbox;

    fn spans(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn spoken_words_become_the_registry_spelling() {
        let reg = demo();
        let c = call_from_spans(&reg, "HassTurnOff", Some("light"), &spans(&[("area", "the lounge")]));
        assert_eq!(c, json!({"name": "HassTurnOff", "arguments": {"area": "Living Room", "domain": "light"}}));
        let c = call_from_spans(
            &reg,
            "HassLightSet",
            None,
            &spans(&[("name", "kitchn light"), ("brightness", "fifty percent")]),
        );
        assert_eq!(c, json!({"name": "HassLightSet", "arguments": {"name": "Kitchen Light", "brightness": 50}}));
        let c = call_from_spans(&reg, "HassTurnOn", None, &spans(&[("floor", "upstairs")]));
        assert_eq!(c["arguments"]["floor"], json!(reg.floors.iter().find(|f| f.id == "first").unwrap().name));
        // Shares of the whole are percentages, for brightness and position
        // only.
        for (slot, said, want) in [
            ("brightness", "full", json!(100)),
            ("brightness", "half brightness", json!(50)),
            ("position", "halfway", json!(50)),
            ("position", "three quarters of the way", json!(75)),
            ("temperature", "half", json!("half")),
        ] {
            let c = call_from_spans(&reg, "HassLightSet", None, &spans(&[(slot, said)]));
            assert_eq!(c["arguments"][slot], want, "{slot} {said}");
        }
        // A unique name drops the place the speaker added; the domain is
        // only for area and floor targets.
        let c = call_from_spans(
            &reg,
            "HassTurnOn",
            Some("light"),
            &spans(&[("name", "kitchen light"), ("area", "kitchen")]),
        );
        assert_eq!(c["arguments"], json!({"name": "Kitchen Light"}));
        // Spans with no argument are left out; an unknown name stays as said.
        let c = call_from_spans(&reg, "HassTurnOn", None, &spans(&[("name", "attic fan"), ("duration", "5 minutes")]));
        assert_eq!(c["arguments"], json!({"name": "attic fan"}));
    }

    #[test]
    fn calls_that_could_move_a_lock_or_door_are_known() {
        let reg = demo();
        let lock = reg.devices.iter().find(|d| d.kind == firmware_bridge::DeviceKind::Lock).unwrap();
        let area = reg.area(lock.area.as_deref().unwrap()).unwrap().name.clone();
        assert!(moves_sensitive(&reg, &json!({"arguments": {"name": lock.name}})));
        assert!(moves_sensitive(&reg, &json!({"arguments": {"area": area}})));
        assert!(moves_sensitive(&reg, &json!({"arguments": {"area": area, "domain": "lock"}})));
        assert!(!moves_sensitive(&reg, &json!({"arguments": {"area": area, "domain": "light"}})));
        assert!(!moves_sensitive(&reg, &json!({"arguments": {"name": "Kitchen Light"}})));
        // "Turn off the {area}" reaches lights, switches and fans, not the lock.
        assert!(!moves_sensitive(&reg, &json!({"name": "HassTurnOff", "arguments": {"area": area}})));
        assert!(moves_sensitive(&reg, &json!({"name": "HassTurnOff", "arguments": {"area": area, "domain": "lock"}})));
        assert!(moves_sensitive(&reg, &json!({"name": "HassTurnOn", "arguments": {"name": lock.name}})));
    }

    #[test]
    fn the_toolbox_accepts_resolved_calls_and_refuses_the_rest() {
        let reg = demo();
        let tb = Toolbox::new(&reg);
        let ok = call_from_spans(&reg, "HassTurnOff", Some("light"), &spans(&[("area", "kitchen")]));
        let u = tb.understand("cut the kitchen lights", &ok, &reg).unwrap().unwrap();
        assert_eq!(u.intent.as_str(), "HassTurnOff");
        let bad = call_from_spans(&reg, "HassTurnOn", None, &spans(&[("name", "attic fan")]));
        let e = tb.understand("turn on the attic fan", &bad, &reg).unwrap_err();
        assert!(e.to_string().contains("attic fan"), "{e}");
        // Two equally close names are not guessed between.
        assert_eq!(
            closest("lamb", [("lamp", "Lamp A"), ("lamb", "Lamb B"), ("lamd", "Lamd")].into_iter()),
            Some("Lamb B")
        );
        assert_eq!(closest("lamx", [("lamp", "Lamp A"), ("lamb", "Lamb B")].into_iter()), None);
    }
}
