//! Silero VAD (voice activity detection), streaming, on libtorch.
//!
//! The weights are the TorchScript export `silero_vad/data/silero_vad.jit`
//! shipped by the `silero-vad` PyPI package (6.2.3). We run that module as is
//! through [`tch::CModule`]: its `forward(x: [B, 512] f32, sr: int) -> [B, 1]`
//! keeps the recurrent state and a 64-sample context window *inside* the
//! module between calls, exactly like the Python `silero_vad` package does
//! when it iterates over a stream (`VADIterator`). `reset_states()` clears both
//! and must be called between independent streams.
//!
//! Streaming contract: 16 kHz mono f32 in `[-1, 1]`, chunks of exactly
//! [`CHUNK_SAMPLES`] (512 samples = 32 ms). Anything else is an error that
//! names the length; the model is never asked to guess.
//!
//! A loaded [`SileroVad`] owns a `CModule`, which is `Send` but meant to be
//! driven by one thread: the daemon's audio processing thread owns it.
use std::path::{Path, PathBuf};

use tch::{CModule, Device, IValue, Kind, Tensor};

/// Sample rate the model is run at.
pub const SAMPLE_RATE: u32 = 16_000;
/// Samples per chunk at 16 kHz (Silero's only supported window there).
pub const CHUNK_SAMPLES: usize = 512;
/// Duration of one chunk in milliseconds (512 / 16 kHz).
pub const CHUNK_MS: u32 = 32;
/// Where the TorchScript file lives inside site-packages.
pub const PACKAGE_JIT: &str = "silero_vad/data/silero_vad.jit";

#[derive(Debug, thiserror::Error)]
pub enum VadError {
    #[error(
        "Silero VAD weights not found: looked for `silero_vad/data/silero_vad.jit` in the venv's site-packages \
         (run scripts/setup, or set HUBD_VENV / an explicit path)"
    )]
    WeightsNotFound,
    #[error("loading Silero VAD TorchScript from {path}: {source}")]
    Load {
        path: PathBuf,
        #[source]
        source: tch::TchError,
    },
    #[error("Silero VAD expects chunks of {expected} samples at 16 kHz, got {got}")]
    ChunkLength { expected: usize, got: usize },
    #[error("Silero VAD chunk contains a non-finite sample at index {index}")]
    NonFinite { index: usize },
    #[error("Silero VAD {op} failed: {source}")]
    Torch {
        op: &'static str,
        #[source]
        source: tch::TchError,
    },
    #[error("Silero VAD {op} returned {what}, expected a [1, 1] float tensor")]
    BadOutput { op: &'static str, what: String },
}

/// A streaming Silero VAD. One instance per audio stream.
pub struct SileroVad {
    module: CModule,
    path: PathBuf,
    chunks: u64,
}

impl std::fmt::Debug for SileroVad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SileroVad").field("path", &self.path).field("chunks", &self.chunks).finish()
    }
}

