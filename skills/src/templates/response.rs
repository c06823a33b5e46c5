//! Response templates (`responses.intents.<Intent>.<key>` in the language
//! data) are Jinja; rendered with minijinja the way Home Assistant renders
//! them: variables `slots`, `state`, `query`; whitespace normalized.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

/// Jinja2 accepts `{% if x: %}` / `{% else: %}`; minijinja does not.
fn drop_block_colons(tmpl: &str) -> String {
    let mut out = String::with_capacity(tmpl.len());
    let mut rest = tmpl;
    while let Some(i) = rest.find("%}") {
        let (head, tail) = rest.split_at(i);
        let trimmed = head.trim_end();
        let trimmed = trimmed.strip_suffix('-').map_or(trimmed, |t| t.trim_end());
        if let Some(t) = trimmed.strip_suffix(':') {
            let keep_dash = head.trim_end().ends_with('-');
            out.push_str(t);
            out.push(' ');
            if keep_dash {
                out.push('-');
            }
        } else {
            out.push_str(head);
        }
        out.push_str("%}");
        rest = &tail[2..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn render_args(tmpl: &str, args: &Value) -> Option<String> {
    let src = drop_block_colons(tmpl);
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Python methods the templates call (`dict.get`, `str.lower`, ...).
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    let out = env.render_str(&src, args).ok()?;
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    (!out.is_empty()).then_some(out)
}

pub(crate) fn render(tmpl: &str, slots: &BTreeMap<String, Value>, extra: Option<&Value>) -> Option<String> {
    let mut ctx = Map::new();
    ctx.insert("slots".into(), Value::Object(slots.iter().map(|(k, v)| (k.clone(), v.clone())).collect()));
    if let Some(Value::Object(m)) = extra {
        for (k, v) in m {
            ctx.insert(k.clone(), v.clone());
        }
    }
    render_args(tmpl, &Value::Object(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_slots_and_colon_blocks() {
        let mut s = BTreeMap::new();
        s.insert("item".to_string(), Value::String("milk".into()));
        assert_eq!(render("Added {{ slots.item }}", &s, None).as_deref(), Some("Added milk"));
        let t = "{% if slots.canceled < 1: %} None. {% elif slots.canceled == 1: %} One. {% else: %} {{ slots.canceled }}. {% endif %}\n";
        s.insert("canceled".to_string(), Value::from(3));
        assert_eq!(render(t, &s, None).as_deref(), Some("3."));
        // `dict.get` as Jinja2 has it (HassTurnOn's reply uses it).
        let t = "{% set tr = {\"light\": \"the light\"} %} Turned on {{ tr.get(state.domain) }}";
        let st = serde_json::json!({"state": {"domain": "light"}});
        assert_eq!(render(t, &s, Some(&st)).as_deref(), Some("Turned on the light"));
        // Needs `state`, which was not given.
        assert_eq!(render("{{ state.state_with_unit }}", &s, None), None);
    }
}
