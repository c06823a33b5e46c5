//! A small fallback grammar over the registry's names, aliases, areas and
//! floors, for when the Home Assistant sentence templates find nothing.
//!
//! Covers the everyday forms: "turn on/off X", "turn X on", "toggle X",
//! "switch on the lights in the kitchen", "set X to 40 percent", "dim X to
//! 20%", "set X to red", "set the thermostat to 21 degrees", "open/close X",
//! "lock/unlock X", "what is the temperature in X", "is the front door
//! locked", "set a timer for 5 minutes", "never mind". Case and punctuation
//! are folded first. When no area is spoken and the request names a kind of
//! device ("turn on the lights"), the [`NluContext`] area is used if it has
//! such devices.
//!
//! Returns Home Assistant intent names and slots (`source = Grammar`); a
//! request naming one device also carries its entity id.
use std::collections::BTreeMap;

use firmware_bridge::DeviceKind;
use serde_json::{Value, json};

use crate::intent::Intent;
use crate::lookup::{find_area, find_devices, find_floor, fold};
use crate::registry::{Device, Registry};
use crate::slots::{Slots, color_rgb};
use crate::{Candidate, NluContext, Source, Understanding};

/// Understand `text`, or `None` when no rule matches it.
pub fn understand(text: &str, reg: &Registry, ctx: &NluContext) -> Option<Understanding> {
    let s = normalize(text);
    if s.is_empty() {
        return None;
    }
    let g = Grammar { reg, ctx };
    let (intent, slots, target) = g.parse(&s)?;
    let mut slots = slots;
    let mut entities = Vec::new();
    let mut candidates = Vec::new();
    let mut confidence = 0.8;
    if let Some(t) = target {
        if let Some(n) = t.name {
            slots.insert("name".into(), json!(n));
        }
        if let Some(a) = t.area {
            slots.insert("area".into(), json!(a));
        }
        if let Some(f) = t.floor {
            slots.insert("floor".into(), json!(f));
        }
        if let Some(d) = t.domain {
            slots.insert("domain".into(), json!(d.domain()));
        }
        if !t.entities.is_empty() {
            confidence = 0.9;
        }
        entities = t.entities;
        candidates = t.candidates;
    }
    Some(Understanding {
        text: text.to_string(),
        intent,
        slots: Slots::from_map(slots),
        entities,
        candidates,
        confidence,
        source: Source::Grammar,
        response: None,
    })
}

/// Folded text with politeness stripped and `%` spelled out.
fn normalize(text: &str) -> String {
    let f = fold(&text.replace('%', " percent ").replace('°', " degrees "));
    let words: Vec<&str> = f.split(' ').map(|w| w.trim_matches('.')).filter(|w| !w.is_empty()).collect();
    let mut s = words.join(" ");
    for p in ["please ", "can you ", "could you ", "would you ", "will you ", "hey ", "ok ", "okay "] {
        while let Some(rest) = s.strip_prefix(p) {
            s = rest.to_string();
        }
    }
    for p in [" please", " for me", " thanks", " thank you"] {
        while let Some(rest) = s.strip_suffix(p) {
            s = rest.to_string();
        }
    }
    s
}

/// What a phrase like "the lights in the kitchen" resolved to.
#[derive(Debug, Default, Clone, PartialEq)]
struct Target {
    entities: Vec<String>,
    /// Device name (as in the registry) when one device was named.
    name: Option<String>,
    /// Area name (as in the registry).
    area: Option<String>,
    floor: Option<String>,
    domain: Option<DeviceKind>,
    candidates: Vec<Candidate>,
}

type Parsed = (Intent, BTreeMap<String, Value>, Option<Target>);

struct Grammar<'a> {
    reg: &'a Registry,
    ctx: &'a NluContext,
}

/// Strip one of several word prefixes.
fn after<'s>(s: &'s str, prefixes: &[&str]) -> Option<&'s str> {
    prefixes.iter().find_map(|p| {
        let rest = s.strip_prefix(p)?;
        if rest.is_empty() { Some(rest) } else { rest.strip_prefix(' ') }
    })
}

/// Strip one of several word suffixes.
fn before<'s>(s: &'s str, suffixes: &[&str]) -> Option<&'s str> {
    suffixes.iter().find_map(|p| s.strip_suffix(p)?.strip_suffix(' '))
}

