//! WordPiece tokenisation from the checkpoint's `tokenizer.json` (the
//! `tokenizers` crate, the library behind transformers' fast tokenizers),
//! truncated at the model's maximum length and padded per batch.
//!
//! `tokenizer.json` files saved by sentence-transformers carry a fixed
//! padding (`Fixed(128)`) and a truncation length that is not the one the
//! embedding model uses; both are replaced here: truncation at
//! `max_len` tokens (special tokens included, like
//! `tokenizer(..., truncation=True, max_length=max_len)`), and padding to the
//! longest sequence of each batch.
use std::path::Path;

use tch::{Device, Kind, Tensor};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::{BertError, tch_err};

/// One tokenised text: ids, byte offsets into the original text (special
/// tokens have `(0, 0)`), and which positions are special tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedText {
    pub ids: Vec<u32>,
    /// Byte range of each token in the text it came from.
    pub offsets: Vec<(usize, usize)>,
    /// `[CLS]`, `[SEP]` (no text behind them).
    pub special: Vec<bool>,
    /// Index of the pre-tokenizer word each token belongs to (`None` for
    /// special tokens); word pieces of one word share it.
    pub words: Vec<Option<u32>>,
}

impl TokenizedText {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A padded batch, ready for [`super::BertModel::forward`].
#[derive(Debug)]
pub struct TokenBatch {
    /// `[B, T]` int64, padded with the pad id.
    pub input_ids: Tensor,
    /// `[B, T]` int64, 1 for tokens and 0 for padding.
    pub attention_mask: Tensor,
    pub texts: Vec<TokenizedText>,
}

/// The checkpoint's tokenizer with the model's truncation length.
pub struct BertTokenizer {
    inner: Tokenizer,
    max_len: usize,
    pad_id: u32,
}

impl std::fmt::Debug for BertTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertTokenizer").field("max_len", &self.max_len).field("pad_id", &self.pad_id).finish()
    }
}

impl BertTokenizer {
    /// Load `tokenizer.json`; inputs are truncated to `max_len` tokens.
    pub fn from_file(path: &Path, max_len: usize, pad_id: u32) -> Result<Self, BertError> {
        if max_len < 2 {
            return Err(BertError::Config(format!("max_len {max_len} leaves no room for [CLS] and [SEP]")));
        }
        let mut inner =
            Tokenizer::from_file(path).map_err(|e| BertError::Tokenizer(format!("loading {}: {e}", path.display())))?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| BertError::Tokenizer(format!("truncation: {e}")))?;
        Ok(BertTokenizer { inner, max_len, pad_id })
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The wrapped `tokenizers` tokenizer (vocabulary look-ups, decoding).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Tokenise one text with `[CLS]`/`[SEP]`, truncated.
    pub fn encode(&self, text: &str) -> Result<TokenizedText, BertError> {
        let enc = self.inner.encode(text, true).map_err(|e| BertError::Tokenizer(e.to_string()))?;
        Ok(TokenizedText {
            ids: enc.get_ids().to_vec(),
            offsets: enc.get_offsets().to_vec(),
            special: enc.get_special_tokens_mask().iter().map(|&s| s != 0).collect(),
            words: enc.get_word_ids().to_vec(),
        })
    }

    /// Tokenise and pad a batch (right padding to the longest text).
    pub fn batch(&self, texts: &[&str], device: Device) -> Result<TokenBatch, BertError> {
        if texts.is_empty() {
            return Err(BertError::Input("empty batch".into()));
        }
        let texts = texts.iter().map(|t| self.encode(t)).collect::<Result<Vec<_>, _>>()?;
        pad(texts, self.pad_id, device)
    }
}

/// Right-pad tokenised texts into `[B, T]` ids and mask tensors.
pub fn pad(texts: Vec<TokenizedText>, pad_id: u32, device: Device) -> Result<TokenBatch, BertError> {
    let len = texts.iter().map(TokenizedText::len).max().unwrap_or(0);
    if len == 0 {
        return Err(BertError::Input("every text tokenised to nothing".into()));
    }
    let mut ids = Vec::with_capacity(texts.len() * len);
    let mut mask = Vec::with_capacity(texts.len() * len);
    for t in &texts {
        ids.extend(t.ids.iter().map(|&i| i64::from(i)));
        ids.extend(std::iter::repeat_n(i64::from(pad_id), len - t.len()));
        mask.extend(std::iter::repeat_n(1i64, t.len()));
        mask.extend(std::iter::repeat_n(0i64, len - t.len()));
    }
    let shape = [texts.len() as i64, len as i64];
    let t = tch_err("batch tensors");
    let input_ids = Tensor::from_slice(&ids).f_view(shape).and_then(|x| x.f_to_device(device)).map_err(&t)?;
    let attention_mask = Tensor::from_slice(&mask).f_view(shape).and_then(|x| x.f_to_device(device)).map_err(&t)?;
    debug_assert_eq!(input_ids.kind(), Kind::Int64);
    Ok(TokenBatch { input_ids, attention_mask, texts })
}
