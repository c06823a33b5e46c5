//! Person detection with Dalal and Triggs' HOG features and a linear SVM:
//! OpenCV's default people detector (`HOGDescriptor::getDefaultPeopleDetector`,
//! a 64x128 window trained on INRIA persons). Its 3,781 coefficients come
//! from the `opencv-python-headless` wheel; `scripts/setup` writes them to
//! `<venv>/share/hubd/hog/people.safetensors` (tensor `svm`), so nothing is
//! downloaded and no OpenCV is linked.
//!
//! `detect` is `detectMultiScale(img, hitThreshold=0, winStride=(8,8),
//! padding=(0,0), scale=1.05, groupThreshold=2)`: a pyramid down to the
//! window size (bit-exact bilinear resize), the SVM at every 8 px window,
//! then OpenCV's grouping. The parity test compares boxes and weights with
//! cv2 on the same images. It runs on CPU without an accelerator, which is
//! why it is here: a Frigate-style box with no Coral still gets persons.

mod features;
mod group;
mod resize;

use std::path::Path;

pub use features::{BLOCK_HIST, BlockTable, Gradient, gradient};
pub use group::{Rect, group_rectangles};
pub use resize::resize_linear_exact;
use thiserror::Error;

use crate::detector::Detected;

/// The default coefficients, under the venv's `share/hubd/`.
pub const DEFAULT_SVM: &str = crate::weights::HOG_SVM;
pub const WIN_W: usize = 64;
pub const WIN_H: usize = 128;
const STRIDE: usize = 8;
const BLOCKS_X: usize = (WIN_W - features::BLOCK) / STRIDE + 1;
const BLOCKS_Y: usize = (WIN_H - features::BLOCK) / STRIDE + 1;
/// Descriptor length of one window (7 x 15 blocks x 36).
pub const DESCRIPTOR: usize = BLOCKS_X * BLOCKS_Y * BLOCK_HIST;
const SCALE_STEP: f64 = 1.05;
const MAX_LEVELS: usize = 64;
const GROUP_THRESHOLD: usize = 2;
const GROUP_EPS: f64 = 0.2;

#[derive(Debug, Error)]
pub enum HogError {
    #[error("cannot read HOG coefficients {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HOG coefficients {path}: {message}")]
    Format { path: String, message: String },
    #[error("frame buffer has {len} bytes, expected {w}x{h}x3")]
    Frame { len: usize, w: usize, h: usize },
}

/// One raw window hit: its box in frame pixels and the SVM margin.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub rect: Rect,
    pub weight: f64,
}

pub struct HogPeople {
    /// Window weights in OpenCV's order (block columns, then rows, then cells).
    svm: Vec<f32>,
    rho: f64,
    table: BlockTable,
}

impl HogPeople {
    /// Coefficients as OpenCV lists them: 3,780 weights then the bias.
    pub fn from_coefficients(c: &[f32]) -> Result<Self, String> {
        if c.len() != DESCRIPTOR + 1 {
            return Err(format!("expected {} coefficients, found {}", DESCRIPTOR + 1, c.len()));
        }
        if !c.iter().all(|v| v.is_finite()) {
            return Err("coefficients are not all finite".into());
        }
        Ok(HogPeople { svm: c[..DESCRIPTOR].to_vec(), rho: f64::from(c[DESCRIPTOR]), table: BlockTable::new() })
    }

