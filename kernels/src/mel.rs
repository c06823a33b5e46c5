//! Whisper's log-mel front end: 16 kHz mono PCM -> `[n_mels, frames]` log-mel
//! features (n_fft 400 = 25 ms Hann window, hop 160 = 10 ms, Slaney-scaled
//! mel filters as librosa builds them, `log10(max(x, 1e-10))`, clamp to
//! `max - 8`, then `(x + 4) / 4`).
//!
//! Ported from the definition in openai/whisper `whisper/audio.py`
//! (`log_mel_spectrogram`, `mel_filters`) and from the numpy version in
//! faster-whisper 1.2.1 `faster_whisper/feature_extractor.py`, whose framing
//! we follow exactly so transcripts match it: the waveform is padded with
//! `pad_samples` zeros at the end (faster-whisper: 160; openai/whisper: 30 s),
//! reflect-padded by `n_fft / 2` on both sides (`torch.stft(center=True)`),
//! and the last STFT frame is dropped, giving `(len + pad) / 160` frames. The
//! clamp at `max - 8` uses the maximum over all returned frames.
//!
//! Two implementations: [`log_mel_ref`] is plain scalar f64 code (a direct
//! DFT), [`MelSpectrogram::compute`] is the fast path on libtorch (framing by
//! `unfold`, the DFT as one matmul against cached cos/sin tables, the mel
//! projection as a second matmul). Tests check one against the other and both
//! against faster-whisper's `FeatureExtractor` in the project's `.venv`.
use tch::{Device, Kind, Tensor};

/// Whisper's sample rate.
pub const SAMPLE_RATE: usize = 16_000;
/// FFT size: 25 ms at 16 kHz.
pub const N_FFT: usize = 400;
/// Hop: 10 ms at 16 kHz.
pub const HOP_LENGTH: usize = 160;
/// Number of rfft bins (`N_FFT / 2 + 1`).
pub const N_FREQ: usize = N_FFT / 2 + 1;
/// Frames in one 30 s Whisper window.
pub const N_FRAMES: usize = 3000;
/// Samples in one 30 s Whisper window.
pub const N_SAMPLES: usize = 30 * SAMPLE_RATE;
/// The end padding faster-whisper's `FeatureExtractor.__call__` uses by default.
pub const FASTER_WHISPER_PAD: usize = HOP_LENGTH;

#[derive(Debug, thiserror::Error)]
pub enum MelError {
    #[error("log-mel: input of {got} samples (+{pad} padding) is too short: need at least {min} samples")]
    TooShort { got: usize, pad: usize, min: usize },
    #[error("log-mel: sample {index} is not finite ({value})")]
    NonFinite { index: usize, value: f32 },
    #[error("log-mel: n_mels must be 1..=256, got {0}")]
    BadMels(usize),
    #[error("log-mel: libtorch op `{op}` failed on shape {shape:?}: {source}")]
    Torch {
        op: &'static str,
        shape: Vec<i64>,
        #[source]
        source: tch::TchError,
    },
}

/// Slaney-style mel filterbank, `[n_mels, N_FREQ]` row-major, exactly as
/// `librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney")`
/// (computed in f64 like numpy, rounded to f32 like whisper's `mel_filters.npz`).
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    let sr = SAMPLE_RATE as f64;
    let fftfreqs: Vec<f64> = (0..N_FREQ).map(|i| i as f64 * sr / N_FFT as f64).collect();
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    let hz_to_mel = |f: f64| if f >= min_log_hz { min_log_mel + (f / min_log_hz).ln() / logstep } else { f / f_sp };
    let max_mel = hz_to_mel(sr / 2.0);
    let mels: Vec<f64> =
        (0..n_mels + 2).map(|i| if n_mels + 1 == 0 { 0.0 } else { max_mel * i as f64 / (n_mels + 1) as f64 }).collect();
    let freqs: Vec<f64> = mels
        .iter()
        .map(|&m| if m >= min_log_mel { min_log_hz * (logstep * (m - min_log_mel)).exp() } else { f_sp * m })
        .collect();
    let mut w = vec![0f32; n_mels * N_FREQ];
    for m in 0..n_mels {
        let (f0, f1, f2) = (freqs[m], freqs[m + 1], freqs[m + 2]);
        let enorm = 2.0 / (f2 - f0);
        for (k, &f) in fftfreqs.iter().enumerate() {
            let lower = (f - f0) / (f1 - f0);
            let upper = (f2 - f) / (f2 - f1);
            let v = lower.min(upper).max(0.0);
            w[m * N_FREQ + k] = (v * enorm) as f32;
        }
    }
    w
}

