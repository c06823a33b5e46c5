//! JPEG to the small grey motion frame and to full-size RGB, through
//! libjpeg-turbo ([`super::turbo`]).
//!
//! The motion path decodes at the smallest IDCT scale that still covers the
//! motion frame (1/2 .. 1/8; 1080p at 1/8 is 240x135) and grey only: the
//! chroma planes are entropy-decoded but never transformed. That reduced-scale
//! decode is what keeps idle cameras cheap. The header is read first and a
//! frame over [`MAX_PIXELS`] is refused before any pixel buffer is allocated.

use hub_kernels::motion::{MotionError, downscale_grey};
use thiserror::Error;

use super::turbo::{Decompressor, Pixels, TurboError, eighths_covering};

/// Largest frame accepted: 8K UHD.
pub const MAX_PIXELS: u64 = 7680 * 4320;

#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("JPEG header says {w}x{h}, over the limit of {max} pixels")]
    TooLarge { w: u32, h: u32, max: u64 },
    #[error("bad JPEG: {0}")]
    Jpeg(#[from] TurboError),
    #[error(transparent)]
    Motion(#[from] MotionError),
}

/// A grey frame at motion resolution, with the source's full size.
#[derive(Debug, Clone, PartialEq)]
pub struct GreyFrame {
    pub w: usize,
    pub h: usize,
    pub pixels: Vec<u8>,
    pub full_w: u32,
    pub full_h: u32,
}

/// Width of a `target_h` frame keeping `full_w:full_h`, at least 1.
pub fn motion_size(full_w: u32, full_h: u32, target_h: u32) -> (usize, usize) {
    let h = target_h.min(full_h).max(1);
    let w = ((u64::from(full_w) * u64::from(h) + u64::from(full_h) / 2) / u64::from(full_h.max(1))).max(1);
    (w as usize, h as usize)
}

/// The header's size, refused over [`MAX_PIXELS`].
fn checked_size(d: &mut Decompressor, jpeg: &[u8]) -> Result<(u32, u32), DecodeError> {
    let (w, h) = d.size(jpeg)?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(DecodeError::TooLarge { w, h, max: MAX_PIXELS });
    }
    Ok((w, h))
}

/// Decode `jpeg` at the smallest IDCT scale that still covers `target_h`
/// rows, then average down to exactly that height (grey).
pub fn decode_grey(jpeg: &[u8], target_h: u32) -> Result<GreyFrame, DecodeError> {
    let mut d = Decompressor::new()?;
    let (full_w, full_h) = checked_size(&mut d, jpeg)?;
    let (tw, th) = motion_size(full_w, full_h, target_h);
    let eighths = eighths_covering((full_w, full_h), tw, th);
    let (pixels, sw, sh) = d.decode(jpeg, (full_w, full_h), eighths, Pixels::Grey)?;
    let (tw, th) = (tw.min(sw), th.min(sh));
    let grey = downscale_grey(&pixels, sw, sh, 1, tw, th)?;
    Ok(GreyFrame { w: tw, h: th, pixels: grey, full_w, full_h })
}

/// Decode `jpeg` at full size to interleaved RGB (grey is expanded), with the
/// same header guard.
pub fn decode_rgb(jpeg: &[u8]) -> Result<(Vec<u8>, usize, usize), DecodeError> {
    let mut d = Decompressor::new()?;
    let size = checked_size(&mut d, jpeg)?;
    Ok(d.decode(jpeg, size, 8, Pixels::Rgb)?)
}

/// Draw a `thickness`-pixel rectangle `[x1, y1, x2, y2]` into an RGB image.
pub fn draw_box(rgb: &mut [u8], w: usize, h: usize, b: [i32; 4], color: [u8; 3], thickness: usize) {
    if w == 0 || h == 0 || rgb.len() != w * h * 3 {
        return;
    }
    let cx = |v: i32| (v.max(0) as usize).min(w - 1);
    let cy = |v: i32| (v.max(0) as usize).min(h - 1);
    let (x1, y1, x2, y2) = (cx(b[0]), cy(b[1]), cx(b[2]), cy(b[3]));
    let mut put = |x: usize, y: usize| rgb[(y * w + x) * 3..][..3].copy_from_slice(&color);
    for t in 0..thickness {
        for x in x1..=x2 {
            put(x, (y1 + t).min(h - 1));
            put(x, y2.saturating_sub(t));
        }
        for y in y1..=y2 {
            put((x1 + t).min(w - 1), y);
            put(x2.saturating_sub(t), y);
        }
    }
}

