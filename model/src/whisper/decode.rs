//! Token search for one 30 s window: greedy, beam search and temperature
//! sampling, with the logit rules CTranslate2 4.x applies for faster-whisper
//! (`src/models/whisper.cc`, `src/decoding.cc`): suppressed tokens get -inf,
//! the "begin" set (" " and EOT) is suppressed at the first step, scores are
//! sums of log-softmax over the processed logits (EOT step included), and the
//! no-speech probability is the softmax of the raw logits at `<|startoftranscript|>`.
use rand::Rng;
use tch::{Device, Kind, Tensor};

use super::WhisperError;
use super::model::{DecoderState, WhisperModel, terr};

/// What one window's search returns.
#[derive(Debug, Clone)]
pub struct WindowResult {
    /// Generated text tokens (no prompt, no EOT).
    pub tokens: Vec<u32>,
    /// Sum of the chosen tokens' log-probabilities, EOT included.
    pub sum_logprob: f64,
    /// faster-whisper's `avg_logprob`: `sum_logprob / (len + 1)`.
    pub avg_logprob: f64,
    pub no_speech_prob: f64,
}

pub struct SearchParams<'a> {
    pub prompt: &'a [u32],
    pub sot_index: usize,
    pub eot: u32,
    pub no_speech: u32,
    /// Sorted, deduplicated ids that are always suppressed.
    pub suppress: &'a Tensor,
    /// Suppressed at the first generated step (empty = none).
    pub suppress_begin: Option<&'a Tensor>,
    /// Upper bound on generated tokens (EOT included).
    pub max_steps: usize,
    pub beam_size: usize,
    pub patience: f32,
    pub length_penalty: f32,
    pub temperature: f32,
    pub best_of: usize,
    /// Greedy only: end the search when the output's tail is an exact
    /// repeat of the k tokens before it (3 <= k <= 32), dropping the repeat.
    pub stop_on_repeat: bool,
}

/// Length of a just-completed exact repeat at the end of `out`, if any.
pub fn repeated_tail(out: &[u32]) -> Option<usize> {
    (3..=32usize.min(out.len() / 2)).find(|&k| out[out.len() - k..] == out[out.len() - 2 * k..out.len() - k])
}

fn suppress(logits: Tensor, ids: &Tensor) -> Result<Tensor, WhisperError> {
    if ids.numel() > 0 {
        logits.f_index_fill(1, ids, f64::NEG_INFINITY).map_err(terr("index_fill"))
    } else {
        Ok(logits)
    }
}

fn row_f32(t: &Tensor) -> Result<Vec<f32>, WhisperError> {
    let t = t.f_to_kind(Kind::Float).and_then(|t| t.f_flatten(0, -1)).map_err(terr("flatten"))?;
    Vec::<f32>::try_from(&t).map_err(terr("to_vec"))
}

fn process(logits: &Tensor, p: &SearchParams, step: usize) -> Result<Tensor, WhisperError> {
    // Out-of-place: the caller's logits stay untouched.
    let mut l = suppress(logits.shallow_clone(), p.suppress)?;
    if step == 0
        && let Some(b) = p.suppress_begin
    {
        l = suppress(l, b)?;
    }
    Ok(l)
}

/// Run the prompt; returns the state, the first step's logits `[1, V]` and the no-speech probability.
fn run_prompt(model: &WhisperModel, state: &mut DecoderState, p: &SearchParams) -> Result<(Tensor, f64), WhisperError> {
    let ids: Vec<i64> = p.prompt.iter().map(|&t| t as i64).collect();
    let n = ids.len() as i64;
    let dev = model.decoder.embeddings.device();
    let tokens = Tensor::from_slice(&ids).f_view([1, n]).and_then(|t| t.f_to_device(dev)).map_err(terr("tokens"))?;
    let hidden = model.decoder.forward(&tokens, state)?;
    let pick = Tensor::from_slice(&[p.sot_index as i64, n - 1]).f_to_device(dev).map_err(terr("to_device"))?;
    let rows = hidden.f_select(0, 0).and_then(|h| h.f_index_select(0, &pick)).map_err(terr("index_select"))?;
    let logits = model.decoder.logits(&rows)?;
    let probs = logits.f_select(0, 0).and_then(|l| l.f_softmax(-1, Kind::Float)).map_err(terr("softmax"))?;
    let no_speech = probs.f_double_value(&[p.no_speech as i64]).map_err(terr("no_speech"))?;
    let first = logits.f_narrow(0, 1, 1).map_err(terr("narrow"))?;
    Ok((first, no_speech))
}

