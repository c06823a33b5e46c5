//! `Glm4vForConditionalGeneration` (GLM-4.1V-9B-Thinking / AutoGLM-Phone-9B):
//! the vision tower ([`crate::vision`]) feeding a GLM-4 text decoder whose
//! rotary positions are M-RoPE: three position ids per token (temporal,
//! height, width), from [`rope_index`] (transformers' `get_rope_index`).
//!
//! Images enter the prompt as `<|begin_of_image|>` + `<|image|>` x n +
//! `<|end_of_image|>` ([`Glm4vForConditionalGeneration::image_placeholder`]);
//! the `<|image|>` embeddings are replaced by the tower's features, in order.
//!
//! The text model is [`crate::decoder::Decoder`] in its GLM-4 family
//! (sandwich norms, q/k/v bias, fused `gate_up_proj`, GQA, partial
//! interleaved rotary; KV cache, placement and quantisation included), given
//! the embeddings with image features scattered in and explicit M-RoPE
//! cos/sin rows. [`Glm4vForConditionalGeneration::forward`] is the
//! full-prompt pass (logits for every position);
//! [`Glm4vForConditionalGeneration::prefill`] / [`Glm4vForConditionalGeneration::step`]
//! decode incrementally: after the prompt, a token at cache position `p`
//! has all three M-RoPE ids equal to `p + delta` (transformers'
//! `rope_deltas`).
use std::path::Path;

use serde::Deserialize;
use tch::{Device, Kind, Tensor};

use crate::decoder::{Decoder, DecoderConfig, DecoderError, DecoderOptions, Prefixes};
use crate::safetensors_loader::{Checkpoint, LoadError};
use crate::vision::{Glm4vVisionModel, Grid, VisionConfig, VisionError};

#[derive(Debug, thiserror::Error)]
pub enum Glm4vError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Vision(#[from] VisionError),
    #[error("glm4v text model: {0}")]
    Decoder(#[from] DecoderError),
    #[error("glm4v: libtorch error: {0}")]
    Torch(#[from] tch::TchError),
    #[error("glm4v: bad config {path}: {reason}")]
    Config { path: String, reason: String },
    #[error("glm4v: bad input: {0}")]
    Input(String),
}

/// Rotary settings; new (`rope_parameters`) and legacy (`rope_theta`,
/// `partial_rotary_factor`, `rope_scaling.mrope_section`) layouts both parse.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct RopeParameters {
    pub rope_theta: Option<f64>,
    pub partial_rotary_factor: Option<f64>,
    pub mrope_section: Option<Vec<i64>>,
    pub rope_type: Option<String>,
    #[serde(rename = "type")]
    pub legacy_type: Option<String>,
}

/// `text_config` of a GLM-4.1V `config.json` (`Glm4vTextConfig`).
#[derive(Debug, Clone, Deserialize)]
pub struct TextConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    #[serde(default)]
    pub num_key_value_heads: Option<i64>,
    #[serde(default = "d_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
    #[serde(default)]
    pub rope_scaling: Option<RopeParameters>,
    #[serde(default)]
    pub rope_theta: Option<f64>,
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
}

fn d_eps() -> f64 {
    1e-5
}
fn d_act() -> String {
    "silu".into()
}

impl TextConfig {
    pub fn head_dim(&self) -> i64 {
        self.hidden_size / self.num_attention_heads.max(1)
    }
    pub fn kv_heads(&self) -> i64 {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }
    fn rope(&self) -> [Option<&RopeParameters>; 2] {
        [self.rope_parameters.as_ref(), self.rope_scaling.as_ref()]
    }
    pub fn rope_theta(&self) -> f64 {
        self.rope().iter().flatten().find_map(|r| r.rope_theta).or(self.rope_theta).unwrap_or(10000.0)
    }
    pub fn partial_rotary_factor(&self) -> f64 {
        self.rope().iter().flatten().find_map(|r| r.partial_rotary_factor).or(self.partial_rotary_factor).unwrap_or(1.0)
    }
    /// Rotary dims per head (`int(head_dim * partial_rotary_factor)`).
    pub fn rotary_dim(&self) -> i64 {
        (self.head_dim() as f64 * self.partial_rotary_factor()) as i64
    }
    pub fn mrope_section(&self) -> Vec<i64> {
        self.rope().iter().flatten().find_map(|r| r.mrope_section.clone()).unwrap_or_else(|| vec![8, 12, 12])
    }
}

