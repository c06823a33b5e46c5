//! Motion detection on small grey frames, the pre-gate of the vision branch
//! (the steps of Frigate's `ImprovedMotionDetector`, without its contrast
//! stretch and blur): grey, area down-scale, difference against a
//! running-average background, threshold, 3x3 dilation, 8-connected regions
//! and their boxes.
//!
//! Every step computes what OpenCV computes for the same step, to the
//! rounding (`tests/motion_parity.rs` checks the boxes against cv2):
//! - grey: `cv2.cvtColor(RGB2GRAY)`, 15-bit fixed point, rounded;
//! - down-scale: `cv2.resize(INTER_AREA)` for whole-number ratios (each
//!   output pixel is the mean of a `k x l` block, rounded as OpenCV rounds).
//!   For other ratios every source pixel goes whole to the output pixel its
//!   index maps to (`x * dw / sw`), where INTER_AREA splits the pixels on a
//!   block border by their overlap: means differ there by a few grey levels;
//! - background: `cv2.accumulateWeighted` in f32, and the difference is
//!   taken against it rounded to `u8` (`cv2.convertScaleAbs`, half to even),
//!   as Frigate does; `cv2.absdiff`, `cv2.threshold(THRESH_BINARY)` (`> t`);
//! - `cv2.dilate` with the default 3x3 kernel;
//! - regions as `cv2.connectedComponentsWithStats(connectivity = 8)`: box
//!   and pixel count (`min_area` counts pixels of the dilated region; Frigate
//!   compares the contour's polygon area, which for a `w x h` block is
//!   `(w-1) x (h-1)`).
//!
//! [`MotionDetector::detect`] and [`downscale_grey`] are the fast paths (row
//! sums for the down-scale; one fused pass for difference, threshold and
//! background update; separable dilation; run-length union-find labelling);
//! [`MotionDetector::detect_ref`] and [`downscale_grey_ref`] are the scalar
//! references (per pixel, 3x3 window dilation, flood fill). Both give the same
//! bits.

mod reference;
#[cfg(test)]
mod tests;

pub use reference::downscale_grey_ref;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MotionError {
    #[error("frame has {len} bytes, expected {w}x{h}x{c} = {expected}")]
    BadFrame { len: usize, w: usize, h: usize, c: usize, expected: usize },
    #[error("size {w}x{h} is not allowed")]
    BadSize { w: usize, h: usize },
}

/// A motion region: inclusive pixel bounds and its pixel count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MotionBox {
    pub y0: u32,
    pub x0: u32,
    pub y1: u32,
    pub x1: u32,
    /// Changed pixels (after dilation) in the region.
    pub area: u32,
}

/// Settings (Frigate's names where they exist).
#[derive(Debug, Clone, Copy)]
pub struct MotionParams {
    /// Grey difference 0..255 that counts as changed (more than this).
    pub threshold: u8,
    /// Weight of a new frame in the background, (0, 1].
    pub alpha: f32,
    /// Smallest region, in pixels.
    pub min_area: u32,
}

/// OpenCV's RGB to grey weights as its vector code uses them
/// (`0.299, 0.587, 0.114` x 2^15, rounded).
const R2Y: u32 = 9798;
const G2Y: u32 = 19235;
const B2Y: u32 = 3735;

/// Grey of one RGB pixel as `cv2.cvtColor(..., COLOR_RGB2GRAY)`.
#[inline(always)]
pub(crate) fn grey_px(r: u8, g: u8, b: u8) -> u32 {
    (u32::from(r) * R2Y + u32::from(g) * G2Y + u32::from(b) * B2Y + (1 << 14)) >> 15
}

/// Mean of `count` pixels summing to `sum`, rounded as OpenCV's INTER_AREA
/// does for whole-number ratios: `(s + 2) >> 2` for 2x2 blocks, else
/// `cvRound(s * (1.0f / count))` (f32, half to even).
#[inline]
pub(crate) fn area_mean(sum: u32, count: u32) -> u8 {
    match count {
        0 => 0,
        4 => ((sum + 2) >> 2) as u8,
        c => (sum as f32 * (1.0 / c as f32)).round_ties_even().clamp(0.0, 255.0) as u8,
    }
}

/// First source index of each of `d` output pixels over `s` source pixels,
/// and `s` at the end (source index `i` goes to output `i * d / s`).
pub(crate) fn bin_starts(s: usize, d: usize) -> Vec<usize> {
    (0..=d).map(|i| (i * s).div_ceil(d)).collect()
}

