//! Typed slots, parsed once where the templates or the grammar produce them.
//!
//! [`Slots`] has one field per slot the skills read, in Home Assistant's
//! names; anything else (a custom sentence's `mood`, a value of the wrong
//! type) stays in [`Slots::other`] as JSON so nothing is lost and a skill can
//! say which slot was malformed. In JSON, slots are the flat object hassil
//! gives (`{"name": "Kitchen Light", "brightness": 40}`), keys sorted.
//!
//! The accessors at the bottom validate values for the skills (ranges,
//! domains, colour names) and turn problems into [`SkillError`]s.
use std::collections::BTreeMap;

use firmware_bridge::{DeviceKind, Rgb};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Number, Value};

use crate::handlers::SkillError;
use crate::lookup::fold;

/// A slot that is one name or a list of names (`domain`, `device_class`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    One(String),
    Many(Vec<String>),
}

impl Names {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let s: &[String] = match self {
            Names::One(s) => std::slice::from_ref(s),
            Names::Many(v) => v,
        };
        s.iter().map(String::as_str)
    }

    fn parse(v: &Value) -> Option<Names> {
        match v {
            Value::String(s) => Some(Names::One(s.clone())),
            Value::Array(a) => {
                a.iter().map(|x| x.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().map(Names::Many)
            }
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Names::One(s) => Value::String(s.clone()),
            Names::Many(v) => Value::Array(v.iter().cloned().map(Value::String).collect()),
        }
    }
}

/// The slots of one understanding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slots {
    /// A device name or alias (the registry's spelling, as hassil returns it).
    pub name: Option<String>,
    pub area: Option<String>,
    pub floor: Option<String>,
    pub domain: Option<Names>,
    pub device_class: Option<Names>,
    /// Brightness in percent.
    pub brightness: Option<Number>,
    /// A colour name ("red", "light blue").
    pub color: Option<String>,
    /// °C for climate, kelvin for `HassLightSet`.
    pub temperature: Option<Number>,
    /// Cover position in percent.
    pub position: Option<Number>,
    /// Timer duration parts.
    pub hours: Option<Number>,
    pub minutes: Option<Number>,
    pub seconds: Option<Number>,
    /// The state asked about ("on", "locked", "open").
    pub state: Option<String>,
    /// Every other slot, and known slots whose value had the wrong type.
    pub other: BTreeMap<String, Value>,
}

/// A number slot: a JSON number, or a numeric string with `%`/`°`/`C`/`K`
/// units (kept as an integer when it is one).
fn parse_number(v: &Value) -> Option<Number> {
    match v {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => {
            let f = s.trim().trim_end_matches(['%', '°', 'c', 'C', 'k', 'K']).trim().parse::<f64>().ok()?;
            if !f.is_finite() {
                return None;
            }
            if f.fract() == 0.0 && f.abs() < 1e15 { Some(Number::from(f as i64)) } else { Number::from_f64(f) }
        }
        _ => None,
    }
}

fn parse_text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

impl Slots {
    /// Parse a hassil-style slot map. hassil's `{"value": .., "text": ..}`
    /// objects carry the value inside; it is taken out.
    pub fn from_map(map: BTreeMap<String, Value>) -> Slots {
        let mut s = Slots::default();
        for (key, value) in map {
            let value = match value {
                Value::Object(mut m) if m.contains_key("value") => m.remove("value").unwrap_or(Value::Null),
                v => v,
            };
            let kept = match key.as_str() {
                "name" => parse_text(&value).map(|v| s.name = Some(v)),
                "area" => parse_text(&value).map(|v| s.area = Some(v)),
                "floor" => parse_text(&value).map(|v| s.floor = Some(v)),
                "color" => parse_text(&value).map(|v| s.color = Some(v)),
                "state" => parse_text(&value).map(|v| s.state = Some(v)),
                "domain" => Names::parse(&value).map(|v| s.domain = Some(v)),
                "device_class" => Names::parse(&value).map(|v| s.device_class = Some(v)),
                "brightness" => parse_number(&value).map(|v| s.brightness = Some(v)),
                "temperature" => parse_number(&value).map(|v| s.temperature = Some(v)),
                "position" => parse_number(&value).map(|v| s.position = Some(v)),
                "hours" => parse_number(&value).map(|v| s.hours = Some(v)),
                "minutes" => parse_number(&value).map(|v| s.minutes = Some(v)),
                "seconds" => parse_number(&value).map(|v| s.seconds = Some(v)),
                _ => None,
            };
            if kept.is_none() {
                s.other.insert(key, value);
            }
        }
        s
    }

