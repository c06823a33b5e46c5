//! RMS normalisation, as Llama/GLM use it (`LlamaRMSNorm`, `Glm4RMSNorm` in
//! transformers): `y = w * (x / sqrt(mean(x^2) + eps))`, the mean taken over
//! the last dimension and computed in f32 whatever the input dtype.
//!
//! [`rms_norm_ref`] is plain scalar code over slices (f64 accumulation);
//! [`rms_norm`] is the device-generic fast path on libtorch (`aten::rms_norm`,
//! fused on CPU and CUDA). Tests check one against the other on odd and
//! strided shapes.
use tch::{Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum NormError {
    #[error("rms_norm: input shape {x:?} does not end in the weight's length {w}")]
    Shape { x: Vec<i64>, w: i64 },
    #[error("rms_norm: weight must be 1-D, got shape {0:?}")]
    WeightRank(Vec<i64>),
    #[error("rms_norm: unsupported dtype {0:?} (f32, f16, bf16 and f64 only)")]
    Dtype(Kind),
    #[error("rms_norm: input on {x:?} but weight on {w:?}")]
    Device { x: tch::Device, w: tch::Device },
    #[error("rms_norm: slice of {len} values is not a whole number of rows of {dim}")]
    RefShape { len: usize, dim: usize },
    #[error("rms_norm: libtorch failed on shape {shape:?}: {source}")]
    Torch {
        shape: Vec<i64>,
        #[source]
        source: tch::TchError,
    },
}

/// Scalar reference: `x` holds rows of `weight.len()` values.
pub fn rms_norm_ref(x: &[f32], weight: &[f32], eps: f64) -> Result<Vec<f32>, NormError> {
    let dim = weight.len();
    if dim == 0 || !x.len().is_multiple_of(dim) {
        return Err(NormError::RefShape { len: x.len(), dim });
    }
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(dim) {
        let ms = row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / dim as f64;
        let inv = 1.0 / (ms + eps).sqrt();
        out.extend(row.iter().zip(weight).map(|(&v, &w)| (w as f64 * v as f64 * inv) as f32));
    }
    Ok(out)
}

fn is_float(k: Kind) -> bool {
    matches!(k, Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double)
}

/// Fast path: `x` is `[.., dim]` (any strides), `weight` is `[dim]` on the
/// same device. Returns a tensor of `x`'s dtype.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor, NormError> {
    let ws = weight.size();
    let xs = x.size();
    if ws.len() != 1 {
        return Err(NormError::WeightRank(ws));
    }
    if xs.last() != Some(&ws[0]) {
        return Err(NormError::Shape { x: xs, w: ws[0] });
    }
    if !is_float(x.kind()) {
        return Err(NormError::Dtype(x.kind()));
    }
    if !is_float(weight.kind()) {
        return Err(NormError::Dtype(weight.kind()));
    }
    if x.device() != weight.device() {
        return Err(NormError::Device { x: x.device(), w: weight.device() });
    }
    let torch = |source| NormError::Torch { shape: xs.clone(), source };
    if x.kind() == weight.kind() {
        x.f_rms_norm([ws[0]], Some(weight), eps).map_err(torch)
    } else {
        // Mixed dtypes (e.g. bf16 activations, f32 weight): normalise in the
        // input dtype like transformers, then scale by the weight.
        let n = x.f_rms_norm([ws[0]], None::<&Tensor>, eps).map_err(torch)?;
        let w = weight.f_to_kind(x.kind()).map_err(torch)?;
        n.f_mul(&w).map_err(torch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn to_vec(t: &Tensor) -> Vec<f32> {
        let t = t.to_kind(Kind::Float).contiguous().view([-1]);
        Vec::<f32>::try_from(&t).unwrap()
    }

    #[test]
    fn fast_matches_ref_odd_and_strided_shapes() {
        tch::manual_seed(3);
        for &(rows, dim) in &[(1i64, 1i64), (3, 7), (5, 576), (2, 33)] {
            let x = Tensor::randn([rows, dim], (Kind::Float, Device::Cpu)) * 3.0;
            let w = Tensor::randn([dim], (Kind::Float, Device::Cpu));
            let fast = to_vec(&rms_norm(&x, &w, 1e-5).unwrap());
            let want = rms_norm_ref(&to_vec(&x), &to_vec(&w), 1e-5).unwrap();
            for (a, b) in fast.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
            // Strided: a transposed view whose last dim is not contiguous.
            let big = Tensor::randn([dim, rows], (Kind::Float, Device::Cpu));
            let view = big.tr();
            let fast = to_vec(&rms_norm(&view, &w, 1e-6).unwrap());
            let want = rms_norm_ref(&to_vec(&view), &to_vec(&w), 1e-6).unwrap();
            for (a, b) in fast.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn bf16_input_close_to_ref() {
        let x = Tensor::randn([4, 64], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([64], (Kind::Float, Device::Cpu));
        let fast = to_vec(&rms_norm(&x.to_kind(Kind::BFloat16), &w, 1e-6).unwrap());
        let want = rms_norm_ref(&to_vec(&x), &to_vec(&w), 1e-6).unwrap();
        for (a, b) in fast.iter().zip(&want) {
            assert!((a - b).abs() <= 2e-2 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let x = Tensor::zeros([2, 8], (Kind::Float, Device::Cpu));
        let w = Tensor::ones([7], (Kind::Float, Device::Cpu));
        assert!(matches!(rms_norm(&x, &w, 1e-6), Err(NormError::Shape { .. })));
        let xi = Tensor::zeros([2, 7], (Kind::Int64, Device::Cpu));
        assert!(matches!(rms_norm(&xi, &w, 1e-6), Err(NormError::Dtype(_))));
        assert!(matches!(rms_norm_ref(&[1.0; 5], &[1.0; 2], 1e-6), Err(NormError::RefShape { .. })));
    }
}
