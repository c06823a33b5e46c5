//! Device audio -> 16 kHz mono VAD chunks.
//!
//! Interleaved f32 samples at the device's rate and channel count go in (in
//! pieces of any length: the ring buffer may split a frame); 512-sample
//! chunks of 16 kHz mono come out. Mixdown averages the channels; resampling
//! is `rubato`'s synchronous FFT resampler (fixed input chunks of 20 ms),
//! skipped when the device already runs at 16 kHz.
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Output rate.
pub const TARGET_RATE: u32 = 16_000;

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("audio frontend: device reports {0} channels")]
    Channels(u16),
    #[error("audio frontend: device reports a sample rate of {0} Hz")]
    Rate(u32),
    #[error("audio frontend: cannot resample {from} Hz -> {to} Hz: {source}")]
    Construct {
        from: u32,
        to: u32,
        #[source]
        source: rubato::ResamplerConstructionError,
    },
    #[error("audio frontend: resampling failed: {0}")]
    Resample(#[from] rubato::ResampleError),
    #[error("audio frontend: buffer size mismatch: {0}")]
    Size(String),
}

pub struct Frontend {
    channels: usize,
    rate_in: u32,
    chunk: usize,
    resampler: Option<Fft<f32>>,
    /// Samples of an incomplete device frame carried to the next push.
    carry: Vec<f32>,
    /// Mono samples at the device rate, waiting for a full resampler chunk.
    mono: Vec<f32>,
    /// 16 kHz samples waiting for a full output chunk.
    out: Vec<f32>,
    scratch: Vec<f32>,
    /// Device frames consumed so far.
    frames_in: u64,
}

impl std::fmt::Debug for Frontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontend")
            .field("channels", &self.channels)
            .field("rate_in", &self.rate_in)
            .field("chunk", &self.chunk)
            .field("resampling", &self.resampler.is_some())
            .finish()
    }
}

impl Frontend {
    /// `chunk`: output chunk length in samples (512 for Silero at 16 kHz).
    pub fn new(rate_in: u32, channels: u16, chunk: usize) -> Result<Self, FrontendError> {
        if channels == 0 {
            return Err(FrontendError::Channels(channels));
        }
        if !(1000..=768_000).contains(&rate_in) {
            return Err(FrontendError::Rate(rate_in));
        }
        let resampler = if rate_in == TARGET_RATE {
            None
        } else {
            let chunk_in = (rate_in as usize / 50).max(1);
            Some(
                Fft::<f32>::new(rate_in as usize, TARGET_RATE as usize, chunk_in, 1, FixedSync::Input)
                    .map_err(|source| FrontendError::Construct { from: rate_in, to: TARGET_RATE, source })?,
            )
        };
        let out_max = resampler.as_ref().map_or(0, |r| r.output_frames_max());
        Ok(Frontend {
            channels: usize::from(channels),
            rate_in,
            chunk: chunk.max(1),
            resampler,
            carry: Vec::with_capacity(usize::from(channels)),
            mono: Vec::new(),
            out: Vec::new(),
            scratch: vec![0.0; out_max],
            frames_in: 0,
        })
    }

    pub fn rate_in(&self) -> u32 {
        self.rate_in
    }

    pub fn channels(&self) -> u16 {
        self.channels as u16
    }

    /// Device frames consumed so far.
    pub fn frames_in(&self) -> u64 {
        self.frames_in
    }

