//! Fine-tuning the encoder's top layers with the heads.
//!
//! After the heads learned on the frozen encoder ([`super::train_heads`]),
//! a trainable copy of the encoder's top layers ([`TopLayers`]) and the
//! heads train together on the same loss for a few passes, at a small
//! learning rate for the layers. The layers below stay frozen and are not
//! run again: every example's states entering the first tuned layer were
//! kept from the one encoder pass ([`Features::lower`]), so a pass costs
//! the tuned layers' forward and backward only. The sentence embedding used
//! for retrieval keeps coming from the untouched encoder; only the heads
//! read the tuned layers ([`MultiTaskHeads::states`]).
use std::ops::Range;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tch::Tensor;

use super::train::{AdamParam, FeatureParts, Features, TrainExample, TrainOptions, backward_step, batch_loss};
use super::{HeadsError, MultiTaskHeads, intent_features, slot_features, terr};
use crate::bert::{SentenceEncoder, TopLayers, mean_pool};

/// `[len_i, H]` rows padded into `[B, T, H]`, with the `[B, T]` int64 mask.
fn pad(rows: &[&Tensor]) -> Result<(Tensor, Tensor), HeadsError> {
    let t = terr("pad");
    let lens: Vec<i64> = rows.iter().map(|r| r.size().first().copied().unwrap_or(0)).collect();
    let longest = lens.iter().copied().max().unwrap_or(0);
    let x = Tensor::f_pad_sequence(rows, true, 0.0, "right").map_err(&t)?;
    let mask: Vec<i64> = lens.iter().flat_map(|&l| (0..longest).map(move |j| i64::from(j < l))).collect();
    let mask = Tensor::from_slice(&mask).f_view([rows.len() as i64, longest]).map_err(&t)?;
    Ok((x, mask))
}

/// The kept lower states of examples `idx`.
fn lower<'a>(f: &'a Features, idx: &[usize]) -> Result<Vec<&'a Tensor>, HeadsError> {
    idx.iter()
        .map(|&i| f.lower.get(i).ok_or_else(|| HeadsError::Train(format!("no encoder states kept for example {i}"))))
        .collect()
}

/// Train `heads` together with a copy of `encoder`'s layers from `first`
/// up, on `train` (whose features `f` kept the states entering layer
/// `first`); the tuned layers become the heads' [`MultiTaskHeads::top`].
/// Returns the mean loss of the last pass.
#[allow(clippy::too_many_arguments)]
pub(super) fn tune(
    encoder: &SentenceEncoder,
    heads: &mut MultiTaskHeads,
    first: usize,
    f: &Features,
    train: &[TrainExample],
    intent_ids: &[i64],
    opts: &TrainOptions,
    rng: &mut StdRng,
) -> Result<f64, HeadsError> {
    let t = terr("tune");
    let top = TopLayers::copy_from(encoder.model(), first, true)?;
    let mut params = super::train::head_params(heads, opts.tune_heads_learning_rate)?;
    for p in top.parameters() {
        params.push(AdamParam::new(p, opts.tune_learning_rate)?);
    }
    let mut order: Vec<usize> = (0..train.len()).collect();
    let (mut step, mut final_loss) = (0i32, 0.0);
    for _ in 0..opts.tune_epochs.max(1) {
        order.shuffle(rng);
        let (mut sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(opts.batch_size.max(1)) {
            let (x, mask) = pad(&lower(f, chunk)?)?;
            let states = top.forward(&x, &mask)?;
            let pooled = mean_pool(&states, &mask)?;
            let features = intent_features(&pooled, &states, &mask)?;
            // The real tokens' rows, example by example: the order of `tags`.
            let keep = mask.f_ne(0).map_err(&t)?;
            let tokens = slot_features(&states, &mask)?.f_index(&[Some(&keep)]).map_err(&t)?;
            let ranges: Vec<Range<usize>> = chunk.iter().filter_map(|&i| f.ranges.get(i).cloned()).collect();
            let tags: Vec<i64> = ranges.into_iter().flat_map(|r| f.tags.get(r).unwrap_or(&[]).to_vec()).collect();
            let labels: Vec<i64> = chunk.iter().filter_map(|&i| intent_ids.get(i).copied()).collect();
            let loss = batch_loss(&params, &features, &labels, &tokens, &tags, opts.dropout, rng)?;
            step += 1;
            sum += backward_step(&mut params, &loss, step, opts)?;
            batches += 1;
        }
        final_loss = sum / batches.max(1) as f64;
    }
    drop(params);
    heads.set_top(Some(top.detached()?))?;
    Ok(final_loss)
}

/// The heads' inputs for `examples` through the heads' tuned layers, from
/// the lower states `f` kept (no encoder pass).
pub(super) fn refeaturize(
    heads: &MultiTaskHeads,
    f: &Features,
    examples: &[TrainExample],
) -> Result<Features, HeadsError> {
    let _guard = tch::no_grad_guard();
    let top = heads.top().ok_or_else(|| HeadsError::Train("the heads have no tuned layers".into()))?;
    let mut parts = FeatureParts::default();
    let idx: Vec<usize> = (0..examples.len()).collect();
    for (chunk, ex) in idx.chunks(64).zip(examples.chunks(64)) {
        let (x, mask) = pad(&lower(f, chunk)?)?;
        let states = top.forward(&x, &mask)?;
        let pooled = mean_pool(&states, &mask)?;
        let tokens = chunk.iter().filter_map(|&i| f.tokenized.get(i).cloned()).collect();
        parts.push(ex, tokens, &states, &mask, &pooled, heads.slot_types())?;
    }
    parts.finish()
}
