//! Multi-task heads over one sentence-encoder pass ([`crate::bert`]):
//!
//! - intent classification: a linear layer over the mean-pooled sentence
//!   state -> one logit per intent (the list always holds [`NONE_INTENT`]);
//! - BIO slot tagging: a linear layer over every token's state and its
//!   two neighbours' (`[h_t; h_t-1; h_t+1]`, see [`slot_features`]) ->
//!   `2 n + 1` tags for `n` slot types, turned back into spans of the
//!   original text through the tokenizer's offsets ([`bio`]). The
//!   neighbours let the tagger read "the X in the Y" from context, which is
//!   what carries it to names it never saw in training;
//! - the normalised sentence embedding itself (for retrieval).
//!
//! [`MultiTaskHeads::forward`] returns all three per text. The heads save to
//! and load from a small safetensors file whose metadata holds the label
//! names, so a checkpoint describes itself ([`MultiTaskHeads::save`]).
//! [`train_heads`] trains both heads on frozen encoder outputs (computed
//! once) with autograd and AdamW on CPU.
use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use tch::{Device, Kind, Tensor};

use crate::bert::{BertError, Encoded, SentenceEncoder};

mod bio;
mod io;
mod train;

pub use bio::{IGNORE, SlotSpan, decode_spans, tag_names, token_tags};
pub use io::HEADS_FORMAT;
pub use train::{Metrics, SlotLabel, TrainExample, TrainOptions, TrainReport, evaluate, train_heads};

/// The intent of anything the heads should not act on.
pub const NONE_INTENT: &str = "none";

#[derive(Debug, thiserror::Error)]
pub enum HeadsError {
    #[error(transparent)]
    Encoder(#[from] BertError),
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad heads checkpoint {path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("labels: {0}")]
    Labels(String),
    #[error("training: {0}")]
    Train(String),
    #[error("libtorch op `{op}` failed: {source}")]
    Torch {
        op: &'static str,
        #[source]
        source: tch::TchError,
    },
}

pub(crate) fn terr(op: &'static str) -> impl Fn(tch::TchError) -> HeadsError {
    move |source| HeadsError::Torch { op, source }
}

/// What the heads say about one text.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadsOutput {
    pub intent: String,
    pub intent_index: usize,
    /// Softmax probability of `intent` (not calibrated here).
    pub confidence: f32,
    /// Softmax over every intent, in [`MultiTaskHeads::intents`] order.
    pub intent_probs: Vec<f32>,
    pub slots: Vec<SlotSpan>,
    /// Normalised sentence embedding.
    pub embedding: Vec<f32>,
}

/// The intent and slot heads (weights `[out, hidden]`, CPU, f32).
#[derive(Debug)]
pub struct MultiTaskHeads {
    intents: Vec<String>,
    slot_types: Vec<String>,
    hidden: i64,
    /// `intent.weight` `[n_intents, hidden]`, `intent.bias` `[n_intents]`.
    intent_weight: Tensor,
    intent_bias: Tensor,
    /// `slot.weight` `[2 n_slot_types + 1, 3 hidden]` (over [`slot_features`]), `slot.bias`.
    slot_weight: Tensor,
    slot_bias: Tensor,
}

/// Tokens plus their left and right neighbours: `[B, T, H]` ->
/// `[B, T, 3 H]` = `[h_t; h_t-1; h_t+1]`, zeros past either end. (`[CLS]`
/// and `[SEP]` bound every text, so a word's neighbours are always real
/// tokens of the same text, padded batch or not.)
pub fn slot_features(token_states: &Tensor) -> Result<Tensor, HeadsError> {
    let t = terr("slot features");
    let (b, len, h) = token_states.size3().map_err(&t)?;
    if len == 0 {
        return Tensor::f_zeros([b, 0, 3 * h], (token_states.kind(), token_states.device())).map_err(&t);
    }
    let zero = Tensor::f_zeros([b, 1, h], (token_states.kind(), token_states.device())).map_err(&t)?;
    let prev = Tensor::f_cat(&[&zero, &token_states.f_narrow(1, 0, len - 1).map_err(&t)?], 1).map_err(&t)?;
    let next = Tensor::f_cat(&[&token_states.f_narrow(1, 1, len - 1).map_err(&t)?, &zero], 1).map_err(&t)?;
    Tensor::f_cat(&[token_states, &prev, &next], 2).map_err(&t)
}