/// `config.json` of `Glm4vForConditionalGeneration`.
#[derive(Debug, Clone)]
pub struct Glm4vConfig {
    pub text: TextConfig,
    /// The same text model as the decoder reads it.
    pub decoder: DecoderConfig,
    pub vision: VisionConfig,
    pub image_token_id: i64,
    pub image_start_token_id: i64,
    pub image_end_token_id: i64,
    pub tie_word_embeddings: bool,
}

#[derive(Deserialize)]
struct RootConfig {
    #[serde(default)]
    text_config: Option<serde_json::Value>,
    vision_config: VisionConfig,
    #[serde(default = "d_image_token")]
    image_token_id: i64,
    #[serde(default = "d_image_start")]
    image_start_token_id: i64,
    #[serde(default = "d_image_end")]
    image_end_token_id: i64,
    #[serde(default)]
    tie_word_embeddings: Option<bool>,
}
fn d_image_token() -> i64 {
    151343
}
fn d_image_start() -> i64 {
    151339
}
fn d_image_end() -> i64 {
    151340
}

impl Glm4vConfig {
    /// Parse `config.json` text; `path` only names the file in errors.
    pub fn from_json(text_json: &str, path: &str) -> Result<Self, Glm4vError> {
        let err = |e: serde_json::Error| Glm4vError::Config { path: path.to_string(), reason: e.to_string() };
        let root_value: serde_json::Value = serde_json::from_str(text_json).map_err(err)?;
        let root: RootConfig = serde_json::from_value(root_value.clone()).map_err(err)?;
        // Older saves keep the text fields at the top level too.
        let text_value = root.text_config.clone().unwrap_or(root_value);
        let text: TextConfig = serde_json::from_value(text_value).map_err(err)?;
        let tie = root.tie_word_embeddings.or(text.tie_word_embeddings).unwrap_or(false);
        let decoder = DecoderConfig::from_hf_json(text_json)
            .map_err(|e| Glm4vError::Config { path: path.to_string(), reason: e.to_string() })?;
        let cfg = Glm4vConfig {
            text,
            decoder,
            vision: root.vision_config,
            image_token_id: root.image_token_id,
            image_start_token_id: root.image_start_token_id,
            image_end_token_id: root.image_end_token_id,
            tie_word_embeddings: tie,
        };
        cfg.validate().map_err(|reason| Glm4vError::Config { path: path.to_string(), reason })?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Self, Glm4vError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Glm4vError::Config { path: path.display().to_string(), reason: e.to_string() })?;
        Self::from_json(&text, &path.display().to_string())
    }

    fn validate(&self) -> Result<(), String> {
        let t = &self.text;
        if t.num_attention_heads <= 0 || t.hidden_size % t.num_attention_heads != 0 {
            return Err(format!("hidden_size {} not divisible by heads {}", t.hidden_size, t.num_attention_heads));
        }
        if t.kv_heads() <= 0 || t.num_attention_heads % t.kv_heads() != 0 {
            return Err(format!("heads {} not divisible by kv heads {}", t.num_attention_heads, t.kv_heads()));
        }
        let rd = t.rotary_dim();
        if rd <= 0 || rd % 2 != 0 || rd > t.head_dim() {
            return Err(format!("rotary dim {rd} must be even and within head_dim {}", t.head_dim()));
        }
        let sec = t.mrope_section();
        if sec.len() != 3 || sec.iter().any(|s| *s < 0) || sec.iter().sum::<i64>() != rd / 2 {
            return Err(format!("mrope_section {sec:?} must be 3 parts summing to rotary_dim/2 = {}", rd / 2));
        }
        if t.hidden_act != "silu" {
            return Err(format!("text hidden_act `{}` (only silu)", t.hidden_act));
        }
        if self.vision.out_hidden_size != t.hidden_size {
            return Err(format!(
                "vision out_hidden_size {} != text hidden_size {}",
                self.vision.out_hidden_size, t.hidden_size
            ));
        }
        Ok(())
    }
}

