//! A head: `Linear -> GELU -> dropout -> Linear` (weights `[out, in]`, f32,
//! CPU), the shape transformers' classification heads take. Its four
//! tensors save as `<head>.0.weight`, `<head>.0.bias`, `<head>.2.weight`,
//! `<head>.2.bias` (the layer indices of the equivalent `nn.Sequential`).
use rand::Rng;
use tch::{Device, Kind, Tensor};

use super::{HeadsError, terr};

#[derive(Debug)]
pub(crate) struct Mlp {
    pub w1: Tensor,
    pub b1: Tensor,
    pub w2: Tensor,
    pub b2: Tensor,
}

/// The parameter names, in [`Mlp::tensors`] order.
pub(crate) const NAMES: [&str; 4] = ["0.weight", "0.bias", "2.weight", "2.bias"];

impl Mlp {
    /// Weights uniform in `±1/sqrt(fan_in)`, biases zero.
    pub fn new<R: Rng>(rng: &mut R, input: i64, hidden: i64, out: i64) -> Result<Self, HeadsError> {
        let mut init = |rows: i64, cols: i64| {
            let bound = 1.0 / (cols as f32).sqrt();
            let v: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-bound..bound)).collect();
            Tensor::from_slice(&v).f_view([rows, cols]).map_err(terr("init heads"))
        };
        let (w1, w2) = (init(hidden, input)?, init(out, hidden)?);
        let zeros = |n: i64| Tensor::f_zeros([n], (Kind::Float, Device::Cpu)).map_err(terr("init heads"));
        Ok(Mlp { w1, b1: zeros(hidden)?, w2, b2: zeros(out)? })
    }

    /// `(input, hidden, out)` widths.
    pub fn shape(&self) -> (i64, i64, i64) {
        let s1 = self.w1.size();
        let s2 = self.w2.size();
        (s1.get(1).copied().unwrap_or(0), s1.first().copied().unwrap_or(0), s2.first().copied().unwrap_or(0))
    }

    pub fn tensors(&self) -> [&Tensor; 4] {
        [&self.w1, &self.b1, &self.w2, &self.b2]
    }

    /// Inference: no dropout.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, HeadsError> {
        forward::<rand::rngs::StdRng>(x, self.tensors(), None)
    }
}

/// The head over `params` (`[w1, b1, w2, b2]`, e.g. training leaves that
/// share storage with an [`Mlp`]), with dropout `p` after the activation
/// when given. The masks come from the caller's generator, not libtorch's
/// global one, so a seeded training run is reproducible even while other
/// threads draw random numbers.
pub(crate) fn forward<R: Rng>(
    x: &Tensor,
    params: [&Tensor; 4],
    dropout: Option<(f64, &mut R)>,
) -> Result<Tensor, HeadsError> {
    let t = terr("head forward");
    let [w1, b1, w2, b2] = params;
    let mut h = x.f_linear(w1, Some(b1)).and_then(|h| h.f_gelu("none")).map_err(&t)?;
    if let Some((p, rng)) = dropout
        && p > 0.0
    {
        let keep = 1.0 - p.min(0.9);
        let scale = (1.0 / keep) as f32;
        let n = h.numel();
        let mask: Vec<f32> = (0..n).map(|_| if rng.random::<f64>() < keep { scale } else { 0.0 }).collect();
        let mask = Tensor::from_slice(&mask).f_view(h.size().as_slice()).map_err(&t)?;
        h = h.f_mul(&mask).map_err(&t)?;
    }
    h.f_linear(w2, Some(b2)).map_err(t)
}
