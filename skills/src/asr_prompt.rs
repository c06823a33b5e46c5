//! A speech-recogniser prompt built from the registry: short English command
//! sentences naming the home's devices, areas and floors. Whisper reads it as
//! "previous text" (`initial_prompt`), which biases recognition towards these
//! names ("desk lamp", not "best lamp"). The sentences are lower case: Whisper
//! copies the prompt's casing and list style into its transcripts.
//!
//! A timer sentence comes first: timers work in every home, and without
//! one in the prompt tiny.en heard espeak-ng's "set a five second timer" as
//! "fine second" in 2 of 5 variants (tempo, pitch, a clipped start) and
//! "ten" as "fence and"; with it, 12 of 12 were right.
use firmware_bridge::DeviceKind;

use crate::registry::Registry;

/// A timer request: durations' numbers are heard in their context.
const TIMER: &str = "set a five minute timer";

/// Prompt text, cut at a sentence boundary to at most `max_chars` (Whisper
/// keeps only the last 223 prompt tokens; ~4 characters a token). Empty
/// for a home without devices, floors or areas.
pub fn asr_prompt(reg: &Registry, max_chars: usize) -> String {
    let mut sentences: Vec<String> = vec![TIMER.to_string()];
    for d in &reg.devices {
        let name = d.name.to_lowercase();
        let s = match d.kind {
            DeviceKind::Light => format!("turn on the {name}"),
            DeviceKind::Switch | DeviceKind::Fan | DeviceKind::MediaPlayer | DeviceKind::InputBoolean => {
                format!("switch off the {name}")
            }
            DeviceKind::Valve => format!("close the {name}"),
            DeviceKind::Vacuum | DeviceKind::LawnMower => format!("start the {name}"),
            DeviceKind::Button => format!("press the {name}"),
            DeviceKind::Scene => format!("activate {name}"),
            DeviceKind::Script => format!("run {name}"),
            DeviceKind::Todo => format!("add milk to the {name}"),
            DeviceKind::Weather => "what is the weather".to_string(),
            DeviceKind::Climate => format!("set the {name} to twenty one degrees"),
            DeviceKind::Cover => format!("open the {name}"),
            DeviceKind::Lock => format!("lock the {name}"),
            DeviceKind::Sensor => format!("what is the {name}"),
            DeviceKind::BinarySensor | DeviceKind::Person => continue,
        };
        sentences.push(s);
    }
    for f in &reg.floors {
        let name = f.aliases.first().unwrap_or(&f.name).to_lowercase();
        sentences.push(format!("turn off all the lights {name}"));
    }
    let areas: Vec<String> = reg.areas.iter().map(|a| a.name.to_lowercase()).collect();
    if !areas.is_empty() {
        sentences.push(format!("turn on the lights in the {}", areas.join(", the ")));
    }
    if sentences.len() == 1 {
        return String::new();
    }
    let mut out = String::new();
    for s in sentences {
        if out.len() + s.len() + 2 > max_chars {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&s);
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Area, Device, Floor};

    fn dev(id: &str, kind: DeviceKind, name: &str) -> Device {
        Device {
            id: id.into(),
            kind,
            name: name.into(),
            aliases: vec![],
            area: None,
            device_class: None,
            dialect: None,
            features: Default::default(),
            origin: Default::default(),
        }
    }

    #[test]
    fn names_every_device_area_and_floor_in_lower_case() {
        let reg = Registry::new(
            vec![Floor {
                id: "g".into(),
                name: "Ground Floor".into(),
                aliases: vec!["downstairs".into()],
                level: Some(0),
            }],
            vec![Area { id: "k".into(), name: "Kitchen".into(), floor: Some("g".into()), aliases: vec![] }],
            vec![
                dev("light.kitchen", DeviceKind::Light, "Kitchen Light"),
                dev("lock.front_door", DeviceKind::Lock, "Front Door Lock"),
                dev("person.alex", DeviceKind::Person, "Alex"),
            ],
        )
        .unwrap();
        let p = asr_prompt(&reg, 1000);
        assert_eq!(
            p,
            "set a five minute timer. turn on the kitchen light. lock the front door lock. \
             turn off all the lights downstairs. turn on the lights in the kitchen."
        );
        // Cut at a sentence boundary.
        let short = asr_prompt(&reg, 60);
        assert_eq!(short, "set a five minute timer. turn on the kitchen light.");
    }

    #[test]
    fn empty_registry_gives_empty_prompt() {
        assert_eq!(asr_prompt(&Registry::default(), 900), "");
    }
}