/// M-RoPE position ids for one prompt, as transformers' `get_rope_index`
/// (text runs count up; each image's tokens get (t, h, w) grid coordinates
/// offset by the running position, which then advances by max(h, w)/merge).
/// Returns `[3][seq]` ids and the delta `max + 1 - seq` used to continue
/// positions during decoding.
pub fn rope_index(
    input_ids: &[i64],
    image_token_id: i64,
    grids: &[Grid],
    spatial_merge_size: i64,
) -> Result<([Vec<i64>; 3], i64), Glm4vError> {
    let m = spatial_merge_size.max(1);
    let mut pos: [Vec<i64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut current = 0i64;
    let mut grid_iter = grids.iter();
    let mut i = 0usize;
    while i < input_ids.len() {
        if input_ids.get(i) != Some(&image_token_id) {
            for p in pos.iter_mut() {
                p.push(current);
            }
            current += 1;
            i += 1;
            continue;
        }
        let g = grid_iter.next().ok_or_else(|| {
            Glm4vError::Input(format!("image token at position {i} but only {} image grid(s) given", grids.len()))
        })?;
        let (lt, lh, lw) = (g.t, g.h / m, g.w / m);
        let n = (lt * lh * lw) as usize;
        let run = input_ids.get(i..i + n).unwrap_or(&[]);
        if run.len() != n || run.iter().any(|t| *t != image_token_id) {
            return Err(Glm4vError::Input(format!(
                "image at position {i} needs {n} consecutive image tokens (grid {}x{}x{} / merge {m})",
                g.t, g.h, g.w
            )));
        }
        for t in 0..lt {
            for h in 0..lh {
                for w in 0..lw {
                    pos[0].push(t + current);
                    pos[1].push(h + current);
                    pos[2].push(w + current);
                }
            }
        }
        current += lh.max(lw);
        i += n;
    }
    if grid_iter.next().is_some() {
        return Err(Glm4vError::Input(format!(
            "{} image grid(s) given but the prompt has fewer image token runs",
            grids.len()
        )));
    }
    let max = pos.iter().flat_map(|p| p.iter().copied()).max().unwrap_or(-1);
    let delta = max + 1 - input_ids.len() as i64;
    Ok((pos, delta))
}

/// GLM-4.1V: vision tower + M-RoPE GLM-4 text decoder + LM head.
pub struct Glm4vForConditionalGeneration {
    cfg: Glm4vConfig,
    vision: Glm4vVisionModel,
    text: Decoder,
    inv_freq: Tensor,
    /// M-RoPE delta of the prompt in the KV cache (set by `prefill`).
    delta: Option<i64>,
}

impl std::fmt::Debug for Glm4vForConditionalGeneration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Glm4vForConditionalGeneration({} layers, {:?})", self.cfg.text.num_hidden_layers, self.vision)
    }
}

impl Glm4vForConditionalGeneration {
    /// Load from a checkpoint directory (`config.json` + safetensors, single
    /// or sharded) into `kind` on `device`.
    pub fn load(dir: &Path, kind: Kind, device: Device) -> Result<Self, Glm4vError> {
        let cfg = Glm4vConfig::load(&dir.join("config.json"))?;
        let ck = Checkpoint::open(dir)?;
        let text = DecoderOptions {
            kind,
            placement: crate::placement::Placement::Single(device),
            ..DecoderOptions::default()
        };
        Self::from_checkpoint(cfg, &ck, text)
    }