    /// Output samples the resampler holds back (its delay), in 16 kHz samples.
    pub fn delay_samples(&self) -> usize {
        self.resampler.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Feed interleaved device samples; `on_chunk` receives each complete
    /// 16 kHz mono chunk in order.
    pub fn push(&mut self, interleaved: &[f32], mut on_chunk: impl FnMut(&[f32])) -> Result<(), FrontendError> {
        let ch = self.channels;
        let mut data = interleaved;
        // Complete a frame split across pushes.
        if !self.carry.is_empty() {
            let need = ch - self.carry.len();
            let take = need.min(data.len());
            self.carry.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.carry.len() == ch {
                let s: f32 = self.carry.iter().sum();
                self.mono.push(s / ch as f32);
                self.frames_in += 1;
                self.carry.clear();
            }
        }
        let whole = data.len() / ch * ch;
        let (frames, rest) = data.split_at(whole);
        if ch == 1 {
            self.mono.extend_from_slice(frames);
        } else {
            let inv = 1.0 / ch as f32;
            self.mono.extend(frames.chunks_exact(ch).map(|f| f.iter().sum::<f32>() * inv));
        }
        self.frames_in += (whole / ch) as u64;
        self.carry.extend_from_slice(rest);
        self.drain(&mut on_chunk)
    }

    fn drain(&mut self, on_chunk: &mut impl FnMut(&[f32])) -> Result<(), FrontendError> {
        match &mut self.resampler {
            None => {
                self.out.append(&mut self.mono);
            }
            Some(r) => {
                let mut consumed = 0;
                loop {
                    let need = r.input_frames_next();
                    if self.mono.len() - consumed < need {
                        break;
                    }
                    let input = &self.mono[consumed..consumed + need];
                    let inp = InterleavedSlice::new(input, 1, need).map_err(|e| FrontendError::Size(e.to_string()))?;
                    let out_len = self.scratch.len();
                    let mut outp = InterleavedSlice::new_mut(&mut self.scratch[..], 1, out_len)
                        .map_err(|e| FrontendError::Size(e.to_string()))?;
                    let (read, written) = r.process_into_buffer(&inp, &mut outp, None)?;
                    consumed += read;
                    self.out.extend_from_slice(&self.scratch[..written]);
                }
                self.mono.drain(..consumed);
            }
        }
        let mut start = 0;
        while self.out.len() - start >= self.chunk {
            on_chunk(&self.out[start..start + self.chunk]);
            start += self.chunk;
        }
        self.out.drain(..start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f32, secs: f32, channels: usize) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        let mut v = Vec::with_capacity(n * channels);
        for i in 0..n {
            let s = 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin();
            v.extend(std::iter::repeat_n(s, channels));
        }
        v
    }

    /// Dominant frequency by counting upward zero crossings.
    fn freq(x: &[f32], rate: f32) -> f32 {
        let ups = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        ups as f32 * rate / x.len() as f32
    }

    fn collect(fe: &mut Frontend, data: &[f32], piece: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for p in data.chunks(piece) {
            fe.push(p, |c| {
                assert_eq!(c.len(), 512);
                out.extend_from_slice(c)
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn stereo_48k_becomes_16k_mono_with_pitch_and_level_kept() {
        let x = sine(48_000, 440.0, 2.0, 2);
        let mut fe = Frontend::new(48_000, 2, 512).unwrap();
        // Odd piece size: frames split across pushes.
        let y = collect(&mut fe, &x, 333);
        assert_eq!(fe.frames_in(), 96_000);
        // 2 s at 16 kHz = 32000 samples, minus what is still buffered.
        assert!(y.len() > 31_000 && y.len() <= 32_000, "{}", y.len());
        let steady = &y[2000..y.len() - 2000];
        let f = freq(steady, 16_000.0);
        assert!((f - 440.0).abs() < 5.0, "frequency {f}");
        let peak = steady.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((peak - 0.5).abs() < 0.02, "peak {peak}");
    }

    #[test]
    fn mixdown_averages_channels() {
        // Left = s, right = -s: the mono mix is silence.
        let s = sine(16_000, 300.0, 0.5, 1);
        let x: Vec<f32> = s.iter().flat_map(|v| [*v, -*v]).collect();
        let mut fe = Frontend::new(16_000, 2, 512).unwrap();
        let y = collect(&mut fe, &x, 1001);
        assert_eq!(y.len(), 8000 / 512 * 512);
        assert!(y.iter().all(|v| v.abs() < 1e-6));
    }

    #[test]
    fn rate_44100_and_passthrough_16k() {
        let x = sine(44_100, 1000.0, 1.0, 1);
        let mut fe = Frontend::new(44_100, 1, 512).unwrap();
        let y = collect(&mut fe, &x, 4096);
        assert!(y.len() > 15_000, "{}", y.len());
        let f = freq(&y[2000..y.len() - 1000], 16_000.0);
        assert!((f - 1000.0).abs() < 10.0, "frequency {f}");

        let x = sine(16_000, 500.0, 1.0, 1);
        let mut fe = Frontend::new(16_000, 1, 512).unwrap();
        assert_eq!(fe.delay_samples(), 0);
        let y = collect(&mut fe, &x, 100);
        assert_eq!(&y[..], &x[..y.len()], "16 kHz mono passes through unchanged");
    }

    #[test]
    fn bad_formats_are_errors() {
        assert!(Frontend::new(48_000, 0, 512).is_err());
        assert!(Frontend::new(0, 1, 512).is_err());
    }
}
