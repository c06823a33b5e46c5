//! Whisper configuration: the model's dimensions (read from the weights) and
//! the decoding defaults shipped beside them (CTranslate2's `config.json` or
//! Hugging Face's `config.json` / `generation_config.json`).
use serde::Deserialize;

/// Dimensions of a Whisper checkpoint (openai/whisper `ModelDimensions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dims {
    /// `n_mels`: 80, or 128 for large-v3.
    pub n_mels: usize,
    /// `n_audio_ctx`: encoder positions (1500 = 30 s after the stride-2 conv).
    pub n_audio_ctx: usize,
    /// `n_audio_state` / `d_model`.
    pub d_model: usize,
    pub encoder_heads: usize,
    pub encoder_layers: usize,
    /// `n_vocab`: 51864 for English-only models, 51865+ for multilingual ones.
    pub n_vocab: usize,
    /// `n_text_ctx`: decoder positions (448).
    pub n_text_ctx: usize,
    pub decoder_heads: usize,
    pub decoder_layers: usize,
}

impl Dims {
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= 51865
    }
}

/// CTranslate2's Whisper `config.json` (written by its converter).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Ct2Config {
    /// Cross-attention heads used for word alignment (not used here).
    #[serde(default)]
    pub alignment_heads: Vec<(usize, usize)>,
    /// Language token ids (multilingual models).
    #[serde(default)]
    pub lang_ids: Vec<u32>,
    /// Tokens suppressed when the caller passes `-1` in `suppress_tokens`.
    #[serde(default)]
    pub suppress_ids: Vec<u32>,
    /// Tokens suppressed at the first step when `suppress_blank` is on (" " and EOT).
    #[serde(default)]
    pub suppress_ids_begin: Vec<u32>,
}

/// The parts of Hugging Face's `WhisperConfig` we need (names as in config.json).
#[derive(Debug, Clone, Deserialize)]
pub struct HfConfig {
    pub d_model: usize,
    pub encoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_layers: usize,
    pub decoder_attention_heads: usize,
    #[serde(default = "default_mels")]
    pub num_mel_bins: usize,
    pub vocab_size: usize,
    #[serde(default = "default_source")]
    pub max_source_positions: usize,
    #[serde(default = "default_target")]
    pub max_target_positions: usize,
    #[serde(default)]
    pub suppress_tokens: Option<Vec<u32>>,
    #[serde(default)]
    pub begin_suppress_tokens: Option<Vec<u32>>,
    #[serde(default)]
    pub activation_function: Option<String>,
    #[serde(default)]
    pub scale_embedding: Option<bool>,
}

fn default_mels() -> usize {
    80
}
fn default_source() -> usize {
    1500
}
fn default_target() -> usize {
    448
}

/// `generation_config.json` of a Hugging Face checkpoint (optional).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HfGenerationConfig {
    #[serde(default)]
    pub suppress_tokens: Option<Vec<u32>>,
    #[serde(default)]
    pub begin_suppress_tokens: Option<Vec<u32>>,
}

impl HfConfig {
    pub fn dims(&self) -> Dims {
        Dims {
            n_mels: self.num_mel_bins,
            n_audio_ctx: self.max_source_positions,
            d_model: self.d_model,
            encoder_heads: self.encoder_attention_heads,
            encoder_layers: self.encoder_layers,
            n_vocab: self.vocab_size,
            n_text_ctx: self.max_target_positions,
            decoder_heads: self.decoder_attention_heads,
            decoder_layers: self.decoder_layers,
        }
    }
}

/// Decoding defaults that travel with a checkpoint.
#[derive(Debug, Clone, Default)]
pub struct SuppressConfig {
    /// What `-1` in [`super::DecodeOptions::suppress_tokens`] expands to in CTranslate2.
    pub suppress_ids: Vec<u32>,
    /// Suppressed at the first generated step when `suppress_blank` is on.
    pub suppress_ids_begin: Vec<u32>,
}