    /// The vision tower loads in `text.kind` on the text model's first
    /// device; `text` places and quantises the text model.
    pub fn from_checkpoint(cfg: Glm4vConfig, ck: &Checkpoint, mut text: DecoderOptions) -> Result<Self, Glm4vError> {
        let device = text.placement.copies().first().and_then(|p| p.devices().first().copied()).unwrap_or(Device::Cpu);
        let root = ck.weights(text.kind, device);
        // transformers >= 4.52 saves `model.language_model.*` / `model.visual.*`;
        // older GLM-4.1V saves use `model.*` / `visual.*`.
        let (text_prefix, vision_w) = if ck.contains("model.language_model.embed_tokens.weight") {
            ("model.language_model", root.pp("model").pp("visual"))
        } else if ck.contains("visual.patch_embed.proj.weight") {
            ("model", root.pp("visual"))
        } else {
            ("model", root.pp("model").pp("visual"))
        };
        let vision = Glm4vVisionModel::load(&cfg.vision, &vision_w)?;
        text.prefixes = Prefixes { model: text_prefix.into(), lm_head: "lm_head".into() };
        let mut dcfg = cfg.decoder.clone();
        dcfg.tie_word_embeddings = cfg.tie_word_embeddings;
        let text_model = Decoder::load(&dcfg, ck, &text)?;
        let rd = cfg.text.rotary_dim();
        let exponent = Tensor::f_arange_start_step(0, rd, 2, (Kind::Float, device))?.f_div_scalar(rd as f64)?;
        let inv_freq = Tensor::f_pow_scalar(cfg.text.rope_theta(), &exponent)?.f_reciprocal()?;
        Ok(Glm4vForConditionalGeneration { cfg, vision, text: text_model, inv_freq, delta: None })
    }

    pub fn config(&self) -> &Glm4vConfig {
        &self.cfg
    }

    pub fn vision(&self) -> &Glm4vVisionModel {
        &self.vision
    }

    /// Prompt tokens standing for one image of `grid`:
    /// `<|begin_of_image|>`, `<|image|>` x (t*h*w/merge^2), `<|end_of_image|>`.
    pub fn image_placeholder(&self, grid: Grid) -> Vec<i64> {
        let m = self.cfg.vision.spatial_merge_size.max(1);
        let n = (grid.patches() / (m * m)).max(0) as usize;
        let mut v = Vec::with_capacity(n + 2);
        v.push(self.cfg.image_start_token_id);
        v.extend(std::iter::repeat_n(self.cfg.image_token_id, n));
        v.push(self.cfg.image_end_token_id);
        v
    }

    /// M-RoPE ids `[3][seq]` and decode delta for a prompt.
    pub fn rope_index(&self, input_ids: &[i64], grids: &[Grid]) -> Result<([Vec<i64>; 3], i64), Glm4vError> {
        rope_index(input_ids, self.cfg.image_token_id, grids, self.cfg.vision.spatial_merge_size)
    }

    /// cos/sin `[seq, rotary_dim]` (interleaved layout, `repeat_interleave(2)`,
    /// the layout `decoder::Decoder::forward_embeds` takes as explicit rope rows)
    /// from M-RoPE ids, as `Glm4vTextRotaryEmbedding`: frequency chunks of
    /// `mrope_section` take the t, h, w ids in turn.
    pub fn mrope_cos_sin(&self, pos: &[Vec<i64>; 3], kind: Kind) -> Result<(Tensor, Tensor), Glm4vError> {
        let device = self.inv_freq.device();
        let seq = pos[0].len() as i64;
        if pos.iter().any(|p| p.len() as i64 != seq) {
            return Err(Glm4vError::Input("M-RoPE position rows differ in length".into()));
        }
        let sections = self.cfg.text.mrope_section();
        let mut chunks = Vec::with_capacity(3);
        let mut start = 0i64;
        for (i, &len) in sections.iter().enumerate() {
            let ids = Tensor::f_from_slice(&pos[i % 3])?.f_to_device(device)?.f_to_kind(Kind::Float)?;
            let inv = self.inv_freq.f_narrow(0, start, len)?;
            chunks.push(ids.f_unsqueeze(1)?.f_mul(&inv.f_unsqueeze(0)?)?); // [seq, len]
            start += len;
        }
        let freqs = Tensor::f_cat(&chunks, -1)?; // [seq, rotary_dim/2]
        let cos = freqs.f_cos()?.f_repeat_interleave_self_int(2, -1, None::<i64>)?;
        let sin = freqs.f_sin()?.f_repeat_interleave_self_int(2, -1, None::<i64>)?;
        Ok((cos.f_to_kind(kind)?, sin.f_to_kind(kind)?))
    }