impl Grammar<'_> {
    fn parse(&self, s: &str) -> Option<Parsed> {
        let none = BTreeMap::new;
        if matches!(s, "never mind" | "nevermind" | "cancel" | "forget it" | "stop listening") {
            return Some((Intent::HassNevermind, none(), None));
        }
        if let Some(p) = self.timer(s) {
            return Some(p);
        }
        if let Some(p) = self.temperature_question(s) {
            return Some(p);
        }
        if let Some(p) = self.state_question(s) {
            return Some(p);
        }
        // turn/switch on|off X, turn/switch X on|off, turn X <colour>.
        if let Some(rest) = after(s, &["turn", "switch", "power"]) {
            if let Some(x) = after(rest, &["on"]) {
                return Some((Intent::HassTurnOn, none(), Some(self.target(x, None)?)));
            }
            if let Some(x) = after(rest, &["off"]) {
                return Some((Intent::HassTurnOff, none(), Some(self.target(x, None)?)));
            }
            if let Some(x) = before(rest, &["on"]) {
                return Some((Intent::HassTurnOn, none(), Some(self.target(x, None)?)));
            }
            if let Some(x) = before(rest, &["off"]) {
                return Some((Intent::HassTurnOff, none(), Some(self.target(x, None)?)));
            }
            return self.set_color(rest);
        }
        if let Some(x) = after(s, &["toggle", "flip"]) {
            return Some((Intent::HassToggle, none(), Some(self.target(x, None)?)));
        }
        if let Some(x) = after(s, &["open", "raise"]) {
            return Some((Intent::HassTurnOn, none(), Some(self.target(x, Some(DeviceKind::Cover))?)));
        }
        if let Some(x) = after(s, &["close", "shut", "lower"]) {
            return Some((Intent::HassTurnOff, none(), Some(self.target(x, Some(DeviceKind::Cover))?)));
        }
        if let Some(x) = after(s, &["unlock"]) {
            return Some((Intent::HassTurnOff, none(), Some(self.target(x, Some(DeviceKind::Lock))?)));
        }
        if let Some(x) = after(s, &["lock"]) {
            return Some((Intent::HassTurnOn, none(), Some(self.target(x, Some(DeviceKind::Lock))?)));
        }
        if let Some(rest) = after(s, &["dim", "brighten"]) {
            let (x, v) = split_to(rest)?;
            let p = percent(v)?;
            return Some((
                Intent::HassLightSet,
                slots(&[("brightness", json!(p))]),
                Some(self.target(x, Some(DeviceKind::Light))?),
            ));
        }
        if let Some(rest) = after(s, &["set", "change", "make", "put"]) {
            return self.set(rest);
        }
        None
    }

    /// "set X to N percent | N degrees | N | <colour>".
    fn set(&self, rest: &str) -> Option<Parsed> {
        let rest = after(rest, &["the brightness of", "brightness of"]).unwrap_or(rest);
        let (x, v) = match split_to(rest) {
            Some(xv) => xv,
            // "make the lamp red"
            None => return self.set_color(rest),
        };
        if let Some(n) = before(v, &["degrees celsius", "degrees", "degree", "celsius", "c"]).and_then(number) {
            return self.set_temperature(x, n);
        }
        if let Some(k) = before(v, &["kelvin", "k"]).and_then(number) {
            return Some((
                Intent::HassLightSet,
                slots(&[("temperature", json!(k.round() as i64))]),
                Some(self.target(x, Some(DeviceKind::Light))?),
            ));
        }
        let temp_phrase = after(strip_articles(x), &["temperature", "heating"]).is_some();
        if let Some(n) = number(v).filter(|_| temp_phrase) {
            return self.set_temperature(x, n);
        }
        if let Some(p) = before(v, &["percent", "per cent"]).and_then(number).or_else(|| number(v)) {
            // A bare number on a thermostat is a temperature.
            let probe = self.target(x, None);
            let kind = probe.as_ref().and_then(|t| self.kind_of(t));
            return match kind {
                Some(DeviceKind::Climate) => self.set_temperature(x, p),
                Some(DeviceKind::Cover) => {
                    let p = pct(p)?;
                    Some((Intent::HassSetPosition, slots(&[("position", json!(p))]), probe))
                }
                _ => {
                    let p = pct(p)?;
                    Some((
                        Intent::HassLightSet,
                        slots(&[("brightness", json!(p))]),
                        Some(self.target(x, Some(DeviceKind::Light))?),
                    ))
                }
            };
        }
        if let Some(p) = after(v, &["position"]).and_then(number) {
            let p = pct(p)?;
            return Some((
                Intent::HassSetPosition,
                slots(&[("position", json!(p))]),
                Some(self.target(x, Some(DeviceKind::Cover))?),
            ));
        }
        let colour = v.strip_suffix(" color").or_else(|| v.strip_suffix(" colour")).unwrap_or(v);
        color_rgb(colour)?;
        Some((Intent::HassLightSet, slots(&[("color", json!(colour))]), Some(self.target(x, Some(DeviceKind::Light))?)))
    }

    /// "X red" (after "turn"/"make").
    fn set_color(&self, rest: &str) -> Option<Parsed> {
        let words: Vec<&str> = rest.split(' ').collect();
        for take in [2usize, 1] {
            if words.len() > take {
                let (x, c) = words.split_at(words.len() - take);
                let colour = c.join(" ");
                if color_rgb(&colour).is_some() {
                    let x = x.join(" ");
                    return Some((
                        Intent::HassLightSet,
                        slots(&[("color", json!(colour))]),
                        Some(self.target(&x, Some(DeviceKind::Light))?),
                    ));
                }
            }
        }
        None
    }

    fn set_temperature(&self, x: &str, c: f64) -> Option<Parsed> {
        let x = x.trim();
        // "the temperature [in the living room]", "the heating", "the thermostat".
        let target = match after(x, &["the temperature", "temperature", "the heating", "heating"]) {
            Some(place) => {
                let place = after(place, &["in the", "in", "on the", "on"]).unwrap_or(place);
                if place.is_empty() {
                    self.kind_default(DeviceKind::Climate)
                } else {
                    self.place(place).map(|mut t| {
                        t.domain = Some(DeviceKind::Climate);
                        t
                    })?
                }
            }
            None => self.target(x, Some(DeviceKind::Climate))?,
        };
        let c = (c * 10.0).round() / 10.0;
        Some((Intent::HassClimateSetTemperature, slots(&[("temperature", json!(c))]), Some(target)))
    }

    fn timer(&self, s: &str) -> Option<Parsed> {
        let rest = after(s, &["set a timer for", "set timer for", "start a timer for", "timer for"])
            .or_else(|| after(s, &["start a", "set a"]).and_then(|r| before(r, &["timer"])))?;
        let words: Vec<&str> = rest.split(' ').collect();
        let mut out = BTreeMap::new();
        let mut i = 0;
        let mut num_words: Vec<&str> = Vec::new();
        while i < words.len() {
            let w = words[i];
            let unit = match w.trim_end_matches('s') {
                "hour" => Some("hours"),
                "minute" | "min" => Some("minutes"),
                "second" | "sec" => Some("seconds"),
                _ => None,
            };
            match unit {
                Some(u) => {
                    let n = number(&num_words.join(" "))?;
                    out.insert(u.to_string(), json!(n));
                    num_words.clear();
                }
                None => num_words.push(w),
            }
            i += 1;
        }
        if out.is_empty() || !num_words.is_empty() {
            return None;
        }
        Some((Intent::HassStartTimer, out, None))
    }

    /// "what is the temperature [in X]", "what's the X temperature", "how warm is it [in X]".
    fn temperature_question(&self, s: &str) -> Option<Parsed> {
        let rest = after(
            s,
            &[
                "what is the temperature",
                "whats the temperature",
                "what temperature is it",
                "how warm is it",
                "how hot is it",
                "how cold is it",
                "what is the current temperature",
                "temperature",
            ],
        );
        let place = match rest {
            Some(r) => after(r, &["in the", "in", "of the", "of", "on the", "on"]).unwrap_or(r).to_string(),
            None => {
                // "what is the living room temperature"
                let r = after(s, &["what is the", "whats the", "what is", "whats"])?;
                before(r, &["temperature"])?.to_string()
            }
        };
        let mut t = if place.is_empty() {
            // No place spoken: the satellite's area, if it can answer.
            let mut t = Target::default();
            if let Some(a) = self.ctx_area_with(&[DeviceKind::Climate, DeviceKind::Sensor]) {
                t.area = Some(a);
            }
            t
        } else {
            self.place(&place).or_else(|| self.target(&place, Some(DeviceKind::Climate)))?
        };
        t.domain = None;
        Some((Intent::HassClimateGetTemperature, BTreeMap::new(), Some(t)))
    }

    /// "is the front door locked", "are the kitchen lights on".
    fn state_question(&self, s: &str) -> Option<Parsed> {
        let rest = after(s, &["is", "are"])?;
        let states = ["unlocked", "locked", "on", "off", "open", "closed", "shut"];
        let (x, st) = states.iter().find_map(|st| before(rest, &[st]).map(|x| (x, *st)))?;
        let st = if st == "shut" { "closed" } else { st };
        let hint = match st {
            "locked" | "unlocked" => Some(DeviceKind::Lock),
            "open" | "closed" => Some(DeviceKind::Cover),
            _ => None,
        };
        let t = self.target(x, hint)?;
        Some((Intent::HassGetState, slots(&[("state", json!(st))]), Some(t)))
    }

    // -----------------------------------------------------------------------
    // Targets.

    /// Resolve a device phrase. `hint` is the kind the verb implies ("open"
    /// -> covers), used for bare domain words and tie-breaking.
    fn target(&self, x: &str, hint: Option<DeviceKind>) -> Option<Target> {
        let x = strip_articles(x);
        if x.is_empty() || matches!(x, "everything" | "all" | "it") {
            let t = Target { area: self.ctx_area_with(hint.as_slice()), domain: hint, ..Default::default() };
            return (t.area.is_some() || hint.is_some()).then_some(t);
        }
        // A device by its full name or alias.
        if let Some(t) = self.device(x, None) {
            return Some(t);
        }
        // An area or floor alone ("turn off the kitchen").
        if let Some(t) = self.place(x) {
            let mut t = t;
            t.domain = hint;
            return Some(t);
        }
        // "<what> in|on [the] <place>", "<what> upstairs".
        for sep in [" in the ", " in ", " on the ", " on ", " of the ", " at the "] {
            if let Some((what, place)) = x.split_once(sep)
                && let Some(p) = self.place(place)
            {
                return self.what_in(what, p, hint);
            }
        }
        // "<place> <what>" ("kitchen lights", "upstairs lights", "living room lamp") and
        // "<what> <place>" ("lights upstairs").
        let words: Vec<&str> = x.split(' ').collect();
        for i in (1..words.len()).rev() {
            let (a, b) = (words[..i].join(" "), words[i..].join(" "));
            if let Some(p) = self.place(&a)
                && let Some(t) = self.what_in(&b, p.clone(), hint)
            {
                return Some(t);
            }
            if let Some(p) = self.place(&b)
                && let Some(t) = self.what_in(&a, p, hint)
            {
                return Some(t);
            }
        }
        // A bare kind ("the lights", "the blinds", "the thermostat").
        let (kind, _) = domain_word(x)?;
        Some(self.kind_default(kind))
    }

    /// A kind with no place: the context area when it has such devices, else the whole home.
    fn kind_default(&self, kind: DeviceKind) -> Target {
        Target { area: self.ctx_area_with(&[kind]), domain: Some(kind), ..Default::default() }
    }

    /// `what` within `place`: a device name there, or a kind word.
    fn what_in(&self, what: &str, place: Target, hint: Option<DeviceKind>) -> Option<Target> {
        let what = strip_articles(what);
        let area_id = place.area.as_deref().and_then(|a| find_area(self.reg, a)).map(|a| a.id.clone());
        if let Some(t) = self.device(what, area_id.as_deref()) {
            return Some(t);
        }
        if matches!(what, "everything" | "all" | "" | "devices" | "things") {
            return Some(Target { domain: hint, ..place });
        }
        let (kind, _) = domain_word(what)?;
        Some(Target { domain: Some(kind), ..place })
    }

    /// A device by name/alias, narrowed to `area` if given, else by the
    /// context area when the name is ambiguous.
    fn device(&self, name: &str, area: Option<&str>) -> Option<Target> {
        let mut found: Vec<&Device> = find_devices(self.reg, name);
        if let Some(a) = area {
            found.retain(|d| d.area.as_deref() == Some(a));
        }
        if found.len() > 1
            && let Some(ctx) = self.ctx.area.as_deref().and_then(|a| find_area(self.reg, a))
        {
            let here: Vec<&Device> =
                found.iter().copied().filter(|d| d.area.as_deref() == Some(ctx.id.as_str())).collect();
            if here.len() == 1 {
                found = here;
            }
        }
        match found.as_slice() {
            [] => None,
            [d] => Some(Target { entities: vec![d.id.clone()], name: Some(d.name.clone()), ..Default::default() }),
            many => Some(Target {
                name: Some(many[0].name.clone()),
                candidates: many
                    .iter()
                    .map(|d| Candidate {
                        entity_id: d.id.clone(),
                        name: d.name.clone(),
                        area: d.area.as_deref().and_then(|a| self.reg.area(a)).map(|a| a.name.clone()),
                    })
                    .collect(),
                ..Default::default()
            }),
        }
    }

    /// An area or floor phrase.
    fn place(&self, p: &str) -> Option<Target> {
        let p = strip_articles(p);
        if let Some(a) = find_area(self.reg, p) {
            return Some(Target { area: Some(a.name.clone()), ..Default::default() });
        }
        find_floor(self.reg, p).map(|f| Target { floor: Some(f.name.clone()), ..Default::default() })
    }

    /// The context area's name, if it has devices of one of `kinds` (any
    /// device when `kinds` is empty).
    fn ctx_area_with(&self, kinds: &[DeviceKind]) -> Option<String> {
        let area = self.ctx.area.as_deref().and_then(|a| find_area(self.reg, a))?;
        let has = self
            .reg
            .devices
            .iter()
            .any(|d| d.area.as_deref() == Some(area.id.as_str()) && (kinds.is_empty() || kinds.contains(&d.kind)));
        has.then(|| area.name.clone())
    }

    /// The kind a resolved target refers to (a named device's kind or the domain).
    fn kind_of(&self, t: &Target) -> Option<DeviceKind> {
        if let Some(id) = t.entities.first() {
            return self.reg.device(id).map(|d| d.kind);
        }
        t.domain
    }
}

