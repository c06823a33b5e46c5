//! Name folding and registry lookups by spoken name (shared by the skills,
//! the grammar and the command builder).
use crate::registry::{Area, Device, Floor, Registry};

/// Fold case and punctuation: "Kitchen-Light!" -> "kitchen light".
/// Apostrophes are dropped ("Anna's" -> "annas"); `_` counts as a space so
/// ids ("living_room") match names ("Living Room").
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c == '\'' || c == '’' {
            continue;
        }
        if c.is_alphanumeric() || c == '%' || c == '.' {
            out.push(c);
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `text` (folded) names this id/name/alias set.
fn names_match(text: &str, id: &str, name: &str, aliases: &[String]) -> bool {
    let t = fold(text);
    let t = t.strip_prefix("the ").unwrap_or(&t);
    t == fold(name) || t == fold(id) || aliases.iter().any(|a| t == fold(a))
}

/// Area by id, name or alias.
pub fn find_area<'r>(reg: &'r Registry, text: &str) -> Option<&'r Area> {
    reg.areas.iter().find(|a| names_match(text, &a.id, &a.name, &a.aliases))
}

/// Floor by id, name or alias.
pub fn find_floor<'r>(reg: &'r Registry, text: &str) -> Option<&'r Floor> {
    reg.floors.iter().find(|f| names_match(text, &f.id, &f.name, &f.aliases))
}

/// Devices whose name, alias or entity id is `text`.
pub fn find_devices<'r>(reg: &'r Registry, text: &str) -> Vec<&'r Device> {
    reg.devices
        .iter()
        .filter(|d| {
            let object = d.id.split_once('.').map(|(_, o)| o).unwrap_or(&d.id);
            names_match(text, object, &d.name, &d.aliases) || fold(text) == fold(&d.id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_names() {
        assert_eq!(fold("  Kitchen-Light! "), "kitchen light");
        assert_eq!(fold("Anna's Lamp"), "annas lamp");
        assert_eq!(fold("living_room"), "living room");
    }

    #[test]
    fn lookups() {
        let reg = crate::handlers::tests::demo();
        assert_eq!(find_area(&reg, "the lounge").map(|a| a.id.as_str()), Some("living_room"));
        assert_eq!(find_floor(&reg, "upstairs").map(|f| f.id.as_str()), Some("first"));
        assert_eq!(find_devices(&reg, "lamp").len(), 2);
        assert_eq!(find_devices(&reg, "light.kitchen_light").len(), 1);
        assert!(find_devices(&reg, "attic fan").is_empty());
    }
}