    /// Token embeddings with image features scattered over the `<|image|>`
    /// tokens: `[1, seq, hidden]`.
    pub fn embed(&self, input_ids: &[i64], image_features: Option<&Tensor>) -> Result<Tensor, Glm4vError> {
        let vocab = self.cfg.text.vocab_size;
        if let Some((i, t)) = input_ids.iter().enumerate().find(|(_, t)| **t < 0 || **t >= vocab) {
            return Err(Glm4vError::Input(format!(
                "token {t} at position {i} is outside the vocabulary (size {vocab})"
            )));
        }
        let table = self.text.embed_tokens();
        let device = table.device();
        let ids = Tensor::f_from_slice(input_ids)?.f_to_device(device)?;
        let emb = table.f_index_select(0, &ids)?;
        let n_image = input_ids.iter().filter(|t| **t == self.cfg.image_token_id).count() as i64;
        let emb = match image_features {
            None if n_image > 0 => {
                return Err(Glm4vError::Input(format!("prompt has {n_image} image tokens but no image was given")));
            }
            None => emb,
            Some(f) => {
                let rows = f.size().first().copied().unwrap_or(0);
                if rows != n_image {
                    return Err(Glm4vError::Input(format!(
                        "Image features and image tokens do not match, tokens: {n_image}, features: {rows}"
                    )));
                }
                let mask: Vec<bool> = input_ids.iter().map(|t| *t == self.cfg.image_token_id).collect();
                let mask = Tensor::f_from_slice(&mask)?.f_to_device(device)?.f_unsqueeze(-1)?;
                emb.f_masked_scatter(&mask, &f.f_to_kind(emb.kind())?)?
            }
        };
        Ok(emb.f_unsqueeze(0)?)
    }

    /// Full forward of one prompt: logits `[1, seq, vocab]` for every
    /// position. `pixel_values`/`grids` as made by
    /// [`crate::vision::preprocess::preprocess`]; `None`/empty for text only.
    /// Leaves the prompt in the KV cache, so [`Self::step`] can continue.
    pub fn forward(
        &mut self,
        input_ids: &[i64],
        pixel_values: Option<&Tensor>,
        grids: &[Grid],
    ) -> Result<Tensor, Glm4vError> {
        let h = self.prompt_hidden(input_ids, pixel_values, grids)?;
        Ok(self.text.lm_head(&h)?)
    }

    /// Run the prompt into a fresh KV cache (room for `max_new` more
    /// tokens) and return the last position's logits `[1, vocab]`.
    pub fn prefill(
        &mut self,
        input_ids: &[i64],
        pixel_values: Option<&Tensor>,
        grids: &[Grid],
        max_new: usize,
    ) -> Result<Tensor, Glm4vError> {
        let features = self.image_features(pixel_values, grids)?;
        self.prefill_features(input_ids, features.as_ref(), grids, max_new)
    }

    /// [`Self::prefill`] from image features already computed by
    /// [`Self::image_features`].
    pub fn prefill_features(
        &mut self,
        input_ids: &[i64],
        features: Option<&Tensor>,
        grids: &[Grid],
        max_new: usize,
    ) -> Result<Tensor, Glm4vError> {
        self.text.reserve_kv(1, (input_ids.len() + max_new) as i64)?;
        let h = self.features_hidden(input_ids, features, grids)?;
        let last = h.f_narrow(1, h.size()[1] - 1, 1)?;
        Ok(self.text.lm_head(&last)?.f_squeeze_dim(1)?)
    }