impl SileroVad {
    /// Load `silero_vad.jit` from an explicit path, on CPU.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, VadError> {
        let path = path.as_ref().to_path_buf();
        let mut module = CModule::load_on_device(&path, Device::Cpu)
            .map_err(|source| VadError::Load { path: path.clone(), source })?;
        module.set_eval();
        let mut vad = SileroVad { module, path, chunks: 0 };
        vad.reset()?;
        Ok(vad)
    }

    /// Load from the `silero-vad` package in the project's venv.
    pub fn load_default() -> Result<Self, VadError> {
        let path = default_path().ok_or(VadError::WeightsNotFound)?;
        Self::load(path)
    }

    /// The file this model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Chunks processed since the last reset.
    pub fn chunks_since_reset(&self) -> u64 {
        self.chunks
    }

    /// Clear the recurrent state and the context window (start of a new stream).
    pub fn reset(&mut self) -> Result<(), VadError> {
        self.module
            .method_is::<IValue>("reset_states", &[])
            .map_err(|source| VadError::Torch { op: "reset_states", source })?;
        self.chunks = 0;
        Ok(())
    }

    /// Speech probability of the next 32 ms chunk of the stream.
    pub fn prob(&mut self, chunk: &[f32]) -> Result<f32, VadError> {
        if chunk.len() != CHUNK_SAMPLES {
            return Err(VadError::ChunkLength { expected: CHUNK_SAMPLES, got: chunk.len() });
        }
        if let Some(index) = chunk.iter().position(|s| !s.is_finite()) {
            return Err(VadError::NonFinite { index });
        }
        let _guard = tch::no_grad_guard();
        let x = Tensor::f_from_slice(chunk)
            .and_then(|t| t.f_view([1, CHUNK_SAMPLES as i64]))
            .map_err(|source| VadError::Torch { op: "input tensor", source })?;
        let out = self
            .module
            .forward_is(&[IValue::Tensor(x), IValue::Int(i64::from(SAMPLE_RATE))])
            .map_err(|source| VadError::Torch { op: "forward", source })?;
        let t = match out {
            IValue::Tensor(t) => t,
            other => {
                return Err(VadError::BadOutput { op: "forward", what: format!("{other:?}") });
            }
        };
        if t.numel() != 1 || t.kind() != Kind::Float {
            return Err(VadError::BadOutput {
                op: "forward",
                what: format!("shape {:?} kind {:?}", t.size(), t.kind()),
            });
        }
        let p = t.f_double_value(&[0, 0]).map_err(|source| VadError::Torch { op: "read output", source })?;
        self.chunks += 1;
        Ok(p as f32)
    }
}

/// `silero_vad.jit` in the venv, if installed.
pub fn default_path() -> Option<PathBuf> {
    crate::weights::package_path(PACKAGE_JIT)
}

#[cfg(test)]
mod tests {
    //! Real weights, real speech: espeak-ng renders a sentence, sox converts
    //! it to 16 kHz mono; the model must call it speech and call silence and
    //! white noise not speech; and the same chunks through the Python
    //! `silero_vad` package in the venv must give the same probabilities.
    use super::*;
    use std::process::Command;