fn check_labels(what: &str, names: &[String]) -> Result<(), HeadsError> {
    let mut seen = std::collections::HashSet::new();
    for n in names {
        if n.trim().is_empty() {
            return Err(HeadsError::Labels(format!("empty {what} name")));
        }
        if !seen.insert(n) {
            return Err(HeadsError::Labels(format!("{what} `{n}` listed twice")));
        }
    }
    Ok(())
}

impl MultiTaskHeads {
    /// Fresh heads for `intents` ([`NONE_INTENT`] is appended when missing)
    /// and `slot_types`: weights uniform in `±1/sqrt(hidden)` from a
    /// generator seeded with `seed`, biases zero.
    pub fn new(hidden: i64, mut intents: Vec<String>, slot_types: Vec<String>, seed: u64) -> Result<Self, HeadsError> {
        if hidden <= 0 {
            return Err(HeadsError::Labels(format!("hidden size {hidden}")));
        }
        if !intents.iter().any(|i| i == NONE_INTENT) {
            intents.push(NONE_INTENT.to_string());
        }
        check_labels("intent", &intents)?;
        check_labels("slot type", &slot_types)?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let bound = 1.0 / (hidden as f32).sqrt();
        let mut init = |rows: usize, cols: i64| {
            let v: Vec<f32> = (0..rows * cols as usize).map(|_| rng.random_range(-bound..bound)).collect();
            Tensor::from_slice(&v).f_view([rows as i64, cols]).map_err(terr("init heads"))
        };
        let n_tags = 2 * slot_types.len() + 1;
        let intent_weight = init(intents.len(), hidden)?;
        let slot_weight = init(n_tags, 3 * hidden)?;
        let zeros = |n: usize| Tensor::f_zeros([n as i64], (Kind::Float, Device::Cpu)).map_err(terr("init heads"));
        Ok(MultiTaskHeads {
            intent_bias: zeros(intents.len())?,
            slot_bias: zeros(n_tags)?,
            intents,
            slot_types,
            hidden,
            intent_weight,
            slot_weight,
        })
    }

    pub fn intents(&self) -> &[String] {
        &self.intents
    }

    pub fn slot_types(&self) -> &[String] {
        &self.slot_types
    }

    /// `O`, `B-<slot>`, `I-<slot>`, ... in tag-id order.
    pub fn tag_names(&self) -> Vec<String> {
        tag_names(&self.slot_types)
    }

    pub fn hidden_size(&self) -> i64 {
        self.hidden
    }

    /// `[.., hidden]` pooled states -> `[.., n_intents]` logits.
    pub fn intent_logits(&self, pooled: &Tensor) -> Result<Tensor, HeadsError> {
        pooled.f_linear(&self.intent_weight, Some(&self.intent_bias)).map_err(terr("intent head"))
    }

    /// `[B, T, hidden]` token states -> `[B, T, n_tags]` logits.
    pub fn slot_logits(&self, token_states: &Tensor) -> Result<Tensor, HeadsError> {
        self.slot_logits_from_features(&slot_features(token_states)?)
    }

    /// `[.., 3 hidden]` [`slot_features`] rows -> `[.., n_tags]` logits.
    pub fn slot_logits_from_features(&self, features: &Tensor) -> Result<Tensor, HeadsError> {
        features.f_linear(&self.slot_weight, Some(&self.slot_bias)).map_err(terr("slot head"))
    }