fn strip_articles(x: &str) -> &str {
    let mut x = x.trim();
    loop {
        match after(x, &["the", "all the", "all of the", "my", "our", "every"]) {
            Some(r) if r != x => x = r,
            _ => return x,
        }
    }
}

/// Kind words: "lights", "lamp", "blinds", "thermostat", ...
fn domain_word(w: &str) -> Option<(DeviceKind, Option<&'static str>)> {
    Some(match w {
        "light" | "lights" | "lamp" | "lamps" | "lighting" => (DeviceKind::Light, None),
        "switch" | "switches" | "plug" | "plugs" | "socket" | "sockets" | "outlet" | "outlets" => {
            (DeviceKind::Switch, None)
        }
        "fan" | "fans" => (DeviceKind::Fan, None),
        "blind" | "blinds" => (DeviceKind::Cover, Some("blind")),
        "curtain" | "curtains" => (DeviceKind::Cover, Some("curtain")),
        "shade" | "shades" | "shutter" | "shutters" | "cover" | "covers" => (DeviceKind::Cover, None),
        "lock" | "locks" => (DeviceKind::Lock, None),
        "thermostat" | "thermostats" | "heating" | "heater" | "radiator" | "radiators" => (DeviceKind::Climate, None),
        _ => return None,
    })
}

