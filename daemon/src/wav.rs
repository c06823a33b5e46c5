//! WAV input for `hubd transcribe` and uploads: any sample rate, mono or
//! stereo, 8/16/24/32-bit integer or 32-bit float PCM (read with `hound`),
//! mixed down to mono f32 and resampled to 16 kHz with `rubato`'s FFT
//! resampler.
//!
//! Policy (documented for users in `hubd transcribe --help`):
//! - more than 2 channels is refused (a 6-channel file is a clear error; hubd
//!   does not guess which channels carry the voice);
//! - clips longer than [`DEFAULT_MAX_SECONDS`] (5 minutes; configurable) are
//!   refused from the header, before any sample is decoded: the hub
//!   transcribes commands, not recordings;
//! - an empty data chunk, a truncated file (data shorter than its header
//!   says), a non-RIFF file and unsupported encodings are errors naming the
//!   file and what was wrong;
//! - rates below 16 kHz (e.g. 8 kHz telephone audio) are upsampled and
//!   flagged in [`Audio::warnings`]: the missing band cannot be recovered.
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// The rate Whisper runs at.
pub const TARGET_RATE: u32 = 16_000;
/// Longest clip accepted by default, in seconds.
pub const DEFAULT_MAX_SECONDS: f64 = 300.0;
/// Sample rates outside this range are refused as implausible.
pub const MIN_RATE: u32 = 4_000;
pub const MAX_RATE: u32 = 384_000;

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a WAV file ({detail})")]
    NotWav { path: PathBuf, detail: String },
    #[error("{path}: unsupported WAV encoding: {detail}")]
    Unsupported { path: PathBuf, detail: String },
    #[error("{path}: {channels} channels; hubd accepts mono or stereo WAV files")]
    Channels { path: PathBuf, channels: u16 },
    #[error("{path}: sample rate {rate} Hz is outside {MIN_RATE}..={MAX_RATE} Hz")]
    Rate { path: PathBuf, rate: u32 },
    #[error("{path}: contains no audio samples")]
    Empty { path: PathBuf },
    #[error("{path}: truncated: the header declares {declared} samples but only {read} could be read ({detail})")]
    Truncated { path: PathBuf, declared: u64, read: u64, detail: String },
    #[error("{path}: {seconds:.1} s of audio is longer than the {max:.0} s limit")]
    TooLong { path: PathBuf, seconds: f64, max: f64 },
    #[error("{path}: resampling {from} Hz -> {TARGET_RATE} Hz failed: {detail}")]
    Resample { path: PathBuf, from: u32, detail: String },
}

/// Decoded audio, 16 kHz mono.
#[derive(Debug, Clone)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub source_rate: u32,
    pub source_channels: u16,
    /// e.g. `int16`, `int24`, `float32`.
    pub source_format: String,
    pub duration_s: f64,
    /// Non-fatal remarks (e.g. narrow-band input).
    pub warnings: Vec<String>,
}

/// Read a WAV file (see the module policy).
pub fn read_wav(path: &Path, max_seconds: f64) -> Result<Audio, WavError> {
    let file = std::fs::File::open(path).map_err(|source| WavError::Io { path: path.to_path_buf(), source })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Err(WavError::NotWav { path: path.to_path_buf(), detail: "the file is empty".into() });
    }
    decode(std::io::BufReader::new(file), path, max_seconds)
}

/// Read WAV bytes (uploads); `label` names the source in errors.
pub fn read_wav_bytes(bytes: &[u8], label: &Path, max_seconds: f64) -> Result<Audio, WavError> {
    if bytes.is_empty() {
        return Err(WavError::NotWav { path: label.to_path_buf(), detail: "no bytes".into() });
    }
    decode(std::io::Cursor::new(bytes), label, max_seconds)
}

/// WAVE format tags by name, for errors about encodings hound cannot read.
fn format_tag_name(tag: u16) -> String {
    let name = match tag {
        0x0002 => "Microsoft ADPCM",
        0x0006 => "A-law",
        0x0007 => "mu-law",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0050 => "MPEG",
        0x0055 => "MP3",
        _ => return format!("format tag 0x{tag:04x}"),
    };
    format!("{name} (format tag 0x{tag:04x})")
}

