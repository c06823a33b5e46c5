//! Wyoming audio: the `rate`/`width`/`channels` of `audio-start` and
//! `audio-chunk`, raw little-endian PCM to mono f32 (channels averaged),
//! and back to 16-bit chunks for `tts`. Resampling to Whisper's 16 kHz is
//! `crate::wav::resample` (rubato), as for uploaded WAV files.

use serde_json::{Map, Value, json};

/// Rates accepted (as for WAV files).
pub const MIN_RATE: u32 = crate::wav::MIN_RATE;
pub const MAX_RATE: u32 = crate::wav::MAX_RATE;
pub const MAX_CHANNELS: u16 = 8;

/// An audio format as Wyoming sends it (`width` in bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub rate: u32,
    pub width: u16,
    pub channels: u16,
}

impl Format {
    /// Read and check the format fields of an event's data.
    pub fn from_data(data: &Map<String, Value>) -> Result<Format, String> {
        let field = |k: &str| -> Result<u64, String> {
            data.get(k).and_then(Value::as_u64).ok_or_else(|| format!("`{k}` is missing or not an integer"))
        };
        let (rate, width, channels) = (field("rate")?, field("width")?, field("channels")?);
        if !(MIN_RATE as u64..=MAX_RATE as u64).contains(&rate) {
            return Err(format!("rate {rate} Hz is outside {MIN_RATE}..={MAX_RATE}"));
        }
        if !(1..=4).contains(&width) {
            return Err(format!("width {width} is not 1, 2, 3 or 4 bytes"));
        }
        if !(1..=MAX_CHANNELS as u64).contains(&channels) {
            return Err(format!("{channels} channels is outside 1..={MAX_CHANNELS}"));
        }
        Ok(Format { rate: rate as u32, width: width as u16, channels: channels as u16 })
    }

    /// The event data for this format (`audio-start`, `audio-chunk`).
    pub fn to_data(self, timestamp: Option<u64>) -> Value {
        json!({ "rate": self.rate, "width": self.width, "channels": self.channels, "timestamp": timestamp })
    }

    fn frame_bytes(self) -> usize {
        self.width as usize * self.channels as usize
    }
}

/// Collects a stream's chunks as mono f32 at the stream's rate. A chunk may
/// end inside a frame; the rest waits for the next chunk.
#[derive(Debug)]
pub struct Collector {
    pub format: Format,
    pub samples: Vec<f32>,
    carry: Vec<u8>,
    max_samples: usize,
}

impl Collector {
    /// At most `max_seconds` of audio.
    pub fn new(format: Format, max_seconds: f64) -> Collector {
        let max_samples = (format.rate as f64 * max_seconds) as usize;
        Collector { format, samples: Vec::new(), carry: Vec::new(), max_samples }
    }

    /// Add one chunk in `chunk_format` (which must match the stream's).
    pub fn push(&mut self, chunk_format: Format, bytes: &[u8]) -> Result<(), String> {
        if chunk_format != self.format {
            return Err(format!(
                "audio-chunk format {}/{}/{} differs from the stream's {}/{}/{} (rate/width/channels)",
                chunk_format.rate,
                chunk_format.width,
                chunk_format.channels,
                self.format.rate,
                self.format.width,
                self.format.channels
            ));
        }
        let fb = self.format.frame_bytes();
        self.carry.extend_from_slice(bytes);
        let whole = self.carry.len() / fb * fb;
        if self.samples.len() + whole / fb > self.max_samples {
            let max_s = self.max_samples as f64 / self.format.rate as f64;
            return Err(format!("more than {max_s:.0} s of audio in one request"));
        }
        mono(&self.carry[..whole], self.format, &mut self.samples);
        self.carry.drain(..whole);
        Ok(())
    }

    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.format.rate as f64
    }
}

/// Little-endian integer PCM (width 1 is signed, as Python's `audioop`
/// treats it) to mono f32 in -1..1, appended to `out`.
fn mono(bytes: &[u8], f: Format, out: &mut Vec<f32>) {
    let w = f.width as usize;
    let scale = (1u64 << (8 * w - 1)) as f32;
    for frame in bytes.chunks_exact(f.frame_bytes()) {
        let mut sum = 0.0f32;
        for s in frame.chunks_exact(w) {
            let mut v: i32 = 0;
            for (i, b) in s.iter().enumerate() {
                v |= (*b as i32) << (8 * i);
            }
            // Sign-extend from the sample's top bit.
            let shift = 32 - 8 * w as u32;
            let v = (v << shift) >> shift;
            sum += v as f32 / scale;
        }
        out.push(sum / f.channels as f32);
    }
}

