//! Templates in rules (`message = "{{ trigger.event.label }} at the door"`,
//! `value_template`), rendered with minijinja like the response templates,
//! with Home Assistant's `states()`, `is_state()` and `state_attr()`.
use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior, Value as J};
use serde_json::Value;

use super::state;
use crate::registry::Registry;
use firmware_bridge::DeviceState;

/// Whether `s` contains template syntax at all (plain strings skip rendering).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Check that a template parses (for config validation).
pub fn check(s: &str) -> Result<(), String> {
    let env = Environment::new();
    env.template_from_str(s).map(|_| ()).map_err(|e| e.to_string())
}

/// Render `s` with `vars` (the run's variables and `trigger`) and a snapshot
/// of the home's states.
pub fn render(
    s: &str,
    vars: &Value,
    reg: &Registry,
    states: &dyn Fn(&str) -> Option<DeviceState>,
) -> Result<String, String> {
    if !is_template(s) {
        return Ok(s.to_string());
    }
    let mut snap: BTreeMap<String, (String, serde_json::Map<String, Value>)> = BTreeMap::new();
    for d in &reg.devices {
        let st = states(&d.id);
        snap.insert(d.id.clone(), (state::state_string(d.kind, st.as_ref()), state::attributes(st.as_ref())));
    }
    let snap = Arc::new(snap);
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    let s1 = snap.clone();
    env.add_function("states", move |id: String| s1.get(&id).map_or_else(|| "unknown".to_string(), |x| x.0.clone()));
    let s2 = snap.clone();
    env.add_function("is_state", move |id: String, want: String| s2.get(&id).is_some_and(|x| x.0 == want));
    let s3 = snap;
    env.add_function("state_attr", move |id: String, attr: String| {
        s3.get(&id).and_then(|x| x.1.get(&attr)).map_or(J::from(()), J::from_serialize)
    });
    // Home Assistant's `int`/`float` take a default for what does not parse.
    env.add_filter("int", |v: J, default: Option<J>| -> J {
        let n = v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()).map(|f| f as i64));
        let f = f64::try_from(v.clone()).ok().map(|f| f as i64);
        n.or(f).map(J::from).unwrap_or_else(|| default.unwrap_or(J::from(0)))
    });
    env.add_filter("float", |v: J, default: Option<J>| -> J {
        let f = f64::try_from(v.clone()).ok().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
        f.map(J::from).unwrap_or_else(|| default.unwrap_or(J::from(0.0)))
    });
    let t = env.template_from_str(s).map_err(|e| e.to_string())?;
    t.render(J::from_serialize(vars)).map_err(|e| e.to_string())
}

/// Render and read the result as Home Assistant reads a template condition.
pub fn truthy(text: &str) -> bool {
    matches!(text.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1" | "enable")
}
