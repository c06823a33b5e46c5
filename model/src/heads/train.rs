//! Training the intent and slot heads, then the encoder's top layers with
//! them (linear probing, then fine-tuning: the heads first learn on the
//! frozen encoder, so the tuned layers start from useful gradients).
//!
//! The encoder runs once over every example (train and held-out); the
//! heads' inputs ([`intent_features`], [`slot_features`]) are kept, and the
//! two heads learn on them: cross-entropy on the intent plus cross-entropy
//! on the BIO tag of every token (special tokens ignored), dropout in each
//! head, AdamW (decoupled weight decay on the weights, not the biases or
//! norms), minibatches in an order drawn from a seeded generator that also
//! draws the dropout masks; weights start from the same seed, so a run is
//! reproducible. Then ([`TrainOptions::tune_layers`]) a copy of the
//! encoder's top layers trains with the heads on the same loss, from the
//! states below them kept from that one pass ([`super::tune`]). Metrics:
//! intent accuracy, and slot precision/recall/F1 over exact `(slot, byte
//! range)` spans.
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use tch::{Kind, Reduction, Tensor};

use super::bio::{IGNORE, token_tags};
use super::mlp;
use super::{HeadsError, MultiTaskHeads, NONE_INTENT, intent_features, slot_features, terr};
use crate::bert::{SentenceEncoder, TokenizedText};

/// A gold slot value: `text[range]` (byte offsets) is a `slot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotLabel {
    pub slot: String,
    pub range: Range<usize>,
}

/// One labelled sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainExample {
    pub text: String,
    pub intent: String,
    pub slots: Vec<SlotLabel>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Dropout after each head's hidden layer while training.
    pub dropout: f64,
    pub seed: u64,
    /// Sentences per encoder pass while precomputing features.
    pub encode_batch: usize,
    /// Top encoder layers fine-tuned with the heads after they learned on
    /// the frozen encoder, capped at the encoder's depth (0: the heads read
    /// the frozen encoder). Four of MiniLM-L6's six: tuning all six made
    /// rarer verbs the corpus teaches only through synonyms ("cut the
    /// kitchen lights") read as their opposite, the layers below keep them.
    pub tune_layers: usize,
    /// Passes over the training sentences while tuning.
    pub tune_epochs: usize,
    /// AdamW learning rate of the tuned encoder layers.
    pub tune_learning_rate: f64,
    /// AdamW learning rate of the heads while the layers tune.
    pub tune_heads_learning_rate: f64,
    /// The language's numbers as words ([`MultiTaskHeads::set_spelled_numbers`]).
    pub spelled_numbers: Vec<String>,
    /// The closed slot types' values ([`MultiTaskHeads::set_slot_values`]).
    pub slot_values: BTreeMap<String, BTreeSet<String>>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 40,
            batch_size: 32,
            learning_rate: 3e-3,
            weight_decay: 1e-2,
            dropout: 0.3,
            seed: 0,
            encode_batch: 32,
            tune_layers: 4,
            tune_epochs: 3,
            tune_learning_rate: 1e-4,
            tune_heads_learning_rate: 1e-3,
            spelled_numbers: Vec::new(),
            slot_values: BTreeMap::new(),
        }
    }
}

/// Scores on one set of examples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    pub examples: usize,
    pub intent_accuracy: f64,
    pub slot_precision: f64,
    pub slot_recall: f64,
    pub slot_f1: f64,
    /// Span counts per slot type (a wrong range or type counts against
    /// both the predicted and the gold type).
    pub per_slot: BTreeMap<String, SlotCounts>,
    /// The first [`MAX_SLOT_MISSES`] examples whose spans were not exactly
    /// the gold ones.
    pub slot_misses: Vec<SlotMiss>,
}

/// How many wrong examples [`Metrics::slot_misses`] keeps.
pub const MAX_SLOT_MISSES: usize = 200;

/// Exact-span counts of one slot type.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SlotCounts {
    pub gold: usize,
    pub predicted: usize,
    pub right: usize,
}

impl SlotCounts {
    pub fn f1(&self) -> f64 {
        let total = self.gold + self.predicted;
        if total == 0 { 1.0 } else { 2.0 * self.right as f64 / total as f64 }
    }
}

/// An example whose spans were wrong: `slot=value` as written in `text`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotMiss {
    pub text: String,
    pub want: Vec<String>,
    pub got: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    pub train: Metrics,
    pub held_out: Metrics,
    /// Mean loss (intent + slot) over the last epoch.
    pub final_loss: f64,
    pub encode_secs: f64,
    pub train_secs: f64,
}

