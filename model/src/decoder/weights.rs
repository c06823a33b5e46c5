//! Where decoder weights come from. Names are always the Hugging Face ones
//! (`model.layers.0.self_attn.q_proj.weight`); a GGUF source maps them to
//! its own names. Shapes are checked against the config before any data is
//! copied, and a missing tensor names the tensor and the file.
use tch::{Device, Kind, Tensor};

use super::DecoderError;
use crate::safetensors_loader::{Checkpoint, LoadError};

/// A store of named tensors.
pub trait WeightSource {
    /// Whether the tensor exists (used for optional biases and tied heads).
    fn contains(&self, name: &str) -> bool;
    /// Load a tensor of exactly `shape`, converted to `kind` on `device`.
    fn load(&self, name: &str, shape: &[i64], kind: Kind, device: Device) -> Result<Tensor, DecoderError>;
    /// Where the weights come from, for error messages.
    fn describe(&self) -> String;
}

impl From<LoadError> for DecoderError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::MissingTensor { name, location } => DecoderError::MissingWeight { name, source_desc: location },
            LoadError::ShapeMismatch { name, expected, found, .. } => {
                DecoderError::ShapeMismatch { name, expected, found }
            }
            other => DecoderError::Weights(other.to_string()),
        }
    }
}

impl WeightSource for Checkpoint {
    fn contains(&self, name: &str) -> bool {
        Checkpoint::contains(self, name)
    }
    fn load(&self, name: &str, shape: &[i64], kind: Kind, device: Device) -> Result<Tensor, DecoderError> {
        Ok(self.tensor_shaped(name, shape, kind, device)?)
    }
    fn describe(&self) -> String {
        self.dir().display().to_string()
    }
}
