//! Image kernels for vision preprocessing: antialiased bicubic resize of
//! interleaved RGB(A) `u8` images, and rescale + normalise into planar `f32`.
//!
//! [`resize_bicubic_aa_u8`] is the fast path (libtorch's
//! `_upsample_bicubic2d_aa` on `uint8`, the kernel torchvision's
//! `resize(..., BICUBIC, antialias=True)` runs on CPU, which is what
//! transformers' `Glm4vImageProcessor` uses); [`resize_bicubic_aa_u8_ref`] is
//! the scalar reference of the same filter (separable, horizontal pass first,
//! `u8` between passes, Keys cubic a = -0.5 with the support widened by the
//! downscale factor, as PIL and `UpSampleKernel.cpp`). The two may differ by
//! one grey level where the fast path's fixed-point weights round the other
//! way.
use tch::{Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{op}: image buffer has {len} bytes, expected {h}x{w}x{c} = {expected}")]
    BadBuffer { op: &'static str, len: usize, h: usize, w: usize, c: usize, expected: usize },
    #[error("{op}: size {h}x{w} (channels {c}) is not allowed")]
    BadSize { op: &'static str, h: usize, w: usize, c: usize },
    #[error("{op}: libtorch error: {source}")]
    Torch {
        op: &'static str,
        #[source]
        source: tch::TchError,
    },
}

fn check(op: &'static str, src: &[u8], h: usize, w: usize, c: usize) -> Result<(), ImageError> {
    if h == 0 || w == 0 || c == 0 {
        return Err(ImageError::BadSize { op, h, w, c });
    }
    let expected = h.checked_mul(w).and_then(|v| v.checked_mul(c));
    if expected != Some(src.len()) {
        return Err(ImageError::BadBuffer { op, len: src.len(), h, w, c, expected: expected.unwrap_or(usize::MAX) });
    }
    Ok(())
}

/// Keys cubic with a = -0.5 (the antialiasing bicubic of PIL and libtorch).
fn cubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output index: first input index and normalised weights.
fn aa_weights(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = in_size as f64 / out_size as f64;
    let support = if scale >= 1.0 { 2.0 * scale } else { 2.0 };
    let invscale = if scale >= 1.0 { 1.0 / scale } else { 1.0 };
    (0..out_size)
        .map(|i| {
            let center = scale * (i as f64 + 0.5);
            let xmin = ((center - support + 0.5).trunc() as i64).max(0) as usize;
            let xmax = ((center + support + 0.5).trunc() as i64).min(in_size as i64).max(xmin as i64) as usize;
            let mut ws: Vec<f64> = (xmin..xmax).map(|j| cubic((j as f64 - center + 0.5) * invscale)).collect();
            let total: f64 = ws.iter().sum();
            if total != 0.0 {
                ws.iter_mut().for_each(|v| *v /= total);
            }
            (xmin, ws)
        })
        .collect()
}

fn to_u8(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Scalar reference of [`resize_bicubic_aa_u8`]. `src` is `h x w x c` interleaved.
pub fn resize_bicubic_aa_u8_ref(
    src: &[u8],
    h: usize,
    w: usize,
    c: usize,
    out_h: usize,
    out_w: usize,
) -> Result<Vec<u8>, ImageError> {
    check("resize_bicubic_aa_u8_ref", src, h, w, c)?;
    if out_h == 0 || out_w == 0 {
        return Err(ImageError::BadSize { op: "resize_bicubic_aa_u8_ref", h: out_h, w: out_w, c });
    }
    // Horizontal pass (skipped when the width is unchanged).
    let tmp: Vec<u8> = if out_w == w {
        src.to_vec()
    } else {
        let wx = aa_weights(w, out_w);
        let mut t = vec![0u8; h * out_w * c];
        for y in 0..h {
            for (x, (x0, ws)) in wx.iter().enumerate() {
                for ch in 0..c {
                    let acc: f64 =
                        ws.iter().enumerate().map(|(k, wt)| wt * f64::from(src[(y * w + x0 + k) * c + ch])).sum();
                    t[(y * out_w + x) * c + ch] = to_u8(acc);
                }
            }
        }
        t
    };
    if out_h == h {
        return Ok(tmp);
    }
    let wy = aa_weights(h, out_h);
    let mut out = vec![0u8; out_h * out_w * c];
    for (y, (y0, ws)) in wy.iter().enumerate() {
        for x in 0..out_w {
            for ch in 0..c {
                let acc: f64 =
                    ws.iter().enumerate().map(|(k, wt)| wt * f64::from(tmp[((y0 + k) * out_w + x) * c + ch])).sum();
                out[(y * out_w + x) * c + ch] = to_u8(acc);
            }
        }
    }
    Ok(out)
}

/// Antialiased bicubic resize of an `h x w x c` interleaved `u8` image to
/// `out_h x out_w x c`, on libtorch's uint8 kernel (bit-exact with
/// torchvision's `resize(BICUBIC, antialias=True)` on CPU).
pub fn resize_bicubic_aa_u8(
    src: &[u8],
    h: usize,
    w: usize,
    c: usize,
    out_h: usize,
    out_w: usize,
) -> Result<Vec<u8>, ImageError> {
    const OP: &str = "resize_bicubic_aa_u8";
    check(OP, src, h, w, c)?;
    if out_h == 0 || out_w == 0 {
        return Err(ImageError::BadSize { op: OP, h: out_h, w: out_w, c });
    }
    if (out_h, out_w) == (h, w) {
        return Ok(src.to_vec());
    }
    let torch = |source| ImageError::Torch { op: OP, source };
    let _guard = tch::no_grad_guard();
    let t = Tensor::f_from_slice(src)
        .and_then(|t| t.f_view([1, h as i64, w as i64, c as i64]))
        .and_then(|t| t.f_permute([0, 3, 1, 2]))
        .and_then(|t| t.f_contiguous())
        .map_err(torch)?;
    let r = t
        .f_internal_upsample_bicubic2d_aa([out_h as i64, out_w as i64], false, None::<f64>, None::<f64>)
        .and_then(|r| r.f_permute([0, 2, 3, 1]))
        .and_then(|r| r.f_contiguous())
        .and_then(|r| r.f_view([-1]))
        .map_err(torch)?;
    if r.kind() != Kind::Uint8 {
        return Err(ImageError::Torch {
            op: OP,
            source: tch::TchError::Kind(format!("expected uint8 output, got {:?}", r.kind())),
        });
    }
    Vec::<u8>::try_from(&r).map_err(torch)
}

/// Rescale by 1/255 and normalise, `(x/255 - mean) / std`, from `h x w x c`
/// interleaved `u8` into planar `c x h x w` `f32`. Computed as transformers'
/// fused form `(x - mean*255) / (std*255)` in f32.
pub fn normalize_u8_to_chw(
    src: &[u8],
    h: usize,
    w: usize,
    c: usize,
    mean: &[f32],
    std: &[f32],
) -> Result<Vec<f32>, ImageError> {
    const OP: &str = "normalize_u8_to_chw";
    check(OP, src, h, w, c)?;
    if mean.len() != c || std.len() != c || std.contains(&0.0) {
        return Err(ImageError::BadSize { op: OP, h, w, c });
    }
    let m: Vec<f32> = mean.iter().map(|v| v * 255.0).collect();
    let s: Vec<f32> = std.iter().map(|v| v * 255.0).collect();
    let mut out = vec![0f32; c * h * w];
    for (ch, plane) in out.chunks_exact_mut(h * w).enumerate() {
        for (i, o) in plane.iter_mut().enumerate() {
            *o = (f32::from(src[i * c + ch]) - m[ch]) / s[ch];
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(h: usize, w: usize, c: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        (0..h * w * c)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let smooth = ((i % (w * c)) as f32 * 0.7 + (i / (w * c)) as f32 * 1.3) as u32;
                ((smooth + (s >> 28)) % 256) as u8
            })
            .collect()
    }

    #[test]
    fn fast_matches_reference_within_one_level() {
        for &(h, w, oh, ow) in
            &[(100, 150, 112, 140), (60, 45, 112, 84), (37, 91, 14, 28), (9, 7, 9, 30), (64, 64, 31, 17)]
        {
            let src = image(h, w, 3, (h * w) as u32);
            let fast = resize_bicubic_aa_u8(&src, h, w, 3, oh, ow).unwrap();
            let slow = resize_bicubic_aa_u8_ref(&src, h, w, 3, oh, ow).unwrap();
            assert_eq!(fast.len(), oh * ow * 3);
            let diffs: Vec<i32> = fast.iter().zip(&slow).map(|(a, b)| (*a as i32 - *b as i32).abs()).collect();
            let max = diffs.iter().copied().max().unwrap();
            let off = diffs.iter().filter(|d| **d > 0).count();
            eprintln!("{h}x{w}->{oh}x{ow}: max diff {max}, {off} of {} differ", diffs.len());
            assert!(max <= 2, "{h}x{w}->{oh}x{ow}: max diff {max}");
            assert!(off * 20 <= diffs.len(), "{h}x{w}->{oh}x{ow}: {off} of {} differ", diffs.len());
        }
    }

    #[test]
    fn identity_resize_and_bad_input() {
        let src = image(5, 4, 3, 1);
        assert_eq!(resize_bicubic_aa_u8(&src, 5, 4, 3, 5, 4).unwrap(), src);
        assert_eq!(resize_bicubic_aa_u8_ref(&src, 5, 4, 3, 5, 4).unwrap(), src);
        let e = resize_bicubic_aa_u8(&src, 5, 5, 3, 2, 2).unwrap_err();
        assert!(e.to_string().contains("expected 5x5x3 = 75"), "{e}");
        assert!(resize_bicubic_aa_u8(&src, 5, 4, 3, 0, 2).is_err());
    }

    #[test]
    fn normalize_planar() {
        let src = vec![0u8, 128, 255, 255, 0, 128];
        let out = normalize_u8_to_chw(&src, 1, 2, 3, &[0.5, 0.5, 0.5], &[0.5, 0.5, 0.5]).unwrap();
        assert_eq!(out.len(), 6);
        assert!((out[0] + 1.0).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6); // R plane: 0, 255
        assert!((out[2] - (128.0 - 127.5) / 127.5).abs() < 1e-6);
        assert!(normalize_u8_to_chw(&src, 1, 2, 3, &[0.5], &[0.5, 0.5, 0.5]).is_err());
    }
}
