//! `v4l:///dev/videoN`: a V4L2 capture device through the `v4l` crate.
//!
//! Kept small on purpose (there is no camera on the build machine, so only the
//! pure parts are tested): open the device, enumerate its formats, choose a
//! mode with [`choose_mode`] and a frame interval with [`choose_interval`]
//! (pure functions over the crate's own types), set them, and read frames
//! from a memory-mapped stream:
//! - MJPEG frames pass through as the device encoded them (one decode path);
//! - YUYV frames are converted to RGB ([`yuyv_to_rgb`]) and encoded as JPEG,
//!   at most `fps` a second (the rest are not converted at all).
//!
//! The capture runs on a blocking thread and ends when the device fails, no
//! frame comes within the stall limit, the receiver goes away or `stop` is
//! set. The caller (`source::Capture`) reports it and retries with back-off.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;
use v4l::Fraction;
use v4l::format::{Description, FourCC};
use v4l::frameinterval::{FrameInterval, FrameIntervalEnum};
use v4l::framesize::{FrameSize, FrameSizeEnum};

use crate::config::V4lPixelFormat;

/// Capture size asked of a device when the config sets none.
pub const DEFAULT_SIZE: (u32, u32) = (640, 480);
const MJPG: &[u8; 4] = b"MJPG";
const YUYV: &[u8; 4] = b"YUYV";

#[derive(Debug, Error)]
pub enum V4lError {
    #[error("v4l device {device}: {source}")]
    Io {
        device: String,
        #[source]
        source: io::Error,
    },
    #[error("v4l device {device} offers no {wanted} format (it offers {offered})")]
    NoFormat { device: String, wanted: String, offered: String },
    #[error("v4l device {device} switched to {got} instead of {asked}")]
    FormatRefused { device: String, asked: String, got: String },
    #[error("v4l device {device}: no frame for {stall:?}")]
    Stalled { device: String, stall: Duration },
    #[error("v4l device {device}: frame {sequence}: {what}")]
    Frame { device: String, sequence: u32, what: String },
}

/// A `v4l://` camera's `width`, `height` and `format` keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<V4lPixelFormat>,
}

/// What the config asks of a device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Want {
    pub format: Option<V4lPixelFormat>,
    pub width: u32,
    pub height: u32,
    pub fps: f32,
}

impl Want {
    pub fn new(s: Settings, fps: f32) -> Want {
        let (width, height) = match (s.width, s.height) {
            (Some(w), Some(h)) => (w, h),
            _ => DEFAULT_SIZE,
        };
        Want { format: s.format, width, height, fps }
    }
}

/// The chosen format and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub fourcc: FourCC,
    pub width: u32,
    pub height: u32,
}

/// Fourccs we can read, in order of preference: MJPEG (no conversion), then
/// YUYV; only the configured one when `format` is set.
fn wanted(format: Option<V4lPixelFormat>) -> Vec<FourCC> {
    match format {
        Some(V4lPixelFormat::Mjpeg) => vec![FourCC::new(MJPG)],
        Some(V4lPixelFormat::Yuyv) => vec![FourCC::new(YUYV)],
        None => vec![FourCC::new(MJPG), FourCC::new(YUYV)],
    }
}

/// `v` clamped to `min..=max` and down to the step grid from `min`.
fn snap(v: u32, min: u32, max: u32, step: u32) -> u32 {
    let v = v.clamp(min, max.max(min));
    min + (v - min) / step.max(1) * step.max(1)
}

/// The size of `sizes` to ask for `tw` x `th`: the exact size, else the
/// smallest that covers it, else the largest. Stepwise ranges are snapped to
/// their grid. `None` when the device listed no sizes.
pub fn choose_size(sizes: &[FrameSize], tw: u32, th: u32) -> Option<(u32, u32)> {
    sizes
        .iter()
        .map(|s| match &s.size {
            FrameSizeEnum::Discrete(d) => (d.width, d.height),
            FrameSizeEnum::Stepwise(s) => {
                (snap(tw, s.min_width, s.max_width, s.step_width), snap(th, s.min_height, s.max_height, s.step_height))
            }
        })
        .min_by_key(|&(w, h)| {
            let area = u64::from(w) * u64::from(h);
            if w >= tw && h >= th { (0, area) } else { (1, u64::MAX - area) }
        })
}