/// The heads' inputs for a set of examples.
pub(super) struct Features {
    /// `[N, 2 H]` [`intent_features`].
    pooled: Tensor,
    /// `[M, (2 SLOT_CONTEXT + 1) H]` slot features of every token of every example, concatenated.
    tokens: Tensor,
    /// `[M]` BIO tag ids ([`IGNORE`] for special tokens).
    pub tags: Vec<i64>,
    /// Each example's rows in `tokens`.
    pub ranges: Vec<Range<usize>>,
    pub tokenized: Vec<TokenizedText>,
    /// Per example, `[tokens, H]` states entering the first layer to tune
    /// (empty when nothing is tuned).
    pub lower: Vec<Tensor>,
}

/// [`Features`] built a batch at a time.
#[derive(Default)]
pub(super) struct FeatureParts {
    pooled: Vec<Tensor>,
    tokens: Vec<Tensor>,
    tags: Vec<i64>,
    ranges: Vec<Range<usize>>,
    tokenized: Vec<TokenizedText>,
    lower: Vec<Tensor>,
}

impl FeatureParts {
    /// Add a batch: its examples, their tokenisation, the `[B, T, H]` states
    /// the heads read with the `[B, T]` mask and `[B, H]` mean-pooled states.
    pub fn push(
        &mut self,
        examples: &[TrainExample],
        tokens: Vec<TokenizedText>,
        states: &Tensor,
        mask: &Tensor,
        pooled: &Tensor,
        slot_types: &[String],
    ) -> Result<(), HeadsError> {
        let t = terr("featurize");
        let windows = slot_features(states, mask)?;
        for (b, (e, tok)) in examples.iter().zip(&tokens).enumerate() {
            let len = tok.len() as i64;
            self.tokens.push(windows.f_get(b as i64).and_then(|s| s.f_narrow(0, 0, len)).map_err(&t)?);
            let spans: Vec<(Range<usize>, usize)> = e
                .slots
                .iter()
                .filter_map(|s| slot_types.iter().position(|n| *n == s.slot).map(|k| (s.range.clone(), k)))
                .collect();
            let start = self.tags.len();
            self.tags.extend(token_tags(tok, &spans));
            self.ranges.push(start..self.tags.len());
        }
        self.pooled.push(intent_features(pooled, states, mask)?);
        self.tokenized.extend(tokens);
        Ok(())
    }

    pub fn finish(self) -> Result<Features, HeadsError> {
        let t = terr("featurize");
        Ok(Features {
            pooled: Tensor::f_cat(&self.pooled, 0).map_err(&t)?,
            tokens: Tensor::f_cat(&self.tokens, 0).map_err(&t)?,
            tags: self.tags,
            ranges: self.ranges,
            tokenized: self.tokenized,
            lower: self.lower,
        })
    }
}

fn check_example(i: usize, e: &TrainExample) -> Result<(), HeadsError> {
    for s in &e.slots {
        if s.range.is_empty() || e.text.get(s.range.clone()).is_none() {
            return Err(HeadsError::Labels(format!(
                "example {i} ({:?}): slot `{}` range {:?} is empty or not on char boundaries of the text",
                e.text, s.slot, s.range
            )));
        }
    }
    Ok(())
}

/// One encoder pass over `examples` and the heads' inputs from it (through
/// the heads' tuned layers when they have some); with `keep`, each
/// example's states entering layer `keep` too.
fn featurize(
    encoder: &SentenceEncoder,
    heads: &MultiTaskHeads,
    examples: &[TrainExample],
    batch: usize,
    keep: Option<usize>,
) -> Result<Features, HeadsError> {
    let t = terr("featurize");
    let mut parts = FeatureParts::default();
    for chunk in examples.chunks(batch.max(1)) {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        let enc = encoder.encode(&texts)?;
        if let Some(k) = keep {
            let below = enc.hidden_states.get(k).ok_or_else(|| HeadsError::Train(format!("no encoder layer {k}")))?;
            for (b, tok) in enc.tokens.iter().enumerate() {
                parts.lower.push(below.f_get(b as i64).and_then(|s| s.f_narrow(0, 0, tok.len() as i64)).map_err(&t)?);
            }
        }
        let (states, pooled) = heads.states(&enc)?;
        parts.push(chunk, enc.tokens, &states, &enc.attention_mask, &pooled, heads.slot_types())?;
    }
    parts.finish()
}

