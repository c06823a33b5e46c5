//! Motion detection on small grey frames, the pre-gate of the vision branch
//! (the steps of Frigate's `ImprovedMotionDetector`, without its contrast
//! stretch): grey down-scale, difference against a running-average
//! background, threshold, 3x3 dilation, 8-connected regions and their boxes.
//!
//! [`MotionDetector::detect`] is the fast path (one fused pass for difference,
//! threshold and background update; separable dilation; run-length
//! union-find labelling); [`MotionDetector::detect_ref`] is the scalar
//! reference (per-pixel loops, 3x3 window dilation, flood fill). The
//! background is fixed-point (value x 256) in both, so they agree exactly.

use std::collections::VecDeque;

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
    /// Grey difference 0..255 that counts as changed.
    pub threshold: u8,
    /// Weight of a new frame in the background, (0, 1].
    pub alpha: f32,
    /// Smallest region, in pixels.
    pub min_area: u32,
}

/// Convert interleaved `channels` (1 grey, 3 RGB) `u8` pixels of `sw` x `sh`
/// to grey and shrink to `dw` x `dh` by area averaging (each output pixel is
/// the mean of the input pixels whose index maps onto it).
pub fn downscale_grey(
    src: &[u8],
    sw: usize,
    sh: usize,
    channels: usize,
    dw: usize,
    dh: usize,
) -> Result<Vec<u8>, MotionError> {
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 || dw > sw || dh > sh || !(channels == 1 || channels == 3) {
        return Err(MotionError::BadSize { w: dw, h: dh });
    }
    let expected = sw * sh * channels;
    if src.len() != expected {
        return Err(MotionError::BadFrame { len: src.len(), w: sw, h: sh, c: channels, expected });
    }
    let mut sums = vec![0u32; dw * dh];
    let mut counts = vec![0u32; dw * dh];
    let xmap: Vec<usize> = (0..sw).map(|x| x * dw / sw).collect();
    for y in 0..sh {
        let row = &src[y * sw * channels..(y + 1) * sw * channels];
        let base = (y * dh / sh) * dw;
        for (x, px) in row.chunks_exact(channels).enumerate() {
            let g = match px {
                [r, g, b] => (u32::from(*r) * 77 + u32::from(*g) * 150 + u32::from(*b) * 29) >> 8,
                [g] => u32::from(*g),
                _ => 0,
            };
            let i = base + xmap[x];
            sums[i] += g;
            counts[i] += 1;
        }
    }
    Ok(sums.iter().zip(&counts).map(|(&s, &c)| ((s + c / 2) / c.max(1)) as u8).collect())
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
    /// Running-average background, grey x 256.
    background: Vec<i32>,
    /// true = ignored (motion mask).
    mask: Vec<bool>,
    primed: bool,
}

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
            background: vec![0; w * h],
            mask: mask.unwrap_or_else(|| vec![false; w * h]),
            primed: false,
        })
    }

    pub fn size(&self) -> (usize, usize) {
        (self.w, self.h)
    }

    fn alpha_q8(&self) -> i32 {
        ((self.params.alpha * 256.0).round() as i32).clamp(1, 256)
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
            *b = i32::from(g) << 8;
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
        let thr = i32::from(self.params.threshold) << 8;
        let a = self.alpha_q8();
        let mut bin = vec![0u8; grey.len()];
        for (((b, &g), &m), o) in self.background.iter_mut().zip(grey).zip(&self.mask).zip(bin.iter_mut()) {
            let v = i32::from(g) << 8;
            let d = v - *b;
            *o = u8::from((d.abs() > thr) & !m);
            *b += (d * a) >> 8;
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
        let thr = i32::from(self.params.threshold) << 8;
        let a = self.alpha_q8();
        let mut bin = vec![false; w * h];
        for i in 0..w * h {
            let v = i32::from(grey[i]) * 256;
            let d = v - self.background[i];
            bin[i] = d.abs() > thr && !self.mask[i];
            self.background[i] += (d * a) >> 8;
        }
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
            if n >= self.params.min_area {
                out.push(bx);
            }
        }
        out.sort();
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    const P: MotionParams = MotionParams { threshold: 20, alpha: 0.05, min_area: 4 };

    /// Deterministic pseudo-random frames (xorshift) with moving squares.
    fn frames(w: usize, h: usize, n: usize) -> Vec<Vec<u8>> {
        let mut s = 0x2545_f491u32;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        (0..n)
            .map(|i| {
                let mut f: Vec<u8> = (0..w * h).map(|_| 100 + (rnd() % 8) as u8).collect();
                for k in 0..(rnd() % 4) as usize {
                    let (bx, by) = ((rnd() as usize) % w, (rnd() as usize) % h);
                    let size = 1 + (rnd() as usize) % 9;
                    let v = if (i + k) % 2 == 0 { 250 } else { 10 };
                    for y in by..(by + size).min(h) {
                        for x in bx..(bx + size).min(w) {
                            f[y * w + x] = v;
                        }
                    }
                }
                f
            })
            .collect()
    }

    #[test]
    fn fast_and_reference_agree_on_random_scenes() {
        for (w, h) in [(1, 1), (7, 3), (64, 48), (133, 100)] {
            let mut fast = MotionDetector::new(w, h, P, None).unwrap();
            let mut slow = MotionDetector::new(w, h, P, None).unwrap();
            let mut seen_motion = 0;
            for f in frames(w, h, 40) {
                let a = fast.detect(&f).unwrap();
                let b = slow.detect_ref(&f).unwrap();
                assert_eq!(a, b, "{w}x{h}");
                seen_motion += usize::from(!a.is_empty());
                assert_eq!(fast.background, slow.background);
            }
            if w * h > 100 {
                assert!(seen_motion > 10, "{w}x{h}: {seen_motion}");
            }
        }
    }

    #[test]
    fn a_square_is_one_dilated_box_and_static_scenes_have_none() {
        let (w, h) = (32, 24);
        let mut d = MotionDetector::new(w, h, P, None).unwrap();
        let bg = vec![50u8; w * h];
        assert!(d.detect(&bg).unwrap().is_empty());
        assert!(d.detect(&bg).unwrap().is_empty());
        let mut f = bg.clone();
        for y in 10..14 {
            for x in 5..9 {
                f[y * w + x] = 200;
            }
        }
        let b = d.detect(&f).unwrap();
        assert_eq!(b, vec![MotionBox { y0: 9, x0: 4, y1: 14, x1: 9, area: 36 }]);
        // Two regions far apart stay separate; diagonal neighbours join.
        let mut g = bg.clone();
        g[0] = 255;
        g[w * h - 1] = 255;
        let b = d.detect_ref(&g).unwrap();
        assert_eq!(b.len(), 2, "{b:?}");
    }

    #[test]
    fn masked_pixels_never_move_and_threshold_sets_sensitivity() {
        let (w, h) = (20, 20);
        let left_half = vec![(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)];
        let mask = rasterize_polygons(&[left_half], w, h);
        assert_eq!(mask.iter().filter(|m| **m).count(), 200);
        assert!(mask[0] && !mask[10]);
        let mut d = MotionDetector::new(w, h, P, Some(mask)).unwrap();
        let bg = vec![80u8; w * h];
        d.detect(&bg).unwrap();
        let mut f = bg.clone();
        for y in 5..10 {
            for x in 2..6 {
                f[y * w + x] = 250;
            }
        }
        assert!(d.detect(&f).unwrap().is_empty());
        // Below threshold (20): a change of 15 is not motion.
        let mut quiet = MotionDetector::new(w, h, P, None).unwrap();
        quiet.detect(&bg).unwrap();
        assert!(quiet.detect(&vec![95u8; w * h]).unwrap().is_empty());
        assert_eq!(quiet.detect(&vec![130u8; w * h]).unwrap().len(), 1);
    }

    #[test]
    fn the_background_follows_a_lasting_change() {
        let mut d = MotionDetector::new(4, 4, MotionParams { alpha: 0.5, ..P }, None).unwrap();
        d.detect(&[0; 16]).unwrap();
        let mut moving = 0;
        for _ in 0..20 {
            moving += usize::from(!d.detect(&[200; 16]).unwrap().is_empty());
        }
        assert!((1..6).contains(&moving), "{moving}");
    }

    #[test]
    fn downscale_averages_and_converts_rgb() {
        let src = [10u8, 20, 30, 40, 50, 60, 70, 80];
        assert_eq!(downscale_grey(&src, 4, 2, 1, 2, 1).unwrap(), vec![35, 55]);
        let rgb = [255u8, 255, 255, 0, 0, 0];
        assert_eq!(downscale_grey(&rgb, 2, 1, 3, 1, 1).unwrap(), vec![128]);
        assert_eq!(downscale_grey(&rgb, 2, 1, 3, 2, 1).unwrap(), vec![255, 0]);
        assert!(matches!(downscale_grey(&src, 4, 3, 1, 2, 1), Err(MotionError::BadFrame { .. })));
        assert!(matches!(downscale_grey(&src, 4, 2, 1, 8, 1), Err(MotionError::BadSize { .. })));
    }

    #[test]
    fn wrong_frame_size_is_an_error() {
        let mut d = MotionDetector::new(4, 4, P, None).unwrap();
        assert!(matches!(d.detect(&[0; 15]), Err(MotionError::BadFrame { .. })));
        assert!(MotionDetector::new(4, 4, P, Some(vec![false; 3])).is_err());
    }
}