/// Look at a RIFF/WAVE header's `fmt ` chunk without hound: when hound
/// refuses a well-formed WAV file, this names the encoding it cannot read
/// (a compressed format, or float samples that are not 32-bit). `None`:
/// not a WAV header, or an encoding hound should read. Seeks back to the start.
fn unsupported_encoding<R: Read + Seek>(reader: &mut R) -> Option<String> {
    let mut head = [0u8; 4096];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => break,
        }
    }
    let _ = reader.seek(std::io::SeekFrom::Start(0));
    let head = &head[..n];
    if head.len() < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let u16_at = |b: &[u8], i: usize| b.get(i..i + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let mut pos = 12;
    while let (Some(id), Some(len)) =
        (head.get(pos..pos + 4), head.get(pos + 4..pos + 8).map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]])))
    {
        let body = pos + 8;
        if id == b"fmt " {
            let mut tag = u16_at(head, body)?;
            let bits = u16_at(head, body + 14)?;
            // WAVE_FORMAT_EXTENSIBLE: the real tag is the sub-format GUID's first two bytes.
            if tag == 0xFFFE {
                tag = u16_at(head, body + 24)?;
            }
            return match (tag, bits) {
                (1, 8 | 16 | 24 | 32) | (3, 32) => None,
                (3, b) => Some(format!("{b}-bit float samples (only 32-bit float is read)")),
                (1, b) => Some(format!("{b}-bit integer samples")),
                (t, _) => Some(format!("{} (only PCM and 32-bit float are read)", format_tag_name(t))),
            };
        }
        pos = body + len as usize + (len as usize & 1);
    }
    None
}

fn decode<R: Read + Seek>(mut reader: R, path: &Path, max_seconds: f64) -> Result<Audio, WavError> {
    let p = || path.to_path_buf();
    if let Some(detail) = unsupported_encoding(&mut reader) {
        return Err(WavError::Unsupported { path: p(), detail });
    }
    let mut wav = hound::WavReader::new(reader).map_err(|e| match e {
        hound::Error::IoError(source) => WavError::NotWav { path: p(), detail: format!("unreadable header: {source}") },
        hound::Error::FormatError(d) => WavError::NotWav { path: p(), detail: d.to_string() },
        hound::Error::Unsupported => {
            WavError::Unsupported { path: p(), detail: "format not supported by the WAV reader".into() }
        }
        other => WavError::Unsupported { path: p(), detail: other.to_string() },
    })?;
    let spec = wav.spec();
    if spec.channels == 0 || spec.channels > 2 {
        return Err(WavError::Channels { path: p(), channels: spec.channels });
    }
    if !(MIN_RATE..=MAX_RATE).contains(&spec.sample_rate) {
        return Err(WavError::Rate { path: p(), rate: spec.sample_rate });
    }
    let declared = wav.len() as u64; // samples over all channels
    let frames = declared / spec.channels as u64;
    let seconds = frames as f64 / spec.sample_rate as f64;
    if seconds > max_seconds {
        return Err(WavError::TooLong { path: p(), seconds, max: max_seconds });
    }
    if frames == 0 {
        return Err(WavError::Empty { path: p() });
    }
    let format = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => "float32".to_string(),
        (hound::SampleFormat::Int, b @ (8 | 16 | 24 | 32)) => format!("int{b}"),
        (f, b) => {
            return Err(WavError::Unsupported { path: p(), detail: format!("{b}-bit {f:?} samples") });
        }
    };
    let mut interleaved: Vec<f32> = Vec::with_capacity(declared as usize);
    let trunc = |read: usize, e: hound::Error| WavError::Truncated {
        path: path.to_path_buf(),
        declared,
        read: read as u64,
        detail: e.to_string(),
    };
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for s in wav.samples::<f32>() {
                let v = s.map_err(|e| trunc(interleaved.len(), e))?;
                interleaved.push(if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 });
            }
        }
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            for s in wav.samples::<i32>() {
                let v = s.map_err(|e| trunc(interleaved.len(), e))?;
                interleaved.push(v as f32 * scale);
            }
        }
    }
    if (interleaved.len() as u64) < declared {
        return Err(WavError::Truncated {
            path: p(),
            declared,
            read: interleaved.len() as u64,
            detail: "data chunk ends early".into(),
        });
    }
    let mono: Vec<f32> = if spec.channels == 2 {
        interleaved.chunks_exact(2).map(|c| 0.5 * (c[0] + c[1])).collect()
    } else {
        interleaved
    };
    let mut warnings = Vec::new();
    if spec.sample_rate < TARGET_RATE {
        warnings.push(format!(
            "{} Hz input is narrow-band: upsampled to {TARGET_RATE} Hz, accuracy may suffer",
            spec.sample_rate
        ));
    }
    let samples = resample(&mono, spec.sample_rate, path)?;
    Ok(Audio {
        samples,
        source_rate: spec.sample_rate,
        source_channels: spec.channels,
        source_format: format,
        duration_s: seconds,
        warnings,
    })
}

