//! libjpeg-turbo through its TurboJPEG API (`turbojpeg-sys`, linked against
//! Debian's `libturbojpeg` found by pkg-config).
//!
//! Chosen over `jpeg-decoder` for the idle-camera path: its SIMD Huffman
//! decoder and scaled IDCT decode a 1080p frame at 1/8 scale, grey only (the
//! chroma planes are never transformed), in about 40 % of `jpeg-decoder`'s
//! time. Four calls of the C API are used, each behind this safe wrapper: the
//! header (sizes are checked before any buffer is allocated), and a
//! decompression into a buffer whose size we computed from the same header.

use std::ffi::{CStr, c_int, c_ulong};

use turbojpeg_sys as tj;

/// What libjpeg-turbo said about a JPEG it could not decode (warnings such
/// as a premature end of data included: such a frame is not used).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TurboError(pub String);

/// Output pixels: one grey byte or three RGB bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pixels {
    Grey,
    Rgb,
}

impl Pixels {
    pub fn channels(self) -> usize {
        match self {
            Pixels::Grey => 1,
            Pixels::Rgb => 3,
        }
    }
}

/// One TurboJPEG decompressor handle (not shared between threads).
pub struct Decompressor(tj::tjhandle);

impl Decompressor {
    pub fn new() -> Result<Self, TurboError> {
        // SAFETY: takes no arguments; a null handle is an error, checked here.
        let h = unsafe { tj::tjInitDecompress() };
        if h.is_null() {
            return Err(TurboError("libjpeg-turbo could not allocate a decompressor".into()));
        }
        Ok(Self(h))
    }

    fn error(&self) -> TurboError {
        // SAFETY: the handle is live; the message is a NUL-terminated string
        // owned by the handle (or static), copied before the next call.
        let msg = unsafe { tj::tjGetErrorStr2(self.0) };
        if msg.is_null() {
            return TurboError("libjpeg-turbo failed without a message".into());
        }
        // SAFETY: non-null and NUL-terminated (above).
        TurboError(unsafe { CStr::from_ptr(msg) }.to_string_lossy().trim().to_string())
    }

    fn len(jpeg: &[u8]) -> Result<c_ulong, TurboError> {
        if jpeg.is_empty() {
            return Err(TurboError("no data".into()));
        }
        c_ulong::try_from(jpeg.len()).map_err(|_| TurboError("JPEG larger than the C API takes".into()))
    }

