//! HOG features as OpenCV computes them (`objdetect/src/hog.cpp`:
//! `computeGradient`, `HOGCache::init/getBlock/normalizeBlockHistogram`), for
//! the default descriptor: 8x8 cells, 16x16 blocks with an 8 px stride, 9
//! unsigned orientation bins, square-root gamma, Gaussian block weights
//! (sigma 4), bilinear votes into the cells, L2-Hys normalisation (clip 0.2).
//! Summation orders follow OpenCV's so the numbers agree to float rounding.

pub const CELL: usize = 8;
pub const BLOCK: usize = 16;
pub const NBINS: usize = 9;
/// Floats in one block histogram (2x2 cells x 9 bins).
pub const BLOCK_HIST: usize = 36;
const L2HYS: f32 = 0.2;

/// Per-pixel gradient: the magnitude split between the two nearest bins.
pub struct Gradient {
    pub w: usize,
    pub h: usize,
    /// `mag * (1 - a)`, `mag * a` per pixel.
    pub mag: Vec<[f32; 2]>,
    /// The two bins per pixel.
    pub bin: Vec<[u8; 2]>,
}

/// `BORDER_REFLECT_101` index for `i` in `-1..=n`.
fn reflect(i: isize, n: usize) -> usize {
    if i < 0 {
        if n > 1 { 1 } else { 0 }
    } else if i as usize >= n {
        n.saturating_sub(2)
    } else {
        i as usize
    }
}

/// OpenCV's `fastAtan32f` (degrees, polynomial with fused multiply-adds).
fn fast_atan_deg(y: f32, x: f32) -> f32 {
    // C's `0.99978784f * (float)(180 / CV_PI)`: each factor rounded to f32.
    const K: f64 = 180.0 / std::f64::consts::PI;
    let p1 = (0.999_787_841_279_480_7_f64 as f32) * K as f32;
    let p3 = (-0.325_808_397_464_097_5_f64 as f32) * K as f32;
    let p5 = (0.155_578_651_846_328_1_f64 as f32) * K as f32;
    let p7 = (-0.044_326_555_547_921_28_f64 as f32) * K as f32;
    let (ax, ay) = (x.abs(), y.abs());
    let c = ax.min(ay) / (ax.max(ay) + f64::EPSILON as f32);
    let cc = c * c;
    let mut a = cc.mul_add(p7, p5).mul_add(cc, p3).mul_add(cc, p1) * c;
    if ax < ay {
        a = 90.0 - a;
    }
    if x < 0.0 {
        a = 180.0 - a;
    }
    if y < 0.0 {
        a = 360.0 - a;
    }
    a
}

