//! The learned gate in front of a fused modality: features `x` `[n, d]`
//! (the vision tower's output before it is scattered over the `<|image|>`
//! tokens) are scaled by `g = sigmoid(w · mean(x) + b)`, and when `g` is
//! below [`FusionGate::threshold`] the modality is dropped from the prompt
//! altogether, so the decoder does not spend a prefill on it.
//!
//! `w` and `b` are a logistic regression on the mean-pooled features,
//! trained by [`FusionGate::fit`] on examples that carry something (label 1)
//! and examples that do not (label 0); features are standardised for the
//! fit and the scaling folded back into `w` and `b`, so the stored gate is
//! the plain formula. Files are safetensors (`fusion_gate.weight` `[d]`,
//! `fusion_gate.bias` `[1]`, f32) with metadata:
//!
//! | key | value |
//! |---|---|
//! | `format` | [`GATE_FORMAT`] |
//! | `version` | `1` |
//! | `hidden_size` | `d` |
//! | `threshold` | the gate value below which the modality is dropped |
//! | `checkpoint` | what the features came from (the caller's words, e.g. the VLM's path) |
//!
//! Saving is atomic (a temporary file renamed over the target).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors};
use tch::{Kind, Tensor};

use crate::safetensors_loader::{SaveError, save_f32_atomic};

/// Value of the `format` metadata key.
pub const GATE_FORMAT: &str = "hubd-fusion-gate";
const VERSION: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("fusion gate {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("fusion gate {path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("fusion gate: {0}")]
    Input(String),
    #[error("fusion gate: libtorch error: {0}")]
    Torch(#[from] tch::TchError),
}

/// How [`FusionGate::fit`] trains.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// Full-batch gradient steps.
    pub steps: usize,
    pub learning_rate: f64,
    /// L2 penalty on the standardised weights.
    pub l2: f64,
    pub threshold: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { steps: 400, learning_rate: 0.5, l2: 1e-3, threshold: 0.5 }
    }
}

/// `g = sigmoid(w · mean(x) + b)` over features of width `d`.
#[derive(Debug)]
pub struct FusionGate {
    weight: Vec<f32>,
    bias: f32,
    threshold: f64,
    checkpoint: String,
}

/// Mean over the rows of `[n, d]` features (the gate's input), as f32.
pub fn pooled(features: &Tensor) -> Result<Vec<f32>, GateError> {
    let size = features.size();
    if size.len() != 2 || size[0] == 0 {
        return Err(GateError::Input(format!("features must be [n > 0, d], got {size:?}")));
    }
    let m = features.f_to_kind(Kind::Float)?.f_mean_dim(0, false, Kind::Float)?;
    Ok(Vec::<f32>::try_from(&m.f_to_device(tch::Device::Cpu)?)?)
}

impl FusionGate {
    pub fn hidden(&self) -> usize {
        self.weight.len()
    }

    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The gate value for mean-pooled features.
    pub fn score_pooled(&self, pooled: &[f32]) -> Result<f64, GateError> {
        if pooled.len() != self.weight.len() {
            return Err(GateError::Input(format!(
                "features are {} wide, the gate was trained on {}",
                pooled.len(),
                self.weight.len()
            )));
        }
        let z: f64 = self.weight.iter().zip(pooled).map(|(w, x)| f64::from(*w) * f64::from(*x)).sum::<f64>()
            + f64::from(self.bias);
        Ok(1.0 / (1.0 + (-z).exp()))
    }

    /// The gate value for features `[n, d]`.
    pub fn score(&self, features: &Tensor) -> Result<f64, GateError> {
        self.score_pooled(&pooled(features)?)
    }

    /// `Some(x * g)` when the gate is open, `None` when it is closed; with `g`.
    pub fn apply(&self, features: &Tensor) -> Result<(Option<Tensor>, f64), GateError> {
        let g = self.score(features)?;
        if g < self.threshold {
            return Ok((None, g));
        }
        Ok((Some(features.f_mul_scalar(g)?), g))
    }

