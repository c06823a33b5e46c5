//! Rotary position embedding (RoPE), full or partial, in the two layouts the
//! decoder families use:
//!
//! - [`RopeStyle::Half`] (Llama, `rotate_half` in transformers'
//!   `modeling_llama.py`): dimension `i` pairs with `i + rot/2`; the tables
//!   are `cat(freqs, freqs)`.
//! - [`RopeStyle::Interleaved`] (GLM-4, GLM-4.1V, `rotate_half_llm` in
//!   `modeling_glm4.py`/`modeling_glm4v.py`): dimension `2i` pairs with
//!   `2i + 1`; the tables are `repeat_interleave(freqs, 2)`.
//!
//! Only the first `rot` dimensions of each head rotate (`rot` is the tables'
//! last dimension, `head_dim * partial_rotary_factor`); the rest pass through.
//!
//! Layout: `x` is `[batch, seq, heads, head_dim]` and the tables are
//! `[seq, rot]` or `[batch, seq, rot]` (one row per position, so M-RoPE
//! callers can pass their own rows). [`rotary_ref`] is scalar code over
//! slices; [`apply_rotary`] is the device-generic libtorch path, written as
//! the same formula transformers uses so results match it bit for bit in f32.
use tch::{Kind, Tensor};

/// Which dimensions form a rotating pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RopeStyle {
    /// `i` with `i + rot/2` (Llama / NeoX).
    Half,
    /// `2i` with `2i + 1` (GLM, GPT-J).
    Interleaved,
}

#[derive(Debug, thiserror::Error)]
pub enum RotaryError {
    #[error("rotary: input must be [batch, seq, heads, head_dim], got {0:?}")]
    InputRank(Vec<i64>),
    #[error(
        "rotary: tables {cos:?}/{sin:?} do not fit input {x:?} (need [seq, rot] or [batch, seq, rot], rot even and <= head_dim)"
    )]
    Tables { x: Vec<i64>, cos: Vec<i64>, sin: Vec<i64> },
    #[error("rotary: unsupported dtype {0:?}")]
    Dtype(Kind),
    #[error("rotary: libtorch failed on shape {shape:?}: {source}")]
    Torch {
        shape: Vec<i64>,
        #[source]
        source: tch::TchError,
    },
    #[error("rotary: reference slices do not match shape {0:?}")]
    RefShape([usize; 4]),
}

/// Inverse frequencies `1 / base^(2i/rot)` for `i in 0..rot/2` (f64, rounded
/// to f32 like transformers' `compute_default_rope_parameters`, which builds
/// them in f32).
pub fn inv_freq(base: f64, rot: usize) -> Vec<f32> {
    (0..rot / 2)
        .map(|i| {
            // transformers: 1.0 / (base ** (arange(0, dim, 2, float) / dim)), all in f32.
            let exponent = (2 * i) as f32 / rot as f32;
            1.0f32 / (base as f32).powf(exponent)
        })
        .collect()
}

/// Scalar reference over a contiguous `[b, s, h, d]` slice and `[s, rot]`
/// tables (shared by every batch row).
pub fn rotary_ref(
    x: &[f32],
    shape: [usize; 4],
    cos: &[f32],
    sin: &[f32],
    rot: usize,
    style: RopeStyle,
) -> Result<Vec<f32>, RotaryError> {
    let [b, s, h, d] = shape;
    if x.len() != b * s * h * d || cos.len() != s * rot || sin.len() != s * rot || rot > d || !rot.is_multiple_of(2) {
        return Err(RotaryError::RefShape(shape));
    }
    let mut out = x.to_vec();
    for bi in 0..b {
        for si in 0..s {
            let c = &cos[si * rot..(si + 1) * rot];
            let sn = &sin[si * rot..(si + 1) * rot];
            for hi in 0..h {
                let base = ((bi * s + si) * h + hi) * d;
                let xs = &x[base..base + d];
                let o = &mut out[base..base + d];
                for i in 0..rot {
                    let rotated = match style {
                        RopeStyle::Half => {
                            if i < rot / 2 {
                                -xs[i + rot / 2]
                            } else {
                                xs[i - rot / 2]
                            }
                        }
                        RopeStyle::Interleaved => {
                            if i % 2 == 0 {
                                -xs[i + 1]
                            } else {
                                xs[i - 1]
                            }
                        }
                    };
                    o[i] = xs[i] * c[i] + rotated * sn[i];
                }
            }
        }
    }
    Ok(out)
}