    /// One decoded token after [`Self::prefill`] (or [`Self::forward`]):
    /// logits `[1, vocab]` for the next one.
    pub fn step(&mut self, token: i64) -> Result<Tensor, Glm4vError> {
        let delta = self.delta.ok_or_else(|| Glm4vError::Input("step before a prompt was run".into()))?;
        let offset = self.text.kv_len();
        let x = self.embed(&[token], None)?;
        let p = offset + delta;
        let (cos, sin) = self.mrope_cos_sin(&[vec![p], vec![p], vec![p]], x.kind())?;
        let h = self.text.forward_embeds(&x, offset, Some((&cos, &sin)))?;
        Ok(self.text.lm_head(&h)?.f_squeeze_dim(1)?)
    }

    /// Greedy decoding: up to `max_new` tokens after the prompt, stopping
    /// after any of `stop` (included in the result).
    pub fn generate_greedy(
        &mut self,
        input_ids: &[i64],
        pixel_values: Option<&Tensor>,
        grids: &[Grid],
        max_new: usize,
        stop: &[i64],
    ) -> Result<Vec<i64>, Glm4vError> {
        let features = self.image_features(pixel_values, grids)?;
        self.generate_greedy_features(input_ids, features.as_ref(), grids, max_new, stop)
    }

    /// [`Self::generate_greedy`] from image features already computed by
    /// [`Self::image_features`] (and perhaps scaled by a fusion gate).
    pub fn generate_greedy_features(
        &mut self,
        input_ids: &[i64],
        features: Option<&Tensor>,
        grids: &[Grid],
        max_new: usize,
        stop: &[i64],
    ) -> Result<Vec<i64>, Glm4vError> {
        let mut logits = self.prefill_features(input_ids, features, grids, max_new)?;
        let mut out = Vec::with_capacity(max_new);
        while out.len() < max_new {
            let next = logits.f_argmax(-1, false)?.f_int64_value(&[0])?;
            out.push(next);
            if stop.contains(&next) || out.len() == max_new {
                break;
            }
            logits = self.step(next)?;
        }
        Ok(out)
    }

    /// Embeddings + M-RoPE through the text model from position 0; final-normed
    /// hidden states `[1, seq, hidden]`.
    fn prompt_hidden(
        &mut self,
        input_ids: &[i64],
        pixel_values: Option<&Tensor>,
        grids: &[Grid],
    ) -> Result<Tensor, Glm4vError> {
        let features = self.image_features(pixel_values, grids)?;
        self.features_hidden(input_ids, features.as_ref(), grids)
    }

    /// The vision tower's features `[image tokens, hidden]` for the
    /// pictures of `grids` (`None` for a text-only prompt).
    pub fn image_features(&self, pixel_values: Option<&Tensor>, grids: &[Grid]) -> Result<Option<Tensor>, Glm4vError> {
        let _guard = tch::no_grad_guard();
        match pixel_values {
            Some(pv) => Ok(Some(self.vision.forward(pv, grids)?.features)),
            None if grids.is_empty() => Ok(None),
            None => Err(Glm4vError::Input("image grids given without pixel_values".into())),
        }
    }

    /// [`Self::prompt_hidden`] from features already computed.
    fn features_hidden(
        &mut self,
        input_ids: &[i64],
        features: Option<&Tensor>,
        grids: &[Grid],
    ) -> Result<Tensor, Glm4vError> {
        if input_ids.is_empty() {
            return Err(Glm4vError::Input("empty prompt".into()));
        }
        let _guard = tch::no_grad_guard();
        let x = self.embed(input_ids, features)?;
        let (pos, delta) = self.rope_index(input_ids, grids)?;
        let (cos, sin) = self.mrope_cos_sin(&pos, x.kind())?;
        self.text.clear_kv_cache();
        self.delta = None;
        let h = self.text.forward_embeds(&x, 0, Some((&cos, &sin)))?;
        self.delta = Some(delta);
        Ok(h)
    }
}
