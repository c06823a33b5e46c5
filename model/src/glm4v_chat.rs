//! One picture and one question through GLM-4.1V: what `hubd ask-camera`
//! runs. A checkpoint directory holds `config.json`, the safetensors weights,
//! `tokenizer.json` and optionally `preprocessor_config.json` (as saved by
//! transformers for `THUDM/GLM-4.1V-9B-Thinking`).
//!
//! The prompt is GLM-4.1V's chat template for one user turn with one image:
//! `[gMASK]<sop><|user|>\n<|begin_of_image|><|image|>...<|end_of_image|>QUESTION<|assistant|>\n`
//! (special tokens the tokenizer does not have are left out). Decoding is
//! greedy and stops at `<|user|>`, `<|endoftext|>` or `<|observation|>`; a
//! thinking model's `<think>...</think><answer>...</answer>` is reduced to
//! the answer.
//!
//! With a [`FusionGate`] ([`Glm4vChat::set_gate`], trained by
//! [`Glm4vChat::train_gate`]) the tower's features are scaled by the gate,
//! and a picture the gate closes on (a black, blank, blown-out or static
//! frame) is left out of the prompt: the question is answered without it
//! and the decoder spends no prefill on its image tokens.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use crate::fusion_gate::{FitOptions, FusionGate, GateError};
use crate::glm4v::{Glm4vError, Glm4vForConditionalGeneration};
use crate::vision::Grid;
use crate::vision::preprocess::{ImageProcessorConfig, RgbImage, preprocess};

/// Largest picture given to the vision tower, in pixels (28 x 28 x 1024: at
/// most 1,024 image tokens; a 1080p frame is scaled down to about 1064x588).
pub const MAX_PIXELS: i64 = 28 * 28 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{path}: {reason}")]
    Files { path: PathBuf, reason: String },
    #[error(transparent)]
    Model(#[from] Glm4vError),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error(transparent)]
    Gate(#[from] GateError),
}

/// The answer and what it took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Answer {
    pub text: String,
    /// `<|image|>` tokens in the prompt (vision tower features); 0 when the
    /// fusion gate closed on the picture.
    pub image_tokens: usize,
    /// The fusion gate's value for the picture (`None`: no gate loaded).
    pub image_gate: Option<f64>,
    /// Whether the picture went into the prompt.
    pub image_used: bool,
    pub prompt_tokens: usize,
    /// Generated token ids (stop token included when one was reached).
    pub tokens: Vec<i64>,
    /// `[t, h, w]` patch grid of the picture.
    pub grid: [i64; 3],
}

/// A loaded GLM-4.1V with its tokenizer and image settings.
pub struct Glm4vChat {
    model: Glm4vForConditionalGeneration,
    tokenizer: tokenizers::Tokenizer,
    image: ImageProcessorConfig,
    stop: Vec<i64>,
    gate: Option<FusionGate>,
}

/// One picture for [`Glm4vChat::train_gate`]: interleaved RGB.
#[derive(Debug, Clone)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// What [`Glm4vChat::train_gate`] trained on and how the gate then scores
/// its own training pictures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GateReport {
    pub open_examples: usize,
    pub closed_examples: usize,
    /// Share of the training pictures on the right side of the threshold.
    pub train_accuracy: f64,
    pub min_open: f64,
    pub max_closed: f64,
}

impl std::fmt::Debug for Glm4vChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Glm4vChat({:?})", self.model)
    }
}