    /// Load `svm` (f32, 3,781 values) from a safetensors file.
    pub fn load(path: &Path) -> Result<Self, HogError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| HogError::Read { path: p.clone(), source })?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| HogError::Format { path: p.clone(), message: e.to_string() })?;
        let t = st.tensor("svm").map_err(|e| HogError::Format { path: p.clone(), message: e.to_string() })?;
        if t.dtype() != safetensors::Dtype::F32 {
            return Err(HogError::Format { path: p, message: format!("`svm` is {:?}, expected F32", t.dtype()) });
        }
        let c: Vec<f32> = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Self::from_coefficients(&c).map_err(|message| HogError::Format { path: p, message })
    }

    /// The default coefficients `scripts/setup` derived into the venv.
    pub fn load_default() -> Result<Self, HogError> {
        let rel = DEFAULT_SVM;
        match crate::weights::venv_data_path(rel) {
            Some(p) => Self::load(&p),
            None => Err(HogError::Format {
                path: format!("<venv>/share/hubd/{rel}"),
                message: "not found (run scripts/setup, which derives it from opencv-python-headless)".into(),
            }),
        }
    }

    /// The descriptor of one 64x128 RGB window (OpenCV's `compute`).
    pub fn descriptor(&self, rgb: &[u8]) -> Result<Vec<f32>, HogError> {
        check(rgb, WIN_W, WIN_H)?;
        let g = gradient(rgb, WIN_W, WIN_H);
        let mut out = Vec::with_capacity(DESCRIPTOR);
        let mut b = [0f32; BLOCK_HIST];
        for bx in 0..BLOCKS_X {
            for by in 0..BLOCKS_Y {
                self.table.block(&g, bx * STRIDE, by * STRIDE, &mut b);
                out.extend_from_slice(&b);
            }
        }
        Ok(out)
    }

    /// Window hits of one pyramid level (`w` x `h` image), in level pixels.
    fn level_hits(&self, rgb: &[u8], w: usize, h: usize, out: &mut Vec<(usize, usize, f64)>) {
        if w < WIN_W || h < WIN_H {
            return;
        }
        let g = gradient(rgb, w, h);
        let (nbx, nby) = ((w - features::BLOCK) / STRIDE + 1, (h - features::BLOCK) / STRIDE + 1);
        let mut blocks = vec![[0f32; BLOCK_HIST]; nbx * nby];
        for by in 0..nby {
            for bx in 0..nbx {
                self.table.block(&g, bx * STRIDE, by * STRIDE, &mut blocks[by * nbx + bx]);
            }
        }
        for wy in 0..=(h - WIN_H) / STRIDE {
            for wx in 0..=(w - WIN_W) / STRIDE {
                let mut s = self.rho;
                for bx in 0..BLOCKS_X {
                    for by in 0..BLOCKS_Y {
                        let j = bx * BLOCKS_Y + by;
                        let svm = &self.svm[j * BLOCK_HIST..(j + 1) * BLOCK_HIST];
                        s += features::block_dot(&blocks[(wy + by) * nbx + wx + bx], svm);
                    }
                }
                if s >= 0.0 {
                    out.push((wx * STRIDE, wy * STRIDE, s));
                }
            }
        }
    }

    /// Every window with a non-negative margin over the pyramid, before grouping.
    pub fn hits(&self, rgb: &[u8], w: usize, h: usize) -> Result<Vec<Hit>, HogError> {
        check(rgb, w, h)?;
        let mut hits = Vec::new();
        let mut level = Vec::new();
        for scale in pyramid(w, h) {
            let (sw, sh) = (round(w as f64 / scale) as usize, round(h as f64 / scale) as usize);
            let small;
            let img = if (sw, sh) == (w, h) {
                rgb
            } else {
                small = resize_linear_exact(rgb, w, h, 3, sw, sh);
                &small
            };
            level.clear();
            self.level_hits(img, sw, sh, &mut level);
            let (ww, wh) = (round(WIN_W as f64 * scale), round(WIN_H as f64 * scale));
            hits.extend(level.iter().map(|&(x, y, s)| Hit {
                rect: Rect { x: round(x as f64 * scale), y: round(y as f64 * scale), w: ww, h: wh },
                weight: s,
            }));
        }
        Ok(hits)
    }

    /// Grouped person boxes with their SVM margins, clipped to the image.
    pub fn detect_weighted(&self, rgb: &[u8], w: usize, h: usize) -> Result<Vec<Hit>, HogError> {
        let hits = self.hits(rgb, w, h)?;
        let rects: Vec<Rect> = hits.iter().map(|h| h.rect).collect();
        let weights: Vec<f64> = hits.iter().map(|h| h.weight).collect();
        Ok(group_rectangles(&rects, &weights, GROUP_THRESHOLD, GROUP_EPS)
            .into_iter()
            .filter_map(|(r, weight)| clip(r, w, h).map(|rect| Hit { rect, weight }))
            .collect())
    }

    /// Persons in an RGB frame. Frames wider than `max_width` are scaled down
    /// first (boxes come back in frame pixels). The score is the logistic of
    /// the SVM margin, so a bare hit is 0.5 and a margin of 1 is 0.73.
    pub fn detect(&self, rgb: &[u8], w: usize, h: usize, max_width: usize) -> Result<Vec<Detected>, HogError> {
        check(rgb, w, h)?;
        let (small, sw, sh);
        let (img, iw, ih) = if w > max_width && max_width >= WIN_W {
            sw = max_width;
            sh = ((h * max_width) as f64 / w as f64).round().max(1.0) as usize;
            small = resize_linear_exact(rgb, w, h, 3, sw, sh);
            (small.as_slice(), sw, sh)
        } else {
            (rgb, w, h)
        };
        let k = w as f32 / iw as f32;
        Ok(self
            .detect_weighted(img, iw, ih)?
            .into_iter()
            .map(|hit| {
                let r = hit.rect;
                let bbox = [r.x as f32 * k, r.y as f32 * k, (r.x + r.w) as f32 * k, (r.y + r.h) as f32 * k];
                let bbox = [bbox[0], bbox[1], bbox[2].min(w as f32), bbox[3].min(h as f32)];
                Detected { label: "person".into(), score: (1.0 / (1.0 + (-hit.weight).exp())) as f32, bbox }
            })
            .collect())
    }
}

fn check(rgb: &[u8], w: usize, h: usize) -> Result<(), HogError> {
    if w == 0 || h == 0 || rgb.len() != w * h * 3 {
        return Err(HogError::Frame { len: rgb.len(), w, h });
    }
    Ok(())
}

fn round(v: f64) -> i32 {
    v.round_ties_even() as i32
}

/// Scales of the pyramid: 1, 1.05, ... while the image still holds a window.
fn pyramid(w: usize, h: usize) -> Vec<f64> {
    let mut scales = Vec::new();
    let mut scale = 1.0;
    while scales.len() < MAX_LEVELS {
        if round(w as f64 / scale) < WIN_W as i32 || round(h as f64 / scale) < WIN_H as i32 {
            break;
        }
        scales.push(scale);
        scale *= SCALE_STEP;
    }
    scales
}

/// `r & Rect(0, 0, w, h)`, if not empty.
fn clip(r: Rect, w: usize, h: usize) -> Option<Rect> {
    let (x0, y0) = (r.x.max(0), r.y.max(0));
    let (x1, y1) = ((r.x + r.w).min(w as i32), (r.y + r.h).min(h as i32));
    (x1 > x0 && y1 > y0).then_some(Rect { x: x0, y: y0, w: x1 - x0, h: y1 - y0 })
}

#[cfg(test)]
mod tests;