/// Mono f32 at `rate` -> 16 kHz (rubato's synchronous FFT resampler).
pub fn resample(mono: &[f32], rate: u32, path: &Path) -> Result<Vec<f32>, WavError> {
    if rate == TARGET_RATE || mono.is_empty() {
        return Ok(mono.to_vec());
    }
    let err = |detail: String| WavError::Resample { path: path.to_path_buf(), from: rate, detail };
    let mut r = Fft::<f32>::new(rate as usize, TARGET_RATE as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| err(e.to_string()))?;
    let input = InterleavedSlice::new(mono, 1, mono.len()).map_err(|e| err(e.to_string()))?;
    let out = r.process_all(&input, mono.len(), None).map_err(|e| err(e.to_string()))?;
    let mut data = out.take_data();
    let expected = (mono.len() as u64 * TARGET_RATE as u64).div_ceil(rate as u64) as usize;
    data.truncate(expected);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, spec: hound::WavSpec, frames: usize, f: impl Fn(usize) -> f64) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..frames {
            let v = f(i);
            for _ in 0..spec.channels {
                match (spec.sample_format, spec.bits_per_sample) {
                    (hound::SampleFormat::Float, _) => w.write_sample(v as f32).unwrap(),
                    (_, 8) => w.write_sample((v * 127.0) as i8).unwrap(),
                    (_, 16) => w.write_sample((v * 32767.0) as i16).unwrap(),
                    (_, 24) => w.write_sample((v * 8_388_607.0) as i32).unwrap(),
                    (_, _) => w.write_sample((v * 2_147_483_647.0) as i32).unwrap(),
                }
            }
        }
        w.finalize().unwrap();
    }

    fn tone(rate: u32) -> impl Fn(usize) -> f64 {
        move |i| 0.5 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / rate as f64).sin()
    }

    #[test]
    fn formats_rates_and_channels() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (44_100u32, 2u16, hound::SampleFormat::Int, 16u16),
            (48_000, 1, hound::SampleFormat::Int, 24),
            (22_050, 1, hound::SampleFormat::Int, 32),
            (16_000, 2, hound::SampleFormat::Float, 32),
            (8_000, 1, hound::SampleFormat::Int, 16),
            (11_025, 1, hound::SampleFormat::Int, 8),
        ];
        for (rate, ch, fmt, bits) in cases {
            let path = dir.path().join(format!("t{rate}_{ch}_{bits}.wav"));
            let spec = hound::WavSpec { channels: ch, sample_rate: rate, bits_per_sample: bits, sample_format: fmt };
            write(&path, spec, rate as usize, tone(rate)); // 1 s
            let a = read_wav(&path, DEFAULT_MAX_SECONDS).unwrap();
            assert_eq!(a.source_rate, rate);
            assert_eq!(a.source_channels, ch);
            assert!((a.duration_s - 1.0).abs() < 1e-9);
            assert!((a.samples.len() as i64 - 16_000).abs() <= 1, "{rate}: {}", a.samples.len());
            // Amplitude survives: RMS of a 0.5 sine is 0.354 (allow edges and 8-bit quantisation).
            let mid = &a.samples[2000..14000];
            let rms = (mid.iter().map(|x| (x * x) as f64).sum::<f64>() / mid.len() as f64).sqrt();
            assert!((rms - 0.3536).abs() < 0.01, "{rate} {bits}: rms {rms}");
            // Frequency survives: zero crossings of 440 Hz over 0.75 s ~ 660.
            let zc = mid.windows(2).filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0)).count();
            assert!((zc as i64 - 660).abs() <= 4, "{rate}: {zc} crossings");
            assert_eq!(a.warnings.is_empty(), rate >= TARGET_RATE);
        }
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Empty file.
        std::fs::write(d.join("empty.wav"), b"").unwrap();
        let e = read_wav(&d.join("empty.wav"), 300.0).unwrap_err();
        assert!(matches!(e, WavError::NotWav { .. }), "{e}");
        // Not a WAV.
        std::fs::write(d.join("x.wav"), b"ID3\x03\x00 this is an mp3, honest").unwrap();
        let e = read_wav(&d.join("x.wav"), 300.0).unwrap_err();
        assert!(matches!(e, WavError::NotWav { .. }), "{e}");
        assert!(e.to_string().contains("x.wav"));
        // Missing file.
        assert!(matches!(read_wav(&d.join("nope.wav"), 300.0), Err(WavError::Io { .. })));
        // Zero samples.
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        write(&d.join("zero.wav"), spec, 0, |_| 0.0);
        assert!(matches!(read_wav(&d.join("zero.wav"), 300.0), Err(WavError::Empty { .. })));
        // Truncated: cut the data chunk in half.
        write(&d.join("full.wav"), spec, 16_000, tone(16_000));
        let bytes = std::fs::read(d.join("full.wav")).unwrap();
        std::fs::write(d.join("cut.wav"), &bytes[..bytes.len() / 2]).unwrap();
        let e = read_wav(&d.join("cut.wav"), 300.0).unwrap_err();
        assert!(matches!(e, WavError::Truncated { .. }), "{e}");
        // Six channels.
        let six = hound::WavSpec { channels: 6, ..spec };
        write(&d.join("six.wav"), six, 1600, |_| 0.1);
        let e = read_wav(&d.join("six.wav"), 300.0).unwrap_err();
        assert!(matches!(e, WavError::Channels { channels: 6, .. }), "{e}");
        // Too long: refused from the header (10 minutes at 8 kHz, 9.6 MB).
        let long = hound::WavSpec { sample_rate: 8_000, ..spec };
        write(&d.join("long.wav"), long, 8_000 * 600, |_| 0.0);
        let e = read_wav(&d.join("long.wav"), 300.0).unwrap_err();
        assert!(matches!(e, WavError::TooLong { .. }), "{e}");
        assert!(e.to_string().contains("600.0 s"), "{e}");
        // Unsupported encoding: 64-bit float.
        let f64spec = hound::WavSpec { bits_per_sample: 64, sample_format: hound::SampleFormat::Float, ..spec };
        let mut raw = Vec::new();
        raw.extend(b"RIFF");
        raw.extend((36u32 + 16).to_le_bytes());
        raw.extend(b"WAVEfmt ");
        raw.extend(16u32.to_le_bytes());
        raw.extend(3u16.to_le_bytes());
        raw.extend(1u16.to_le_bytes());
        raw.extend(16_000u32.to_le_bytes());
        raw.extend((16_000u32 * 8).to_le_bytes());
        raw.extend(8u16.to_le_bytes());
        raw.extend(64u16.to_le_bytes());
        raw.extend(b"data");
        raw.extend(16u32.to_le_bytes());
        raw.extend([0u8; 16]);
        let _ = f64spec;
        let e = read_wav_bytes(&raw, Path::new("f64.wav"), 300.0).unwrap_err();
        assert!(matches!(e, WavError::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("64-bit float"), "{e}");
        // IMA ADPCM (format tag 0x11, 4 bits, with its 2-byte extra block size).
        let mut adpcm = Vec::new();
        adpcm.extend(b"RIFF");
        adpcm.extend((4u32 + 8 + 20 + 8 + 16).to_le_bytes());
        adpcm.extend(b"WAVEfmt ");
        adpcm.extend(20u32.to_le_bytes());
        adpcm.extend(0x11u16.to_le_bytes());
        adpcm.extend(1u16.to_le_bytes());
        adpcm.extend(8_000u32.to_le_bytes());
        adpcm.extend(4_055u32.to_le_bytes());
        adpcm.extend(256u16.to_le_bytes());
        adpcm.extend(4u16.to_le_bytes());
        adpcm.extend(2u16.to_le_bytes());
        adpcm.extend(505u16.to_le_bytes());
        adpcm.extend(b"data");
        adpcm.extend(16u32.to_le_bytes());
        adpcm.extend([0u8; 16]);
        let e = read_wav_bytes(&adpcm, Path::new("adpcm.wav"), 300.0).unwrap_err();
        assert!(matches!(e, WavError::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("IMA ADPCM"), "{e}");
        // A plain PCM file still reads after the header look.
        assert!(read_wav(&d.join("full.wav"), 300.0).is_ok());
    }
}