    /// The flat JSON map (what hassil reports and the API prints).
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        let mut m = self.other.clone();
        let text = |m: &mut BTreeMap<String, Value>, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), Value::String(v.clone()));
            }
        };
        text(&mut m, "name", &self.name);
        text(&mut m, "area", &self.area);
        text(&mut m, "floor", &self.floor);
        text(&mut m, "color", &self.color);
        text(&mut m, "state", &self.state);
        for (k, v) in [("domain", &self.domain), ("device_class", &self.device_class)] {
            if let Some(v) = v {
                m.insert(k.into(), v.to_json());
            }
        }
        for (k, v) in [
            ("brightness", &self.brightness),
            ("temperature", &self.temperature),
            ("position", &self.position),
            ("hours", &self.hours),
            ("minutes", &self.minutes),
            ("seconds", &self.seconds),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), Value::Number(v.clone()));
            }
        }
        m
    }

    /// One slot as JSON (`None` when absent).
    pub fn get(&self, key: &str) -> Option<Value> {
        self.to_map().remove(key)
    }

    pub fn is_empty(&self) -> bool {
        *self == Slots::default()
    }
}

impl From<BTreeMap<String, Value>> for Slots {
    fn from(map: BTreeMap<String, Value>) -> Slots {
        Slots::from_map(map)
    }
}

impl Serialize for Slots {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Slots {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Slots, D::Error> {
        Ok(Slots::from_map(BTreeMap::deserialize(d)?))
    }
}

// ---------------------------------------------------------------------------
// Validated reads for the skills.

/// A text slot, trimmed; blank counts as absent.
fn text(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

impl Slots {
    pub fn name_text(&self) -> Option<String> {
        text(&self.name)
    }
    pub fn area_text(&self) -> Option<String> {
        text(&self.area)
    }
    pub fn floor_text(&self) -> Option<String> {
        text(&self.floor)
    }
    pub fn color_text(&self) -> Option<String> {
        text(&self.color)
    }
    pub fn state_text(&self) -> Option<String> {
        text(&self.state)
    }

    /// Whether a name, area or floor was given (a place or a device).
    pub fn has_target(&self) -> bool {
        self.name_text().is_some() || self.area_text().is_some() || self.floor_text().is_some()
    }

    /// A single device class, folded.
    pub fn device_class_folded(&self) -> Option<String> {
        match &self.device_class {
            Some(Names::One(c)) if !c.trim().is_empty() => Some(fold(c)),
            _ => None,
        }
    }

    /// A malformed known slot (kept in `other`) is an error; null is absent.
    fn malformed(&self, key: &'static str, reason: &str) -> Result<(), SkillError> {
        match self.other.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(v) => Err(SkillError::BadSlot { slot: key, value: v.to_string(), reason: reason.into() }),
        }
    }

    /// The domain slot as device kinds.
    pub fn domains(&self) -> Result<Vec<DeviceKind>, SkillError> {
        self.malformed("domain", "expected a domain name")?;
        let Some(names) = &self.domain else { return Ok(vec![]) };
        names
            .iter()
            .map(|d| {
                DeviceKind::from_domain(d.trim()).ok_or_else(|| SkillError::BadSlot {
                    slot: "domain",
                    value: d.to_string(),
                    reason: "not a known domain".into(),
                })
            })
            .collect()
    }

    /// A number slot.
    pub fn number(&self, key: &'static str) -> Result<Option<f64>, SkillError> {
        let n = match key {
            "brightness" => &self.brightness,
            "temperature" => &self.temperature,
            "position" => &self.position,
            "hours" => &self.hours,
            "minutes" => &self.minutes,
            "seconds" => &self.seconds,
            _ => &None,
        };
        match n {
            Some(n) => match n.as_f64() {
                Some(f) if f.is_finite() => Ok(Some(f)),
                _ => Err(SkillError::BadSlot { slot: key, value: n.to_string(), reason: "expected a number".into() }),
            },
            None => {
                self.malformed(key, "expected a number")?;
                Ok(None)
            }
        }
    }

    /// A percent slot, 0 to 100.
    pub fn percent(&self, key: &'static str) -> Result<Option<u8>, SkillError> {
        match self.number(key)? {
            None => Ok(None),
            Some(f) if (0.0..=100.0).contains(&f) => Ok(Some(f.round() as u8)),
            Some(f) => {
                Err(SkillError::BadSlot { slot: key, value: f.to_string(), reason: "must be 0 to 100 percent".into() })
            }
        }
    }

    /// A number slot the struct has no field for (`percentage`,
    /// `volume_level`, `volume_step`), read from `other`.
    pub fn extra_number(&self, key: &'static str) -> Result<Option<f64>, SkillError> {
        match self.other.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match parse_number(v).and_then(|n| n.as_f64()).filter(|f| f.is_finite()) {
                Some(f) => Ok(Some(f)),
                None => {
                    Err(SkillError::BadSlot { slot: key, value: v.to_string(), reason: "expected a number".into() })
                }
            },
        }
    }

    /// [`Slots::extra_number`] as a percent, 0 to 100.
    pub fn extra_percent(&self, key: &'static str) -> Result<Option<u8>, SkillError> {
        match self.extra_number(key)? {
            None => Ok(None),
            Some(f) if (0.0..=100.0).contains(&f) => Ok(Some(f.round() as u8)),
            Some(f) => {
                Err(SkillError::BadSlot { slot: key, value: f.to_string(), reason: "must be 0 to 100 percent".into() })
            }
        }
    }

    /// A text slot the struct has no field for (`fan_mode`, `volume_step`),
    /// trimmed; blank counts as absent.
    pub fn extra_text(&self, key: &str) -> Option<String> {
        self.other.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
    }