    /// Logistic regression of `open` (pooled features of examples that carry
    /// something) against `closed` (ones that do not), classes weighted
    /// equally.
    pub fn fit(
        open: &[Vec<f32>],
        closed: &[Vec<f32>],
        opts: FitOptions,
        checkpoint: &str,
    ) -> Result<FusionGate, GateError> {
        if open.is_empty() || closed.is_empty() {
            return Err(GateError::Input(format!(
                "training needs examples of both kinds ({} open, {} closed)",
                open.len(),
                closed.len()
            )));
        }
        let d = open[0].len();
        if d == 0 || open.iter().chain(closed).any(|v| v.len() != d) {
            return Err(GateError::Input("training examples differ in width".into()));
        }
        if !(0.0..1.0).contains(&opts.threshold) || opts.threshold == 0.0 {
            return Err(GateError::Input(format!("threshold {} must be in (0, 1)", opts.threshold)));
        }
        let _guard = tch::no_grad_guard();
        let rows: Vec<f32> = open.iter().chain(closed).flatten().copied().collect();
        let n = (open.len() + closed.len()) as i64;
        let x = Tensor::f_from_slice(&rows)?.f_view([n, d as i64])?;
        let mut y = vec![1f32; open.len()];
        y.resize(open.len() + closed.len(), 0.0);
        let y = Tensor::f_from_slice(&y)?;
        // Each class weighs half of the loss.
        let mut sw = vec![0.5 / open.len() as f32; open.len()];
        sw.resize(open.len() + closed.len(), 0.5 / closed.len() as f32);
        let sw = Tensor::f_from_slice(&sw)?;
        let mu = x.f_mean_dim(0, true, Kind::Float)?;
        let sigma = x.f_std_dim(0, false, true)?.f_clamp_min(1e-6)?;
        let z = x.f_sub(&mu)?.f_div(&sigma)?;
        let mut w = Tensor::f_zeros([d as i64], (Kind::Float, tch::Device::Cpu))?;
        let mut b = 0f64;
        for _ in 0..opts.steps {
            let p = z.f_mv(&w)?.f_add_scalar(b)?.f_sigmoid()?;
            let r = p.f_sub(&y)?.f_mul(&sw)?; // [n], already averaged per class
            let gw = z.f_t_copy()?.f_mv(&r)?.f_add(&w.f_mul_scalar(opts.l2)?)?;
            let gb = r.f_sum(Kind::Float)?.f_double_value(&[])?;
            w = w.f_sub(&gw.f_mul_scalar(opts.learning_rate)?)?;
            b -= opts.learning_rate * gb;
        }
        // Fold the standardisation: w·(x-mu)/sigma + b = (w/sigma)·x + (b - (w/sigma)·mu).
        let w_raw = w.f_div(&sigma.f_squeeze_dim(0)?)?;
        let b_raw = b - w_raw.f_dot(&mu.f_squeeze_dim(0)?)?.f_double_value(&[])?;
        Ok(FusionGate {
            weight: Vec::<f32>::try_from(&w_raw)?,
            bias: b_raw as f32,
            threshold: opts.threshold,
            checkpoint: checkpoint.to_string(),
        })
    }