/// The periodic Hann window (`np.hanning(401)[:-1]`, `torch.hann_window(400)`).
pub fn hann_window() -> Vec<f64> {
    (0..N_FFT).map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()).collect()
}

/// Index into a reflect-padded signal (numpy `mode="reflect"`, edge not repeated).
fn reflect(i: isize, len: usize) -> usize {
    if len == 1 {
        return 0;
    }
    let period = 2 * (len as isize - 1);
    let mut j = i.rem_euclid(period);
    if j >= len as isize {
        j = period - j;
    }
    j as usize
}

fn check_input(pcm: &[f32], pad: usize) -> Result<(), MelError> {
    // One full reflection needs more than n_fft/2 samples.
    let min = N_FFT / 2 + 1;
    if pcm.len() + pad < min || pcm.is_empty() {
        return Err(MelError::TooShort { got: pcm.len(), pad, min: min.saturating_sub(pad).max(1) });
    }
    if let Some((index, &value)) = pcm.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(MelError::NonFinite { index, value });
    }
    Ok(())
}

/// Number of output frames for `samples` of audio plus `pad` zeros.
pub fn n_frames(samples: usize, pad: usize) -> usize {
    (samples + pad) / HOP_LENGTH
}

/// Scalar reference: returns `[n_mels, frames]` row-major and `frames`.
pub fn log_mel_ref(pcm: &[f32], n_mels: usize, pad: usize) -> Result<(Vec<f32>, usize), MelError> {
    if n_mels == 0 || n_mels > 256 {
        return Err(MelError::BadMels(n_mels));
    }
    check_input(pcm, pad)?;
    let len = pcm.len() + pad;
    let sample = |i: usize| pcm.get(i).copied().unwrap_or(0.0) as f64;
    let frames = n_frames(pcm.len(), pad);
    let window = hann_window();
    let filters = mel_filters(n_mels);
    let half = (N_FFT / 2) as isize;
    let (cos, sin): (Vec<f64>, Vec<f64>) = (0..N_FFT)
        .map(|n| {
            let a = 2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64;
            (a.cos(), a.sin())
        })
        .unzip();
    let mut out = vec![0f32; n_mels * frames];
    let mut frame = vec![0f64; N_FFT];
    let mut power = vec![0f64; N_FREQ];
    for t in 0..frames {
        for (n, slot) in frame.iter_mut().enumerate() {
            let i = (t * HOP_LENGTH) as isize + n as isize - half;
            *slot = sample(reflect(i, len)) * window[n];
        }
        for (k, p) in power.iter_mut().enumerate() {
            let (mut re, mut im) = (0.0, 0.0);
            for (n, &x) in frame.iter().enumerate() {
                let idx = (k * n) % N_FFT;
                re += x * cos[idx];
                im -= x * sin[idx];
            }
            *p = re * re + im * im;
        }
        for m in 0..n_mels {
            let row = &filters[m * N_FREQ..(m + 1) * N_FREQ];
            let e: f64 = row.iter().zip(&power).map(|(&w, &p)| w as f64 * p).sum();
            out[m * frames + t] = e.max(1e-10).log10() as f32;
        }
    }
    let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in &mut out {
        *v = (v.max(max - 8.0) + 4.0) / 4.0;
    }
    Ok((out, frames))
}

/// The fast log-mel front end on libtorch. Holds the cached window, DFT
/// tables and filterbank; build once, call [`Self::compute`] per utterance.
#[derive(Debug)]
pub struct MelSpectrogram {
    n_mels: usize,
    /// `[N_FFT, 2 * N_FREQ]`: window-weighted cos | -sin tables.
    dft: Tensor,
    /// `[N_FREQ, n_mels]`.
    filters_t: Tensor,
}