/// Gradients of an interleaved RGB image: per pixel the channel with the
/// largest magnitude, ties broken as OpenCV breaks them.
pub fn gradient(rgb: &[u8], w: usize, h: usize) -> Gradient {
    let lut: Vec<f32> = (0..256).map(|i| (i as f32).sqrt()).collect();
    let xmap: Vec<usize> = (-1..=w as isize).map(|x| reflect(x, w)).collect();
    let angle_scale = (NBINS as f64 / std::f64::consts::PI) as f32;
    let deg_to_rad = (std::f64::consts::PI / 180.0) as f32;
    let mut mag = Vec::with_capacity(w * h);
    let mut bin = Vec::with_capacity(w * h);
    // OpenCV takes four pixels at a time and the rest one by one; the two
    // paths break ties between channels differently.
    let simd_end = w / 4 * 4;
    for y in 0..h {
        let row = |r: usize| &rgb[r * w * 3..(r + 1) * w * 3];
        let (cur, prev, next) = (row(y), row(reflect(y as isize - 1, h)), row(reflect(y as isize + 1, h)));
        for x in 0..w {
            let (xl, xc, xr) = (xmap[x], xmap[x + 1], xmap[x + 2]);
            let d = |c: usize| {
                let gx = lut[usize::from(cur[xr * 3 + c])] - lut[usize::from(cur[xl * 3 + c])];
                let gy = lut[usize::from(next[xc * 3 + c])] - lut[usize::from(prev[xc * 3 + c])];
                (gx, gy, gx * gx + gy * gy)
            };
            let (r, g, b) = (d(0), d(1), d(2));
            let (dx, dy) = if x < simd_end {
                // OpenCV's vector loop: red over green only if larger, then
                // blue unless the larger of those is larger still.
                let rg = if r.2 > g.2 { r } else { g };
                if r.2.max(g.2) > b.2 { (rg.0, rg.1) } else { (b.0, b.1) }
            } else {
                // Its scalar tail: red, then green, then blue if larger.
                let mut best = r;
                for c in [g, b] {
                    if best.2 < c.2 {
                        best = c;
                    }
                }
                (best.0, best.1)
            };
            let m = dx.mul_add(dx, dy * dy).sqrt();
            let angle = fast_atan_deg(dy, dx) * deg_to_rad * angle_scale - 0.5;
            let hidx = angle.floor();
            let frac = angle - hidx;
            let mut b0 = hidx as i32;
            if b0 < 0 {
                b0 += NBINS as i32;
            } else if b0 >= NBINS as i32 {
                b0 -= NBINS as i32;
            }
            let b1 = if b0 + 1 < NBINS as i32 { b0 + 1 } else { 0 };
            mag.push([m * (1.0 - frac), m * frac]);
            bin.push([b0 as u8, b1 as u8]);
        }
    }
    Gradient { w, h, mag, bin }
}

/// One pixel of a block: its offset and the cells it votes into, each with
/// the Gaussian weight times the bilinear weight (OpenCV multiplies the same
/// two floats per vote).
#[derive(Clone)]
struct Pix {
    dx: usize,
    dy: usize,
    n: usize,
    ofs: [usize; 4],
    w: [f32; 4],
}

/// The per-block pixel table (OpenCV's `pixData`, in its order: pixels that
/// vote into one cell, then two, then four; each group column by column).
pub struct BlockTable {
    pix: Vec<Pix>,
}