/// "X to V" split at the last " to ".
fn split_to(s: &str) -> Option<(&str, &str)> {
    let i = s.rfind(" to ")?;
    let (x, v) = (s.get(..i)?, s.get(i + 4..)?);
    (!x.is_empty() && !v.is_empty()).then_some((x, v))
}

fn slots(kv: &[(&str, Value)]) -> BTreeMap<String, Value> {
    kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn pct(p: f64) -> Option<u8> {
    (0.0..=100.0).contains(&p).then(|| p.round() as u8)
}

/// "40 percent", "40" -> 40.
fn percent(v: &str) -> Option<u8> {
    pct(before(v, &["percent", "per cent"]).and_then(number).or_else(|| number(v))?)
}

/// Digits ("21.5") or English number words up to 999 ("twenty one").
pub(crate) fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(f) = s.parse::<f64>() {
        return f.is_finite().then_some(f);
    }
    let mut total = 0u32;
    let mut any = false;
    for w in s.split(' ') {
        let n = match w {
            "zero" => 0,
            "one" | "a" => 1,
            "two" => 2,
            "three" => 3,
            "four" => 4,
            "five" => 5,
            "six" => 6,
            "seven" => 7,
            "eight" => 8,
            "nine" => 9,
            "ten" => 10,
            "eleven" => 11,
            "twelve" => 12,
            "thirteen" => 13,
            "fourteen" => 14,
            "fifteen" => 15,
            "sixteen" => 16,
            "seventeen" => 17,
            "eighteen" => 18,
            "nineteen" => 19,
            "twenty" => 20,
            "thirty" => 30,
            "forty" => 40,
            "fifty" => 50,
            "sixty" => 60,
            "seventy" => 70,
            "eighty" => 80,
            "ninety" => 90,
            "hundred" => {
                total = total.max(1) * 100;
                any = true;
                continue;
            }
            "and" => continue,
            _ => return None,
        };
        total += n;
        any = true;
    }
    any.then_some(f64::from(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::{plan, tests::demo};
    use firmware_bridge::{Action, DeviceState};

    fn ctx(area: Option<&str>) -> NluContext {
        NluContext { area: area.map(str::to_string) }
    }

    /// (utterance, context area, intent, slots subset, entities)
    #[test]
    fn table() {
        let reg = demo();
        type Case<'a> = (&'a str, Option<&'a str>, &'a str, Vec<(&'a str, Value)>, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "Turn on the kitchen light.",
                None,
                "HassTurnOn",
                vec![("name", json!("Kitchen Light"))],
                vec!["light.kitchen_light"],
            ),
            ("turn the kitchen light off", None, "HassTurnOff", vec![], vec!["light.kitchen_light"]),
            ("TURN OFF KITCHEN-LIGHT!!", None, "HassTurnOff", vec![], vec!["light.kitchen_light"]),
            ("toggle the kettle", None, "HassToggle", vec![], vec!["switch.kettle"]),
            (
                "switch on the lights in the kitchen",
                None,
                "HassTurnOn",
                vec![("area", json!("Kitchen")), ("domain", json!("light"))],
                vec![],
            ),
            (
                "turn off the kitchen lights",
                None,
                "HassTurnOff",
                vec![("area", json!("Kitchen")), ("domain", json!("light"))],
                vec![],
            ),
            (
                "turn on the lights upstairs",
                None,
                "HassTurnOn",
                vec![("floor", json!("First Floor")), ("domain", json!("light"))],
                vec![],
            ),
            // No area spoken: the satellite's.
            (
                "turn on the lights",
                Some("kitchen"),
                "HassTurnOn",
                vec![("area", json!("Kitchen")), ("domain", json!("light"))],
                vec![],
            ),
            // Ambiguous name resolved by the context area.
            ("turn on the lamp", Some("bedroom"), "HassTurnOn", vec![], vec!["light.bedroom_lamp"]),
            ("turn on the living room lamp", None, "HassTurnOn", vec![], vec!["light.living_room_lamp"]),
            ("turn on the lamp in the lounge", None, "HassTurnOn", vec![], vec!["light.living_room_lamp"]),
            (
                "set the kitchen light to 40 percent",
                None,
                "HassLightSet",
                vec![("brightness", json!(40))],
                vec!["light.kitchen_light"],
            ),
            (
                "set the kitchen light to 40%",
                None,
                "HassLightSet",
                vec![("brightness", json!(40))],
                vec!["light.kitchen_light"],
            ),
            (
                "dim the kitchen light to twenty percent",
                None,
                "HassLightSet",
                vec![("brightness", json!(20))],
                vec!["light.kitchen_light"],
            ),
            (
                "set the kitchen light to red",
                None,
                "HassLightSet",
                vec![("color", json!("red"))],
                vec!["light.kitchen_light"],
            ),
            (
                "turn the kitchen light light blue",
                None,
                "HassLightSet",
                vec![("color", json!("light blue"))],
                vec!["light.kitchen_light"],
            ),
            (
                "set the living room blinds to 30 percent",
                None,
                "HassSetPosition",
                vec![("position", json!(30))],
                vec!["cover.living_room_blinds"],
            ),
            (
                "set the thermostat to 21 degrees",
                None,
                "HassClimateSetTemperature",
                vec![("temperature", json!(21.0)), ("domain", json!("climate"))],
                vec![],
            ),
            (
                "set the temperature in the living room to 19.5",
                None,
                "HassClimateSetTemperature",
                vec![("temperature", json!(19.5)), ("area", json!("Living Room"))],
                vec![],
            ),
            ("open the living room blinds", None, "HassTurnOn", vec![], vec!["cover.living_room_blinds"]),
            (
                "close the blinds",
                Some("living_room"),
                "HassTurnOff",
                vec![("area", json!("Living Room")), ("domain", json!("cover"))],
                vec![],
            ),
            ("lock the front door", None, "HassTurnOn", vec![], vec!["lock.front_door"]),
            ("Unlock the front door, please.", None, "HassTurnOff", vec![], vec!["lock.front_door"]),
            (
                "what is the temperature in the living room?",
                None,
                "HassClimateGetTemperature",
                vec![("area", json!("Living Room"))],
                vec![],
            ),
            (
                "what's the bedroom temperature",
                None,
                "HassClimateGetTemperature",
                vec![("area", json!("Bedroom"))],
                vec![],
            ),
            ("how warm is it", Some("bedroom"), "HassClimateGetTemperature", vec![("area", json!("Bedroom"))], vec![]),
            (
                "is the front door locked?",
                None,
                "HassGetState",
                vec![("state", json!("locked"))],
                vec!["lock.front_door"],
            ),
            (
                "are the kitchen lights on",
                None,
                "HassGetState",
                vec![("state", json!("on")), ("area", json!("Kitchen"))],
                vec![],
            ),
            ("set a timer for 5 minutes", None, "HassStartTimer", vec![("minutes", json!(5.0))], vec![]),
            (
                "set a timer for one hour and ten minutes",
                None,
                "HassStartTimer",
                vec![("hours", json!(1.0)), ("minutes", json!(10.0))],
                vec![],
            ),
            ("never mind", None, "HassNevermind", vec![], vec![]),
        ];
        for (text, area, intent, want_slots, want_entities) in cases {
            let u = understand(text, &reg, &ctx(area)).unwrap_or_else(|| panic!("no match: {text}"));
            assert_eq!(u.intent, intent, "{text}");
            assert_eq!(u.source, Source::Grammar);
            for (k, v) in want_slots {
                assert_eq!(u.slots.get(k).as_ref(), Some(&v), "{text}: slot {k} in {:?}", u.slots);
            }
            assert_eq!(u.entities, want_entities, "{text}");
        }
    }

    #[test]
    fn no_match() {
        let reg = demo();
        for text in [
            "",
            "   ",
            "what is the meaning of life",
            "turn on the attic fan",
            "set the kitchen light to blurple",
            "sing a song",
        ] {
            assert_eq!(understand(text, &reg, &ctx(None)), None, "{text}");
        }
    }

    #[test]
    fn ambiguous_name_gives_candidates() {
        let reg = demo();
        let u = understand("turn on the lamp", &reg, &ctx(None)).unwrap();
        assert!(u.entities.is_empty());
        assert_eq!(u.candidates.len(), 2);
    }

    /// The grammar's output plans: text -> commands and reply end to end.
    #[test]
    fn grammar_then_plan() {
        let reg = demo();
        let st = |_: &str| Some(DeviceState { on: Some(false), ..Default::default() });
        let u = understand("switch on the lights in the kitchen", &reg, &ctx(None)).unwrap();
        let p = plan(&u, &reg, &st).unwrap();
        assert_eq!(p.commands.len(), 3);
        assert!(p.commands.iter().all(|c| c.action == Action::TurnOn));
        assert_eq!(p.reply, "Turned on 3 lights in the kitchen.");
        let u = understand("toggle the kitchen light", &reg, &ctx(None)).unwrap();
        let p = plan(&u, &reg, &st).unwrap();
        assert_eq!(p.commands[0].action, Action::TurnOn);
        assert_eq!(p.reply, "Turned on the kitchen light.");
    }
}
