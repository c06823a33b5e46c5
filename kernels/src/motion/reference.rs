//! Scalar references of the motion kernels: one pixel at a time, the way the
//! steps are written down. The fast paths in `motion.rs` must give the same bits.

use std::collections::VecDeque;

use super::{MotionBox, MotionError, area_mean, check_scale, grey_px};

/// [`super::downscale_grey`], one source pixel at a time into its output pixel.
pub fn downscale_grey_ref(
    src: &[u8],
    sw: usize,
    sh: usize,
    channels: usize,
    dw: usize,
    dh: usize,
) -> Result<Vec<u8>, MotionError> {
    check_scale(src, sw, sh, channels, dw, dh)?;
    let mut sums = vec![0u32; dw * dh];
    let mut counts = vec![0u32; dw * dh];
    for y in 0..sh {
        for x in 0..sw {
            let px = &src[(y * sw + x) * channels..][..channels];
            let g = if channels == 3 { grey_px(px[0], px[1], px[2]) } else { u32::from(px[0]) };
            let i = (y * dh / sh) * dw + x * dw / sw;
            sums[i] += g;
            counts[i] += 1;
        }
    }
    Ok(sums.iter().zip(&counts).map(|(&s, &c)| area_mean(s, c)).collect())
}

/// 3x3 dilation: a pixel is set when any pixel of its 3x3 window is.
pub(super) fn dilate3x3(bin: &[bool], w: usize, h: usize) -> Vec<bool> {
    let mut dil = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut any = false;
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    any |= bin[ny * w + nx];
                }
            }
            dil[y * w + x] = any;
        }
    }
    dil
}

/// 8-connected regions by flood fill; boxes with at least `min_area` pixels, sorted.
pub(super) fn flood_regions(dil: &[bool], w: usize, h: usize, min_area: u32) -> Vec<MotionBox> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    for start in 0..w * h {
        if !dil[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut q = VecDeque::from([start]);
        let (mut bx, mut n) = (MotionBox { y0: u32::MAX, x0: u32::MAX, y1: 0, x1: 0, area: 0 }, 0u32);
        while let Some(i) = q.pop_front() {
            let (x, y) = (i % w, i / w);
            n += 1;
            bx.x0 = bx.x0.min(x as u32);
            bx.y0 = bx.y0.min(y as u32);
            bx.x1 = bx.x1.max(x as u32);
            bx.y1 = bx.y1.max(y as u32);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if dil[j] && !seen[j] {
                        seen[j] = true;
                        q.push_back(j);
                    }
                }
            }
        }
        bx.area = n;
        if n >= min_area {
            out.push(bx);
        }
    }
    out.sort();
    out
}
