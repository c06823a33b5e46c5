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
use hub_config::placement::{DeviceName, PlacementPlan};
pub use hub_config::placement::{PlacementConfig, PlacementError};
use tch::Device;

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

impl Placement {
    /// The placement `[model.placement]` describes, with every named CUDA
    /// device present on this machine.
    pub fn from_config(c: &PlacementConfig) -> Result<Placement, PlacementError> {
        let p = Placement::from_plan(&c.resolve()?);
        p.check_available()?;
        Ok(p)
    }

    /// The plan's device names as libtorch devices (no probing).
    pub fn from_plan(plan: &PlacementPlan) -> Placement {
        let d = |d: &DeviceName| match d {
            DeviceName::Cpu => Device::Cpu,
            DeviceName::Cuda(i) => Device::Cuda(*i),
        };
        match plan {
            PlacementPlan::Single(x) => Placement::Single(d(x)),
            PlacementPlan::Layers { first, second, split_at } => {
                Placement::Layers { first: d(first), second: d(second), split_at: *split_at }
            }
            PlacementPlan::Tensor { first, second } => Placement::Tensor { first: d(first), second: d(second) },
            PlacementPlan::Replica(v) => Placement::Replica(v.iter().map(d).collect()),
        }
    }

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
        assert_eq!(Placement::from_config(&c).unwrap(), Placement::Tensor { first: Device::Cpu, second: Device::Cpu });
        let c = toml_like(&["cpu", "cpu"], Some("layers"));
        assert!(matches!(Placement::from_config(&c).unwrap(), Placement::Layers { .. }));
        let c = toml_like(&["cpu", "cpu"], Some("replica"));
        assert_eq!(Placement::from_config(&c).unwrap().copies().len(), 2);
        assert_eq!(Placement::from_config(&toml_like(&[], None)).unwrap(), Placement::Single(Device::Cpu));
    }

    #[test]
    fn bad_placements_are_errors() {
        assert!(matches!(Placement::from_config(&toml_like(&["tpu"], None)), Err(PlacementError::Device(_))));
        assert!(matches!(
            Placement::from_config(&toml_like(&["cpu"], Some("tensor"))),
            Err(PlacementError::DeviceCount { .. })
        ));
        assert!(matches!(
            Placement::from_config(&toml_like(&["cpu", "cpu"], Some("diagonal"))),
            Err(PlacementError::Split(_))
        ));
        if !tch::Cuda::is_available() {
            assert!(matches!(
                Placement::from_config(&toml_like(&["cuda:0", "cuda:1"], Some("tensor"))),
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