fn torch_err<'a>(op: &'static str, t: &'a Tensor) -> impl FnOnce(tch::TchError) -> MelError + 'a {
    move |source| MelError::Torch { op, shape: t.size(), source }
}

impl MelSpectrogram {
    pub fn new(n_mels: usize) -> Result<Self, MelError> {
        if n_mels == 0 || n_mels > 256 {
            return Err(MelError::BadMels(n_mels));
        }
        let window = hann_window();
        let mut dft = vec![0f32; N_FFT * 2 * N_FREQ];
        for n in 0..N_FFT {
            for k in 0..N_FREQ {
                let a = 2.0 * std::f64::consts::PI * ((k * n) % N_FFT) as f64 / N_FFT as f64;
                dft[n * 2 * N_FREQ + k] = (window[n] * a.cos()) as f32;
                dft[n * 2 * N_FREQ + N_FREQ + k] = (-window[n] * a.sin()) as f32;
            }
        }
        let dft = Tensor::from_slice(&dft).view([N_FFT as i64, 2 * N_FREQ as i64]);
        let filters = Tensor::from_slice(&mel_filters(n_mels)).view([n_mels as i64, N_FREQ as i64]);
        let filters_t = filters.tr().contiguous();
        Ok(Self { n_mels, dft, filters_t })
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// `[n_mels, (len + pad) / 160]` f32 log-mel features on the CPU.
    pub fn compute(&self, pcm: &[f32], pad: usize) -> Result<Tensor, MelError> {
        check_input(pcm, pad)?;
        let len = pcm.len() + pad;
        let half = N_FFT / 2;
        let mut padded = Vec::with_capacity(len + 2 * half);
        for i in 0..len + 2 * half {
            let j = reflect(i as isize - half as isize, len);
            padded.push(pcm.get(j).copied().unwrap_or(0.0));
        }
        let frames = n_frames(pcm.len(), pad) as i64;
        let x = Tensor::from_slice(&padded);
        let fr = x.f_unfold(0, N_FFT as i64, HOP_LENGTH as i64).map_err(torch_err("unfold", &x))?;
        let fr = fr.f_narrow(0, 0, frames).map_err(torch_err("narrow", &fr))?;
        let spec = fr.f_matmul(&self.dft).map_err(torch_err("matmul(dft)", &fr))?;
        let sq = spec.f_square().map_err(torch_err("square", &spec))?;
        let re = sq.f_narrow(1, 0, N_FREQ as i64).map_err(torch_err("narrow", &sq))?;
        let im = sq.f_narrow(1, N_FREQ as i64, N_FREQ as i64).map_err(torch_err("narrow", &sq))?;
        let power = re.f_add(&im).map_err(torch_err("add", &re))?;
        let mel = power.f_matmul(&self.filters_t).map_err(torch_err("matmul(filters)", &power))?;
        let log = mel.f_clamp_min(1e-10).and_then(|t| t.f_log10()).map_err(torch_err("log10", &mel))?;
        let max = log.f_max().map_err(torch_err("max", &log))?;
        let floor = max.f_sub_scalar(8.0).map_err(torch_err("sub", &max))?;
        let out = log
            .f_maximum(&floor)
            .and_then(|t| t.f_add_scalar(4.0))
            .and_then(|t| t.f_div_scalar(4.0))
            .and_then(|t| t.f_tr())
            .and_then(|t| t.f_contiguous())
            .map_err(torch_err("normalise", &log))?;
        Ok(out)
    }

    /// Pad (with zeros, as faster-whisper's `pad_or_trim` does) or trim the
    /// time axis of `[n_mels, T]` features to `frames`, adding a batch axis:
    /// `[1, n_mels, frames]`.
    pub fn pad_or_trim(features: &Tensor, frames: usize) -> Result<Tensor, MelError> {
        let size = features.size();
        let t = size.get(1).copied().unwrap_or(0);
        let frames = frames as i64;
        let x = if t >= frames {
            features.f_narrow(1, 0, frames).map_err(torch_err("narrow", features))?
        } else {
            features.f_constant_pad_nd([0, frames - t]).map_err(torch_err("pad", features))?
        };
        x.f_unsqueeze(0).and_then(|t| t.f_contiguous()).map_err(torch_err("unsqueeze", features))
    }
}

/// Convenience: the fast path with a fresh [`MelSpectrogram`] on `device`.
pub fn log_mel(pcm: &[f32], n_mels: usize, pad: usize, device: Device) -> Result<Tensor, MelError> {
    let m = MelSpectrogram::new(n_mels)?.compute(pcm, pad)?;
    m.f_to_device(device).map_err(|source| MelError::Torch { op: "to_device", shape: vec![], source })
}

/// Copy a `[n_mels, T]` feature tensor into a row-major `Vec<f32>`.
pub fn to_vec(features: &Tensor) -> Result<Vec<f32>, MelError> {
    let f = features.f_to_kind(Kind::Float).and_then(|t| t.f_flatten(0, -1)).map_err(torch_err("flatten", features))?;
    Vec::<f32>::try_from(&f).map_err(|source| MelError::Torch { op: "to_vec", shape: features.size(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let noise = (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                let t = i as f32 / SAMPLE_RATE as f32;
                0.3 * (2.0 * std::f32::consts::PI * (220.0 + 800.0 * t) * t).sin() + 0.05 * noise
            })
            .collect()
    }

    #[test]
    fn filters_match_librosa_shape_and_norm() {
        let f = mel_filters(80);
        assert_eq!(f.len(), 80 * N_FREQ);
        // Every filter is non-negative with a single peak; slaney norm makes
        // the area of each triangle (in Hz) equal to 1.
        for m in 0..80 {
            let row = &f[m * N_FREQ..(m + 1) * N_FREQ];
            assert!(row.iter().all(|&v| v >= 0.0));
            assert!(row.iter().any(|&v| v > 0.0), "empty filter {m}");
        }
        // Known value from whisper's mel_filters.npz (80 mels): [0, 1] = 0.02486259.
        assert!((f[1] - 0.024_862_59).abs() < 1e-6, "{}", f[1]);
    }

    #[test]
    fn fast_matches_reference() {
        let m = MelSpectrogram::new(80).unwrap();
        for (n, pad) in [(16_000usize, FASTER_WHISPER_PAD), (12_345, 160), (401, 0), (3_000, N_SAMPLES - 3_000)] {
            let pcm = signal(n, n as u64);
            let (r, frames) = log_mel_ref(&pcm, 80, pad).unwrap();
            let fast = m.compute(&pcm, pad).unwrap();
            assert_eq!(fast.size(), vec![80, frames as i64]);
            let f = to_vec(&fast).unwrap();
            let max = r.iter().zip(&f).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(max < 1e-4, "n={n} pad={pad}: max abs diff {max}");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(log_mel_ref(&[], 80, 160), Err(MelError::TooShort { .. })));
        assert!(matches!(log_mel_ref(&[0.0; 10], 80, 0), Err(MelError::TooShort { .. })));
        assert!(matches!(log_mel_ref(&[0.0, f32::NAN, 0.0], 80, 400), Err(MelError::NonFinite { index: 1, .. })));
        let m = MelSpectrogram::new(80).unwrap();
        assert!(m.compute(&[], 160).is_err());
        assert!(MelSpectrogram::new(0).is_err());
        // Pure silence is fine: everything clamps to log10(1e-10).
        let s = to_vec(&m.compute(&[0.0; 1600], 160).unwrap()).unwrap();
        assert!(s.iter().all(|&v| (v - (-10.0 + 4.0) / 4.0).abs() < 1e-6));
    }

    #[test]
    fn pad_or_trim_shapes() {
        let f = Tensor::ones([80, 10], (Kind::Float, Device::Cpu));
        let p = MelSpectrogram::pad_or_trim(&f, 30).unwrap();
        assert_eq!(p.size(), vec![1, 80, 30]);
        assert_eq!(p.sum(Kind::Float).double_value(&[]), 800.0);
        let t = MelSpectrogram::pad_or_trim(&Tensor::ones([80, 40], (Kind::Float, Device::Cpu)), 30).unwrap();
        assert_eq!(t.size(), vec![1, 80, 30]);
    }
}