    /// Intent, slots and embedding for each of `texts`, from one encoder
    /// pass `enc` over exactly those texts.
    pub fn forward(&self, texts: &[&str], enc: &Encoded) -> Result<Vec<HeadsOutput>, HeadsError> {
        if texts.len() != enc.tokens.len() {
            return Err(HeadsError::Labels(format!("{} texts for {} encoded rows", texts.len(), enc.tokens.len())));
        }
        let width = enc.pooled.size().last().copied().unwrap_or(0);
        if width != self.hidden {
            return Err(HeadsError::Labels(format!("encoder width {width}, heads expect {}", self.hidden)));
        }
        let _guard = tch::no_grad_guard();
        let cpu = |t: Tensor| t.f_to_device(Device::Cpu).map_err(terr("to cpu"));
        let t = terr("heads forward");
        let intent_probs = cpu(self.intent_logits(&enc.pooled)?.f_softmax(-1, Kind::Float).map_err(&t)?)?;
        let intent_probs = Vec::<Vec<f32>>::try_from(&intent_probs).map_err(&t)?;
        let tag_probs = self.slot_logits(&enc.token_states)?.f_softmax(-1, Kind::Float).map_err(&t)?;
        let (best_p, best_tag) = tag_probs.f_max_dim(-1, false).map_err(&t)?;
        let best_p = Vec::<Vec<f32>>::try_from(&cpu(best_p)?).map_err(&t)?;
        let best_tag = Vec::<Vec<i64>>::try_from(&cpu(best_tag)?).map_err(&t)?;
        let embeddings = enc.embedding_rows()?;
        let mut out = Vec::with_capacity(texts.len());
        for (b, text) in texts.iter().enumerate() {
            let (Some(probs), Some(tags), Some(ps), Some(emb), Some(tokens)) =
                (intent_probs.get(b), best_tag.get(b), best_p.get(b), embeddings.get(b), enc.tokens.get(b))
            else {
                return Err(HeadsError::Labels(format!("row {b} missing from the encoder output")));
            };
            let (intent_index, confidence) =
                probs.iter().copied().enumerate().fold((0, f32::MIN), |a, (i, p)| if p > a.1 { (i, p) } else { a });
            let tagged: Vec<(i64, f32)> = tags.iter().copied().zip(ps.iter().copied()).take(tokens.len()).collect();
            out.push(HeadsOutput {
                intent: self.intents.get(intent_index).cloned().unwrap_or_default(),
                intent_index,
                confidence,
                intent_probs: probs.clone(),
                slots: decode_spans(text, tokens, &tagged, &self.slot_types),
                embedding: emb.clone(),
            });
        }
        Ok(out)
    }
}

/// A sentence encoder and heads trained on its outputs: text in, intent,
/// slots and embedding out, from one encoder pass.
#[derive(Debug)]
pub struct MultiTaskModel {
    pub encoder: SentenceEncoder,
    pub heads: MultiTaskHeads,
}

impl MultiTaskModel {
    pub fn new(encoder: SentenceEncoder, heads: MultiTaskHeads) -> Result<Self, HeadsError> {
        if encoder.hidden_size() != heads.hidden_size() {
            return Err(HeadsError::Labels(format!(
                "encoder width {} does not match heads width {}",
                encoder.hidden_size(),
                heads.hidden_size()
            )));
        }
        Ok(MultiTaskModel { encoder, heads })
    }

    /// One encoder pass over `texts`, then both heads.
    pub fn forward(&self, texts: &[&str]) -> Result<Vec<HeadsOutput>, HeadsError> {
        let enc = self.encoder.encode(texts)?;
        self.heads.forward(texts, &enc)
    }

    /// [`Self::forward`] for one text.
    pub fn understand(&self, text: &str) -> Result<HeadsOutput, HeadsError> {
        self.forward(&[text])?.pop().ok_or_else(|| HeadsError::Labels("no output row".into()))
    }
}

#[cfg(test)]
mod tests;
