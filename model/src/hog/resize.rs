//! Bilinear down-scaling of interleaved `u8` images, bit-exact with OpenCV's
//! `resize(..., INTER_LINEAR_EXACT)` (`imgproc/src/resize.cpp`,
//! `resize_bitExact` with `interpolationLinear`), which is what OpenCV's HOG
//! pyramid uses: coefficients are rounded to 1/256, the horizontal pass keeps
//! 8 fractional bits, the vertical pass 16, then rounds half up. An exact
//! 2:1 reduction is OpenCV's fast area average (also bit-exact there).

/// Source positions and 8-bit weights of one axis.
struct Axis {
    /// First source index of each destination index.
    ofs: Vec<usize>,
    /// Weight of `ofs` and `ofs + 1` (sum 256).
    w: Vec<[u32; 2]>,
}

fn axis(src: usize, dst: usize) -> Axis {
    // OpenCV: scale = 1 / (dst / src) in double; fval = scale * (i + 0.5) - 0.5.
    let scale = 1.0 / (dst as f64 / src as f64);
    let mut ofs = Vec::with_capacity(dst);
    let mut w = Vec::with_capacity(dst);
    for i in 0..dst {
        let f = scale * (i as f64 + 0.5) - 0.5;
        let fi = f.floor();
        if fi < 0.0 || src == 1 {
            ofs.push(0);
            w.push([256, 0]);
        } else if (fi as usize) < src - 1 {
            let c1 = ((f - fi) * 256.0).round_ties_even() as u32;
            ofs.push(fi as usize);
            w.push([256 - c1, c1]);
        } else {
            ofs.push(src - 1);
            w.push([256, 0]);
        }
    }
    Axis { ofs, w }
}

/// Resize `src` (`sw` x `sh`, `cn` channels) to `dw` x `dh`.
pub fn resize_linear_exact(src: &[u8], sw: usize, sh: usize, cn: usize, dw: usize, dh: usize) -> Vec<u8> {
    debug_assert_eq!(src.len(), sw * sh * cn);
    if dw == 0 || dh == 0 {
        return Vec::new();
    }
    if (dw, dh) == (sw, sh) {
        return src.to_vec();
    }
    if dw * 2 == sw && dh * 2 == sh {
        return halve(src, sw, cn, dw, dh);
    }
    let ax = axis(sw, dw);
    let ay = axis(sh, dh);
    // Horizontal pass of each source row that is needed, 8 fractional bits.
    let mut rows: Vec<Option<Vec<u32>>> = vec![None; sh];
    let mut out = vec![0u8; dw * dh * cn];
    for (y, (&oy, wy)) in ay.ofs.iter().zip(&ay.w).enumerate() {
        let y1 = (oy + 1).min(sh - 1);
        for r in [oy, y1] {
            if rows[r].is_none() {
                rows[r] = Some(hline(&src[r * sw * cn..(r + 1) * sw * cn], cn, &ax));
            }
        }
        let (Some(r0), Some(r1)) = (&rows[oy], &rows[y1]) else { continue };
        let dst = &mut out[y * dw * cn..(y + 1) * dw * cn];
        for ((d, &a), &b) in dst.iter_mut().zip(r0).zip(r1) {
            let v = a * wy[0] + b * wy[1];
            *d = ((v + (1 << 15)) >> 16).min(255) as u8;
        }
    }
    out
}

fn hline(row: &[u8], cn: usize, ax: &Axis) -> Vec<u32> {
    let sw = row.len() / cn;
    let mut out = Vec::with_capacity(ax.ofs.len() * cn);
    for (&o, w) in ax.ofs.iter().zip(&ax.w) {
        let o1 = (o + 1).min(sw - 1);
        for c in 0..cn {
            out.push(u32::from(row[o * cn + c]) * w[0] + u32::from(row[o1 * cn + c]) * w[1]);
        }
    }
    out
}

fn halve(src: &[u8], sw: usize, cn: usize, dw: usize, dh: usize) -> Vec<u8> {
    let mut out = vec![0u8; dw * dh * cn];
    for y in 0..dh {
        let (r0, r1) = (&src[2 * y * sw * cn..], &src[(2 * y + 1) * sw * cn..]);
        for x in 0..dw {
            for c in 0..cn {
                let (i, j) = (2 * x * cn + c, (2 * x + 1) * cn + c);
                let s = u32::from(r0[i]) + u32::from(r0[j]) + u32::from(r1[i]) + u32::from(r1[j]);
                out[(y * dw + x) * cn + c] = ((s + 2) >> 2) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_a_copy_and_flat_stays_flat() {
        let img = vec![77u8; 30 * 20 * 3];
        assert_eq!(resize_linear_exact(&img, 30, 20, 3, 30, 20), img);
        assert!(resize_linear_exact(&img, 30, 20, 3, 17, 11).iter().all(|&v| v == 77));
        assert_eq!(resize_linear_exact(&img, 30, 20, 3, 15, 10).len(), 15 * 10 * 3);
    }

    #[test]
    fn a_ramp_is_interpolated() {
        // 4 -> 3 pixels: positions 0.1667, 1.5, 2.8333 of a 0,100,200,300 ramp (clamped to u8).
        let img: Vec<u8> = vec![0, 80, 160, 240];
        let out = resize_linear_exact(&img, 4, 1, 1, 3, 1);
        assert_eq!(out, vec![13, 120, 227]);
    }
}
