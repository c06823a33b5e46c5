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
    // `date.weekday()` (Python's, Monday = 0): dates come as maps with a
    // `weekday` key.
    env.set_unknown_method_callback(|state, value, method, args| {
        if method == "weekday"
            && args.is_empty()
            && let Ok(w) = value.get_attr("weekday")
            && !w.is_undefined()
        {
            return Ok(w);
        }
        minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
    });
    // `state_attr(entity_id, name)`: the attributes of the `state` given.
    let state = args.get("state").cloned();
    env.add_function("state_attr", move |id: String, name: String| {
        let attr = state
            .as_ref()
            .filter(|s| s.get("entity_id").and_then(Value::as_str) == Some(id.as_str()))
            .and_then(|s| s.get("attributes")?.get(&name));
        attr.map_or(minijinja::Value::from(()), minijinja::Value::from_serialize)
    });
    let out = env.render_str(&src, args).ok()?;
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    (!out.is_empty()).then_some(out)
}

/// A slot as the request said it: numbers as their text ("5", "21.5"), as
/// Home Assistant renders the matched text (its English templates test
/// `seconds in ["1", "one"]`).
fn said(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) if v.is_number() && f.fract() == 0.0 && f.abs() < 1e15 => Value::from((f as i64).to_string()),
        Some(f) if v.is_number() => Value::from(f.to_string()),
        _ => v.clone(),
    }
}

/// Render `tmpl` with the request's `slots` (as said), the hub's own
/// `hub` slots (numbers and lists the hub computed: `canceled`, `timers`,
/// `time`, kept as they are) and `extra` context (`state`, `query`).
pub(crate) fn render(
    tmpl: &str,
    slots: &BTreeMap<String, Value>,
    hub: &Map<String, Value>,
    extra: Option<&Value>,
) -> Option<String> {
    let mut ctx = Map::new();
    let mut all: Map<String, Value> = slots.iter().map(|(k, v)| (k.clone(), said(v))).collect();
    all.extend(hub.iter().map(|(k, v)| (k.clone(), v.clone())));
    ctx.insert("slots".into(), Value::Object(all));
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
        let mut hub = Map::new();
        s.insert("item".to_string(), Value::String("milk".into()));
        assert_eq!(render("Added {{ slots.item }}", &s, &hub, None).as_deref(), Some("Added milk"));
        let t = "{% if slots.canceled < 1: %} None. {% elif slots.canceled == 1: %} One. {% else: %} {{ slots.canceled }}. {% endif %}\n";
        hub.insert("canceled".to_string(), Value::from(3));
        assert_eq!(render(t, &s, &hub, None).as_deref(), Some("3."), "the hub's numbers stay numbers");
        // The request's numbers are what was said, as Home Assistant has them.
        s.insert("seconds".to_string(), Value::from(1.0));
        let t = "{{ slots.seconds }} {{ 'second' if slots.seconds in ['1', 'one'] else 'seconds' }}";
        assert_eq!(render(t, &s, &hub, None).as_deref(), Some("1 second"));
        s.insert("temperature".to_string(), Value::from(21.5));
        assert_eq!(render("{{ slots.temperature }}", &s, &hub, None).as_deref(), Some("21.5"));
        // `dict.get` as Jinja2 has it (HassTurnOn's reply uses it).
        let t = "{% set tr = {\"light\": \"the light\"} %} Turned on {{ tr.get(state.domain) }}";
        let st = serde_json::json!({"state": {"domain": "light"}});
        assert_eq!(render(t, &s, &hub, Some(&st)).as_deref(), Some("Turned on the light"));
        // Python's `str.format` and `date.weekday()`, as the clock's replies use them.
        hub.insert("time".to_string(), serde_json::json!({"hour": 9, "minute": 5}));
        hub.insert("date".to_string(), serde_json::json!({"year": 2026, "month": 12, "day": 5, "weekday": 5}));
        let t = "{{ '{0:02d}'.format(slots.time.minute) }} {{ ['Mo','Di','Mi','Do','Fr','Sa','So'][slots.date.weekday()] }}";
        assert_eq!(render(t, &s, &hub, None).as_deref(), Some("05 Sa"));
        // Needs `state`, which was not given.
        assert_eq!(render("{{ state.state_with_unit }}", &s, &hub, None), None);
    }
}
