//! `Glm4vImageProcessor` (transformers `models/glm4v/image_processing_glm4v.py`):
//! smart resize to a multiple of `patch_size * merge_size`, bicubic
//! antialiased resize, rescale + normalise with the CLIP mean/std, and
//! patchify into `[grid_t * grid_h * grid_w, C * tp * p * p]` rows ordered in
//! `merge x merge` blocks, each frame repeated `temporal_patch_size` times.
use serde::Deserialize;
use tch::Tensor;

use super::{Grid, VisionError};

/// OpenAI CLIP normalisation, `Glm4vImageProcessor`'s default.
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

#[derive(Debug, Clone, Deserialize)]
pub struct SizeLimits {
    /// Minimum pixel count (`t * h * w` of the resized clip).
    pub shortest_edge: i64,
    /// Maximum pixel count.
    pub longest_edge: i64,
}

/// `preprocessor_config.json` of a GLM-4.1V checkpoint (fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct ImageProcessorConfig {
    #[serde(default = "d_size")]
    pub size: SizeLimits,
    #[serde(default = "d_patch")]
    pub patch_size: i64,
    #[serde(default = "d_tp")]
    pub temporal_patch_size: i64,
    #[serde(default = "d_merge")]
    pub merge_size: i64,
    #[serde(default = "d_mean")]
    pub image_mean: Vec<f32>,
    #[serde(default = "d_std")]
    pub image_std: Vec<f32>,
}

fn d_size() -> SizeLimits {
    SizeLimits { shortest_edge: 112 * 112, longest_edge: 28 * 28 * 15000 }
}
fn d_patch() -> i64 {
    14
}
fn d_tp() -> i64 {
    2
}
fn d_merge() -> i64 {
    2
}
fn d_mean() -> Vec<f32> {
    CLIP_MEAN.to_vec()
}
fn d_std() -> Vec<f32> {
    CLIP_STD.to_vec()
}

impl Default for ImageProcessorConfig {
    fn default() -> Self {
        ImageProcessorConfig {
            size: d_size(),
            patch_size: d_patch(),
            temporal_patch_size: d_tp(),
            merge_size: d_merge(),
            image_mean: d_mean(),
            image_std: d_std(),
        }
    }
}

/// An interleaved RGB image, `height x width x 3` bytes.
#[derive(Debug, Clone, Copy)]
pub struct RgbImage<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [u8],
}

/// Python's `round` (half to even) on f64, to an integer.
fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// `smart_resize` of `image_processing_glm4v.py`: the (height, width) the
/// image is resized to.
pub fn smart_resize(
    num_frames: i64,
    height: i64,
    width: i64,
    temporal_factor: i64,
    factor: i64,
    min_pixels: i64,
    max_pixels: i64,
) -> Result<(i64, i64), VisionError> {
    let bad = |m: String| Err(VisionError::Input(m));
    if height <= 0 || width <= 0 || factor <= 0 || temporal_factor <= 0 {
        return bad(format!("image size {height}x{width} must be positive"));
    }
    if num_frames < temporal_factor {
        return bad(format!("t:{num_frames} must be larger than temporal_factor:{temporal_factor}"));
    }
    let (mut height, mut width) = (height, width);
    if height < factor || width < factor {
        let scale = (factor as f64 / height as f64).max(factor as f64 / width as f64);
        height = (height as f64 * scale) as i64;
        width = (width as f64 * scale) as i64;
    }
    let ratio = height.max(width) as f64 / height.min(width).max(1) as f64;
    if ratio > 200.0 {
        return bad(format!("absolute aspect ratio must be smaller than 200, got {ratio}"));
    }
    let f = factor as f64;
    let mut h_bar = py_round(height as f64 / f) * factor;
    let mut w_bar = py_round(width as f64 / f) * factor;
    let t_bar = py_round(num_frames as f64 / temporal_factor as f64) * temporal_factor;
    if t_bar * h_bar * w_bar > max_pixels {
        let beta = ((num_frames * height * width) as f64 / max_pixels as f64).sqrt();
        h_bar = factor.max(((height as f64 / beta / f).floor() as i64) * factor);
        w_bar = factor.max(((width as f64 / beta / f).floor() as i64) * factor);
    } else if t_bar * h_bar * w_bar < min_pixels {
        let beta = (min_pixels as f64 / (num_frames * height * width) as f64).sqrt();
        h_bar = ((height as f64 * beta / f).ceil() as i64) * factor;
        w_bar = ((width as f64 * beta / f).ceil() as i64) * factor;
    }
    Ok((h_bar, w_bar))
}