fn step_tokens(tokens: &[i64], dev: Device) -> Result<Tensor, WhisperError> {
    Tensor::from_slice(tokens).f_view([tokens.len() as i64, 1]).and_then(|t| t.f_to_device(dev)).map_err(terr("tokens"))
}

fn last_logits(model: &WhisperModel, hidden: &Tensor) -> Result<Tensor, WhisperError> {
    let h = hidden.f_select(1, -1).map_err(terr("select"))?;
    model.decoder.logits(&h)
}

fn finish(tokens: Vec<u32>, sum: f64, no_speech: f64) -> WindowResult {
    let avg = sum / (tokens.len() as f64 + 1.0);
    WindowResult { tokens, sum_logprob: sum, avg_logprob: avg, no_speech_prob: no_speech }
}

/// Greedy search (beam 1, temperature 0): CTranslate2's `GreedySearch` with `BestSampler`.
pub fn greedy(model: &WhisperModel, state: &mut DecoderState, p: &SearchParams) -> Result<WindowResult, WhisperError> {
    let dev = model.decoder.embeddings.device();
    let (mut logits, no_speech) = run_prompt(model, state, p)?;
    let mut out = Vec::new();
    let mut sum = 0f64;
    for step in 0..p.max_steps {
        let l = process(&logits, p, step)?;
        let lp = l.f_log_softmax(-1, Kind::Float).map_err(terr("log_softmax"))?;
        let best = lp.f_argmax(-1, false).map_err(terr("argmax"))?;
        let id = best.f_int64_value(&[0]).map_err(terr("argmax"))?;
        sum += lp.f_double_value(&[0, id]).map_err(terr("logprob"))?;
        let id = id as u32;
        if id == p.eot {
            break;
        }
        out.push(id);
        if p.stop_on_repeat
            && let Some(k) = repeated_tail(&out)
        {
            out.truncate(out.len() - k);
            break;
        }
        if step + 1 == p.max_steps {
            break;
        }
        let hidden = model.decoder.forward(&step_tokens(&[id as i64], dev)?, state)?;
        logits = last_logits(model, &hidden)?;
    }
    Ok(finish(out, sum, no_speech))
}