    /// The image size the JPEG's header gives.
    pub fn size(&mut self, jpeg: &[u8]) -> Result<(u32, u32), TurboError> {
        let len = Self::len(jpeg)?;
        let (mut w, mut h, mut subsamp, mut colorspace): (c_int, c_int, c_int, c_int) = (0, 0, 0, 0);
        // SAFETY: `jpeg` is valid for `len` bytes; the four out-pointers are
        // locals that live across the call.
        let r = unsafe {
            tj::tjDecompressHeader3(self.0, jpeg.as_ptr(), len, &mut w, &mut h, &mut subsamp, &mut colorspace)
        };
        if r != 0 {
            return Err(self.error());
        }
        match (u32::try_from(w), u32::try_from(h)) {
            (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
            _ => Err(TurboError(format!("the header gives a size of {w}x{h}"))),
        }
    }

    /// Decode `jpeg` at `eighths`/8 of its size `(w, h)` (from [`Self::size`]);
    /// returns the pixels and the scaled size.
    pub fn decode(
        &mut self,
        jpeg: &[u8],
        (w, h): (u32, u32),
        eighths: u32,
        pixels: Pixels,
    ) -> Result<(Vec<u8>, usize, usize), TurboError> {
        let len = Self::len(jpeg)?;
        let eighths = eighths.clamp(1, 8);
        let (sw, sh) = (scaled(w, eighths), scaled(h, eighths));
        let ch = pixels.channels();
        let (Ok(cw), Ok(cpitch), Ok(chh)) = (c_int::try_from(sw), c_int::try_from(sw * ch), c_int::try_from(sh)) else {
            return Err(TurboError(format!("{sw}x{sh} is too large")));
        };
        let format = match pixels {
            Pixels::Grey => tj::TJPF_TJPF_GRAY,
            Pixels::Rgb => tj::TJPF_TJPF_RGB,
        };
        let mut out = vec![0u8; sw * sh * ch];
        // SAFETY: `jpeg` is valid for `len` bytes. TurboJPEG writes at most
        // `pitch * height` bytes: it picks the largest scaling factor whose
        // output fits in `width` x `height`, and `out` holds exactly that.
        let r = unsafe {
            tj::tjDecompress2(self.0, jpeg.as_ptr(), len, out.as_mut_ptr(), cw, cpitch, chh, format as c_int, 0)
        };
        if r != 0 {
            return Err(self.error());
        }
        Ok((out, sw, sh))
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the handle came from tjInitDecompress and is destroyed once.
        unsafe { tj::tjDestroy(self.0) };
    }
}

/// `dim` at `eighths`/8, rounded up as libjpeg does (`TJSCALED`).
pub fn scaled(dim: u32, eighths: u32) -> usize {
    ((u64::from(dim) * u64::from(eighths)).div_ceil(8)) as usize
}

/// The smallest scale (in eighths) whose output still covers `tw` x `th`.
pub fn eighths_covering((w, h): (u32, u32), tw: usize, th: usize) -> u32 {
    (1..=8).find(|&e| scaled(w, e) >= tw && scaled(h, e) >= th).unwrap_or(8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::decode::tests::jpeg_with_square;

    #[test]
    fn scales_round_up_like_libjpeg_and_cover_the_target() {
        assert_eq!(scaled(1920, 1), 240);
        assert_eq!(scaled(1081, 1), 136);
        assert_eq!(eighths_covering((1920, 1080), 178, 100), 1);
        assert_eq!(eighths_covering((640, 480), 133, 100), 2);
        assert_eq!(eighths_covering((160, 120), 133, 100), 7);
        assert_eq!(eighths_covering((100, 80), 500, 500), 8);
    }

    #[test]
    fn grey_is_the_luma_of_the_rgb_decode() {
        let j = jpeg_with_square(64, 48, 8, 8, 24);
        let mut d = Decompressor::new().unwrap();
        let size = d.size(&j).unwrap();
        assert_eq!(size, (64, 48));
        let (rgb, w, h) = d.decode(&j, size, 8, Pixels::Rgb).unwrap();
        let (grey, gw, gh) = d.decode(&j, size, 8, Pixels::Grey).unwrap();
        assert_eq!((w, h, gw, gh), (64, 48, 64, 48));
        for (i, g) in grey.iter().enumerate() {
            let p = &rgb[i * 3..][..3];
            let y = 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
            assert!((f64::from(*g) - y).abs() <= 3.0, "pixel {i}: grey {g}, rgb {p:?}");
        }
        let (small, sw, sh) = d.decode(&j, size, 1, Pixels::Grey).unwrap();
        assert_eq!((sw, sh, small.len()), (8, 6, 48));
    }

    #[test]
    fn a_truncated_frame_is_an_error_in_libjpegs_words() {
        let j = jpeg_with_square(64, 48, 8, 8, 24);
        let mut d = Decompressor::new().unwrap();
        let size = d.size(&j).unwrap();
        // Cut inside the entropy-coded data: libjpeg only warns; we refuse it.
        let err = d.decode(&j[..j.len() - 8], size, 8, Pixels::Rgb).unwrap_err();
        assert!(err.0.contains("Premature end"), "{err}");
        assert!(d.size(b"").is_err());
        // The handle stays usable after an error.
        assert!(d.decode(&j, size, 8, Pixels::Grey).is_ok());
    }
}