    /// Write the gate to `path` (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), GateError> {
        let path = path.as_ref();
        let bad = |reason: String| GateError::Format { path: path.to_path_buf(), reason };
        let meta: HashMap<String, String> = [
            ("format", GATE_FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("hidden_size", self.weight.len().to_string()),
            ("threshold", self.threshold.to_string()),
            ("checkpoint", self.checkpoint.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let tensors = [
            ("fusion_gate.weight".to_string(), vec![self.weight.len()], self.weight.clone()),
            ("fusion_gate.bias".to_string(), vec![1], vec![self.bias]),
        ];
        save_f32_atomic(path, &tensors, meta).map_err(|e| match e {
            SaveError::Io(source) => GateError::Io { path: path.to_path_buf(), source },
            SaveError::Format(reason) => bad(reason),
        })
    }

    /// Read a gate written by [`FusionGate::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<FusionGate, GateError> {
        let path = path.as_ref();
        let bad = |reason: String| GateError::Format { path: path.to_path_buf(), reason };
        let bytes = std::fs::read(path).map_err(|source| GateError::Io { path: path.to_path_buf(), source })?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let meta = header.metadata().clone().ok_or_else(|| bad("no metadata".into()))?;
        let get = |k: &str| meta.get(k).ok_or_else(|| bad(format!("metadata key `{k}` missing")));
        if get("format")? != GATE_FORMAT {
            return Err(bad(format!("format is `{}`, expected `{GATE_FORMAT}`", get("format")?)));
        }
        if get("version")? != VERSION {
            return Err(bad(format!("version `{}` is not supported (only {VERSION})", get("version")?)));
        }
        let hidden: usize = get("hidden_size")?.parse().map_err(|_| bad("hidden_size is not a number".into()))?;
        let threshold: f64 = get("threshold")?.parse().map_err(|_| bad("threshold is not a number".into()))?;
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(bad(format!("threshold {threshold} is not in (0, 1)")));
        }
        let f32s = |name: &str, len: usize| -> Result<Vec<f32>, GateError> {
            let t = st.tensor(name).map_err(|e| bad(format!("`{name}`: {e}")))?;
            if t.dtype() != Dtype::F32 || t.shape() != [len] {
                return Err(bad(format!("`{name}` is {:?} {:?}, expected F32 [{len}]", t.dtype(), t.shape())));
            }
            Ok(t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        };
        let weight = f32s("fusion_gate.weight", hidden)?;
        let bias = f32s("fusion_gate.bias", 1)?[0];
        if weight.iter().chain([&bias]).any(|v| !v.is_finite()) {
            return Err(bad("weights are not finite".into()));
        }
        Ok(FusionGate { weight, bias, threshold, checkpoint: get("checkpoint")?.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two clouds that differ in a few of 32 dimensions, at an offset and
    /// scale far from standardised.
    fn cloud(seed: u64, n: usize, shift: f32) -> Vec<Vec<f32>> {
        let mut s = seed;
        let mut r = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        (0..n).map(|_| (0..32).map(|j| 40.0 + 7.0 * r() + if j % 5 == 0 { shift } else { 0.0 }).collect()).collect()
    }

    #[test]
    fn fits_separates_unseen_examples_and_round_trips() {
        let gate = FusionGate::fit(&cloud(1, 40, 6.0), &cloud(2, 40, 0.0), FitOptions::default(), "t").unwrap();
        let opened = cloud(3, 50, 6.0).iter().filter(|v| gate.score_pooled(v).unwrap() >= 0.5).count();
        let closed = cloud(4, 50, 0.0).iter().filter(|v| gate.score_pooled(v).unwrap() < 0.5).count();
        assert!(opened >= 48 && closed >= 48, "open {opened}/50, closed {closed}/50");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.safetensors");
        gate.save(&path).unwrap();
        let back = FusionGate::load(&path).unwrap();
        let probe = &cloud(5, 1, 3.0)[0];
        assert_eq!(back.score_pooled(probe).unwrap(), gate.score_pooled(probe).unwrap());
        assert_eq!((back.hidden(), back.checkpoint()), (32, "t"));
    }

    #[test]
    fn applies_as_the_formula_and_drops_a_closed_modality() {
        let gate = FusionGate { weight: vec![1.0, -2.0], bias: 0.5, threshold: 0.5, checkpoint: String::new() };
        let x = Tensor::from_slice(&[1f32, 0.0, 3.0, 1.0]).view([2, 2]); // mean [2, 0.5]
        let (scaled, g) = gate.apply(&x).unwrap();
        let want = 1.0 / (1.0 + (-(2.0 - 1.0 + 0.5f64)).exp());
        assert!((g - want).abs() < 1e-9);
        let scaled = scaled.unwrap();
        assert!(scaled.allclose(&x.f_mul_scalar(want).unwrap(), 1e-6, 1e-6, false));
        let off = Tensor::from_slice(&[0f32, 2.0, 0.0, 2.0]).view([2, 2]); // z = -3.5
        assert!(gate.apply(&off).unwrap().0.is_none());
        assert!(gate.score(&Tensor::from_slice(&[1f32, 2.0, 3.0]).view([1, 3])).is_err());
    }

    #[test]
    fn refuses_bad_files_and_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        std::fs::write(&path, b"not a gate").unwrap();
        assert!(matches!(FusionGate::load(&path), Err(GateError::Format { .. })));
        assert!(matches!(FusionGate::load(dir.path().join("missing")), Err(GateError::Io { .. })));
        assert!(FusionGate::fit(&[], &cloud(1, 3, 0.0), FitOptions::default(), "").is_err());
        assert!(FusionGate::fit(&[vec![1.0]], &[vec![1.0, 2.0]], FitOptions::default(), "").is_err());
    }
}