/// Speech fixtures for tests and benchmarks: demo-home commands spoken by
/// `espeak-ng` (several voices and speeds), resampled to 16 kHz with
/// [`super::resample`], half of them mixed with white noise at 10 dB SNR, written as
/// 16-bit mono WAV into a cache directory. Nothing is committed: the files are
/// made at test time (espeak-ng is deterministic, the noise is seeded).
pub mod fixtures {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::TARGET_RATE;

    /// Bump when the generation changes so stale caches are not reused.
    pub const VERSION: u32 = 2;

    /// (text, command words; `a|b` = either spelling)
    pub const COMMANDS: &[(&str, &[&str])] = &[
        ("turn on the kitchen light", &["turn", "on", "kitchen", "light"]),
        ("turn off the hallway light", &["turn", "off", "hallway", "light"]),
        ("set the living room lamp to fifty percent", &["living", "room", "lamp", "fifty|50"]),
        ("switch on the coffee machine", &["switch", "on", "coffee", "machine"]),
        ("open the garage door", &["open", "garage", "door"]),
        ("close the bedroom curtains", &["close", "bedroom", "curtains"]),
        ("lock the front door", &["lock", "front", "door"]),
        ("what is the temperature in the office", &["temperature", "office"]),
        ("turn off the office fan", &["turn", "off", "office", "fan"]),
        ("dim the bedroom light", &["dim", "bedroom", "light"]),
        ("set the thermostat to twenty one degrees", &["thermostat", "twenty|21"]),
        ("turn on the desk lamp", &["turn", "on", "desk", "lamp"]),
        ("is the front door locked", &["front", "door", "locked"]),
        ("turn off all the lights downstairs", &["turn", "off", "lights", "downstairs"]),
        ("make the kitchen light blue", &["kitchen", "light", "blue"]),
        ("turn on the garage fan", &["turn", "on", "garage", "fan"]),
        ("open the bedroom curtains halfway", &["open", "bedroom", "curtains"]),
        ("what is the temperature outside", &["temperature", "outside"]),
        ("switch off the coffee maker", &["switch", "off", "coffee", "maker"]),
        ("turn on the lights in the living room", &["turn", "on", "lights", "living", "room"]),
    ];

