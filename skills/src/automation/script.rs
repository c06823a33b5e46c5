//! Scripts (`[[script]]`): a named sequence of the actions automations use,
//! run on request ("run goodnight", "turn on goodnight", an automation's
//! `script.turn_on`). A script is compiled into the automation engine as a
//! rule without triggers whose id is the entity id (`script.goodnight`), so
//! it shares the engine's action runner, modes and traces.
use serde_json::{Map, Value};

use super::schema::{RuleError, RuleSpec, Seg, parse_rule};

/// Keys of a `[[script]]` entry. `name`, `aliases` and `area` are the
/// entity's (the registry's); the rest are the rule's.
pub const SCRIPT_KEYS: &[&str] =
    &["id", "name", "aliases", "area", "description", "mode", "max", "sequence", "variables"];

/// Read one script. Errors carry the script's id and the key path as
/// written (`sequence[2]`, not the rule's `actions[2]`).
pub fn parse_script(v: &Value) -> Result<RuleSpec, Vec<RuleError>> {
    let id = v.get("id").and_then(Value::as_str).unwrap_or("").to_string();
    let err = |path: Vec<Seg>, message: String| RuleError { rule: id.clone(), path, message };
    let Some(m) = v.as_object() else { return Err(vec![err(Vec::new(), "a script is a table".into())]) };
    let mut errors = Vec::new();
    match id.split_once('.') {
        Some(("script", obj))
            if !obj.is_empty() && obj.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') => {}
        _ => errors.push(err(
            vec![Seg::Key("id".into())],
            format!("invalid script id `{id}`: `script.<object>`, lowercase letters, digits and `_`"),
        )),
    }
    let mut rule = Map::new();
    for (k, val) in m {
        match k.as_str() {
            "id" | "aliases" | "area" => {}
            "name" => {
                rule.insert("alias".into(), val.clone());
            }
            "sequence" => {
                rule.insert("actions".into(), val.clone());
            }
            "description" | "mode" | "max" | "variables" => {
                rule.insert(k.clone(), val.clone());
            }
            other => errors.push(err(
                vec![Seg::Key(other.into())],
                format!("unknown key `{other}` (expected one of {})", SCRIPT_KEYS.join(", ")),
            )),
        }
    }
    if !m.contains_key("sequence") {
        errors.push(err(Vec::new(), "missing `sequence`".into()));
    }
    rule.insert("id".into(), Value::String("script".into()));
    rule.insert("triggers".into(), Value::Array(Vec::new()));
    let spec = parse_rule(&Value::Object(rule)).map_err(|errs| {
        errs.into_iter()
            .filter(|e| !(e.path.is_empty() && e.message == "missing `actions`"))
            .map(|mut e| {
                if let Some(Seg::Key(k)) = e.path.first_mut()
                    && k == "actions"
                {
                    *k = "sequence".into();
                }
                e.message = e.message.replace("`actions`", "`sequence`");
                e.rule = id.clone();
                e
            })
            .collect::<Vec<_>>()
    });
    match spec {
        Ok(mut spec) if errors.is_empty() => {
            spec.id = id.clone();
            Ok(spec)
        }
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_script_is_a_rule_without_triggers() {
        let s = parse_script(&json!({
            "id": "script.goodnight", "name": "Goodnight", "aliases": ["bedtime"],
            "sequence": [{"action": "light.turn_off", "target": {"entity_id": "light.kitchen"}}],
        }))
        .unwrap();
        assert_eq!((s.id.as_str(), s.alias.as_deref(), s.triggers.len()), ("script.goodnight", Some("Goodnight"), 0));
    }

    #[test]
    fn errors_name_the_script_and_its_keys() {
        let e = parse_script(&json!({"id": "goodnight", "sequence": []})).unwrap_err();
        assert!(e.iter().any(|e| e.message.contains("invalid script id `goodnight`")), "{e:?}");
        assert!(e.iter().any(|e| e.message.contains("`sequence` is empty")), "{e:?}");
        let e = parse_script(&json!({"id": "script.x", "triggers": []})).unwrap_err();
        assert!(e.iter().any(|e| e.message.contains("unknown key `triggers`")), "{e:?}");
        assert!(e.iter().any(|e| e.message == "missing `sequence`"), "{e:?}");
        let e = parse_script(&json!({"id": "script.x", "sequence": [{"delay": "soon"}]})).unwrap_err();
        assert!(e.iter().all(|e| e.rule == "script.x"), "{e:?}");
        assert!(e.iter().any(|e| e.path.first() == Some(&Seg::Key("sequence".into()))), "{e:?}");
    }
}