    /// The colour slot: its name and RGB.
    pub fn color_rgb(&self) -> Result<Option<(String, Rgb)>, SkillError> {
        self.malformed("color", "expected a colour name")?;
        match self.color_text() {
            None => Ok(None),
            Some(c) => match color_rgb(&c) {
                Some(rgb) => Ok(Some((c, rgb))),
                None => Err(SkillError::BadSlot { slot: "color", value: c, reason: "unknown colour name".into() }),
            },
        }
    }

    /// Timer length in seconds from `hours`, `minutes`, `seconds`.
    pub fn duration_secs(&self) -> Result<f64, SkillError> {
        let h = self.number("hours")?.unwrap_or(0.0);
        let m = self.number("minutes")?.unwrap_or(0.0);
        let s = self.number("seconds")?.unwrap_or(0.0);
        Ok(h * 3600.0 + m * 60.0 + s)
    }
}

/// Colour names (CSS/X11 names, as Home Assistant's `color_name_to_rgb`
/// uses) to RGB. Folded lookup: "Light Blue" == "lightblue".
pub fn color_rgb(name: &str) -> Option<Rgb> {
    let key: String = fold(name).chars().filter(|c| !c.is_whitespace()).collect();
    let (r, g, b) = match key.as_str() {
        "white" => (255, 255, 255),
        "warmwhite" => (255, 244, 229),
        "red" => (255, 0, 0),
        "green" => (0, 128, 0),
        "lime" => (0, 255, 0),
        "blue" => (0, 0, 255),
        "yellow" => (255, 255, 0),
        "orange" => (255, 165, 0),
        "purple" => (128, 0, 128),
        "pink" => (255, 192, 203),
        "hotpink" => (255, 105, 180),
        "cyan" | "aqua" => (0, 255, 255),
        "magenta" | "fuchsia" => (255, 0, 255),
        "violet" => (238, 130, 238),
        "indigo" => (75, 0, 130),
        "turquoise" => (64, 224, 208),
        "teal" => (0, 128, 128),
        "gold" => (255, 215, 0),
        "brown" => (165, 42, 42),
        "navy" | "navyblue" => (0, 0, 128),
        "maroon" => (128, 0, 0),
        "olive" => (128, 128, 0),
        "coral" => (255, 127, 80),
        "salmon" => (250, 128, 114),
        "lavender" => (230, 230, 250),
        "crimson" => (220, 20, 60),
        "beige" => (245, 245, 220),
        "lightblue" => (173, 216, 230),
        "skyblue" => (135, 206, 235),
        "darkblue" => (0, 0, 139),
        "lightgreen" => (144, 238, 144),
        "darkgreen" => (0, 100, 0),
        "darkred" => (139, 0, 0),
        "amber" => (255, 191, 0),
        _ => return None,
    };
    Some(Rgb { r, g, b })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    /// JSON in, typed fields, the same JSON out.
    #[test]
    fn json_round_trip() {
        let cases = [
            json!({"name": "Kitchen Light", "brightness": 40}),
            json!({"area": "Kitchen", "domain": "light"}),
            json!({"domain": ["light", "switch"], "device_class": "blind"}),
            json!({"minutes": 5.0, "hours": 1}),
            json!({"temperature": 21.5, "mood": "cozy"}),
            json!({"brightness": "very bright"}),
            json!({"state": "on", "floor": "First Floor", "color": "red", "position": 40, "seconds": 3}),
        ];
        for c in cases {
            let s: Slots = serde_json::from_value(c.clone()).unwrap();
            assert_eq!(serde_json::to_value(&s).unwrap(), c);
            assert_eq!(Slots::from_map(map(c.clone())).to_map(), map(c));
        }
    }

    #[test]
    fn typed_fields() {
        let s = Slots::from_map(map(json!({
            "name": " Kitchen Light ", "brightness": "40%", "area": {"value": "Kitchen", "text": "kitchen"},
            "domain": "light", "mood": "cozy", "temperature": null
        })));
        assert_eq!(s.name_text().as_deref(), Some("Kitchen Light"));
        assert_eq!(s.brightness, Some(Number::from(40)));
        assert_eq!(s.percent("brightness"), Ok(Some(40)));
        assert_eq!(s.area.as_deref(), Some("Kitchen"));
        assert_eq!(s.domains(), Ok(vec![DeviceKind::Light]));
        assert_eq!(s.other.get("mood"), Some(&json!("cozy")));
        assert_eq!(s.number("temperature"), Ok(None), "null is absent");
        let bad = Slots::from_map(map(json!({"brightness": "loud", "domain": 3, "color": "blurple"})));
        assert!(matches!(bad.percent("brightness"), Err(SkillError::BadSlot { slot: "brightness", .. })));
        assert!(matches!(bad.domains(), Err(SkillError::BadSlot { slot: "domain", .. })));
        assert!(matches!(bad.color_rgb(), Err(SkillError::BadSlot { slot: "color", .. })));
        assert_eq!(color_rgb("Light Blue"), Some(Rgb { r: 173, g: 216, b: 230 }));
    }
}