    /// espeak-ng voices and words-per-minute used in rotation.
    pub const VOICES: &[&str] = &["en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-us+m3"];
    pub const SPEEDS: &[u32] = &[150, 170, 190, 160];
    pub const SNR_DB: f64 = 10.0;

    #[derive(Debug, Clone)]
    pub struct Utterance {
        pub id: String,
        pub text: String,
        pub words: Vec<String>,
        pub voice: String,
        pub speed: u32,
        /// `Some(10.0)` for noisy clips.
        pub snr_db: Option<f64>,
        pub path: PathBuf,
    }

    #[derive(Debug, thiserror::Error)]
    pub enum FixtureError {
        #[error("running espeak-ng (apt package `espeak-ng`): {0}")]
        Espeak(String),
        #[error("fixture file {path}: {detail}")]
        File { path: PathBuf, detail: String },
    }

    /// Default cache: `$HUBD_FIXTURES` or `<tmp>/hubd-asr-fixtures-v{VERSION}`.
    pub fn default_dir() -> PathBuf {
        match std::env::var_os("HUBD_FIXTURES") {
            Some(d) => PathBuf::from(d),
            None => std::env::temp_dir().join(format!("hubd-asr-fixtures-v{VERSION}")),
        }
    }

    /// The 40 utterances (20 commands x 2: one clean, one noisy), generated if missing.
    pub fn utterances(dir: &Path) -> Result<Vec<Utterance>, FixtureError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| FixtureError::File { path: dir.to_path_buf(), detail: e.to_string() })?;
        let mut out = Vec::new();
        for (i, (text, words)) in COMMANDS.iter().enumerate() {
            for noisy in [false, true] {
                let k = 2 * i + noisy as usize;
                let voice = VOICES[k % VOICES.len()];
                let speed = SPEEDS[k % SPEEDS.len()];
                let id = format!("u{k:02}");
                let path = dir.join(format!("{id}.wav"));
                let u = Utterance {
                    id,
                    text: text.to_string(),
                    words: words.iter().map(|w| w.to_string()).collect(),
                    voice: voice.to_string(),
                    speed,
                    snr_db: noisy.then_some(SNR_DB),
                    path,
                };
                if !u.path.is_file() {
                    make(&u, k as u64)?;
                }
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Speak `text` with espeak-ng and return 16 kHz mono samples.
    pub fn speak(text: &str, voice: &str, speed: u32, scratch: &Path) -> Result<Vec<f32>, FixtureError> {
        let status = Command::new("espeak-ng")
            .args(["-v", voice, "-s", &speed.to_string(), "-w"])
            .arg(scratch)
            .arg(text)
            .status()
            .map_err(|e| FixtureError::Espeak(e.to_string()))?;
        if !status.success() {
            return Err(FixtureError::Espeak(format!("exit status {status} for voice {voice}")));
        }
        let a = super::read_wav(scratch, 60.0)
            .map_err(|e| FixtureError::File { path: scratch.to_path_buf(), detail: e.to_string() })?;
        Ok(a.samples)
    }

    /// Add white Gaussian noise at `snr_db` relative to the signal's power (seeded).
    pub fn add_noise(x: &mut [f32], snr_db: f64, seed: u64) {
        let p_sig = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64;
        let sigma = (p_sig / 10f64.powf(snr_db / 10.0)).sqrt();
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut uni = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        for v in x.iter_mut() {
            let (u1, u2) = (uni(), uni());
            let n = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            *v = (*v as f64 + sigma * n).clamp(-1.0, 1.0) as f32;
        }
    }

    fn make(u: &Utterance, seed: u64) -> Result<(), FixtureError> {
        let scratch = u.path.with_extension("espeak.wav");
        let speech = speak(&u.text, &u.voice, u.speed, &scratch)?;
        let _ = std::fs::remove_file(&scratch);
        // Centre the speech in at least 2 s (the benchmark's 2-4 s clips).
        let min = 2 * TARGET_RATE as usize;
        let lead = (min.saturating_sub(speech.len()) / 2).max(TARGET_RATE as usize / 5);
        let mut x = vec![0f32; lead];
        x.extend_from_slice(&speech);
        // Trailing pad makes up the odd sample so the clip is never short of `min`.
        let trail = lead.max(min.saturating_sub(lead + speech.len()));
        x.extend(std::iter::repeat_n(0f32, trail));
        if let Some(snr) = u.snr_db {
            // SNR measured against the speech part only.
            let p_sig = speech.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / speech.len().max(1) as f64;
            let p_all = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64;
            let adj = 10.0 * (p_all / p_sig.max(1e-12)).log10();
            add_noise(&mut x, snr - adj, seed);
        }
        let tmp = u.path.with_extension("tmp.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: TARGET_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let err = |e: hound::Error| FixtureError::File { path: tmp.clone(), detail: e.to_string() };
        let mut w = hound::WavWriter::create(&tmp, spec).map_err(err)?;
        for v in &x {
            w.write_sample((v * 32767.0).round() as i16).map_err(err)?;
        }
        w.finalize().map_err(err)?;
        std::fs::rename(&tmp, &u.path)
            .map_err(|e| FixtureError::File { path: u.path.clone(), detail: e.to_string() })?;
        Ok(())
    }

    /// Lower-case words without punctuation ("50%" -> "50").
    pub fn words_of(text: &str) -> Vec<String> {
        text.to_lowercase()
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect()
    }

    /// Command words (with `a|b` alternatives) missing from a transcript.
    pub fn missing_words(u: &Utterance, transcript: &str) -> Vec<String> {
        let got = words_of(transcript);
        u.words
            .iter()
            .filter(|w| {
                !w.split('|')
                    .any(|alt| got.iter().any(|g| g == alt || g.trim_end_matches('s') == alt.trim_end_matches('s')))
            })
            .cloned()
            .collect()
    }

    /// Word-level edit distance (for "within one word" parity).
    pub fn word_distance(a: &str, b: &str) -> usize {
        let (a, b) = (words_of(a), words_of(b));
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, wa) in a.iter().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, wb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(wa != wb)).min(prev[j + 1] + 1).min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }
}