    fn speech_16k(text: &str) -> Vec<f32> {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("s.wav");
        let raw = dir.path().join("s.raw");
        let st =
            Command::new("espeak-ng").args(["-v", "en-us", "-w"]).arg(&wav).arg(text).status().expect("espeak-ng runs");
        assert!(st.success());
        let st = Command::new("sox")
            .arg(&wav)
            .args(["-t", "raw", "-r", "16000", "-c", "1", "-e", "floating-point", "-b", "32"])
            .arg(&raw)
            .status()
            .expect("sox runs");
        assert!(st.success());
        let bytes = std::fs::read(&raw).unwrap();
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    fn probs(vad: &mut SileroVad, pcm: &[f32]) -> Vec<f32> {
        pcm.chunks_exact(CHUNK_SAMPLES).map(|c| vad.prob(c).unwrap()).collect()
    }

    #[test]
    fn speech_is_speech_and_silence_is_not() {
        let mut vad = SileroVad::load_default().expect("silero_vad.jit in .venv");
        let speech = speech_16k("turn on the kitchen light and close the blinds");
        let p = probs(&mut vad, &speech);
        let speechy = p.iter().filter(|&&x| x > 0.5).count();
        assert!(
            speechy * 2 > p.len(),
            "expected most chunks of espeak speech above 0.5, got {speechy}/{}: {p:?}",
            p.len()
        );

        vad.reset().unwrap();
        let silence = vec![0.0f32; CHUNK_SAMPLES * 40];
        let p = probs(&mut vad, &silence);
        assert!(p.iter().all(|&x| x < 0.1), "silence: {p:?}");

        vad.reset().unwrap();
        // Deterministic white noise (xorshift), about -20 dBFS.
        let mut s: u32 = 0x1234_5678;
        let noise: Vec<f32> = (0..CHUNK_SAMPLES * 40)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 0.2
            })
            .collect();
        let p = probs(&mut vad, &noise);
        let speechy = p.iter().filter(|&&x| x > 0.5).count();
        assert!(speechy <= 2, "white noise judged speech in {speechy} chunks: {p:?}");
    }

    #[test]
    fn state_carries_across_chunks_and_reset_restores_it() {
        let mut vad = SileroVad::load_default().unwrap();
        let speech = speech_16k("hello there");
        let first = probs(&mut vad, &speech);
        // Same stream again without reset: the state differs, so at least the
        // first chunk's probability differs (it sees the previous context).
        let again = probs(&mut vad, &speech);
        vad.reset().unwrap();
        let fresh = probs(&mut vad, &speech);
        assert_eq!(first, fresh, "reset must give the same outputs as a fresh model");
        assert_ne!(first, again, "the module must be stateful across calls");
        assert_eq!(vad.chunks_since_reset(), fresh.len() as u64);
    }

    #[test]
    fn wrong_chunk_length_is_an_error() {
        let mut vad = SileroVad::load_default().unwrap();
        let err = vad.prob(&[0.0; 511]).unwrap_err();
        assert!(err.to_string().contains("got 511"), "{err}");
        let mut bad = vec![0.0f32; CHUNK_SAMPLES];
        bad[7] = f32::NAN;
        let err = vad.prob(&bad).unwrap_err();
        assert!(err.to_string().contains("index 7"), "{err}");
        assert!(SileroVad::load("/nonexistent/silero_vad.jit").is_err());
    }

    /// The venv's python, found next to site-packages (`<venv>/bin/python`).
    fn venv_python() -> PathBuf {
        let sp = crate::weights::site_packages().expect("venv site-packages");
        // <venv>/lib/python3.X/site-packages -> <venv>/bin/python
        sp.parent().unwrap().parent().unwrap().parent().unwrap().join("bin/python")
    }

    #[test]
    fn parity_with_python_silero_vad_package() {
        let mut pcm = vec![0.0f32; CHUNK_SAMPLES * 8];
        pcm.extend(speech_16k("set the living room lamp to fifty percent"));
        pcm.extend(vec![0.0f32; CHUNK_SAMPLES * 8]);
        pcm.truncate(pcm.len() / CHUNK_SAMPLES * CHUNK_SAMPLES);
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("pcm.f32");
        let bytes: Vec<u8> = pcm.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&raw, bytes).unwrap();

        let script = r#"
import sys, json, numpy as np, torch
torch.set_num_threads(1)
from silero_vad import load_silero_vad
model = load_silero_vad(onnx=False)
pcm = np.fromfile(sys.argv[1], dtype='<f4')
out = []
with torch.no_grad():
    for i in range(0, len(pcm), 512):
        out.append(float(model(torch.from_numpy(pcm[i:i+512].copy()).unsqueeze(0), 16000).item()))
print(json.dumps(out))
"#;
        let out = Command::new(venv_python())
            .env("HF_HUB_OFFLINE", "1")
            .env("TRANSFORMERS_OFFLINE", "1")
            .args(["-c", script])
            .arg(&raw)
            .output()
            .expect("venv python runs");
        assert!(out.status.success(), "python silero_vad failed: {}", String::from_utf8_lossy(&out.stderr));
        let reference: Vec<f32> = serde_json::from_slice(&out.stdout).unwrap();

        let mut vad = SileroVad::load_default().unwrap();
        let ours = probs(&mut vad, &pcm);
        assert_eq!(ours.len(), reference.len());
        let max_diff = ours.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(max_diff < 1e-4, "max |ours - python| = {max_diff}");
        // The comparison must not be vacuous: the clip has speech and silence.
        assert!(reference.iter().any(|&p| p > 0.5) && reference.iter().any(|&p| p < 0.1));
    }
}