/// `best_of` independent samples at `temperature`; the best by length-normalised score wins.
pub fn sample<R: Rng>(
    model: &WhisperModel,
    state: &mut DecoderState,
    p: &SearchParams,
    rng: &mut R,
) -> Result<WindowResult, WhisperError> {
    let dev = model.decoder.embeddings.device();
    let n = p.best_of.max(1);
    let (first, no_speech) = run_prompt(model, state, p)?;
    state.broadcast_first(n as i64)?;
    let mut logits = first.f_expand([n as i64, -1], false).map_err(terr("expand"))?;
    let mut seqs: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut sums = vec![0f64; n];
    let mut done = vec![false; n];
    let temp = p.temperature.max(1e-6) as f64;
    for step in 0..p.max_steps {
        let l = process(&logits, p, step)?;
        let lp = l.f_log_softmax(-1, Kind::Float).map_err(terr("log_softmax"))?;
        let probs = l.f_div_scalar(temp).and_then(|t| t.f_softmax(-1, Kind::Float)).map_err(terr("softmax"))?;
        let mut next = vec![p.eot as i64; n];
        for i in 0..n {
            if done[i] {
                continue;
            }
            let row = row_f32(&probs.f_select(0, i as i64).map_err(terr("select"))?)?;
            let total: f64 = row.iter().map(|&x| x as f64).sum();
            let mut u = rng.random::<f64>() * total;
            let mut id = row.len().saturating_sub(1);
            for (j, &pj) in row.iter().enumerate() {
                u -= pj as f64;
                if u <= 0.0 && pj > 0.0 {
                    id = j;
                    break;
                }
            }
            sums[i] += lp.f_double_value(&[i as i64, id as i64]).map_err(terr("logprob"))?;
            if id as u32 == p.eot {
                done[i] = true;
            } else {
                seqs[i].push(id as u32);
                next[i] = id as i64;
                if step + 1 == p.max_steps {
                    done[i] = true;
                }
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        let hidden = model.decoder.forward(&step_tokens(&next, dev)?, state)?;
        logits = last_logits(model, &hidden)?;
    }
    let lp = p.length_penalty as f64;
    let score = |i: usize| sums[i] / (seqs[i].len().max(1) as f64).powf(lp);
    let best = (0..n).max_by(|&a, &b| score(a).total_cmp(&score(b))).unwrap_or(0);
    Ok(finish(seqs.swap_remove(best), sums[best], no_speech))
}

/// Beam search as CTranslate2's `BeamSearch`: 2 x beam candidates per step,
/// finished hypotheses replaced by the next non-EOT candidates, stop once
/// `round(beam * patience)` hypotheses are finished, rank by `score / len^length_penalty`.
pub fn beam(model: &WhisperModel, state: &mut DecoderState, p: &SearchParams) -> Result<WindowResult, WhisperError> {
    let dev = model.decoder.embeddings.device();
    let k = p.beam_size.max(1);
    let max_candidates = ((k as f32 * p.patience).round() as usize).max(1);
    let (mut logits, no_speech) = run_prompt(model, state, p)?;
    // Alive beams: (tokens, score). The first step expands one beam only.
    let mut alive: Vec<(Vec<u32>, f64)> = vec![(Vec::new(), 0.0)];
    let mut finished: Vec<(Vec<u32>, f64)> = Vec::new();
    for step in 0..p.max_steps {
        let l = process(&logits, p, step)?;
        let lp = l.f_log_softmax(-1, Kind::Float).map_err(terr("log_softmax"))?;
        let b = alive.len() as i64;
        let scores: Vec<f32> = alive.iter().map(|(_, s)| *s as f32).collect();
        let base =
            Tensor::from_slice(&scores).f_view([b, 1]).and_then(|t| t.f_to_device(dev)).map_err(terr("scores"))?;
        let total = lp.f_add(&base).and_then(|t| t.f_view([-1])).map_err(terr("add"))?;
        let vocab = lp.size().get(1).copied().unwrap_or(1);
        let (vals, idx) = total.f_topk(2 * k as i64, -1, true, true).map_err(terr("topk"))?;
        let vals = row_f32(&vals)?;
        let idx: Vec<i64> =
            Vec::<i64>::try_from(&idx.f_to_kind(Kind::Int64).map_err(terr("to_kind"))?).map_err(terr("to_vec"))?;
        let last = step + 1 == p.max_steps;
        let mut next: Vec<(usize, u32, f64)> = Vec::with_capacity(k);
        let mut secondary = k;
        for c in 0..k.min(idx.len()) {
            let (origin, tok) = ((idx[c] / vocab) as usize, (idx[c] % vocab) as u32);
            let score = vals[c] as f64;
            let mut pick = Some((origin, tok, score));
            if tok == p.eot || last {
                let mut hyp = alive.get(origin).map(|a| a.0.clone()).unwrap_or_default();
                if tok != p.eot {
                    hyp.push(tok);
                }
                finished.push((hyp, score));
                pick = None;
                while secondary < idx.len() {
                    let (o2, t2) = ((idx[secondary] / vocab) as usize, (idx[secondary] % vocab) as u32);
                    let s2 = vals[secondary] as f64;
                    secondary += 1;
                    if t2 != p.eot {
                        pick = Some((o2, t2, s2));
                        break;
                    }
                }
            }
            if let Some(x) = pick {
                next.push(x);
            }
        }
        if last || finished.len() >= max_candidates || next.is_empty() {
            break;
        }
        let origins: Vec<i64> = next.iter().map(|&(o, _, _)| o as i64).collect();
        state.reorder(&origins)?;
        alive = next
            .iter()
            .map(|&(o, t, s)| {
                let mut seq = alive.get(o).map(|a| a.0.clone()).unwrap_or_default();
                seq.push(t);
                (seq, s)
            })
            .collect();
        let toks: Vec<i64> = next.iter().map(|&(_, t, _)| t as i64).collect();
        let hidden = model.decoder.forward(&step_tokens(&toks, dev)?, state)?;
        logits = last_logits(model, &hidden)?;
    }
    if finished.is_empty() {
        finished = alive;
    }
    let lp = p.length_penalty as f64;
    let norm = |h: &(Vec<u32>, f64)| h.1 / (h.0.len().max(1) as f64).powf(lp);
    let best = finished.iter().enumerate().max_by(|a, b| norm(a.1).total_cmp(&norm(b.1))).map(|(i, _)| i).unwrap_or(0);
    let (tokens, sum) = finished.swap_remove(best);
    Ok(finish(tokens, sum, no_speech))
}

#[cfg(test)]
mod repeat_tests {
    use super::repeated_tail;

    #[test]
    fn finds_only_exact_repeats_of_three_or_more_tokens() {
        assert_eq!(repeated_tail(&[1, 2, 3, 4, 1, 2, 3, 4]), Some(4));
        assert_eq!(repeated_tail(&[9, 5, 6, 7, 5, 6, 7]), Some(3));
        assert_eq!(repeated_tail(&[1, 2, 3, 4, 1, 2, 3]), None);
        assert_eq!(repeated_tail(&[8, 8, 8, 8]), None, "k < 3 is left alone");
        assert_eq!(repeated_tail(&[]), None);
    }
}