impl Glm4vChat {
    /// Load a checkpoint directory in f32 on the CPU.
    pub fn load(dir: &Path) -> Result<Glm4vChat, ChatError> {
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(ChatError::Files { path: tok_path, reason: "missing (the checkpoint's tokenizer)".into() });
        }
        let tokenizer = tokenizers::Tokenizer::from_file(&tok_path)
            .map_err(|e| ChatError::Files { path: tok_path.clone(), reason: e.to_string() })?;
        let pre = dir.join("preprocessor_config.json");
        let mut image = if pre.is_file() {
            let text = std::fs::read_to_string(&pre)
                .map_err(|e| ChatError::Files { path: pre.clone(), reason: e.to_string() })?;
            serde_json::from_str(&text).map_err(|e| ChatError::Files { path: pre.clone(), reason: e.to_string() })?
        } else {
            ImageProcessorConfig::default()
        };
        image.size.longest_edge = image.size.longest_edge.min(MAX_PIXELS);
        let model = Glm4vForConditionalGeneration::load(dir, Kind::Float, Device::Cpu)?;
        let stop = ["<|user|>", "<|endoftext|>", "<|observation|>"]
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t).map(i64::from))
            .collect();
        Ok(Glm4vChat { model, tokenizer, image, stop, gate: None })
    }

    /// Use `gate` in front of the image features (`None`: no gate). Its
    /// width must be the text model's hidden size.
    pub fn set_gate(&mut self, gate: Option<FusionGate>) -> Result<(), ChatError> {
        let hidden = self.model.config().text.hidden_size;
        if let Some(g) = &gate
            && g.hidden() as i64 != hidden
        {
            return Err(GateError::Input(format!(
                "the gate is {} wide (trained for another model), this model's features are {hidden}",
                g.hidden()
            ))
            .into());
        }
        self.gate = gate;
        Ok(())
    }

    fn special(&self, t: &str) -> Option<i64> {
        self.tokenizer.token_to_id(t).map(i64::from)
    }

    /// The tower's features for one picture, with its grid.
    fn features(&self, rgb: &[u8], width: usize, height: usize) -> Result<(Tensor, Grid), ChatError> {
        if rgb.len() != width * height * 3 || width == 0 || height == 0 {
            return Err(Glm4vError::Input(format!("picture has {} bytes, not {width}x{height}x3", rgb.len())).into());
        }
        let (pixels, grids) = preprocess(&[RgbImage { width, height, data: rgb }], &self.image)
            .map_err(|e| ChatError::Model(e.into()))?;
        let features = self
            .model
            .image_features(Some(&pixels), &grids)?
            .ok_or_else(|| Glm4vError::Input("the vision tower gave no features".into()))?;
        Ok((features, grids[0]))
    }

    /// Train a fusion gate: `pictures` carry something (frames of the
    /// cameras; each is also used mirrored, darker and brighter:
    /// [`variants`]); the closed examples are made from each of them: black,
    /// mid-grey, blown-out white, the picture's mean colour, static and a
    /// noisy dark frame ([`empty_pictures`]). `checkpoint` is recorded in the
    /// gate. The gate is not installed; see [`Self::set_gate`].
    pub fn train_gate(
        &self,
        pictures: &[Picture],
        opts: FitOptions,
        checkpoint: &str,
    ) -> Result<(FusionGate, GateReport), ChatError> {
        let mut open = Vec::with_capacity(pictures.len());
        let mut closed = Vec::with_capacity(pictures.len() * 7);
        for (i, p) in pictures.iter().enumerate() {
            for v in variants(p) {
                open.push(crate::fusion_gate::pooled(&self.features(&v.rgb, v.width, v.height)?.0)?);
            }
            for e in empty_pictures(p, i as u64) {
                closed.push(crate::fusion_gate::pooled(&self.features(&e.rgb, e.width, e.height)?.0)?);
            }
        }
        let gate = FusionGate::fit(&open, &closed, opts, checkpoint)?;
        let scores = |v: &[Vec<f32>]| v.iter().map(|x| gate.score_pooled(x)).collect::<Result<Vec<f64>, _>>();
        let (so, sc) = (scores(&open)?, scores(&closed)?);
        let right =
            so.iter().filter(|g| **g >= opts.threshold).count() + sc.iter().filter(|g| **g < opts.threshold).count();
        let report = GateReport {
            open_examples: open.len(),
            closed_examples: closed.len(),
            train_accuracy: right as f64 / (open.len() + closed.len()) as f64,
            min_open: so.iter().copied().fold(1.0, f64::min),
            max_closed: sc.iter().copied().fold(0.0, f64::max),
        };
        Ok((gate, report))
    }

    /// Ask `question` about an interleaved RGB picture of `width` x `height`;
    /// at most `max_new` tokens. With a gate that closes on the picture, the
    /// question is asked without it.
    pub fn ask(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        question: &str,
        max_new: usize,
    ) -> Result<Answer, ChatError> {
        let (features, grid) = self.features(rgb, width, height)?;
        let (features, image_gate) = match &self.gate {
            None => (Some(features), None),
            Some(g) => {
                let (f, v) = g.apply(&features)?;
                (f, Some(v))
            }
        };
        let grids = if features.is_some() { vec![grid] } else { Vec::new() };
        let placeholder = if features.is_some() { self.model.image_placeholder(grid) } else { Vec::new() };
        let image_tokens = placeholder.len().saturating_sub(2);
        let enc = self.tokenizer.encode(question, false).map_err(|e| ChatError::Tokenizer(e.to_string()))?;
        let mut ids: Vec<i64> = ["[gMASK]", "<sop>", "<|user|>"].iter().filter_map(|t| self.special(t)).collect();
        ids.extend(self.tokenizer.encode("\n", false).map(|e| to_i64(e.get_ids())).unwrap_or_default());
        ids.extend(placeholder);
        ids.extend(to_i64(enc.get_ids()));
        ids.extend(self.special("<|assistant|>"));
        ids.extend(self.tokenizer.encode("\n", false).map(|e| to_i64(e.get_ids())).unwrap_or_default());
        let tokens =
            self.model.generate_greedy_features(&ids, features.as_ref(), &grids, max_new.max(1), &self.stop)?;
        let body: Vec<u32> =
            tokens.iter().filter(|t| !self.stop.contains(t)).filter_map(|t| u32::try_from(*t).ok()).collect();
        // Special tokens kept: `<think>`/`<answer>` may be special in the tokenizer.
        let raw = self.tokenizer.decode(&body, false).map_err(|e| ChatError::Tokenizer(e.to_string()))?;
        Ok(Answer {
            text: final_answer(&raw),
            image_tokens,
            image_gate,
            image_used: !grids.is_empty(),
            prompt_tokens: ids.len(),
            tokens,
            grid: [grid.t, grid.h, grid.w],
        })
    }
}

