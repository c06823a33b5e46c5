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

use firmware_bridge::DeviceState;

/// The current state of a device by entity id.
pub(crate) type StateLookup<'a> = &'a dyn Fn(&str) -> Option<DeviceState>;