/// Intent accuracy and span P/R/F1 of `heads` on precomputed features.
fn score(heads: &MultiTaskHeads, f: &Features, examples: &[TrainExample]) -> Result<Metrics, HeadsError> {
    if examples.is_empty() {
        return Ok(Metrics::default());
    }
    let _guard = tch::no_grad_guard();
    let t = terr("score");
    let intents = heads.intent_logits(&f.pooled)?.f_argmax(-1, false).map_err(&t)?;
    let intents = Vec::<i64>::try_from(&intents).map_err(&t)?;
    let probs = heads.slot_logits_from_features(&f.tokens)?.f_softmax(-1, Kind::Float).map_err(&t)?;
    let token_intents: Vec<i64> =
        (f.ranges.iter().zip(&intents)).flat_map(|(r, &i)| std::iter::repeat_n(i, r.len())).collect();
    let (p, tag) = heads.best_tags(&probs, &token_intents)?;
    let (p, tag) = (Vec::<f32>::try_from(&p).map_err(&t)?, Vec::<i64>::try_from(&tag).map_err(&t)?);
    let (mut right, mut tp, mut predicted, mut gold) = (0usize, 0usize, 0usize, 0usize);
    let mut per_slot: BTreeMap<String, SlotCounts> = BTreeMap::new();
    let mut slot_misses = Vec::new();
    for (i, e) in examples.iter().enumerate() {
        let (Some(r), Some(toks), Some(&pi)) = (f.ranges.get(i), f.tokenized.get(i), intents.get(i)) else {
            continue;
        };
        right += usize::from(heads.intents().get(pi as usize) == Some(&e.intent));
        let tagged: Vec<(i64, f32)> = r.clone().filter_map(|j| Some((*tag.get(j)?, *p.get(j)?))).collect();
        let spans = heads.decode(&e.text, toks, &tagged, pi as usize);
        let want: BTreeSet<(&str, usize, usize)> =
            e.slots.iter().map(|s| (s.slot.as_str(), s.range.start, s.range.end)).collect();
        let got: BTreeSet<(&str, usize, usize)> =
            spans.iter().map(|s| (s.slot.as_str(), s.range.start, s.range.end)).collect();
        tp += want.intersection(&got).count();
        predicted += got.len();
        gold += want.len();
        for &(slot, ..) in &want {
            per_slot.entry(slot.to_string()).or_default().gold += 1;
        }
        for span @ &(slot, ..) in &got {
            let c = per_slot.entry(slot.to_string()).or_default();
            c.predicted += 1;
            c.right += usize::from(want.contains(span));
        }
        if want != got && slot_misses.len() < MAX_SLOT_MISSES {
            let show = |set: &BTreeSet<(&str, usize, usize)>| -> Vec<String> {
                set.iter().map(|&(slot, a, b)| format!("{slot}={}", e.text.get(a..b).unwrap_or("?"))).collect()
            };
            slot_misses.push(SlotMiss { text: e.text.clone(), want: show(&want), got: show(&got) });
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let (precision, recall) = (ratio(tp, predicted), ratio(tp, gold));
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    Ok(Metrics {
        examples: examples.len(),
        intent_accuracy: ratio(right, examples.len()),
        slot_precision: precision,
        slot_recall: recall,
        slot_f1: f1,
        per_slot,
        slot_misses,
    })
}

/// Intent accuracy and slot span F1 of `heads` (over `encoder`) on `examples`.
pub fn evaluate(
    encoder: &SentenceEncoder,
    heads: &MultiTaskHeads,
    examples: &[TrainExample],
) -> Result<Metrics, HeadsError> {
    if examples.is_empty() {
        return Ok(Metrics::default());
    }
    let f = featurize(encoder, heads, examples, 32, None)?;
    score(heads, &f, examples)
}

/// One AdamW parameter: the leaf tensor (sharing storage with the heads or
/// the tuned layers), its moments and learning rate.
pub(super) struct AdamParam {
    pub p: Tensor,
    m: Tensor,
    v: Tensor,
    decay: bool,
    lr: f64,
}

impl AdamParam {
    /// `x` as a leaf sharing its storage; matrices decay, vectors
    /// (biases, norms) do not.
    pub fn new(x: &Tensor, lr: f64) -> Result<Self, HeadsError> {
        let t = terr("adamw");
        let p = if x.requires_grad() {
            x.shallow_clone()
        } else {
            x.f_detach().and_then(|d| d.f_set_requires_grad(true)).map_err(&t)?
        };
        let (m, v) = (x.f_zeros_like().map_err(&t)?, x.f_zeros_like().map_err(&t)?);
        Ok(AdamParam { p, m, v, decay: x.dim() > 1, lr })
    }
}

/// The heads' eight tensors (intent then slot) as AdamW parameters.
pub(super) fn head_params(heads: &MultiTaskHeads, lr: f64) -> Result<Vec<AdamParam>, HeadsError> {
    [&heads.intent, &heads.slot].into_iter().flat_map(|m| m.tensors()).map(|x| AdamParam::new(x, lr)).collect()
}

/// Cross-entropy on the intents of `pooled` (`[B, 2 H]`) plus on the tags
/// of the token rows `tokens` (`[N, W]`), through the heads' parameter
/// leaves (the first eight of `params`), with dropout.
pub(super) fn batch_loss(
    params: &[AdamParam],
    pooled: &Tensor,
    labels: &[i64],
    tokens: &Tensor,
    tags: &[i64],
    dropout: f64,
    rng: &mut rand::rngs::StdRng,
) -> Result<Tensor, HeadsError> {
    let t = terr("train");
    let p: Vec<&Tensor> = params.iter().take(8).map(|a| &a.p).collect();
    let &[i0, i1, i2, i3, s0, s1, s2, s3] = p.as_slice() else {
        return Err(HeadsError::Train(format!("{} head parameters, expected 8", p.len())));
    };
    let logits = mlp::forward(pooled, [i0, i1, i2, i3], Some((dropout, &mut *rng)))?;
    let mut loss = logits
        .f_cross_entropy_loss::<Tensor>(&Tensor::from_slice(labels), None, Reduction::Mean, IGNORE, 0.0)
        .map_err(&t)?;
    if tags.iter().any(|&x| x != IGNORE) {
        let slot = mlp::forward(tokens, [s0, s1, s2, s3], Some((dropout, rng)))?;
        let slot = slot
            .f_cross_entropy_loss::<Tensor>(&Tensor::from_slice(tags), None, Reduction::Mean, IGNORE, 0.0)
            .map_err(&t)?;
        loss = loss.f_add(&slot).map_err(&t)?;
    }
    Ok(loss)
}

/// Backpropagate `loss` to every parameter and take one AdamW step; the
/// loss's value (an error when it is not finite).
pub(super) fn backward_step(
    params: &mut [AdamParam],
    loss: &Tensor,
    step: i32,
    o: &TrainOptions,
) -> Result<f64, HeadsError> {
    let t = terr("train");
    let value = loss.f_double_value(&[]).map_err(&t)?;
    if !value.is_finite() {
        return Err(HeadsError::Train(format!("loss became {value} at step {step}")));
    }
    let leaves: Vec<&Tensor> = params.iter().map(|a| &a.p).collect();
    let grads = Tensor::f_run_backward(&[loss], &leaves, false, false).map_err(&t)?;
    adamw_step(params, &grads, step, o)?;
    Ok(value)
}

fn adamw_step(params: &mut [AdamParam], grads: &[Tensor], step: i32, o: &TrainOptions) -> Result<(), HeadsError> {
    let _guard = tch::no_grad_guard();
    let t = terr("adamw");
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
    for (a, g) in params.iter_mut().zip(grads) {
        if a.decay {
            let _ = a.p.f_mul_scalar_(1.0 - a.lr * o.weight_decay).map_err(&t)?;
        }
        let _ = a.m.f_mul_scalar_(b1).map_err(&t)?;
        let _ = a.m.f_add_(&g.f_mul_scalar(1.0 - b1).map_err(&t)?).map_err(&t)?;
        let _ = a.v.f_mul_scalar_(b2).map_err(&t)?;
        let _ = a.v.f_add_(&g.f_square().and_then(|s| s.f_mul_scalar(1.0 - b2)).map_err(&t)?).map_err(&t)?;
        let denom = a.v.f_div_scalar(c2).and_then(|v| v.f_sqrt()).and_then(|v| v.f_add_scalar(eps)).map_err(&t)?;
        let update = a.m.f_div(&denom).and_then(|u| u.f_mul_scalar(a.lr / c1)).map_err(&t)?;
        let _ = a.p.f_sub_(&update).map_err(&t)?;
    }
    Ok(())
}

/// Train intent and slot heads over `encoder` on `train`, report metrics on
/// `train` and `held_out`. Intents are the sorted distinct intents of
/// `train` plus [`NONE_INTENT`]; slot types the sorted distinct slot names.
pub fn train_heads(
    encoder: &SentenceEncoder,
    train: &[TrainExample],
    held_out: &[TrainExample],
    opts: &TrainOptions,
) -> Result<(MultiTaskHeads, TrainReport), HeadsError> {
    if train.is_empty() {
        return Err(HeadsError::Train("no training examples".into()));
    }
    for (i, e) in train.iter().chain(held_out).enumerate() {
        check_example(i, e)?;
    }
    let mut intents: Vec<String> =
        train.iter().map(|e| e.intent.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    if !intents.iter().any(|i| i == NONE_INTENT) {
        intents.push(NONE_INTENT.to_string());
    }
    let slot_types: Vec<String> = train
        .iter()
        .flat_map(|e| e.slots.iter().map(|s| s.slot.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut heads = MultiTaskHeads::new(encoder.hidden_size(), intents, slot_types, opts.seed)?;
    heads.set_spelled_numbers(opts.spelled_numbers.iter().cloned());
    let mut intent_slots: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut intent_needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in train {
        let has: BTreeSet<String> = e.slots.iter().map(|s| s.slot.clone()).collect();
        intent_slots.entry(e.intent.clone()).or_default().extend(has.iter().cloned());
        match intent_needs.get_mut(&e.intent) {
            Some(needs) => needs.retain(|n| has.contains(n)),
            None => drop(intent_needs.insert(e.intent.clone(), has)),
        }
    }
    intent_needs.retain(|_, needs| !needs.is_empty());
    heads.set_intent_slots(intent_slots)?;
    heads.set_intent_needs(intent_needs)?;
    let tagged = heads.slot_types().to_vec();
    heads.set_slot_values(
        opts.slot_values.iter().filter(|(t, _)| tagged.contains(t)).map(|(t, v)| (t.clone(), v.clone())).collect(),
    )?;
    let layers = encoder.model().config().num_hidden_layers as usize;
    let tune = opts.tune_layers.min(layers);
    let keep = (tune > 0).then_some(layers - tune);

    let t0 = Instant::now();
    let ft = featurize(encoder, &heads, train, opts.encode_batch, keep)?;
    let fh =
        if held_out.is_empty() { None } else { Some(featurize(encoder, &heads, held_out, opts.encode_batch, keep)?) };
    let encode_secs = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let t = terr("train");
    let intent_ids: Vec<i64> = train
        .iter()
        .map(|e| heads.intents().iter().position(|i| *i == e.intent).map_or(IGNORE, |p| p as i64))
        .collect();
    let mut params = head_params(&heads, opts.learning_rate)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let (mut step, mut final_loss) = (0i32, 0.0);
    for _ in 0..opts.epochs.max(1) {
        order.shuffle(&mut rng);
        let (mut sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(opts.batch_size.max(1)) {
            let rows: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
            let tok_rows: Vec<i64> =
                chunk.iter().filter_map(|&i| ft.ranges.get(i)).flat_map(|r| r.clone().map(|j| j as i64)).collect();
            let tok_tags: Vec<i64> = tok_rows.iter().filter_map(|&j| ft.tags.get(j as usize).copied()).collect();
            let labels: Vec<i64> = chunk.iter().filter_map(|&i| intent_ids.get(i).copied()).collect();
            let pooled = ft.pooled.f_index_select(0, &Tensor::from_slice(&rows)).map_err(&t)?;
            let states = ft.tokens.f_index_select(0, &Tensor::from_slice(&tok_rows)).map_err(&t)?;
            let loss = batch_loss(&params, &pooled, &labels, &states, &tok_tags, opts.dropout, &mut rng)?;
            step += 1;
            sum += backward_step(&mut params, &loss, step, opts)?;
            batches += 1;
        }
        final_loss = sum / batches.max(1) as f64;
    }
    drop(params);
    let (ft, fh) = match keep {
        None => (ft, fh),
        Some(first) => {
            final_loss = super::tune::tune(encoder, &mut heads, first, &ft, train, &intent_ids, opts, &mut rng)?;
            let ft = super::tune::refeaturize(&heads, &ft, train)?;
            let fh = match fh {
                Some(f) => Some(super::tune::refeaturize(&heads, &f, held_out)?),
                None => None,
            };
            (ft, fh)
        }
    };
    let train_secs = t1.elapsed().as_secs_f64();
    tracing::debug!(steps = step, final_loss, train_secs, "heads trained");
    let train_metrics = score(&heads, &ft, train)?;
    let held_metrics = match &fh {
        Some(f) => score(&heads, f, held_out)?,
        None => Metrics::default(),
    };
    let report = TrainReport { train: train_metrics, held_out: held_metrics, final_loss, encode_secs, train_secs };
    Ok((heads, report))
}