/// `p` as it is, mirrored left to right, at 60 % brightness (dusk) and at
/// 140 % (clipped; sun on the lens): the same scene as a camera sees it at
/// other times.
pub fn variants(p: &Picture) -> Vec<Picture> {
    if p.width == 0 || p.rgb.len() != p.width * p.height * 3 {
        return vec![p.clone()];
    }
    let scaled = |f: f32| p.rgb.iter().map(|&v| (f32::from(v) * f).round().min(255.0) as u8).collect::<Vec<u8>>();
    let mut mirrored = Vec::with_capacity(p.rgb.len());
    for row in p.rgb.chunks_exact(p.width * 3) {
        for px in row.chunks_exact(3).rev() {
            mirrored.extend_from_slice(px);
        }
    }
    let pic = |rgb| Picture { width: p.width, height: p.height, rgb };
    vec![p.clone(), pic(mirrored), pic(scaled(0.6)), pic(scaled(1.4))]
}

/// Pictures of `like`'s size that carry nothing: black, mid-grey,
/// blown-out white, `like`'s mean colour (a covered or unfocused lens),
/// colour static, grey static and a dark frame with sensor noise (a night
/// without infrared); the noise is seeded by `seed`.
pub fn empty_pictures(like: &Picture, seed: u64) -> Vec<Picture> {
    let n = like.width * like.height;
    let mut mean = [0u64; 3];
    for px in like.rgb.chunks_exact(3) {
        for c in 0..3 {
            mean[c] += u64::from(px[c]);
        }
    }
    let mean = mean.map(|m| (m / n.max(1) as u64) as u8);
    let solid = |c: [u8; 3]| c.iter().copied().cycle().take(n * 3).collect::<Vec<u8>>();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 56) as u8
    };
    let colour: Vec<u8> = (0..n * 3).map(|_| next()).collect();
    let grey: Vec<u8> = (0..n).flat_map(|_| [next(); 3]).collect();
    let dark: Vec<u8> = (0..n * 3).map(|_| 8 + next() / 16).collect();
    let pic = |rgb| Picture { width: like.width, height: like.height, rgb };
    vec![
        pic(solid([0, 0, 0])),
        pic(solid([128, 128, 128])),
        pic(solid([255, 255, 255])),
        pic(solid(mean)),
        pic(colour),
        pic(grey),
        pic(dark),
    ]
}

fn to_i64(ids: &[u32]) -> Vec<i64> {
    ids.iter().map(|&i| i64::from(i)).collect()
}

/// The answer part of a thinking model's reply (`<answer>...</answer>`, or
/// what follows `</think>`), without `<|...|>` special tokens, trimmed.
pub fn final_answer(raw: &str) -> String {
    let after_think = raw.rsplit_once("</think>").map_or(raw, |(_, a)| a);
    let inner = match after_think.split_once("<answer>") {
        Some((_, a)) => a.split_once("</answer>").map_or(a, |(x, _)| x),
        None => after_think,
    };
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(i) = rest.find("<|") {
        out.push_str(&rest[..i]);
        match rest[i..].find("|>") {
            Some(j) => rest = &rest[i + j + 2..],
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::final_answer;

    #[test]
    fn thinking_replies_are_reduced_to_the_answer() {
        assert_eq!(
            final_answer("<think>door looks shut</think><answer>No, it is closed.</answer>"),
            "No, it is closed."
        );
        assert_eq!(final_answer("<think>hm</think> Yes."), "Yes.");
        assert_eq!(final_answer("  plain  "), "plain");
        assert_eq!(final_answer("<answer>open"), "open");
        assert_eq!(final_answer("a<|begin_of_image|>b<|endoftext|>"), "ab");
    }
}