/// Encode interleaved RGB as JPEG (quality 85).
pub fn encode_rgb(rgb: &[u8], w: usize, h: usize) -> Result<Vec<u8>, jpeg_encoder::EncodingError> {
    let mut out = Vec::new();
    let (w16, h16) = (u16::try_from(w).unwrap_or(u16::MAX), u16::try_from(h).unwrap_or(u16::MAX));
    jpeg_encoder::Encoder::new(&mut out, 85).encode(rgb, w16, h16, jpeg_encoder::ColorType::Rgb)?;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A test JPEG: grey background with a bright square at (`sx`, `sy`).
    pub(crate) fn jpeg_with_square(w: u16, h: u16, sx: usize, sy: usize, size: usize) -> Vec<u8> {
        let (wu, hu) = (usize::from(w), usize::from(h));
        let mut rgb = vec![90u8; wu * hu * 3];
        for y in sy..(sy + size).min(hu) {
            for x in sx..(sx + size).min(wu) {
                rgb[(y * wu + x) * 3..][..3].copy_from_slice(&[240, 230, 220]);
            }
        }
        let mut out = Vec::new();
        let enc = jpeg_encoder::Encoder::new(&mut out, 90);
        enc.encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb).expect("encode");
        out
    }

    #[test]
    fn decodes_at_reduced_scale_to_the_motion_height() {
        let j = jpeg_with_square(640, 480, 320, 240, 80);
        let f = decode_grey(&j, 60).unwrap();
        assert_eq!((f.w, f.h, f.full_w, f.full_h), (80, 60, 640, 480));
        // The square's corner maps to (40, 30) at 1/8.
        let at = |x: usize, y: usize| f.pixels[y * f.w + x];
        assert!(at(45, 35) > 200 && at(10, 10) < 110, "{} {}", at(45, 35), at(10, 10));
        let f = decode_grey(&j, 100).unwrap();
        assert_eq!((f.w, f.h), (133, 100));
    }

    #[test]
    fn huge_header_is_refused_before_decoding() {
        // A real 16x16 JPEG with its SOF0 size patched to 20000x20000.
        let mut j = jpeg_with_square(16, 16, 0, 0, 4);
        let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
        j[sof + 5..sof + 9].copy_from_slice(&[0x4E, 0x20, 0x4E, 0x20]);
        match decode_grey(&j, 100) {
            Err(DecodeError::TooLarge { w: 20000, h: 20000, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn full_decode_draw_and_encode_round_trip() {
        let j = jpeg_with_square(64, 48, 10, 10, 20);
        let (mut rgb, w, h) = decode_rgb(&j).unwrap();
        assert_eq!((w, h, rgb.len()), (64, 48, 64 * 48 * 3));
        assert!(rgb[(20 * 64 + 20) * 3] > 200);
        draw_box(&mut rgb, w, h, [5, 5, 40, 30], [255, 0, 0], 2);
        assert_eq!(&rgb[(5 * 64 + 20) * 3..][..3], &[255, 0, 0]);
        draw_box(&mut rgb, w, h, [-10, -10, 1000, 1000], [0, 255, 0], 1);
        let again = encode_rgb(&rgb, w, h).unwrap();
        let (back, _, _) = decode_rgb(&again).unwrap();
        let px = &back[(5 * 64 + 20) * 3..][..3];
        // A 2-pixel red line survives JPEG's chroma subsampling as clearly red.
        assert!(px[0] > px[1].saturating_add(50) && px[0] > px[2].saturating_add(50), "{px:?}");
    }

    #[test]
    fn truncated_and_garbage_jpegs_are_errors() {
        let j = jpeg_with_square(64, 48, 0, 0, 4);
        assert!(decode_grey(&j[..20], 24).is_err());
        assert!(decode_grey(b"\xFF\xD8 garbage", 24).is_err());
        assert!(decode_grey(&[], 24).is_err());
    }
}