pub(crate) fn check_scale(
    src: &[u8],
    sw: usize,
    sh: usize,
    channels: usize,
    dw: usize,
    dh: usize,
) -> Result<(), MotionError> {
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 || dw > sw || dh > sh || !(channels == 1 || channels == 3) {
        return Err(MotionError::BadSize { w: dw, h: dh });
    }
    let expected = sw * sh * channels;
    if src.len() != expected {
        return Err(MotionError::BadFrame { len: src.len(), w: sw, h: sh, c: channels, expected });
    }
    Ok(())
}

/// Convert interleaved `channels` (1 grey, 3 RGB) `u8` pixels of `sw` x `sh`
/// to grey and shrink to `dw` x `dh` by area averaging (see the module docs).
/// Fast path: each source row is converted to grey and added into
/// per-column sums (AVX2 `pmaddwd`, 8 pixels a step), and each block is
/// summed once per output row.
pub fn downscale_grey(
    src: &[u8],
    sw: usize,
    sh: usize,
    channels: usize,
    dw: usize,
    dh: usize,
) -> Result<Vec<u8>, MotionError> {
    check_scale(src, sw, sh, channels, dw, dh)?;
    let xs = bin_starts(sw, dw);
    let ys = bin_starts(sh, dh);
    let mut out = vec![0u8; dw * dh];
    let mut cols = vec![0u32; sw];
    for (oy, orow) in out.chunks_exact_mut(dw).enumerate() {
        cols.fill(0);
        for y in ys[oy]..ys[oy + 1] {
            let row = &src[y * sw * channels..][..sw * channels];
            if channels == 3 {
                add_grey_rgb(&mut cols, row);
            } else {
                for (c, &g) in cols.iter_mut().zip(row) {
                    *c += u32::from(g);
                }
            }
        }
        let rows = (ys[oy + 1] - ys[oy]) as u32;
        for (ox, o) in orow.iter_mut().enumerate() {
            let (x0, x1) = (xs[ox], xs[ox + 1]);
            let s: u32 = cols[x0..x1].iter().sum();
            *o = area_mean(s, (x1 - x0) as u32 * rows);
        }
    }
    Ok(out)
}

/// `cols[x] += grey(row[3x..3x+3])`: AVX2 when the CPU has it (x86-64), else
/// one pixel at a time.
fn add_grey_rgb(cols: &mut [u32], row: &[u8]) {
    let n = cols.len().min(row.len() / 3);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        done = unsafe { avx2::add_grey_rgb(&mut cols[..n], &row[..3 * n]) };
    }
    for (c, px) in cols[done..n].iter_mut().zip(row[3 * done..].chunks_exact(3)) {
        *c += grey_px(px[0], px[1], px[2]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{B2Y, G2Y, R2Y};

    /// Adds the grey of 8 pixels at a time into `cols` while 32 bytes can be
    /// read; returns how many pixels it did (`cols.len() == row.len() / 3`).
    #[target_feature(enable = "avx2")]
    pub(super) fn add_grey_rgb(cols: &mut [u32], row: &[u8]) -> usize {
        // Per 128-bit lane: 4 pixels (12 bytes) -> (r, g) as i16 pairs and (b, 0).
        const Z: i8 = -128;
        let rg_idx = _mm_setr_epi8(0, Z, 1, Z, 3, Z, 4, Z, 6, Z, 7, Z, 9, Z, 10, Z);
        let b_idx = _mm_setr_epi8(2, Z, Z, Z, 5, Z, Z, Z, 8, Z, Z, Z, 11, Z, Z, Z);
        let rg_idx = _mm256_broadcastsi128_si256(rg_idx);
        let b_idx = _mm256_broadcastsi128_si256(b_idx);
        let rg_w = _mm256_set1_epi32(((G2Y as i32) << 16) | R2Y as i32);
        let b_w = _mm256_set1_epi32(B2Y as i32);
        let half = _mm256_set1_epi32(1 << 14);
        let mut x = 0;
        // Each step reads 16 bytes at 3x and at 3x + 12: needs 3x + 28 <= len.
        while 3 * x + 28 <= row.len() && x + 8 <= cols.len() {
            let p = row[3 * x..].as_ptr();
            // SAFETY: 3x + 28 <= row.len(), so both 16-byte reads are inside
            // `row`; `cols[x..x + 8]` is inside `cols`. Unaligned loads/stores.
            unsafe {
                let lo = _mm_loadu_si128(p.cast());
                let hi = _mm_loadu_si128(p.add(12).cast());
                let v = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi);
                let rg = _mm256_madd_epi16(_mm256_shuffle_epi8(v, rg_idx), rg_w);
                let b = _mm256_madd_epi16(_mm256_shuffle_epi8(v, b_idx), b_w);
                let y = _mm256_srli_epi32::<15>(_mm256_add_epi32(_mm256_add_epi32(rg, b), half));
                let c = cols[x..].as_mut_ptr().cast::<__m256i>();
                _mm256_storeu_si256(c, _mm256_add_epi32(_mm256_loadu_si256(c), y));
            }
            x += 8;
        }
        x
    }
}

