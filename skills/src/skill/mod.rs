//! One module per skill (Home Assistant intent family); [`crate::handlers::plan`]
//! dispatches to them.
pub(crate) mod climate;
pub(crate) mod fan;
pub(crate) mod get_state;
pub(crate) mod light_set;
pub(crate) mod media;
pub(crate) mod on_off;
pub(crate) mod position;
pub(crate) mod robot;
pub(crate) mod timer;
pub(crate) mod weather;

use firmware_bridge::{DeviceKind, DeviceState};

use crate::Intent;
use crate::registry::Registry;

/// The current state of a device by entity id.
pub(crate) type StateLookup<'a> = &'a dyn Fn(&str) -> Option<DeviceState>;

/// The kinds of device an intent acts on when the request names neither a
/// device nor a domain ("turn off the kitchen", "set the bedroom to 40 %");
/// empty for intents that reach every kind or take no device.
pub fn default_kinds(intent: &Intent) -> &'static [DeviceKind] {
    match intent {
        // Locks and covers are left out on purpose: "turn off the kitchen"
        // must not unlock a door or open the blinds.
        Intent::HassTurnOn | Intent::HassTurnOff | Intent::HassToggle => {
            &[DeviceKind::Light, DeviceKind::Switch, DeviceKind::Fan]
        }
        Intent::HassLightSet => &[DeviceKind::Light],
        Intent::HassSetPosition => &[DeviceKind::Cover, DeviceKind::Valve],
        Intent::HassClimateSetTemperature => &[DeviceKind::Climate],
        Intent::HassClimateGetTemperature => &[DeviceKind::Climate, DeviceKind::Sensor],
        _ => &[],
    }
}

/// Whether naming `domain` changes nothing `intent` does in this home: the
/// devices of that domain are exactly the ones the intent reaches without
/// one ("set the bedroom lights to 40 %" and "set the bedroom to 40 %"
/// both set the bedroom's lights).
pub fn domain_is_moot(reg: &Registry, intent: &Intent, domain: &str) -> bool {
    let defaults = default_kinds(intent);
    let Some(kind) = DeviceKind::from_domain(domain) else { return false };
    !defaults.is_empty()
        && defaults.contains(&kind)
        && reg.devices.iter().all(|d| (d.kind == kind) == defaults.contains(&d.kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::tests::demo;

    #[test]
    fn a_domain_is_moot_only_where_it_changes_nothing() {
        let reg = demo();
        // Only lights take a brightness; there are covers and no valves.
        assert!(domain_is_moot(&reg, &Intent::HassLightSet, "light"));
        assert!(domain_is_moot(&reg, &Intent::HassSetPosition, "cover"));
        // "turn off the kitchen" reaches the kettle too; "the kitchen
        // lights" does not.
        assert!(!domain_is_moot(&reg, &Intent::HassTurnOff, "light"));
        // Questions reach every kind; unknown and foreign domains count.
        assert!(!domain_is_moot(&reg, &Intent::HassGetState, "light"));
        assert!(!domain_is_moot(&reg, &Intent::HassLightSet, "lamp"));
        assert!(!domain_is_moot(&reg, &Intent::HassLightSet, "switch"));
        // A valve makes the cover domain matter again.
        let mut with_valve = reg.clone();
        let mut valve = with_valve.devices[0].clone();
        (valve.id, valve.kind, valve.name) = ("valve.garden".into(), DeviceKind::Valve, "Garden Valve".into());
        with_valve.devices.push(valve);
        assert!(!domain_is_moot(&with_valve, &Intent::HassSetPosition, "cover"));
        assert!(domain_is_moot(&with_valve, &Intent::HassLightSet, "light"));
    }
}
