//! Audio input devices: listing (`hubd devices --audio`) and resolving the
//! configured `[audio] device` to a cpal device.
//!
//! Listing does not open the devices (opening a PCM can block, e.g. an ALSA
//! file PCM reading a FIFO, and probing every plugin is slow); it reports
//! what the host's enumeration says. `--probe` style details come from
//! [`probe_default_config`] for one device.
use cpal::traits::{DeviceTrait, HostTrait};
use serde::Serialize;

use super::AudioError;

/// One capture-capable device as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputDevice {
    /// Stable id, e.g. `alsa:hw:CARD=0,DEV=0` or `alsa:hubd_mic`.
    pub id: String,
    /// The backend's own id (what `[audio] device` may name), e.g. `hubd_mic`.
    pub name: String,
    /// Human-readable description (first line).
    pub description: String,
    /// True for the host's default input.
    pub is_default: bool,
}

/// A resolved device plus the label used in logs.
pub struct DeviceChoice {
    pub device: cpal::Device,
    pub label: String,
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

fn describe(d: &cpal::Device) -> (String, String, String) {
    let (id, name) = match d.id() {
        Ok(id) => (id.to_string(), id.id().to_string()),
        Err(_) => (String::new(), String::new()),
    };
    let description = d.description().map(|x| first_line(x.name())).unwrap_or_default();
    (id, name, description)
}

fn is_input(d: &cpal::Device) -> bool {
    match d.description() {
        Ok(desc) => !matches!(desc.direction(), cpal::DeviceDirection::Output),
        Err(_) => false,
    }
}

fn is_output(d: &cpal::Device) -> bool {
    match d.description() {
        Ok(desc) => !matches!(desc.direction(), cpal::DeviceDirection::Input),
        Err(_) => false,
    }
}

/// Input-capable devices of the default host, default first.
pub fn list_input_devices() -> Result<Vec<InputDevice>, AudioError> {
    let host = cpal::default_host();
    let default_name = host.default_input_device().and_then(|d| d.id().ok()).map(|id| id.id().to_string());
    let devices = host.devices().map_err(|e| AudioError::Host(e.to_string()))?;
    let mut out: Vec<InputDevice> = devices
        .filter(is_input)
        .map(|d| {
            let (id, name, description) = describe(&d);
            InputDevice { is_default: default_name.as_deref() == Some(name.as_str()), id, name, description }
        })
        .filter(|d| !d.name.is_empty())
        .collect();
    out.sort_by_key(|d| !d.is_default);
    Ok(out)
}

/// Resolve `[audio] device`: `"default"` is the host default input; anything
/// else matches, in order, a full id (`alsa:hubd_mic`), a backend id
/// (`hubd_mic`), then a case-insensitive description.
pub fn find_input_device(wanted: &str) -> Result<DeviceChoice, AudioError> {
    find_device(wanted, false)
}

/// Resolve `[audio] output` the same way, among playback devices.
pub fn find_output_device(wanted: &str) -> Result<DeviceChoice, AudioError> {
    find_device(wanted, true)
}

fn find_device(wanted: &str, output: bool) -> Result<DeviceChoice, AudioError> {
    let host = cpal::default_host();
    let wanted = wanted.trim();
    let kind = if output { "output" } else { "input" };
    if wanted.is_empty() || wanted.eq_ignore_ascii_case("default") {
        let device = if output { host.default_output_device() } else { host.default_input_device() }
            .ok_or_else(|| AudioError::NoDevice(format!("the system has no default audio {kind}")))?;
        let (_, name, _) = describe(&device);
        let label = if name.is_empty() { "default".to_string() } else { name };
        return Ok(DeviceChoice { device, label });
    }
    let keep = if output { is_output } else { is_input };
    let devices: Vec<cpal::Device> =
        host.devices().map_err(|e| AudioError::Host(e.to_string()))?.filter(keep).collect();
    let described: Vec<(String, String, String)> = devices.iter().map(describe).collect();
    let pick = described
        .iter()
        .position(|(id, _, _)| id == wanted)
        .or_else(|| described.iter().position(|(_, name, _)| name == wanted))
        .or_else(|| described.iter().position(|(_, _, desc)| desc.eq_ignore_ascii_case(wanted)));
    match pick.and_then(|i| devices.into_iter().nth(i)) {
        Some(device) => Ok(DeviceChoice { device, label: wanted.to_string() }),
        None => {
            let known: Vec<String> =
                described.into_iter().map(|(_, name, _)| name).filter(|n| !n.is_empty()).take(12).collect();
            Err(AudioError::NoDevice(format!(
                "no audio {kind} named {wanted:?} (known: {}; see `hubd devices --audio`)",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )))
        }
    }
}

/// The format a device would be opened with (opens the device briefly).
pub fn probe_default_config(wanted: &str) -> Result<String, AudioError> {
    let DeviceChoice { device, label } = find_input_device(wanted)?;
    let c = device.default_input_config().map_err(|e| AudioError::Device {
        device: label,
        op: "default input config",
        message: e.to_string(),
    })?;
    Ok(format!("{} Hz, {} ch, {}", c.sample_rate(), c.channels(), c.sample_format()))
}