/// Pixels of a `w` x `h` frame whose centre lies inside any of `polygons`
/// (relative 0..1 coordinates, even-odd rule).
pub fn rasterize_polygons(polygons: &[Vec<(f32, f32)>], w: usize, h: usize) -> Vec<bool> {
    let mut out = vec![false; w * h];
    for y in 0..h {
        let py = (y as f32 + 0.5) / h as f32;
        for x in 0..w {
            let px = (x as f32 + 0.5) / w as f32;
            out[y * w + x] = polygons.iter().any(|p| point_in_polygon(p, px, py));
        }
    }
    out
}

/// Even-odd point-in-polygon test.
pub fn point_in_polygon(poly: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut inside = false;
    let n = poly.len();
    for i in 0..n {
        let (xi, yi) = poly[i];
        let (xj, yj) = poly[(i + n - 1) % n];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
    }
    inside
}

/// The running state of one camera's motion detection.
#[derive(Debug, Clone)]
pub struct MotionDetector {
    w: usize,
    h: usize,
    params: MotionParams,
    /// Running-average background (`cv2.accumulateWeighted`'s f32 image).
    background: Vec<f32>,
    /// true = ignored (motion mask).
    mask: Vec<bool>,
    primed: bool,
}

/// 2^23: adding and subtracting it rounds a float in [0, 2^23) to the nearest
/// integer, half to even (the default rounding mode), in vector code.
const ROUND_MAGIC: f32 = 8_388_608.0;

impl MotionDetector {
    /// `mask`: `w * h` flags, true where motion is ignored (see [`rasterize_polygons`]).
    pub fn new(w: usize, h: usize, params: MotionParams, mask: Option<Vec<bool>>) -> Result<Self, MotionError> {
        if w == 0 || h == 0 || w > 4096 || h > 4096 || mask.as_ref().is_some_and(|m| m.len() != w * h) {
            return Err(MotionError::BadSize { w, h });
        }
        Ok(MotionDetector {
            w,
            h,
            params,
            background: vec![0.0; w * h],
            mask: mask.unwrap_or_else(|| vec![false; w * h]),
            primed: false,
        })
    }

    pub fn size(&self) -> (usize, usize) {
        (self.w, self.h)
    }

    /// `(alpha, 1 - alpha)` as OpenCV's `accumulateWeighted` makes them.
    fn weights(&self) -> (f32, f32) {
        let a = self.params.alpha.clamp(f32::MIN_POSITIVE, 1.0);
        (a, (1.0 - f64::from(a)) as f32)
    }

    fn check(&self, grey: &[u8]) -> Result<(), MotionError> {
        let expected = self.w * self.h;
        if grey.len() != expected {
            return Err(MotionError::BadFrame { len: grey.len(), w: self.w, h: self.h, c: 1, expected });
        }
        Ok(())
    }

    /// First frame: it becomes the background, no motion.
    fn prime(&mut self, grey: &[u8]) -> bool {
        if self.primed {
            return false;
        }
        for (b, &g) in self.background.iter_mut().zip(grey) {
            *b = f32::from(g);
        }
        self.primed = true;
        true
    }

