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

use std::path::{Path, PathBuf};

use tch::{Device, Kind};

use crate::glm4v::{Glm4vError, Glm4vForConditionalGeneration};
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
}

/// The answer and what it took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Answer {
    pub text: String,
    /// `<|image|>` tokens in the prompt (vision tower features).
    pub image_tokens: usize,
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
        Ok(Glm4vChat { model, tokenizer, image, stop })
    }

    fn special(&self, t: &str) -> Option<i64> {
        self.tokenizer.token_to_id(t).map(i64::from)
    }

    /// Ask `question` about an interleaved RGB picture of `width` x `height`;
    /// at most `max_new` tokens.
    pub fn ask(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        question: &str,
        max_new: usize,
    ) -> Result<Answer, ChatError> {
        if rgb.len() != width * height * 3 || width == 0 || height == 0 {
            return Err(Glm4vError::Input(format!("picture has {} bytes, not {width}x{height}x3", rgb.len())).into());
        }
        let (pixels, grids) = preprocess(&[RgbImage { width, height, data: rgb }], &self.image)
            .map_err(|e| ChatError::Model(e.into()))?;
        let grid = grids[0];
        let placeholder = self.model.image_placeholder(grid);
        let image_tokens = placeholder.len().saturating_sub(2);
        let enc = self.tokenizer.encode(question, false).map_err(|e| ChatError::Tokenizer(e.to_string()))?;
        let mut ids: Vec<i64> = ["[gMASK]", "<sop>", "<|user|>"].iter().filter_map(|t| self.special(t)).collect();
        ids.extend(self.tokenizer.encode("\n", false).map(|e| to_i64(e.get_ids())).unwrap_or_default());
        ids.extend(placeholder);
        ids.extend(to_i64(enc.get_ids()));
        ids.extend(self.special("<|assistant|>"));
        ids.extend(self.tokenizer.encode("\n", false).map(|e| to_i64(e.get_ids())).unwrap_or_default());
        let tokens = self.model.generate_greedy(&ids, Some(&pixels), &grids, max_new.max(1), &self.stop)?;
        let body: Vec<u32> =
            tokens.iter().filter(|t| !self.stop.contains(t)).filter_map(|t| u32::try_from(*t).ok()).collect();
        // Special tokens kept: `<think>`/`<answer>` may be special in the tokenizer.
        let raw = self.tokenizer.decode(&body, false).map_err(|e| ChatError::Tokenizer(e.to_string()))?;
        Ok(Answer {
            text: final_answer(&raw),
            image_tokens,
            prompt_tokens: ids.len(),
            tokens,
            grid: [grid.t, grid.h, grid.w],
        })
    }
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
