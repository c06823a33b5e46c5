//! Multi-task heads over one sentence-encoder pass ([`crate::bert`]):
//!
//! - intent classification: a two-layer perceptron (`Linear -> GELU ->
//!   Linear`) over the sentence's mean- and max-pooled token states
//!   ([`intent_features`]) -> one logit per intent (the list always holds
//!   [`NONE_INTENT`]). The max pool keeps what one word carries ("on"
//!   against "off"), which the mean, made for sentence similarity, blurs;
//! - BIO slot tagging: the same shape of perceptron over every token's
//!   state and its neighbours' up to [`SLOT_CONTEXT`] tokens away on each
//!   side (`[h_t; h_t-1; h_t+1; h_t-2; h_t+2]`, see [`slot_features`]) ->
//!   `2 n + 1` tags for `n` slot types, turned back into spans of the
//!   original text through the tokenizer's offsets ([`bio`]). The
//!   neighbours let the tagger read "the X in the Y" from context, which is
//!   what carries it to names it never saw in training;
//! - the normalised sentence embedding itself (for retrieval).
//!
//! [`train_heads`] trains both heads on frozen encoder outputs (computed
//! once) with autograd, dropout and AdamW on CPU, then fine-tunes a copy of
//! the encoder's top layers with them ([`TopLayers`], kept in
//! [`MultiTaskHeads::top`]): the heads read the tuned layers over the
//! shared lower layers, while the sentence embedding stays the untouched
//! encoder's, so an embedding kept for retrieval would not change with
//! each training. [`MultiTaskHeads::forward`] returns all three per text from a
//! full encoder pass; [`MultiTaskHeads::classify`], the request path, runs
//! the shared layers and the tuned ones only (as many layers as the encoder
//! has) and skips the embedding. The heads save to and load from one
//! safetensors file whose metadata holds the label names, so a checkpoint
//! describes itself ([`MultiTaskHeads::save`]).
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

use crate::bert::{BertError, Encoded, SentenceEncoder, TokenizedText, TopLayers, mean_pool};

mod bio;
mod fit;
mod io;
mod mlp;
mod train;
mod tune;

pub use bio::{IGNORE, SlotSpan, decode_spans, join_spelled_numbers, tag_names, token_tags};
pub use fit::{fit_to_values, value_key};
pub use io::HEADS_FORMAT;
use mlp::Mlp;
pub use train::{
    MAX_SLOT_MISSES, Metrics, SlotCounts, SlotLabel, SlotMiss, TrainExample, TrainOptions, TrainReport, evaluate,
    train_heads,
};

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
    /// The [`ALTERNATIVES`] likeliest intents, most likely first (the first
    /// is `intent`, with `slots`), each with the slots decoded among its
    /// own slot types: what the reading would be if the intent were that
    /// one.
    pub alternatives: Vec<Alternative>,
    /// The encoder's normalised sentence embedding (the untouched
    /// encoder's, for retrieval), when the pass computed it:
    /// [`MultiTaskHeads::forward`] does, [`MultiTaskHeads::classify`] does not.
    pub embedding: Option<Vec<f32>>,
}

/// One intent the text may mean, and its slots read as that intent's.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    /// Index into [`MultiTaskHeads::intents`].
    pub intent_index: usize,
    pub slots: Vec<SlotSpan>,
}

/// How many of the likeliest intents [`HeadsOutput::alternatives`] holds.
pub const ALTERNATIVES: usize = 3;

/// Tokens read on each side of the one being tagged.
pub const SLOT_CONTEXT: i64 = 2;
/// Width of each head's hidden layer.
pub const HEAD_HIDDEN: i64 = 256;