    /// Motion regions of `grey` (`w * h` bytes), fast path.
    pub fn detect(&mut self, grey: &[u8]) -> Result<Vec<MotionBox>, MotionError> {
        self.check(grey)?;
        if self.prime(grey) {
            return Ok(Vec::new());
        }
        let thr = f32::from(self.params.threshold);
        let (a, b) = self.weights();
        let mut bin = vec![0u8; grey.len()];
        for (((bg, &g), &m), o) in self.background.iter_mut().zip(grey).zip(&self.mask).zip(bin.iter_mut()) {
            let g = f32::from(g);
            let rounded = (*bg + ROUND_MAGIC) - ROUND_MAGIC;
            *o = u8::from(((g - rounded).abs() > thr) & !m);
            *bg = *bg * b + g * a;
        }
        let dil = dilate_separable(&bin, self.w, self.h);
        Ok(label_runs(&dil, self.w, self.h, self.params.min_area))
    }

    /// Motion regions of `grey`, scalar reference.
    pub fn detect_ref(&mut self, grey: &[u8]) -> Result<Vec<MotionBox>, MotionError> {
        self.check(grey)?;
        if self.prime(grey) {
            return Ok(Vec::new());
        }
        let (w, h) = (self.w, self.h);
        let thr = i32::from(self.params.threshold);
        let (a, b) = self.weights();
        let mut bin = vec![false; w * h];
        for i in 0..w * h {
            let bg_u8 = self.background[i].round_ties_even() as i32;
            bin[i] = (i32::from(grey[i]) - bg_u8).abs() > thr && !self.mask[i];
            self.background[i] = self.background[i] * b + f32::from(grey[i]) * a;
        }
        let dil = reference::dilate3x3(&bin, w, h);
        Ok(reference::flood_regions(&dil, w, h, self.params.min_area))
    }
}

/// 3x3 max filter as a horizontal then a vertical 3-tap max.
fn dilate_separable(bin: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut hor = vec![0u8; w * h];
    for (src, dst) in bin.chunks_exact(w).zip(hor.chunks_exact_mut(w)) {
        for x in 0..w {
            let l = src[x.saturating_sub(1)];
            let r = src[(x + 1).min(w - 1)];
            dst[x] = src[x] | l | r;
        }
    }
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let up = &hor[y.saturating_sub(1) * w..][..w];
        let mid = &hor[y * w..][..w];
        let down = &hor[(y + 1).min(h - 1) * w..][..w];
        for (((o, &a), &b), &c) in out[y * w..][..w].iter_mut().zip(up).zip(mid).zip(down) {
            *o = a | b | c;
        }
    }
    out
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize];
        i = p;
    }
    i
}

/// 8-connected regions of `bin` via runs per row and union-find; boxes sorted.
fn label_runs(bin: &[u8], w: usize, h: usize, min_area: u32) -> Vec<MotionBox> {
    // (row, x0, x1 exclusive, label)
    let mut runs: Vec<(u32, u32, u32, u32)> = Vec::new();
    let mut parent: Vec<u32> = Vec::new();
    let mut prev_start = 0usize;
    for y in 0..h {
        let row = &bin[y * w..][..w];
        let row_start = runs.len();
        let mut x = 0;
        while x < w {
            if row[x] == 0 {
                x += 1;
                continue;
            }
            let s = x;
            while x < w && row[x] != 0 {
                x += 1;
            }
            let label = parent.len() as u32;
            parent.push(label);
            // 8-connectivity: previous-row runs overlapping [s-1, x+1).
            for &(_, px0, px1, pl) in &runs[prev_start..row_start] {
                if (px1 as usize) + 1 > s && (px0 as usize) < x + 1 {
                    let (a, b) = (find(&mut parent, pl), find(&mut parent, label));
                    if a != b {
                        parent[a.max(b) as usize] = a.min(b);
                    }
                }
            }
            runs.push((y as u32, s as u32, x as u32, label));
        }
        prev_start = row_start;
    }
    let mut boxes: Vec<Option<MotionBox>> = vec![None; parent.len()];
    for &(y, x0, x1, l) in &runs {
        let root = find(&mut parent, l) as usize;
        let b = boxes[root].get_or_insert(MotionBox { y0: y, x0, y1: y, x1: x1 - 1, area: 0 });
        b.x0 = b.x0.min(x0);
        b.x1 = b.x1.max(x1 - 1);
        b.y0 = b.y0.min(y);
        b.y1 = b.y1.max(y);
        b.area += x1 - x0;
    }
    let mut out: Vec<MotionBox> = boxes.into_iter().flatten().filter(|b| b.area >= min_area).collect();
    out.sort();
    out
}