/// 16-bit little-endian PCM bytes to Whisper's 16 kHz mono f32.
pub fn pcm16_to_f32(bytes: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    mono(bytes, Format { rate: 16_000, width: 2, channels: 1 }, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(rate: u32, width: u16, channels: u16) -> Format {
        Format { rate, width, channels }
    }

    #[test]
    fn format_fields_are_checked() {
        let ok = json!({"rate": 22050, "width": 2, "channels": 1, "timestamp": null});
        assert_eq!(Format::from_data(ok.as_object().unwrap()), Ok(fmt(22050, 2, 1)));
        let cases = [
            (json!({"width": 2, "channels": 1}), "`rate` is missing"),
            (json!({"rate": 100, "width": 2, "channels": 1}), "rate 100 Hz is outside"),
            (json!({"rate": 16000, "width": 5, "channels": 1}), "width 5 is not"),
            (json!({"rate": 16000, "width": 2, "channels": 0}), "0 channels"),
            (json!({"rate": "16000", "width": 2, "channels": 1}), "`rate` is missing or not an integer"),
        ];
        for (d, want) in cases {
            let e = Format::from_data(d.as_object().unwrap()).unwrap_err();
            assert!(e.starts_with(want), "{d}: {e}");
        }
        assert_eq!(fmt(22050, 2, 1).to_data(None), ok);
    }

    #[test]
    fn widths_and_channels_mix_to_mono() {
        // 16-bit stereo: (16384, -16384) averages to 0; (32767, 32767) to ~1.
        let f = fmt(16000, 2, 2);
        let mut c = Collector::new(f, 10.0);
        let bytes: Vec<u8> = [16384i16, -16384, 32767, 32767].iter().flat_map(|v| v.to_le_bytes()).collect();
        c.push(f, &bytes).unwrap();
        assert_eq!(c.samples.len(), 2);
        assert!(c.samples[0].abs() < 1e-6 && (c.samples[1] - 32767.0 / 32768.0).abs() < 1e-6, "{:?}", c.samples);
        // 24-bit mono, negative full scale.
        let mut c = Collector::new(fmt(16000, 3, 1), 10.0);
        c.push(fmt(16000, 3, 1), &[0x00, 0x00, 0x80, 0xff, 0xff, 0x3f]).unwrap();
        assert_eq!(c.samples[0], -1.0);
        assert!((c.samples[1] - 0.5).abs() < 1e-6);
        // 8-bit signed, 32-bit.
        let mut c = Collector::new(fmt(16000, 1, 1), 10.0);
        c.push(fmt(16000, 1, 1), &[0x40, 0xc0]).unwrap();
        assert_eq!(c.samples, vec![0.5, -0.5]);
        let mut c = Collector::new(fmt(16000, 4, 1), 10.0);
        c.push(fmt(16000, 4, 1), &(i32::MIN / 4).to_le_bytes()).unwrap();
        assert_eq!(c.samples, vec![-0.25]);
    }

    #[test]
    fn frames_split_across_chunks_are_kept() {
        let f = fmt(16000, 2, 2);
        let mut c = Collector::new(f, 10.0);
        let bytes: Vec<u8> = [1000i16, 3000, -2000, -4000].iter().flat_map(|v| v.to_le_bytes()).collect();
        c.push(f, &bytes[..3]).unwrap();
        assert!(c.samples.is_empty());
        c.push(f, &bytes[3..7]).unwrap();
        assert_eq!(c.samples.len(), 1);
        c.push(f, &bytes[7..]).unwrap();
        assert_eq!(c.samples, vec![2000.0 / 32768.0, -3000.0 / 32768.0]);
    }

    #[test]
    fn format_changes_and_overlong_streams_are_refused() {
        let f = fmt(16000, 2, 1);
        let mut c = Collector::new(f, 0.001); // 16 samples
        let e = c.push(fmt(8000, 2, 1), &[0, 0]).unwrap_err();
        assert!(e.contains("differs from the stream's 16000/2/1"), "{e}");
        c.push(f, &[0u8; 32]).unwrap();
        let e = c.push(f, &[0u8; 2]).unwrap_err();
        assert!(e.starts_with("more than 0 s of audio"), "{e}");
        assert_eq!(c.samples.len(), 16);
        assert_eq!(pcm16_to_f32(&16384i16.to_le_bytes()), vec![0.5]);
    }
}