/// The intent and slot heads (CPU, f32).
#[derive(Debug)]
pub struct MultiTaskHeads {
    intents: Vec<String>,
    slot_types: Vec<String>,
    hidden: i64,
    /// `[2 hidden]` ([`intent_features`]) -> `[n_intents]`.
    intent: Mlp,
    /// `[(2 SLOT_CONTEXT + 1) hidden]` ([`slot_features`]) -> `[2 n_slot_types + 1]`.
    slot: Mlp,
    /// The encoder's top layers as fine-tuned with the heads, run over the
    /// shared encoder pass's states below them; `None`: the heads read the
    /// encoder's last states as they are.
    top: Option<TopLayers>,
    /// The language's numbers as words ("forty two"), as the corpus
    /// spelled them: a slot span that is one takes in the words next to it
    /// that continue it ([`join_spelled_numbers`]).
    spelled_numbers: BTreeSet<String>,
    /// The values of the closed slot types (areas, floors, device classes,
    /// states, colours) as [`value_key`]s: a span of one is fitted to them
    /// ([`fit_to_values`]). Empty: spans stay as tagged.
    slot_values: BTreeMap<String, BTreeSet<String>>,
    /// The slot types each intent was trained with ([`Self::set_intent_slots`]):
    /// a token's tag is chosen among that intent's. Empty: every tag.
    intent_slots: BTreeMap<String, BTreeSet<String>>,
    /// The slot types every training example of an intent had
    /// ([`Self::set_intent_needs`]).
    intent_needs: BTreeMap<String, BTreeSet<String>>,
    /// [`Self::set_compute_kind`]'s copies for [`Self::classify`].
    fast: Option<Fast>,
}

/// The encoder layers [`MultiTaskHeads::classify`] runs, copied to another
/// compute dtype: the encoder's own layers below the tuned ones, then the
/// tuned ones.
#[derive(Debug)]
struct Fast {
    below: Option<TopLayers>,
    top: TopLayers,
}

/// The dtype to run the heads' encoder layers in on this CPU
/// ([`MultiTaskHeads::set_compute_kind`]): bf16 where the CPU has bf16
/// arithmetic (x86-64 AVX512-BF16), f32 elsewhere, where libtorch emulates
/// bf16 and is slower than in f32.
pub fn inference_kind() -> Kind {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512bf16") {
        return Kind::BFloat16;
    }
    Kind::Float
}

/// The intent head's input: the `[B, H]` mean-pooled states the encoder
/// already computed ([`Encoded::pooled`]), the `[B, T, H]` token states and
/// the `[B, T]` attention mask -> `[B, 2 H]` = `[mean; max]` over each row's
/// tokens (padding excluded from the max as from the mean).
pub fn intent_features(mean: &Tensor, token_states: &Tensor, attention_mask: &Tensor) -> Result<Tensor, HeadsError> {
    let t = terr("intent features");
    let pad = attention_mask.f_eq(0).and_then(|m| m.f_unsqueeze(-1)).map_err(&t)?;
    let (max, _) =
        token_states.f_masked_fill(&pad, f64::NEG_INFINITY).and_then(|x| x.f_max_dim(1, false)).map_err(&t)?;
    Tensor::f_cat(&[mean, &max], -1).map_err(&t)
}