impl Default for BlockTable {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockTable {
    pub fn new() -> Self {
        let sigma = ((BLOCK + BLOCK) as f64 / 8.0) as f32;
        let scale = 1.0 / (sigma * sigma * 2.0);
        let half = BLOCK as f32 * 0.5;
        let ncell = BLOCK / CELL;
        let mut groups: [Vec<Pix>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for j in 0..BLOCK {
            for i in 0..BLOCK {
                let (di, dj) = (i as f32 - half, j as f32 - half);
                let gauss = (-(di * di + dj * dj) * scale).exp();
                let axis = |p: usize| -> Vec<(usize, f32)> {
                    let c = (p as f32 + 0.5) / CELL as f32 - 0.5;
                    let c0 = c.floor();
                    let f = c - c0;
                    let c0 = c0 as isize;
                    let mut v = Vec::new();
                    if (0..ncell as isize).contains(&c0) {
                        v.push((c0 as usize, 1.0 - f));
                    }
                    if (0..ncell as isize).contains(&(c0 + 1)) {
                        v.push(((c0 + 1) as usize, f));
                    }
                    v
                };
                let (xs, ys) = (axis(j), axis(i));
                let mut cells = Vec::new();
                // OpenCV's order: (x0,y0), (x1,y0), (x0,y1), (x1,y1).
                for &(cy, wy) in &ys {
                    for &(cx, wx) in &xs {
                        cells.push(((cx * ncell + cy) * NBINS, wx * wy));
                    }
                }
                let mut pix = Pix { dx: j, dy: i, n: cells.len(), ofs: [0; 4], w: [0.0; 4] };
                for (k, (ofs, cw)) in cells.into_iter().enumerate() {
                    pix.ofs[k] = ofs;
                    pix.w[k] = gauss * cw;
                }
                let g = match pix.n {
                    1 => 0,
                    2 => 1,
                    _ => 2,
                };
                groups[g].push(pix);
            }
        }
        let [a, b, c] = groups;
        BlockTable { pix: a.into_iter().chain(b).chain(c).collect() }
    }

    /// The normalised histogram of the block whose top-left pixel is `(x, y)`.
    pub fn block(&self, g: &Gradient, x: usize, y: usize, out: &mut [f32; BLOCK_HIST]) {
        out.fill(0.0);
        for p in &self.pix {
            let k = (y + p.dy) * g.w + x + p.dx;
            let (m, b) = (g.mag[k], g.bin[k]);
            let (b0, b1) = (usize::from(b[0]), usize::from(b[1]));
            for (&ofs, &w) in p.ofs[..p.n].iter().zip(&p.w[..p.n]) {
                out[ofs + b0] += m[0] * w;
                out[ofs + b1] += m[1] * w;
            }
        }
        normalize(out);
    }
}

/// Sum of squares in OpenCV's four-lane order.
fn lane_sum_sq(h: &[f32; BLOCK_HIST]) -> f32 {
    let mut lanes = [0f32; 4];
    for chunk in h.chunks_exact(4) {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l += v * v;
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// L2-Hys: L2 normalise, clip at 0.2, normalise again.
fn normalize(h: &mut [f32; BLOCK_HIST]) {
    let scale = 1.0 / (lane_sum_sq(h).sqrt() + BLOCK_HIST as f32 * 0.1);
    for v in h.iter_mut() {
        *v = (*v * scale).min(L2HYS);
    }
    let scale = 1.0 / (lane_sum_sq(h).sqrt() + 1e-3);
    for v in h.iter_mut() {
        *v *= scale;
    }
}

/// Dot product of a block histogram with its SVM slice, as OpenCV sums it
/// (four float lanes, then pairs in double).
pub fn block_dot(h: &[f32; BLOCK_HIST], svm: &[f32]) -> f64 {
    let mut lanes = [0f32; 4];
    for (hc, sc) in h.chunks_exact(4).zip(svm.chunks_exact(4)) {
        for l in 0..4 {
            lanes[l] += hc[l] * sc[l];
        }
    }
    f64::from(lanes[0] + lanes[1]) + f64::from(lanes[2] + lanes[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atan_matches_the_library_within_its_error() {
        for (y, x) in [(1.0f32, 1.0f32), (0.0, 1.0), (1.0, 0.0), (-2.0, 3.0), (3.0, -0.5), (-1.0, -1.0), (0.2, -7.0)] {
            let want = (f64::from(y).atan2(f64::from(x)).to_degrees() + 360.0) % 360.0;
            let got = f64::from(fast_atan_deg(y, x));
            assert!((got - want).abs() < 0.01, "{y},{x}: {got} vs {want}");
        }
    }

    #[test]
    fn a_vertical_edge_votes_into_the_horizontal_gradient_bins() {
        let (w, h) = (16, 16);
        let mut rgb = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 8..w {
                rgb[(y * w + x) * 3..][..3].fill(200);
            }
        }
        let g = gradient(&rgb, w, h);
        // Angle 0: -0.5 after the shift -> bins 8 and 0, half each.
        let k = 5 * w + 8;
        assert_eq!(g.bin[k], [8, 0]);
        assert!((g.mag[k][0] - g.mag[k][1]).abs() < 1e-4);
        let t = BlockTable::new();
        let mut out = [0f32; BLOCK_HIST];
        t.block(&g, 0, 0, &mut out);
        let norm: f32 = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-2, "{norm}");
        let horizontal: f32 = (0..4).map(|c| out[c * 9] + out[c * 9 + 8]).sum();
        assert!(horizontal > 0.9 * out.iter().sum::<f32>(), "{out:?}");
        assert_eq!(t.pix.len(), BLOCK * BLOCK);
    }
}
