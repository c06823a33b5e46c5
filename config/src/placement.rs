//! `[model.placement]`: where the decoder runs, as the file says it (device
//! names, not devices: resolving needs no libtorch, so `hubd check-config`
//! and the fuzzer check it without one). The model crate turns a
//! [`PlacementPlan`] into its `Placement` of libtorch devices.
//!
//! ```toml
//! [model.placement]
//! devices = ["cuda:0", "cuda:1"]   # or ["cpu", "cpu"]: two CPU shards
//! split = "tensor"                 # "layers" | "tensor" | "replica"
//! ```
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error("placement: unknown device `{0}` (use cpu, cpu:N, cuda or cuda:N)")]
    Device(String),
    #[error("placement: unknown split `{0}` (use layers, tensor or replica)")]
    Split(String),
    #[error("placement: split `{split}` needs exactly {need} devices, got {got}")]
    DeviceCount { split: &'static str, need: &'static str, got: usize },
    #[error("placement: {0} is not available on this machine")]
    Unavailable(String),
}

/// A device as named in the file. CPU shards are all the one CPU; the
/// index only labels the shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName {
    Cpu,
    Cuda(usize),
}

/// The placement the file describes (see the model crate's `Placement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementPlan {
    Single(DeviceName),
    Layers { first: DeviceName, second: DeviceName, split_at: Option<usize> },
    Tensor { first: DeviceName, second: DeviceName },
    Replica(Vec<DeviceName>),
}

/// The TOML form (`[model.placement]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlacementConfig {
    /// Device names: `cpu`, `cpu:N` (a CPU shard), `cuda`, `cuda:N`.
    #[serde(default)]
    pub devices: Vec<String>,
    /// `none`, `layers`, `tensor` or `replica`; absent with one device = single.
    #[serde(default)]
    pub split: Option<String>,
    /// For `layers`: index of the first layer on the second device.
    #[serde(default)]
    pub split_at: Option<usize>,
}

/// Parse `cpu`, `cpu:1`, `cuda`, `cuda:1`.
pub fn parse_device(s: &str) -> Result<DeviceName, PlacementError> {
    let t = s.trim().to_ascii_lowercase();
    let (name, idx) = match t.split_once(':') {
        Some((n, i)) => (n.to_string(), Some(i.parse::<usize>().map_err(|_| PlacementError::Device(s.into()))?)),
        None => (t.clone(), None),
    };
    match name.as_str() {
        // CPU shards are all `Device::Cpu`; the index only labels the shard.
        "cpu" => Ok(DeviceName::Cpu),
        "cuda" | "gpu" => Ok(DeviceName::Cuda(idx.unwrap_or(0))),
        _ => Err(PlacementError::Device(s.into())),
    }
}

impl PlacementConfig {
    /// The placement this configuration describes, without probing the
    /// machine (what `hubd check-config` validates).
    pub fn resolve(&self) -> Result<PlacementPlan, PlacementError> {
        let devices = self.devices.iter().map(|d| parse_device(d)).collect::<Result<Vec<_>, _>>()?;
        let p = match self.split.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("none") | Some("single") => match devices.as_slice() {
                [] => PlacementPlan::Single(DeviceName::Cpu),
                [d] => PlacementPlan::Single(*d),
                _ => return Err(PlacementError::DeviceCount { split: "single", need: "one", got: devices.len() }),
            },
            Some("layers") => match devices.as_slice() {
                [a, b] => PlacementPlan::Layers { first: *a, second: *b, split_at: self.split_at },
                _ => return Err(PlacementError::DeviceCount { split: "layers", need: "two", got: devices.len() }),
            },
            Some("tensor") => match devices.as_slice() {
                [a, b] => PlacementPlan::Tensor { first: *a, second: *b },
                _ => return Err(PlacementError::DeviceCount { split: "tensor", need: "two", got: devices.len() }),
            },
            Some("replica") => {
                if devices.is_empty() {
                    return Err(PlacementError::DeviceCount { split: "replica", need: "one or more", got: 0 });
                }
                PlacementPlan::Replica(devices)
            }
            Some(other) => return Err(PlacementError::Split(other.into())),
        };
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_placements() {
        use DeviceName::*;
        let c = toml_like(&["cpu", "cpu:1"], Some("tensor"));
        assert_eq!(c.resolve().unwrap(), PlacementPlan::Tensor { first: Cpu, second: Cpu });
        let c = toml_like(&["cuda:0", "cuda:1"], Some("layers"));
        assert_eq!(c.resolve().unwrap(), PlacementPlan::Layers { first: Cuda(0), second: Cuda(1), split_at: None });
        let c = toml_like(&["cpu", "gpu"], Some("replica"));
        assert_eq!(c.resolve().unwrap(), PlacementPlan::Replica(vec![Cpu, Cuda(0)]));
        assert_eq!(toml_like(&[], None).resolve().unwrap(), PlacementPlan::Single(Cpu));
    }

    #[test]
    fn bad_placements_are_errors() {
        assert!(matches!(toml_like(&["tpu"], None).resolve(), Err(PlacementError::Device(_))));
        assert!(matches!(toml_like(&["cuda:x"], None).resolve(), Err(PlacementError::Device(_))));
        assert!(matches!(toml_like(&["cpu"], Some("tensor")).resolve(), Err(PlacementError::DeviceCount { .. })));
        assert!(matches!(toml_like(&["cpu", "cpu"], Some("diagonal")).resolve(), Err(PlacementError::Split(_))));
        assert!(matches!(toml_like(&[], Some("replica")).resolve(), Err(PlacementError::DeviceCount { .. })));
    }

    fn toml_like(devs: &[&str], split: Option<&str>) -> PlacementConfig {
        PlacementConfig {
            devices: devs.iter().map(|s| s.to_string()).collect(),
            split: split.map(String::from),
            split_at: None,
        }
    }
}