/// Device-generic rotary: returns a new `[b, s, h, d]` tensor.
pub fn apply_rotary(x: &Tensor, cos: &Tensor, sin: &Tensor, style: RopeStyle) -> Result<Tensor, RotaryError> {
    let xs = x.size();
    let (cs, ss) = (cos.size(), sin.size());
    if xs.len() != 4 {
        return Err(RotaryError::InputRank(xs));
    }
    if !matches!(x.kind(), Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double) {
        return Err(RotaryError::Dtype(x.kind()));
    }
    let bad = || RotaryError::Tables { x: xs.clone(), cos: cs.clone(), sin: ss.clone() };
    let rot = *cs.last().ok_or_else(bad)?;
    let seq_ok = match cs.len() {
        2 => cs[0] == xs[1],
        3 => (cs[0] == xs[0] || cs[0] == 1) && cs[1] == xs[1],
        _ => false,
    };
    if cs != ss || !seq_ok || rot % 2 != 0 || rot == 0 || rot > xs[3] {
        return Err(bad());
    }
    let t = |source| RotaryError::Torch { shape: xs.clone(), source };
    let d = xs[3];
    // [.., seq, rot] -> [.., seq, 1, rot] to broadcast over heads.
    let c = cos.f_unsqueeze(-2).map_err(t)?;
    let s = sin.f_unsqueeze(-2).map_err(t)?;
    let x_rot = if rot == d { x.shallow_clone() } else { x.f_narrow(-1, 0, rot).map_err(t)? };
    let rotated = match style {
        RopeStyle::Half => {
            let x1 = x_rot.f_narrow(-1, 0, rot / 2).map_err(t)?;
            let x2 = x_rot.f_narrow(-1, rot / 2, rot / 2).map_err(t)?;
            Tensor::f_cat(&[x2.f_neg().map_err(t)?, x1], -1).map_err(t)?
        }
        RopeStyle::Interleaved => {
            let pairs = x_rot.f_unflatten(-1, [rot / 2, 2]).map_err(t)?;
            let even = pairs.f_select(-1, 0).map_err(t)?;
            let odd = pairs.f_select(-1, 1).map_err(t)?;
            Tensor::f_stack(&[odd.f_neg().map_err(t)?, even], -1).map_err(t)?.f_flatten(-2, -1).map_err(t)?
        }
    };
    let out = x_rot.f_mul(&c).map_err(t)?.f_add(&rotated.f_mul(&s).map_err(t)?).map_err(t)?;
    if rot == d {
        Ok(out)
    } else {
        let pass = x.f_narrow(-1, rot, d - rot).map_err(t)?;
        Tensor::f_cat(&[out, pass], -1).map_err(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn to_vec(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(&t.to_kind(Kind::Float).contiguous().view([-1])).unwrap()
    }

    fn tables(s: i64, rot: i64, style: RopeStyle, offset: i64) -> (Tensor, Tensor) {
        let f = Tensor::from_slice(&inv_freq(10000.0, rot as usize));
        let pos = Tensor::arange_start(offset, offset + s, (Kind::Float, Device::Cpu));
        let ang = pos.unsqueeze(1) * f.unsqueeze(0);
        let full = match style {
            RopeStyle::Half => Tensor::cat(&[&ang, &ang], -1),
            RopeStyle::Interleaved => ang.repeat_interleave_self_int(2, -1, None::<i64>),
        };
        (full.cos(), full.sin())
    }

    #[test]
    fn fast_matches_ref() {
        tch::manual_seed(7);
        for style in [RopeStyle::Half, RopeStyle::Interleaved] {
            for &(b, s, h, d, rot) in &[
                (1i64, 1i64, 1i64, 2i64, 2i64),
                (2, 5, 3, 8, 8),
                (1, 7, 9, 64, 64),
                (2, 3, 2, 128, 64),
                (1, 4, 3, 10, 6),
            ] {
                let x = Tensor::randn([b, s, h, d], (Kind::Float, Device::Cpu));
                let (c, sn) = tables(s, rot, style, 3);
                let fast = to_vec(&apply_rotary(&x, &c, &sn, style).unwrap());
                let want = rotary_ref(
                    &to_vec(&x),
                    [b as usize, s as usize, h as usize, d as usize],
                    &to_vec(&c),
                    &to_vec(&sn),
                    rot as usize,
                    style,
                )
                .unwrap();
                assert_eq!(fast.len(), want.len());
                for (a, w) in fast.iter().zip(&want) {
                    assert!((a - w).abs() <= 1e-5, "{style:?} {a} vs {w}");
                }
                // Strided input: a [b, h, s, d] tensor viewed as [b, s, h, d].
                let base = Tensor::randn([b, h, s, d], (Kind::Float, Device::Cpu));
                let view = base.transpose(1, 2);
                let fast = to_vec(&apply_rotary(&view, &c, &sn, style).unwrap());
                let want = rotary_ref(
                    &to_vec(&view),
                    [b as usize, s as usize, h as usize, d as usize],
                    &to_vec(&c),
                    &to_vec(&sn),
                    rot as usize,
                    style,
                )
                .unwrap();
                for (a, w) in fast.iter().zip(&want) {
                    assert!((a - w).abs() <= 1e-5, "{style:?} strided {a} vs {w}");
                }
            }
        }
    }

    #[test]
    fn rotation_preserves_pair_norms_and_position_zero_is_identity() {
        let x = Tensor::randn([1, 1, 2, 8], (Kind::Float, Device::Cpu));
        let (c, s) = tables(1, 8, RopeStyle::Interleaved, 0);
        let y = apply_rotary(&x, &c, &s, RopeStyle::Interleaved).unwrap();
        assert!(to_vec(&(y - &x).abs().max()).first().copied().unwrap() < 1e-7);
    }

    #[test]
    fn bad_tables_are_errors() {
        let x = Tensor::zeros([1, 4, 2, 8], (Kind::Float, Device::Cpu));
        let (c, s) = tables(3, 8, RopeStyle::Half, 0);
        assert!(matches!(apply_rotary(&x, &c, &s, RopeStyle::Half), Err(RotaryError::Tables { .. })));
        let (c, s) = tables(4, 10, RopeStyle::Half, 0);
        assert!(matches!(apply_rotary(&x, &c, &s, RopeStyle::Half), Err(RotaryError::Tables { .. })));
        let x3 = Tensor::zeros([4, 2, 8], (Kind::Float, Device::Cpu));
        assert!(matches!(apply_rotary(&x3, &c, &s, RopeStyle::Half), Err(RotaryError::InputRank(_))));
    }
}