/// Preprocess images into `(pixel_values [patches, C*tp*p*p] f32, grids)`,
/// bit-for-bit the steps of `Glm4vImageProcessor` (torchvision backend).
pub fn preprocess(images: &[RgbImage<'_>], cfg: &ImageProcessorConfig) -> Result<(Tensor, Vec<Grid>), VisionError> {
    let p = cfg.patch_size;
    let tp = cfg.temporal_patch_size;
    let m = cfg.merge_size;
    if p <= 0 || tp <= 0 || m <= 0 {
        return Err(VisionError::Config(format!("patch {p}, temporal {tp}, merge {m} must be positive")));
    }
    let mut rows: Vec<Tensor> = Vec::with_capacity(images.len());
    let mut grids = Vec::with_capacity(images.len());
    let _guard = tch::no_grad_guard();
    for (i, img) in images.iter().enumerate() {
        let (rh, rw) = smart_resize(
            tp,
            img.height as i64,
            img.width as i64,
            tp,
            p * m,
            cfg.size.shortest_edge,
            cfg.size.longest_edge,
        )
        .map_err(|e| VisionError::Input(format!("image {i}: {e}")))?;
        let resized =
            hub_kernels::image::resize_bicubic_aa_u8(img.data, img.height, img.width, 3, rh as usize, rw as usize)
                .map_err(|e| VisionError::Input(format!("image {i}: {e}")))?;
        let chw = hub_kernels::image::normalize_u8_to_chw(
            &resized,
            rh as usize,
            rw as usize,
            3,
            &cfg.image_mean,
            &cfg.image_std,
        )
        .map_err(|e| VisionError::Input(format!("image {i}: {e}")))?;
        let (gh, gw) = (rh / p, rw / p);
        let x = Tensor::f_from_slice(&chw)?.f_view(&[3, gh / m, m, p, gw / m, m, p][..])?;
        // (c, bh, mh, ph, bw, mw, pw) -> (bh, bw, mh, mw, c, [tp], ph, pw)
        let x = x.f_permute([1, 4, 2, 5, 0, 3, 6])?.f_unsqueeze(5)?;
        let x = x.f_expand([gh / m, gw / m, m, m, 3, tp, p, p], false)?;
        rows.push(x.f_reshape([gh * gw, 3 * tp * p * p])?);
        grids.push(Grid { t: 1, h: gh, w: gw });
    }
    if rows.is_empty() {
        return Err(VisionError::Input("no images".into()));
    }
    Ok((Tensor::f_cat(&rows, 0)?, grids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_resize_cases() {
        let f = |h, w| smart_resize(2, h, w, 2, 28, 112 * 112, 28 * 28 * 15000).unwrap();
        assert_eq!(f(100, 150), (112, 140));
        assert_eq!(f(60, 45), (112, 84));
        assert_eq!(f(10, 10), (84, 84));
        assert_eq!(f(42, 70), (84, 112));
        assert_eq!(f(434, 742), (448, 728)); // 15.5 -> 16, 26.5 -> 26: half to even
        assert!(smart_resize(2, 10, 3000, 2, 28, 112 * 112, 28 * 28 * 15000).is_err());
        assert!(smart_resize(2, 0, 30, 2, 28, 1, 10).is_err());
    }
}
