//! Weight-only int8 linear layers with one scale per output channel.
//!
//! Quantisation is symmetric: `scale[o] = max_i |w[o, i]| / 127`,
//! `q[o, i] = round(w[o, i] / scale[o])` clamped to `[-127, 127]` (a zero row
//! gets scale 1). The product is `y[.., o] = scale[o] * sum_i x[.., i] q[o, i]`
//! (+ bias), which is exact algebra because the scale is per output channel.
//!
//! [`quantize_ref`]/[`int8_linear_ref`] are scalar code over slices.
//! [`quantize`]/[`Int8Linear::forward`] are the libtorch paths: on CPU the
//! matmul is `aten::_weight_int8pack_mm` (int8 weights streamed from memory,
//! converted in registers) with bf16 activations: libtorch vectorises that
//! kernel for bf16 only (its f32 path is scalar, ~15x slower than an fp32
//! matmul at batch 1; bf16 is ~1.8x *faster* than fp32 over a 135M-parameter
//! stack), so f32 inputs are rounded to bf16 for the product and the result
//! returned in f32. From [`DEQUANT_ROWS`] rows on (prefill) the weight is
//! dequantised for an fp32 GEMM instead. Elsewhere the int8 weight is converted to the
//! activation dtype for a plain matmul.
use tch::{Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum Int8Error {
    #[error("int8: weight must be 2-D [out, in], got {0:?}")]
    WeightRank(Vec<i64>),
    #[error("int8: input {x:?} does not end in the layer's in_features {inp}")]
    Shape { x: Vec<i64>, inp: i64 },
    #[error("int8: unsupported dtype {0:?}")]
    Dtype(Kind),
    #[error("int8: reference slices do not match [{out}, {inp}]")]
    RefShape { out: usize, inp: usize },
    #[error("int8: libtorch failed in `{op}` on shape {shape:?}: {source}")]
    Torch {
        op: &'static str,
        shape: Vec<i64>,
        #[source]
        source: tch::TchError,
    },
}

/// Scalar reference quantiser over a row-major `[out, inp]` slice.
pub fn quantize_ref(w: &[f32], out: usize, inp: usize) -> Result<(Vec<i8>, Vec<f32>), Int8Error> {
    if w.len() != out * inp || inp == 0 {
        return Err(Int8Error::RefShape { out, inp });
    }
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(out);
    for row in w.chunks_exact(inp) {
        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        scales.push(scale);
        q.extend(row.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
    }
    Ok((q, scales))
}

/// Scalar reference product: `x` is `[rows, inp]`, returns `[rows, out]`.
pub fn int8_linear_ref(x: &[f32], q: &[i8], scales: &[f32], out: usize, inp: usize) -> Result<Vec<f32>, Int8Error> {
    if q.len() != out * inp || scales.len() != out || inp == 0 || !x.len().is_multiple_of(inp) {
        return Err(Int8Error::RefShape { out, inp });
    }
    let mut y = Vec::with_capacity(x.len() / inp * out);
    for row in x.chunks_exact(inp) {
        for (o, qrow) in q.chunks_exact(inp).enumerate() {
            let acc: f64 = row.iter().zip(qrow).map(|(&a, &b)| a as f64 * b as f64).sum();
            y.push((acc * scales[o] as f64) as f32);
        }
    }
    Ok(y)
}

/// Quantise a float `[out, in]` weight on its device: returns `(q int8
/// [out, in] contiguous, scales f32 [out])`.
pub fn quantize(w: &Tensor) -> Result<(Tensor, Tensor), Int8Error> {
    let ws = w.size();
    if ws.len() != 2 {
        return Err(Int8Error::WeightRank(ws));
    }
    let t = |op| {
        let shape = ws.clone();
        move |source| Int8Error::Torch { op, shape, source }
    };
    // One transient f32 copy at most (the division), whatever the size: the
    // tied 49k-row embedding of a small LLM is 113 MB in f32.
    let wf = w.f_to_kind(Kind::Float).map_err(t("to_kind"))?;
    let hi = wf.f_amax([1], true).map_err(t("amax"))?;
    let lo = wf.f_amin([1], true).map_err(t("amin"))?;
    let amax = hi.f_maximum(&lo.f_neg().map_err(t("neg"))?).map_err(t("maximum"))?;
    let scale = amax.f_div_scalar(127.0).map_err(t("div"))?;
    // Zero rows: scale 1 so the division below stays finite.
    let ones = scale.f_ones_like().map_err(t("ones_like"))?;
    let scale = scale.f_where_self(&amax.f_gt(0.0).map_err(t("gt"))?, &ones).map_err(t("where"))?;
    let mut r = wf.f_div(&scale).map_err(t("div"))?;
    let _ = r.f_round_().map_err(t("round_"))?;
    let _ = r.f_clamp_(-127.0, 127.0).map_err(t("clamp_"))?;
    let q = r.f_to_kind(Kind::Int8).map_err(t("to_kind"))?.f_contiguous().map_err(t("contiguous"))?;
    drop(r);
    Ok((q, scale.f_squeeze_dim(1).map_err(t("squeeze"))?))
}

/// From this many input rows on (prefill), the CPU path dequantises the
/// weight and runs an fp32 GEMM instead of the int8 matrix-vector kernel.
pub const DEQUANT_ROWS: i64 = 16;

/// libtorch 2.13's vectorised bf16 `_weight_int8pack_mm` reads the input
/// dimension in blocks of 16 without a tail: in_features 40 crashes it and
/// 33 returns NaN. Other widths take the scalar f32 kernel.
pub fn bf16_kernel_ok(in_features: i64) -> bool {
    in_features > 0 && in_features % 16 == 0
}

/// An int8 weight-only linear layer (`y = x W^T * scale + b`).
#[derive(Debug)]
pub struct Int8Linear {
    /// `[out, in]` int8, contiguous.
    pub q: Tensor,
    /// `[out]` f32 scales.
    pub scales: Tensor,
    /// Optional `[out]` bias in the activation dtype.
    pub bias: Option<Tensor>,
    /// Scales cached in bf16 for bf16 activations on CPU (the packed kernel
    /// wants scales in the activation dtype).
    scales_bf16: Option<Tensor>,
}

impl Int8Linear {
    /// Quantise a float weight (and keep a float bias).
    pub fn from_float(w: &Tensor, bias: Option<Tensor>) -> Result<Self, Int8Error> {
        let (q, scales) = quantize(w)?;
        Ok(Self::from_parts(q, scales, bias))
    }

    pub fn from_parts(q: Tensor, scales: Tensor, bias: Option<Tensor>) -> Self {
        let scales_bf16 = if q.device() == Device::Cpu { scales.f_to_kind(Kind::BFloat16).ok() } else { None };
        Int8Linear { q, scales, bias, scales_bf16 }
    }

    pub fn in_features(&self) -> i64 {
        self.q.size().get(1).copied().unwrap_or(0)
    }

    pub fn out_features(&self) -> i64 {
        self.q.size().first().copied().unwrap_or(0)
    }

    /// `x` is `[.., in]`; returns `[.., out]` in `x`'s dtype.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, Int8Error> {
        let xs = x.size();
        let inp = self.in_features();
        if xs.last() != Some(&inp) {
            return Err(Int8Error::Shape { x: xs, inp });
        }
        let kind = x.kind();
        if !matches!(kind, Kind::Float | Kind::BFloat16 | Kind::Half | Kind::Double) {
            return Err(Int8Error::Dtype(kind));
        }
        let t = |op| {
            let shape = xs.clone();
            move |source| Int8Error::Torch { op, shape, source }
        };
        let mut out_shape = xs.clone();
        if let Some(last) = out_shape.last_mut() {
            *last = self.out_features();
        }
        let cpu = x.device() == Device::Cpu;
        let rows: i64 = xs[..xs.len() - 1].iter().product();
        let y = if cpu && kind == Kind::Float && rows >= DEQUANT_ROWS {
            // Prefill-sized inputs are compute-bound: one dequantised copy
            // of the weight and an fp32 GEMM beat the int8 kernel there.
            let w = self
                .q
                .f_to_kind(Kind::Float)
                .map_err(t("to_kind"))?
                .f_mul(&self.scales.f_unsqueeze(1).map_err(t("unsqueeze"))?)
                .map_err(t("mul"))?;
            x.f_linear::<Tensor>(&w, None).map_err(t("linear"))?
        } else if let (true, true, Kind::Float | Kind::BFloat16, Some(scales)) =
            (cpu, bf16_kernel_ok(inp), kind, &self.scales_bf16)
        {
            let x2 = x.f_reshape([-1, inp]).map_err(t("reshape"))?;
            let x2 = if kind == Kind::BFloat16 { x2 } else { x2.f_to_kind(Kind::BFloat16).map_err(t("to_kind"))? };
            let y = x2
                .f_contiguous()
                .map_err(t("contiguous"))?
                .f_internal_weight_int8pack_mm(&self.q, scales)
                .map_err(t("_weight_int8pack_mm"))?
                .f_reshape(out_shape.as_slice())
                .map_err(t("reshape"))?;
            if kind == Kind::BFloat16 { y } else { y.f_to_kind(kind).map_err(t("to_kind"))? }
        } else if cpu && kind == Kind::Float {
            // Scalar f32 kernel: slow but handles any in_features.
            let x2 = x.f_reshape([-1, inp]).map_err(t("reshape"))?.f_contiguous().map_err(t("contiguous"))?;
            x2.f_internal_weight_int8pack_mm(&self.q, &self.scales)
                .map_err(t("_weight_int8pack_mm"))?
                .f_reshape(out_shape.as_slice())
                .map_err(t("reshape"))?
        } else {
            let w = self.q.f_to_kind(kind).map_err(t("to_kind"))?;
            let s = self.scales.f_to_kind(kind).map_err(t("to_kind"))?;
            x.f_matmul(&w.f_tr().map_err(t("t"))?).map_err(t("matmul"))?.f_mul(&s).map_err(t("mul"))?
        };
        match &self.bias {
            Some(b) => y.f_add(b).map_err(t("add")),
            None => Ok(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_vec(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(&t.to_kind(Kind::Float).contiguous().view([-1])).unwrap()
    }

    #[test]
    fn quantize_matches_ref() {
        tch::manual_seed(1);
        let w = Tensor::randn([7, 13], (Kind::Float, Device::Cpu));
        let _ = w.get(2).fill_(0.0);
        let (q, s) = quantize(&w).unwrap();
        let (qr, sr) = quantize_ref(&to_vec(&w), 7, 13).unwrap();
        let q: Vec<i8> = Vec::<i8>::try_from(&q.view([-1])).unwrap();
        // Rounding of exact .5 ties may differ by one step between the paths.
        assert!(q.iter().zip(&qr).all(|(a, b)| (*a as i32 - *b as i32).abs() <= 1));
        for (a, b) in to_vec(&s).iter().zip(&sr) {
            assert!((a - b).abs() <= 1e-7 * b.abs().max(1.0));
        }
        assert_eq!(sr[2], 1.0);
    }

    #[test]
    fn forward_matches_ref_and_float() {
        tch::manual_seed(2);
        for &(rows, inp, out) in &[
            (1i64, 16i64, 8i64),
            (5, 33, 17),
            (3, 576, 192),
            (2, 40, 9),
            (4, 1536, 17),
            (DEQUANT_ROWS, 64, 24),
            (40, 33, 5),
        ] {
            let w = Tensor::randn([out, inp], (Kind::Float, Device::Cpu));
            let x = Tensor::randn([1, rows, inp], (Kind::Float, Device::Cpu));
            let lin = Int8Linear::from_float(&w, None).unwrap();
            let y = lin.forward(&x).unwrap();
            assert_eq!(y.size(), vec![1, rows, out]);
            assert_eq!(y.kind(), Kind::Float);
            let q: Vec<i8> = Vec::<i8>::try_from(&lin.q.view([-1])).unwrap();
            // The vectorised kernel takes bf16 activations and returns bf16:
            // the reference sees the same rounded input; the scale and the
            // output each carry bf16's 8-bit mantissa (2 x 2^-9). Other widths run
            // the exact f32 kernel.
            let (xr, rel_tol, abs_tol) = if bf16_kernel_ok(inp) && rows < DEQUANT_ROWS {
                (x.to_kind(Kind::BFloat16).to_kind(Kind::Float), 8e-3, 1e-3)
            } else {
                (x.shallow_clone(), 1e-4, 1e-4)
            };
            let want = int8_linear_ref(&to_vec(&xr), &q, &to_vec(&lin.scales), out as usize, inp as usize).unwrap();
            for (a, b) in to_vec(&y).iter().zip(&want) {
                assert!((a - b).abs() <= rel_tol * b.abs() + abs_tol, "[{rows},{inp}]x[{out}]: {a} vs {b}");
            }
            // Against the float layer: within the quantisation error.
            let yf = x.matmul(&w.tr());
            let rel = to_vec(&((&y - &yf).norm() / yf.norm()))[0];
            assert!(rel < 1.5e-2, "int8 relative error {rel}");
        }
    }

    #[test]
    fn strided_input_and_bias() {
        let w = Tensor::randn([6, 10], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([6], (Kind::Float, Device::Cpu));
        let lin = Int8Linear::from_float(&w, Some(b.shallow_clone())).unwrap();
        let x = Tensor::randn([10, 4], (Kind::Float, Device::Cpu)).tr();
        let y = lin.forward(&x).unwrap();
        let q: Vec<i8> = Vec::<i8>::try_from(&lin.q.view([-1])).unwrap();
        let want = int8_linear_ref(&to_vec(&x), &q, &to_vec(&lin.scales), 6, 10).unwrap();
        let bias = to_vec(&b);
        for (i, (a, w)) in to_vec(&y).iter().zip(&want).enumerate() {
            let w = w + bias[i % 6];
            assert!((a - w).abs() <= 1e-4 * (1.0 + w.abs()), "{a} vs {w}");
        }
        // A strided input on the bf16 kernel's path (in_features 32).
        let w = Tensor::randn([6, 32], (Kind::Float, Device::Cpu));
        let lin = Int8Linear::from_float(&w, Some(b.shallow_clone())).unwrap();
        let x = Tensor::randn([32, 4], (Kind::Float, Device::Cpu)).tr();
        let y = lin.forward(&x).unwrap();
        let yf = x.matmul(&w.tr()) + &b;
        let rel = to_vec(&((&y - &yf).norm() / yf.norm()))[0];
        assert!(rel < 1.5e-2, "strided bf16 path: {rel}");
    }

    #[test]
    fn bad_input_is_an_error() {
        let lin = Int8Linear::from_float(&Tensor::randn([4, 8], (Kind::Float, Device::Cpu)), None).unwrap();
        assert!(matches!(
            lin.forward(&Tensor::zeros([2, 7], (Kind::Float, Device::Cpu))),
            Err(Int8Error::Shape { .. })
        ));
        assert!(matches!(lin.forward(&Tensor::zeros([2, 8], (Kind::Int64, Device::Cpu))), Err(Int8Error::Dtype(_))));
        assert!(matches!(quantize(&Tensor::zeros([8], (Kind::Float, Device::Cpu))), Err(Int8Error::WeightRank(_))));
    }
}
