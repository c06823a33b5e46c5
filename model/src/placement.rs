//! Where the decoder runs: `[model.placement]` in the hub's TOML.
//!
//! ```toml
//! [model.placement]
//! devices = ["cuda:0", "cuda:1"]   # or ["cpu", "cpu"]: two CPU shards
//! split = "tensor"                 # "layers" | "tensor" | "replica"
//! ```
//!
//! - `layers`: the first half of the layer stack (and the embedding) on the
//!   first device, the second half (and the final norm and LM head) on the
//!   second; the hidden state moves between them once per forward.
//! - `tensor`: every layer on both devices. q/k/v and gate/up are split by
//!   output columns (whole KV-head groups per device), o and down by input
//!   rows; each device's partial output is moved to the first device and
//!   summed there. Norms, residuals, embedding and head stay on the first.
//! - `replica`: a whole copy per device; the generator serves requests from
//!   a shared queue with one worker per copy.
//!
//! The code is device-generic: `Device::Cuda(0)`/`Cuda(1)` on GPUs, and the
//! same sharding code over two `Device::Cpu` shards on a CPU-only machine,
//! where tests prove it equivalent to one device.
use serde::{Deserialize, Serialize};
use tch::Device;

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

/// How the decoder's weights map onto devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Everything on one device.
    Single(Device),
    /// Pipeline halves: layers `[0, split_at)` on `first`, the rest on `second`
    /// (`split_at = None`: half the layers, rounded up).
    Layers { first: Device, second: Device, split_at: Option<usize> },
    /// Megatron-style column/row sharding of every layer over two devices.
    Tensor { first: Device, second: Device },
    /// A whole copy per device.
    Replica(Vec<Device>),
}

impl Default for Placement {
    fn default() -> Self {
        Placement::Single(Device::Cpu)
    }
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
pub fn parse_device(s: &str) -> Result<Device, PlacementError> {
    let t = s.trim().to_ascii_lowercase();
    let (name, idx) = match t.split_once(':') {
        Some((n, i)) => (n.to_string(), Some(i.parse::<usize>().map_err(|_| PlacementError::Device(s.into()))?)),
        None => (t.clone(), None),
    };
    match name.as_str() {
        // CPU shards are all `Device::Cpu`; the index only labels the shard.
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => Ok(Device::Cuda(idx.unwrap_or(0))),
        _ => Err(PlacementError::Device(s.into())),
    }
}

impl PlacementConfig {
    /// The placement, with every named CUDA device present on this machine.
    pub fn to_placement(&self) -> Result<Placement, PlacementError> {
        let p = self.resolve()?;
        p.check_available()?;
        Ok(p)
    }

    /// The placement this configuration describes, without probing the
    /// machine (what `hubd check-config` validates).
    pub fn resolve(&self) -> Result<Placement, PlacementError> {
        let devices = self.devices.iter().map(|d| parse_device(d)).collect::<Result<Vec<_>, _>>()?;
        let p = match self.split.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("none") | Some("single") => match devices.as_slice() {
                [] => Placement::Single(Device::Cpu),
                [d] => Placement::Single(*d),
                _ => return Err(PlacementError::DeviceCount { split: "single", need: "one", got: devices.len() }),
            },
            Some("layers") => match devices.as_slice() {
                [a, b] => Placement::Layers { first: *a, second: *b, split_at: self.split_at },
                _ => return Err(PlacementError::DeviceCount { split: "layers", need: "two", got: devices.len() }),
            },
            Some("tensor") => match devices.as_slice() {
                [a, b] => Placement::Tensor { first: *a, second: *b },
                _ => return Err(PlacementError::DeviceCount { split: "tensor", need: "two", got: devices.len() }),
            },
            Some("replica") => {
                if devices.is_empty() {
                    return Err(PlacementError::DeviceCount { split: "replica", need: "one or more", got: 0 });
                }
                Placement::Replica(devices)
            }
            Some(other) => return Err(PlacementError::Split(other.into())),
        };
        Ok(p)
    }
}

impl Placement {
    /// Every device named by this placement.
    pub fn devices(&self) -> Vec<Device> {
        match self {
            Placement::Single(d) => vec![*d],
            Placement::Layers { first, second, .. } | Placement::Tensor { first, second } => vec![*first, *second],
            Placement::Replica(v) => v.clone(),
        }
    }

    /// The placements of the decoder copies to load: one per replica, else
    /// just this one.
    pub fn copies(&self) -> Vec<Placement> {
        match self {
            Placement::Replica(v) => v.iter().map(|d| Placement::Single(*d)).collect(),
            other => vec![other.clone()],
        }
    }

    /// CUDA devices must exist.
    pub fn check_available(&self) -> Result<(), PlacementError> {
        for d in self.devices() {
            if let Device::Cuda(i) = d
                && (!tch::Cuda::is_available() || i >= tch::Cuda::device_count() as usize)
            {
                return Err(PlacementError::Unavailable(format!("cuda:{i}")));
            }
        }
        Ok(())
    }

    /// Short human label (`tensor cpu+cpu`).
    pub fn label(&self) -> String {
        let d = |d: &Device| match d {
            Device::Cpu => "cpu".to_string(),
            Device::Cuda(i) => format!("cuda:{i}"),
            other => format!("{other:?}"),
        };
        match self {
            Placement::Single(x) => d(x),
            Placement::Layers { first, second, .. } => format!("layers {}+{}", d(first), d(second)),
            Placement::Tensor { first, second } => format!("tensor {}+{}", d(first), d(second)),
            Placement::Replica(v) => format!("replica {}", v.iter().map(d).collect::<Vec<_>>().join("+")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_placements() {
        let c: PlacementConfig = toml_like(&["cpu", "cpu:1"], Some("tensor"));
        assert_eq!(c.to_placement().unwrap(), Placement::Tensor { first: Device::Cpu, second: Device::Cpu });
        let c = toml_like(&["cpu", "cpu"], Some("layers"));
        assert!(matches!(c.to_placement().unwrap(), Placement::Layers { .. }));
        let c = toml_like(&["cpu", "cpu"], Some("replica"));
        assert_eq!(c.to_placement().unwrap().copies().len(), 2);
        assert_eq!(toml_like(&[], None).to_placement().unwrap(), Placement::Single(Device::Cpu));
    }

    #[test]
    fn bad_placements_are_errors() {
        assert!(matches!(toml_like(&["tpu"], None).to_placement(), Err(PlacementError::Device(_))));
        assert!(matches!(toml_like(&["cpu"], Some("tensor")).to_placement(), Err(PlacementError::DeviceCount { .. })));
        assert!(matches!(toml_like(&["cpu", "cpu"], Some("diagonal")).to_placement(), Err(PlacementError::Split(_))));
        if !tch::Cuda::is_available() {
            assert!(matches!(
                toml_like(&["cuda:0", "cuda:1"], Some("tensor")).to_placement(),
                Err(PlacementError::Unavailable(_))
            ));
        }
    }

    fn toml_like(devs: &[&str], split: Option<&str>) -> PlacementConfig {
        PlacementConfig {
            devices: devs.iter().map(|s| s.to_string()).collect(),
            split: split.map(String::from),
            split_at: None,
        }
    }
}