/// Choose a fourcc and size among the device's enumerated `formats`;
/// `sizes_of` enumerates the sizes of one fourcc. The first usable fourcc
/// (see [`wanted`]) that has the exact size wins, else the first usable one
/// at its nearest size. A device that lists no sizes gets the wanted size
/// (the driver adjusts it when the format is set).
pub fn choose_mode(
    formats: &[Description],
    mut sizes_of: impl FnMut(FourCC) -> Vec<FrameSize>,
    want: &Want,
    device: &str,
) -> Result<Mode, V4lError> {
    let mut first = None;
    for fourcc in wanted(want.format) {
        if !formats.iter().any(|d| d.fourcc == fourcc) {
            continue;
        }
        let (width, height) =
            choose_size(&sizes_of(fourcc), want.width, want.height).unwrap_or((want.width, want.height));
        let mode = Mode { fourcc, width, height };
        if (width, height) == (want.width, want.height) {
            return Ok(mode);
        }
        first.get_or_insert(mode);
    }
    first.ok_or_else(|| V4lError::NoFormat {
        device: device.to_string(),
        wanted: wanted(want.format).iter().map(ToString::to_string).collect::<Vec<_>>().join(" or "),
        offered: if formats.is_empty() {
            "none".into()
        } else {
            formats.iter().map(|d| d.fourcc.to_string()).collect::<Vec<_>>().join(", ")
        },
    })
}

fn fps_of(f: &Fraction) -> f64 {
    if f.numerator == 0 { 0.0 } else { f64::from(f.denominator) / f64::from(f.numerator) }
}

/// The frame interval to ask for `fps`: the slowest rate at or above it (no
/// frame is thinned away that analysis would want), else the fastest. A
/// stepwise range gives `1/fps` clamped to it. `None`: nothing enumerated.
pub fn choose_interval(intervals: &[FrameInterval], fps: f32) -> Option<Fraction> {
    let fps = f64::from(fps);
    let candidates = intervals.iter().filter_map(|i| match &i.interval {
        FrameIntervalEnum::Discrete(f) => Some(Fraction::new(f.numerator, f.denominator)),
        FrameIntervalEnum::Stepwise(s) => {
            let (fast, slow) = (fps_of(&s.min), fps_of(&s.max));
            if fast <= 0.0 {
                return None;
            }
            let r = fps.clamp(slow.min(fast), fast);
            Some(Fraction::new(1000, (r * 1000.0).round() as u32))
        }
    });
    let candidates: Vec<Fraction> = candidates.filter(|f| fps_of(f) > 0.0).collect();
    let at_least = candidates.iter().filter(|f| fps_of(f) >= fps - 1e-3).min_by(|a, b| fps_of(a).total_cmp(&fps_of(b)));
    at_least
        .or_else(|| candidates.iter().max_by(|a, b| fps_of(a).total_cmp(&fps_of(b))))
        .map(|f| Fraction::new(f.numerator, f.denominator))
}

/// YUYV 4:2:2 (`Y0 U Y1 V` per two pixels, rows `stride` bytes apart) to
/// interleaved RGB with BT.601 limited-range coefficients. `None` when the
/// buffer is too short for `w` x `h`.
pub fn yuyv_to_rgb(yuyv: &[u8], w: usize, h: usize, stride: usize) -> Option<Vec<u8>> {
    let stride = stride.max(w * 2);
    if w == 0 || h == 0 || yuyv.len() < stride * (h - 1) + w * 2 {
        return None;
    }
    let mut rgb = Vec::with_capacity(w * h * 3);
    let px = |y: u8, u: i32, v: i32, out: &mut Vec<u8>| {
        let c = 298 * (i32::from(y) - 16);
        let clip = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
        out.extend([clip(c + 409 * v), clip(c - 100 * u - 208 * v), clip(c + 516 * u)]);
    };
    for row in 0..h {
        let line = &yuyv[row * stride..row * stride + w * 2];
        for (x, quad) in line.chunks(4).enumerate() {
            let (u, v) = match quad {
                [_, u, _, v] => (i32::from(*u) - 128, i32::from(*v) - 128),
                _ => (0, 0),
            };
            px(quad[0], u, v, &mut rgb);
            if 2 * x + 1 < w && quad.len() >= 3 {
                px(quad[2], u, v, &mut rgb);
            }
        }
    }
    Some(rgb)
}