/// Tokens plus their neighbours up to [`SLOT_CONTEXT`] away: `[B, T, H]`
/// token states and the `[B, T]` attention mask -> `[B, T, (2 SLOT_CONTEXT
/// + 1) H]` = `[h_t; h_t-1; h_t+1; h_t-2; h_t+2]`, zeros past either end of
/// the text. Padding reads as zeros too, so a text's features are the same
/// alone (as a request is read) or in a padded batch (as training reads it):
/// the last word's neighbour two away is past `[SEP]`.
pub fn slot_features(token_states: &Tensor, attention_mask: &Tensor) -> Result<Tensor, HeadsError> {
    let t = terr("slot features");
    let (b, len, h) = token_states.size3().map_err(&t)?;
    let token_states = &attention_mask
        .f_unsqueeze(-1)
        .and_then(|m| m.f_to_kind(token_states.kind()))
        .and_then(|m| token_states.f_mul(&m))
        .map_err(&t)?;
    let width = (2 * SLOT_CONTEXT + 1) * h;
    if len == 0 {
        return Tensor::f_zeros([b, 0, width], (token_states.kind(), token_states.device())).map_err(&t);
    }
    let mut parts = vec![token_states.shallow_clone()];
    for d in 1..=SLOT_CONTEXT {
        let keep = (len - d).max(0);
        let zero = Tensor::f_zeros([b, len - keep, h], (token_states.kind(), token_states.device())).map_err(&t)?;
        let before = token_states.f_narrow(1, 0, keep).map_err(&t)?;
        let after = token_states.f_narrow(1, len - keep, keep).map_err(&t)?;
        parts.push(Tensor::f_cat(&[&zero, &before], 1).map_err(&t)?);
        parts.push(Tensor::f_cat(&[&after, &zero], 1).map_err(&t)?);
    }
    Tensor::f_cat(&parts, 2).map_err(&t)
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
    /// and `slot_types`: weights uniform in `±1/sqrt(fan_in)` from a
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
        let n_tags = 2 * slot_types.len() as i64 + 1;
        let intent = Mlp::new(&mut rng, 2 * hidden, HEAD_HIDDEN, intents.len() as i64)?;
        let slot = Mlp::new(&mut rng, (2 * SLOT_CONTEXT + 1) * hidden, HEAD_HIDDEN, n_tags)?;
        let (spelled_numbers, slot_values, intent_slots, intent_needs) = Default::default();
        Ok(MultiTaskHeads {
            intents,
            slot_types,
            hidden,
            intent,
            slot,
            top: None,
            spelled_numbers,
            slot_values,
            intent_slots,
            intent_needs,
            fast: None,
        })
    }

    /// The numbers as words a slot span may grow to ([`join_spelled_numbers`]).
    pub fn spelled_numbers(&self) -> &BTreeSet<String> {
        &self.spelled_numbers
    }

    pub fn set_spelled_numbers(&mut self, numbers: impl IntoIterator<Item = String>) {
        self.spelled_numbers = numbers.into_iter().map(|w| w.to_lowercase()).collect();
    }

    /// The closed slot types' values ([`Self::set_slot_values`]).
    pub fn slot_values(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.slot_values
    }

    /// The values each closed slot type can take (any case and spacing;
    /// kept as [`value_key`]s): a decoded span of such a type is fitted to
    /// them ([`fit_to_values`]). A type the heads do not tag is an error.
    pub fn set_slot_values(&mut self, map: BTreeMap<String, BTreeSet<String>>) -> Result<(), HeadsError> {
        if let Some(t) = map.keys().find(|t| !self.slot_types.contains(t)) {
            return Err(HeadsError::Labels(format!("slot values for `{t}`, not one of {:?}", self.slot_types)));
        }
        self.slot_values = map
            .into_iter()
            .map(|(t, vs)| (t, vs.iter().map(|v| value_key(v)).filter(|v| !v.is_empty()).collect()))
            .collect();
        Ok(())
    }

    /// The slot types each intent takes, as its training examples had them.
    pub fn intent_slots(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.intent_slots
    }

    /// Decode each text's slots among the slot types its intent takes
    /// (`intent` -> slot types; intents left out take none): "hall 66"
    /// read as a light's request tags a brightness, never a position. A
    /// slot type the heads do not tag is an error; empty: every tag.
    pub fn set_intent_slots(&mut self, map: BTreeMap<String, BTreeSet<String>>) -> Result<(), HeadsError> {
        self.check_intent_table("slot", &map)?;
        self.intent_slots = map;
        Ok(())
    }

    /// The slot types every training example of each intent had.
    pub fn intent_needs(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.intent_needs
    }

    /// The slot types a reading of each intent needs to be one the
    /// training sentences could have been (`intent` -> slot types; intents
    /// left out need none): "turn on {name}" always has a name, so a
    /// reading of that intent without one is not a reading of it.
    pub fn set_intent_needs(&mut self, map: BTreeMap<String, BTreeSet<String>>) -> Result<(), HeadsError> {
        self.check_intent_table("needed slot", &map)?;
        self.intent_needs = map;
        Ok(())
    }

    fn check_intent_table(&self, what: &str, map: &BTreeMap<String, BTreeSet<String>>) -> Result<(), HeadsError> {
        if let Some(t) = map.values().flatten().find(|t| !self.slot_types.contains(t)) {
            return Err(HeadsError::Labels(format!("intent {what} type `{t}` is not one of {:?}", self.slot_types)));
        }
        if let Some(i) = map.keys().find(|i| !self.intents.contains(i)) {
            return Err(HeadsError::Labels(format!(
                "intent `{i}` of the {what} table is not one of the heads' intents"
            )));
        }
        Ok(())
    }

    /// Whether `slots` hold every slot type the intent `intent_index` needs
    /// ([`Self::set_intent_needs`]).
    pub fn complete(&self, intent_index: usize, slots: &[SlotSpan]) -> bool {
        let Some(needs) = self.intents.get(intent_index).and_then(|i| self.intent_needs.get(i)) else { return true };
        needs.iter().all(|n| slots.iter().any(|s| &s.slot == n))
    }

    /// `[rows.len(), n_tags]`: 1 where row `r`'s intent (`rows[r]`, an index
    /// into [`Self::intents`]) takes the tag's slot type (and for `O`), 0
    /// elsewhere; `None` without a table.
    fn tag_mask(&self, rows: &[i64]) -> Result<Option<Tensor>, HeadsError> {
        if self.intent_slots.is_empty() {
            return Ok(None);
        }
        let none = BTreeSet::new();
        let table: Vec<f32> = (self.intents.iter())
            .flat_map(|intent| {
                let takes = self.intent_slots.get(intent).unwrap_or(&none);
                let slot = self.slot_types.iter().map(move |t| if takes.contains(t) { 1.0 } else { 0.0 });
                std::iter::once(1.0).chain(slot.flat_map(|x| [x, x]))
            })
            .collect();
        let t = terr("tag mask");
        let n_tags = 2 * self.slot_types.len() as i64 + 1;
        let table =
            Tensor::f_from_slice(&table).and_then(|x| x.f_view([self.intents.len() as i64, n_tags])).map_err(&t)?;
        Ok(Some(table.f_index_select(0, &Tensor::from_slice(rows)).map_err(&t)?))
    }

    /// The likeliest tag and its probability per row of `probs` (`[N, n_tags]`
    /// or `[N, T, n_tags]`), among the tags of row `n`'s intent `rows[n]`.
    pub(crate) fn best_tags(&self, probs: &Tensor, rows: &[i64]) -> Result<(Tensor, Tensor), HeadsError> {
        let t = terr("best tags");
        let pick = match self.tag_mask(rows)? {
            None => probs.shallow_clone(),
            Some(m) if probs.dim() == 3 => probs.f_mul(&m.f_unsqueeze(1).map_err(&t)?).map_err(&t)?,
            Some(m) => probs.f_mul(&m).map_err(&t)?,
        };
        let (_, tag) = pick.f_max_dim(-1, false).map_err(&t)?;
        let p = probs.f_gather(-1, &tag.f_unsqueeze(-1).map_err(&t)?, false).and_then(|x| x.f_squeeze_dim(-1));
        Ok((p.map_err(&t)?, tag))
    }

    /// Slot spans of `text` from its per-token `(tag, probability)`, read
    /// as intent `intent_index`'s (the types it takes, for
    /// [`fit_to_values`]).
    pub fn decode(
        &self,
        text: &str,
        tokens: &TokenizedText,
        tagged: &[(i64, f32)],
        intent_index: usize,
    ) -> Vec<SlotSpan> {
        let spans =
            join_spelled_numbers(text, decode_spans(text, tokens, tagged, &self.slot_types), &self.spelled_numbers);
        let takes = self.intents.get(intent_index).and_then(|i| self.intent_slots.get(i));
        fit_to_values(text, spans, &self.slot_values, takes)
    }

    /// The encoder's top layers tuned for these heads, if any.
    pub fn top(&self) -> Option<&TopLayers> {
        self.top.as_ref()
    }

    /// Read the encoder's states through `top` (layers tuned with these
    /// heads) instead of the encoder's own last layers.
    pub fn set_top(&mut self, top: Option<TopLayers>) -> Result<(), HeadsError> {
        if let Some(t) = &top
            && t.config().hidden_size != self.hidden
        {
            return Err(HeadsError::Labels(format!(
                "tuned layers of width {}, heads expect {}",
                t.config().hidden_size,
                self.hidden
            )));
        }
        self.top = top;
        self.fast = None;
        Ok(())
    }

    /// Run [`Self::classify`]'s encoder layers in `kind` from now on:
    /// `BFloat16` copies of `encoder`'s layers below the tuned ones and of
    /// the tuned ones (about 21 MB for MiniLM-L6) make a request 1.7x
    /// faster on a CPU with bf16 arithmetic (AVX512-BF16, AMX), at intent
    /// probabilities within a few hundredths; `Float` drops the copies.
    /// Heads without tuned layers read the encoder's pass as it is.
    /// `classify` must then be given this same encoder.
    pub fn set_compute_kind(&mut self, encoder: &SentenceEncoder, kind: Kind) -> Result<(), HeadsError> {
        self.fast = None;
        let Some(top) = self.top.as_ref().filter(|_| kind != Kind::Float) else { return Ok(()) };
        let below = match top.first() {
            0 => None,
            n => Some(TopLayers::range(encoder.model(), 0, n, kind)?),
        };
        self.fast = Some(Fast { below, top: top.to_kind(kind)? });
        Ok(())
    }

    /// The dtype [`Self::classify`] runs the encoder layers in.
    /// ([`inference_kind`] is the one to pick on this machine.)
    pub fn compute_kind(&self) -> Kind {
        self.fast.as_ref().map_or(Kind::Float, |f| f.top.kind())
    }

    /// The token states and mean-pooled states the heads read from one
    /// encoder pass: the last layer's, or those of [`Self::top`] run over
    /// the pass's states below it (the pass's embedding is untouched).
    pub fn states(&self, enc: &Encoded) -> Result<(Tensor, Tensor), HeadsError> {
        let Some(top) = &self.top else {
            return Ok((enc.token_states.shallow_clone(), enc.pooled.shallow_clone()));
        };
        let layers = top.config().num_hidden_layers as usize;
        let below = enc.hidden_states.get(top.first()).filter(|_| enc.hidden_states.len() == layers + 1);
        let Some(below) = below else {
            return Err(HeadsError::Labels(format!(
                "the heads carry tuned layers of a {layers}-layer encoder; this encoder pass has {} stages",
                enc.hidden_states.len()
            )));
        };
        let states = top.forward(below, &enc.attention_mask)?;
        let pooled = mean_pool(&states, &enc.attention_mask)?;
        Ok((states, pooled))
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

    /// `[.., 2 hidden]` [`intent_features`] rows -> `[.., n_intents]` logits.
    pub fn intent_logits(&self, features: &Tensor) -> Result<Tensor, HeadsError> {
        self.intent.forward(features)
    }

    /// `[B, T, hidden]` token states and the `[B, T]` attention mask ->
    /// `[B, T, n_tags]` logits.
    pub fn slot_logits(&self, token_states: &Tensor, attention_mask: &Tensor) -> Result<Tensor, HeadsError> {
        self.slot_logits_from_features(&slot_features(token_states, attention_mask)?)
    }

    /// [`slot_features`] rows -> `[.., n_tags]` logits.
    pub fn slot_logits_from_features(&self, features: &Tensor) -> Result<Tensor, HeadsError> {
        self.slot.forward(features)
    }

    /// Intent, slots and embedding for each of `texts`, from one encoder
    /// pass `enc` over exactly those texts.
    pub fn forward(&self, texts: &[&str], enc: &Encoded) -> Result<Vec<HeadsOutput>, HeadsError> {
        if texts.len() != enc.tokens.len() {
            return Err(HeadsError::Labels(format!("{} texts for {} encoded rows", texts.len(), enc.tokens.len())));
        }
        let _guard = tch::no_grad_guard();
        let (states, pooled) = self.states(enc)?;
        let embeddings = enc.embedding_rows()?;
        self.outputs(texts, &enc.tokens, &states, &enc.attention_mask, &pooled, Some(embeddings))
    }

    /// Intent and slots for each of `texts` by the shortest way: with tuned
    /// layers the encoder runs only below them (its own top layers, and so
    /// the sentence embedding, are skipped); without, one encoder pass.
    pub fn classify(&self, encoder: &SentenceEncoder, texts: &[&str]) -> Result<Vec<HeadsOutput>, HeadsError> {
        let _guard = tch::no_grad_guard();
        let Some(top) = &self.top else {
            let enc = encoder.encode(texts)?;
            return self.outputs(texts, &enc.tokens, &enc.token_states, &enc.attention_mask, &enc.pooled, None);
        };
        let (top, first, below) = match &self.fast {
            Some(f) => (&f.top, 0, f.below.as_ref()),
            None => (top, top.first(), None),
        };
        let stages = encoder.encode_stages(texts, first)?;
        let x = stages.hidden_states.get(first).ok_or_else(|| {
            HeadsError::Labels(format!("the encoder has fewer than {first} layers below the tuned ones"))
        })?;
        let x = match below {
            Some(b) => b.forward(x, &stages.attention_mask)?,
            None => x.shallow_clone(),
        };
        let states = top.forward(&x, &stages.attention_mask)?;
        let pooled = mean_pool(&states, &stages.attention_mask)?;
        self.outputs(texts, &stages.tokens, &states, &stages.attention_mask, &pooled, None)
    }

    /// Both heads over `[B, T, H]` states (and their mean), decoded per text.
    fn outputs(
        &self,
        texts: &[&str],
        tokens: &[crate::bert::TokenizedText],
        states: &Tensor,
        mask: &Tensor,
        pooled: &Tensor,
        embeddings: Option<Vec<Vec<f32>>>,
    ) -> Result<Vec<HeadsOutput>, HeadsError> {
        let width = states.size().last().copied().unwrap_or(0);
        if width != self.hidden || texts.len() != tokens.len() {
            return Err(HeadsError::Labels(format!(
                "{} texts for {} encoded rows of width {width}; the heads expect width {}",
                texts.len(),
                tokens.len(),
                self.hidden
            )));
        }
        let cpu = |t: Tensor| t.f_to_device(Device::Cpu).map_err(terr("to cpu"));
        let t = terr("heads forward");
        let features = intent_features(pooled, states, mask)?;
        let intent_probs = cpu(self.intent_logits(&features)?.f_softmax(-1, Kind::Float).map_err(&t)?)?;
        let intent_probs = Vec::<Vec<f32>>::try_from(&intent_probs).map_err(&t)?;
        // Each text's likeliest intents, and its tags read as each one's.
        let ranked: Vec<Vec<usize>> = intent_probs.iter().map(|p| top_k(p, ALTERNATIVES)).collect();
        let tag_probs = self.slot_logits(states, mask)?.f_softmax(-1, Kind::Float).map_err(&t)?;
        // Per alternative: each row's best tag probabilities and tags.
        let mut tagged_as = Vec::with_capacity(ALTERNATIVES);
        for k in 0..ALTERNATIVES.min(self.intents.len()) {
            let rows: Vec<i64> = ranked.iter().map(|r| r.get(k).copied().unwrap_or(0) as i64).collect();
            let (best_p, best_tag) = self.best_tags(&tag_probs, &rows)?;
            let best_p = Vec::<Vec<f32>>::try_from(&cpu(best_p)?).map_err(&t)?;
            let best_tag = Vec::<Vec<i64>>::try_from(&cpu(best_tag)?).map_err(&t)?;
            tagged_as.push((best_p, best_tag));
        }
        let row = |b: usize, k: usize| -> Option<(&Vec<f32>, &Vec<i64>)> {
            let (ps, tags): &(Vec<Vec<f32>>, Vec<Vec<i64>>) = tagged_as.get(k)?;
            Some((ps.get(b)?, tags.get(b)?))
        };
        let mut out = Vec::with_capacity(texts.len());
        for (b, text) in texts.iter().enumerate() {
            let (Some(probs), Some(order), Some(toks)) = (intent_probs.get(b), ranked.get(b), tokens.get(b)) else {
                return Err(HeadsError::Labels(format!("row {b} missing from the encoder output")));
            };
            let mut alternatives = Vec::with_capacity(order.len());
            for (k, &intent_index) in order.iter().enumerate() {
                let Some((ps, tags)) = row(b, k) else {
                    return Err(HeadsError::Labels(format!("row {b} missing from the slot head's output")));
                };
                let tagged: Vec<(i64, f32)> = tags.iter().copied().zip(ps.iter().copied()).take(toks.len()).collect();
                alternatives.push(Alternative { intent_index, slots: self.decode(text, toks, &tagged, intent_index) });
            }
            let Some(first) = alternatives.first() else {
                return Err(HeadsError::Labels("heads without intents".into()));
            };
            let intent_index = first.intent_index;
            out.push(HeadsOutput {
                intent: self.intents.get(intent_index).cloned().unwrap_or_default(),
                intent_index,
                confidence: probs.get(intent_index).copied().unwrap_or(0.0),
                intent_probs: probs.clone(),
                slots: first.slots.clone(),
                alternatives,
                embedding: embeddings.as_ref().and_then(|e| e.get(b)).cloned(),
            });
        }
        Ok(out)
    }
}

/// The indices of the `k` largest of `p`, largest first (the first of
/// equals first).
pub fn top_k(p: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
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
