//! Worked examples for a small model's prompt: plain requests in the home's
//! own names and the call each should give, written as the call grammar
//! writes them (compact JSON, `name` then `arguments`, required keys first).
//! The LLM stage shows them before the user's request, the same for every
//! request, so their KV cache is kept with the system prompt's.
use firmware_bridge::DeviceKind;
use serde_json::{Value, json};

use super::{NO_TOOL, sensitive};
use crate::registry::{Device, Registry};

/// `(request, call)` pairs for `reg`: a dimmable light's brightness, a
/// switch or fan off, an area's lights on, a cover closed, a thermostat
/// set, a question, and chit-chat (the `none` tool). Each uses a device
/// whose name no other device has, and a kind of device only where the
/// home has one; locks, doors and gates are never examples.
pub fn examples(reg: &Registry) -> Vec<(String, String)> {
    let unique = |d: &Device| reg.devices.iter().filter(|o| o.name == d.name).count() == 1;
    let usable = |d: &Device| d.dialect.is_some() && !sensitive(d) && unique(d);
    let find = |f: &dyn Fn(&Device) -> bool| reg.devices.iter().find(|d| usable(d) && f(d));
    let said = |d: &Device| d.name.to_lowercase();
    let mut out = Vec::new();
    let light = find(&|d| d.kind == DeviceKind::Light && d.features.dimmable);
    if let Some(l) = light {
        let args = [("name", json!(l.name)), ("brightness", json!(40))];
        out.push((format!("dim the {} to 40 percent", said(l)), call("HassLightSet", &args)));
    }
    if let Some(s) = find(&|d| matches!(d.kind, DeviceKind::Switch | DeviceKind::Fan)) {
        out.push((format!("switch off the {}", said(s)), call("HassTurnOff", &[("name", json!(s.name))])));
    }
    let lit = |a: &str| reg.devices.iter().any(|d| d.kind == DeviceKind::Light && d.area.as_deref() == Some(a));
    if let Some(a) = reg.areas.iter().find(|a| lit(&a.id)) {
        let args = [("area", json!(a.name)), ("domain", json!("light"))];
        out.push((format!("turn on the lights in the {}", a.name.to_lowercase()), call("HassTurnOn", &args)));
    }
    if let Some(c) = find(&|d| d.kind == DeviceKind::Cover) {
        out.push((format!("close the {}", said(c)), call("HassTurnOff", &[("name", json!(c.name))])));
    }
    if let Some(t) = reg.devices.iter().find(|d| d.kind == DeviceKind::Climate && unique(d)) {
        let args = [("name", json!(t.name)), ("temperature", json!(20))];
        out.push((format!("set the {} to 20 degrees", said(t)), call("HassClimateSetTemperature", &args)));
    }
    let other = find(&|d| d.kind == DeviceKind::Light && light.is_none_or(|l| l.id != d.id));
    if let Some(l) = other.or(light) {
        out.push((format!("is the {} on", said(l)), call("HassGetState", &[("name", json!(l.name))])));
    }
    out.push(("what's the weather like in paris".into(), call(NO_TOOL, &[])));
    out
}

/// `{"name":intent,"arguments":{…}}` with the arguments in the given order.
fn call(intent: &str, args: &[(&str, Value)]) -> String {
    let args: Vec<String> = args.iter().map(|(k, v)| format!("{}:{v}", json!(k))).collect();
    format!("{{\"name\":{},\"arguments\":{{{}}}}}", json!(intent), args.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::tests::demo;
    use crate::tools::Toolbox;

    #[test]
    fn every_example_is_a_call_the_registry_accepts() {
        let reg = demo();
        let ex = examples(&reg);
        assert!(ex.len() >= 5, "{ex:?}");
        let tools = Toolbox::new(&reg);
        for (text, c) in &ex {
            let v: Value = serde_json::from_str(c).unwrap();
            let u = tools.understand(text, &v, &reg).unwrap_or_else(|e| panic!("{text}: {c}: {e}"));
            assert_eq!(u.is_none(), v["name"] == NO_TOOL, "{text}: {c}");
        }
        // A home of one sensor has only chit-chat to show.
        let mut bare = reg.clone();
        bare.devices.retain(|d| d.dialect.is_none());
        bare.devices.truncate(1);
        assert_eq!(examples(&bare).len(), 1);
    }
}