/// Capture from `device` until an error, a stall, `stop` or `deliver`
/// returning false (the receiver is gone). Blocking: run it on its own thread.
pub fn capture(
    device: &Path,
    want: Want,
    stall: Duration,
    stop: &AtomicBool,
    mut deliver: impl FnMut(Vec<u8>) -> bool,
) -> Result<(), V4lError> {
    use v4l::io::traits::CaptureStream;
    use v4l::video::Capture;

    let name = device.display().to_string();
    let io_err = |source: io::Error| V4lError::Io { device: name.clone(), source };
    let dev = v4l::Device::with_path(device).map_err(io_err)?;
    let formats = dev.enum_formats().map_err(io_err)?;
    let mode = choose_mode(&formats, |f| dev.enum_framesizes(f).unwrap_or_default(), &want, &name)?;
    let fmt = dev.set_format(&v4l::Format::new(mode.width, mode.height, mode.fourcc)).map_err(io_err)?;
    if fmt.fourcc != mode.fourcc {
        return Err(V4lError::FormatRefused {
            device: name.clone(),
            asked: mode.fourcc.to_string(),
            got: fmt.fourcc.to_string(),
        });
    }
    let intervals = dev.enum_frameintervals(fmt.fourcc, fmt.width, fmt.height).unwrap_or_default();
    if let Some(interval) = choose_interval(&intervals, want.fps)
        && let Err(e) = dev.set_params(&v4l::video::capture::Parameters::new(interval))
    {
        tracing::debug!(device = %name, error = %e, "v4l frame rate not set; the device's own is used");
    }
    tracing::info!(device = %name, format = %fmt.fourcc, width = fmt.width, height = fmt.height, "v4l capture");
    let (w, h, stride) = (fmt.width as usize, fmt.height as usize, fmt.stride as usize);
    let mjpeg = fmt.fourcc == FourCC::new(MJPG);
    let mut stream = v4l::io::mmap::Stream::with_buffers(&dev, v4l::buffer::Type::VideoCapture, 4).map_err(io_err)?;
    stream.set_timeout(stall);
    let gap = Duration::from_secs_f32(1.0 / want.fps.max(0.01));
    let mut last: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let (buf, meta) = match stream.next() {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(V4lError::Stalled { device: name.clone(), stall });
            }
            Err(e) => return Err(io_err(e)),
        };
        let data = &buf[..(meta.bytesused as usize).min(buf.len())];
        let jpeg = if mjpeg {
            data.to_vec()
        } else {
            if last.is_some_and(|t| t.elapsed() < gap) {
                continue;
            }
            let frame_err = |what: String| V4lError::Frame { device: name.clone(), sequence: meta.sequence, what };
            let rgb = yuyv_to_rgb(data, w, h, stride)
                .ok_or_else(|| frame_err(format!("{} bytes are short of {w}x{h} YUYV", data.len())))?;
            super::decode::encode_rgb(&rgb, w, h).map_err(|e| frame_err(e.to_string()))?
        };
        last = Some(Instant::now());
        if !deliver(jpeg) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use v4l::format::description::Flags;
    use v4l::framesize::{Discrete, Stepwise};

    fn desc(index: u32, cc: &[u8; 4]) -> Description {
        Description {
            index,
            typ: 1,
            flags: Flags::empty(),
            description: String::from_utf8_lossy(cc).into_owned(),
            fourcc: FourCC::new(cc),
        }
    }

    fn discrete(cc: &[u8; 4], sizes: &[(u32, u32)]) -> Vec<FrameSize> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &(width, height))| FrameSize {
                index: i as u32,
                fourcc: FourCC::new(cc),
                typ: 1,
                size: FrameSizeEnum::Discrete(Discrete { width, height }),
            })
            .collect()
    }

    fn want(format: Option<V4lPixelFormat>, width: u32, height: u32) -> Want {
        Want { format, width, height, fps: 5.0 }
    }

    /// A webcam like most UVC ones: MJPEG and YUYV at a few discrete sizes.
    fn webcam(cc: FourCC) -> Vec<FrameSize> {
        if cc == FourCC::new(b"MJPG") {
            discrete(b"MJPG", &[(1920, 1080), (1280, 720), (640, 480), (320, 240)])
        } else {
            discrete(b"YUYV", &[(640, 480), (320, 240), (160, 120)])
        }
    }

    #[test]
    fn mjpeg_is_preferred_and_the_exact_size_wins() {
        let formats = [desc(0, b"YUYV"), desc(1, b"MJPG")];
        let m = choose_mode(&formats, webcam, &want(None, 1280, 720), "/dev/video0").unwrap();
        assert_eq!(m, Mode { fourcc: FourCC::new(b"MJPG"), width: 1280, height: 720 });
        let m = choose_mode(&formats, webcam, &want(Some(V4lPixelFormat::Yuyv), 320, 240), "/dev/video0").unwrap();
        assert_eq!(m, Mode { fourcc: FourCC::new(b"YUYV"), width: 320, height: 240 });
    }

    #[test]
    fn nearest_size_covers_the_request_else_the_largest() {
        let formats = [desc(0, b"YUYV")];
        // 800x600 is not offered in YUYV: nothing covers it, the largest (640x480) is taken.
        let m = choose_mode(&formats, webcam, &want(None, 800, 600), "v").unwrap();
        assert_eq!((m.fourcc, m.width, m.height), (FourCC::new(b"YUYV"), 640, 480));
        // 400x300 is covered by 640x480, the smallest that covers it.
        assert_eq!(choose_size(&webcam(FourCC::new(b"YUYV")), 400, 300), Some((640, 480)));
        assert_eq!(choose_size(&webcam(FourCC::new(b"MJPG")), 1000, 700), Some((1280, 720)));
        assert_eq!(choose_size(&[], 640, 480), None);
    }

    #[test]
    fn a_format_with_the_exact_size_beats_the_preferred_one() {
        // MJPEG only at 1080p, YUYV at 640x480: the exact YUYV size wins.
        let sizes = |cc: FourCC| {
            if cc == FourCC::new(b"MJPG") {
                discrete(b"MJPG", &[(1920, 1080)])
            } else {
                discrete(b"YUYV", &[(640, 480)])
            }
        };
        let formats = [desc(0, b"MJPG"), desc(1, b"YUYV")];
        let m = choose_mode(&formats, sizes, &want(None, 640, 480), "v").unwrap();
        assert_eq!((m.fourcc, m.width), (FourCC::new(b"YUYV"), 640));
        // Neither exact: the preferred format at its nearest size.
        let m = choose_mode(&formats, sizes, &want(None, 320, 240), "v").unwrap();
        assert_eq!((m.fourcc, m.width, m.height), (FourCC::new(b"MJPG"), 1920, 1080));
    }

    #[test]
    fn stepwise_sizes_snap_to_the_grid() {
        let sizes = vec![FrameSize {
            index: 0,
            fourcc: FourCC::new(b"YUYV"),
            typ: 3,
            size: FrameSizeEnum::Stepwise(Stepwise {
                min_width: 48,
                max_width: 1280,
                step_width: 16,
                min_height: 32,
                max_height: 720,
                step_height: 8,
            }),
        }];
        assert_eq!(choose_size(&sizes, 640, 480), Some((640, 480)));
        assert_eq!(choose_size(&sizes, 650, 2000), Some((640, 720)));
        assert_eq!(choose_size(&sizes, 10, 10), Some((48, 32)));
        // A device that lists no sizes is asked for the wanted one.
        let m = choose_mode(&[desc(0, b"YUYV")], |_| Vec::new(), &want(None, 352, 288), "v").unwrap();
        assert_eq!((m.width, m.height), (352, 288));
    }

    #[test]
    fn unusable_formats_are_refused_naming_the_device() {
        let formats = [desc(0, b"H264"), desc(1, b"NV12")];
        let e = choose_mode(&formats, webcam, &want(None, 640, 480), "/dev/video2").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("/dev/video2") && text.contains("MJPG or YUYV") && text.contains("H264, NV12"), "{text}");
        let e = choose_mode(&[desc(0, b"YUYV")], webcam, &want(Some(V4lPixelFormat::Mjpeg), 640, 480), "/dev/v");
        assert!(matches!(e, Err(V4lError::NoFormat { .. })), "{e:?}");
    }

    fn interval(f: FrameIntervalEnum) -> FrameInterval {
        FrameInterval { index: 0, fourcc: FourCC::new(b"MJPG"), width: 640, height: 480, typ: 1, interval: f }
    }

    #[test]
    fn frame_interval_is_the_slowest_rate_at_or_above_fps() {
        let list: Vec<FrameInterval> =
            [30, 15, 10, 5].iter().map(|&d| interval(FrameIntervalEnum::Discrete(Fraction::new(1, d)))).collect();
        let fps = |f: Option<Fraction>| f.map(|f| f.denominator / f.numerator);
        assert_eq!(fps(choose_interval(&list, 5.0)), Some(5));
        assert_eq!(fps(choose_interval(&list, 7.0)), Some(10));
        assert_eq!(fps(choose_interval(&list, 60.0)), Some(30));
        assert!(choose_interval(&[], 5.0).is_none());
        let step = interval(FrameIntervalEnum::Stepwise(v4l::frameinterval::Stepwise {
            min: Fraction::new(1, 30),
            max: Fraction::new(1, 1),
            step: Fraction::new(1, 30),
        }));
        let f = choose_interval(&[step], 12.5).unwrap();
        assert_eq!((f.numerator, f.denominator), (1000, 12_500));
    }

    #[test]
    fn yuyv_converts_to_rgb() {
        // 4x2: white, black / red, green on row 0 (two pixel pairs), grey on row 1;
        // rows padded to a stride of 10 bytes.
        let white_black = [235, 128, 16, 128];
        // BT.601 red (Y 81, U 90, V 240) shared by a pair.
        let red = [81, 90, 81, 240];
        let grey = [126, 128, 126, 128, 126, 128, 126, 128];
        let mut buf = Vec::new();
        buf.extend(white_black);
        buf.extend(red);
        buf.extend([0, 0]);
        buf.extend(grey);
        let rgb = yuyv_to_rgb(&buf, 4, 2, 10).unwrap();
        assert_eq!(rgb.len(), 4 * 2 * 3);
        assert_eq!(&rgb[0..6], &[255, 255, 255, 0, 0, 0]);
        let r = &rgb[6..9];
        assert!(r[0] > 240 && r[1] < 10 && r[2] < 10, "{r:?}");
        assert!(rgb[12..].chunks(3).all(|p| p.iter().all(|&v| (126..=130).contains(&v))), "{rgb:?}");
        // Too short for the size (and no stride slack in the last row).
        assert!(yuyv_to_rgb(&buf[..buf.len() - 1], 4, 2, 10).is_none());
        assert!(yuyv_to_rgb(&buf, 0, 2, 10).is_none());
    }

    #[test]
    fn a_missing_device_is_an_error_naming_it() {
        let stop = AtomicBool::new(false);
        let w = want(None, 640, 480);
        let e = capture(Path::new("/dev/video-hubd-missing"), w, Duration::from_secs(1), &stop, |_| true).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("/dev/video-hubd-missing") && text.contains("No such file"), "{text}");
    }
}
