//! The GLM-4.1V vision tower (`Glm4vVisionModel`), as in transformers'
//! `models/glm4v/modeling_glm4v.py`, plus its image preprocessing
//! ([`preprocess`], `Glm4vImageProcessor`).
//!
//! Pipeline for `pixel_values [patches, C*tp*p*p]` and one `(t, h, w)` grid
//! per image (patch units, patches ordered in 2x2 merge blocks):
//! Conv3d patch embed -> RMSNorm -> + learned position embedding resampled
//! bicubically to the image's grid -> blocks (RMSNorm, attention with 2-D
//! rotary within each image, RMSNorm, SwiGLU MLP) -> RMSNorm -> 2x2
//! downsample conv -> patch merger -> one feature per 2x2 block, in the text
//! model's hidden size.
pub mod preprocess;

use serde::Deserialize;
use tch::{Kind, Tensor};

use crate::safetensors_loader::{LoadError, Weights};

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("vision tower: libtorch error: {0}")]
    Torch(#[from] tch::TchError),
    #[error("vision tower: bad input: {0}")]
    Input(String),
    #[error("vision tower: unsupported config: {0}")]
    Config(String),
}

/// `int` or `[int, int]` in config.json (`image_size`, `patch_size`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum OneOrPair {
    One(i64),
    Pair([i64; 2]),
}

impl OneOrPair {
    fn square(self, what: &str) -> Result<i64, VisionError> {
        match self {
            OneOrPair::One(v) => Ok(v),
            OneOrPair::Pair([a, b]) if a == b => Ok(a),
            OneOrPair::Pair(p) => Err(VisionError::Config(format!("non-square {what} {p:?}"))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct VisionRopeParameters {
    pub rope_theta: Option<f64>,
    pub rope_type: Option<String>,
}

/// `vision_config` of a GLM-4.1V `config.json` (`Glm4vVisionConfig`).
#[derive(Debug, Clone, Deserialize)]
pub struct VisionConfig {
    /// Number of blocks (`depth`).
    #[serde(default = "d_depth")]
    pub depth: i64,
    #[serde(default = "d_hidden")]
    pub hidden_size: i64,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default = "d_heads")]
    pub num_heads: i64,
    #[serde(default = "d_in_channels")]
    pub in_channels: i64,
    /// Side of the pretraining image; the position table has (image_size/patch_size)^2 rows.
    #[serde(default = "d_image_size")]
    pub image_size: OneOrPair,
    #[serde(default = "d_patch")]
    pub patch_size: OneOrPair,
    #[serde(default = "d_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "d_merge")]
    pub spatial_merge_size: i64,
    #[serde(default = "d_temporal")]
    pub temporal_patch_size: OneOrPair,
    /// Output width = the text model's hidden size; also the block MLP width (sic, as upstream).
    #[serde(default = "d_out_hidden")]
    pub out_hidden_size: i64,
    /// Width of the merger's SwiGLU.
    #[serde(default = "d_intermediate")]
    pub intermediate_size: i64,
    #[serde(default)]
    pub rope_parameters: Option<VisionRopeParameters>,
    /// Legacy (transformers 4.x) location of the rotary base.
    #[serde(default)]
    pub rope_theta: Option<f64>,
}

fn d_depth() -> i64 {
    24
}
fn d_hidden() -> i64 {
    1536
}
fn d_act() -> String {
    "silu".into()
}
fn d_heads() -> i64 {
    12
}
fn d_in_channels() -> i64 {
    3
}
fn d_image_size() -> OneOrPair {
    OneOrPair::One(336)
}
fn d_patch() -> OneOrPair {
    OneOrPair::One(14)
}
fn d_eps() -> f64 {
    1e-5
}
fn d_merge() -> i64 {
    2
}
fn d_temporal() -> OneOrPair {
    OneOrPair::One(2)
}
fn d_out_hidden() -> i64 {
    4096
}
fn d_intermediate() -> i64 {
    13696
}

impl VisionConfig {
    pub fn patch(&self) -> Result<i64, VisionError> {
        self.patch_size.square("patch_size")
    }
    pub fn temporal_patch(&self) -> Result<i64, VisionError> {
        self.temporal_patch_size.square("temporal_patch_size")
    }
    pub fn rope_theta(&self) -> f64 {
        self.rope_parameters.as_ref().and_then(|r| r.rope_theta).or(self.rope_theta).unwrap_or(10000.0)
    }
    /// Flattened patch length `C * tp * p * p`.
    pub fn patch_dim(&self) -> Result<i64, VisionError> {
        let p = self.patch()?;
        Ok(self.in_channels * self.temporal_patch()? * p * p)
    }
    fn validate(&self) -> Result<(), VisionError> {
        if self.num_heads <= 0 || self.hidden_size % self.num_heads != 0 {
            return Err(VisionError::Config(format!(
                "hidden_size {} not divisible by num_heads {}",
                self.hidden_size, self.num_heads
            )));
        }
        if (self.hidden_size / self.num_heads) % 4 != 0 {
            return Err(VisionError::Config("vision head_dim must be a multiple of 4 (2-D rotary)".into()));
        }
        if self.spatial_merge_size <= 0 {
            return Err(VisionError::Config("spatial_merge_size must be positive".into()));
        }
        if self.hidden_act != "silu" {
            return Err(VisionError::Config(format!("hidden_act `{}` (only silu)", self.hidden_act)));
        }
        if let Some(t) = self.rope_parameters.as_ref().and_then(|r| r.rope_type.as_deref())
            && t != "axial"
            && t != "default"
        {
            return Err(VisionError::Config(format!("vision rope_type `{t}` (only axial)")));
        }
        Ok(())
    }
}

/// One image's patch grid `(t, h, w)` in patch units (`image_grid_thw` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub t: i64,
    pub h: i64,
    pub w: i64,
}

impl Grid {
    pub fn patches(&self) -> i64 {
        self.t * self.h * self.w
    }
}

/// `y = x W^T + b`.
#[derive(Debug)]
pub(crate) struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    pub(crate) fn load(w: &Weights<'_>, inp: i64, out: i64, bias: bool) -> Result<Self, LoadError> {
        let weight = w.get("weight", &[out, inp])?;
        let b = if bias { Some(w.get("bias", &[out])?) } else { None };
        Ok(Linear { w: weight, b })
    }
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, tch::TchError> {
        x.f_linear(&self.w, self.b.as_ref())
    }
}

/// RMSNorm as `Glm4vRMSNorm`: normalise in f32, cast back, then scale.
#[derive(Debug)]
pub(crate) struct RmsNorm {
    w: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub(crate) fn load(w: &Weights<'_>, dim: i64, eps: f64) -> Result<Self, LoadError> {
        Ok(RmsNorm { w: w.get("weight", &[dim])?, eps })
    }
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, tch::TchError> {
        let kind = x.kind();
        let xf = x.f_to_kind(Kind::Float)?;
        let var = xf.f_pow_tensor_scalar(2)?.f_mean_dim(-1, true, Kind::Float)?;
        let normed = xf.f_mul(&var.f_add_scalar(self.eps)?.f_rsqrt()?)?.f_to_kind(kind)?;
        self.w.f_mul(&normed)
    }
}

/// `torch.cat((-x2, x1), -1)` over the two halves of the last dim.
fn rotate_half(x: &Tensor) -> Result<Tensor, tch::TchError> {
    let d = x.size().last().copied().unwrap_or(0);
    let x1 = x.f_narrow(-1, 0, d / 2)?;
    let x2 = x.f_narrow(-1, d / 2, d - d / 2)?;
    Tensor::f_cat(&[x2.f_neg()?, x1], -1)
}

struct VisionAttention {
    qkv: Linear,
    proj: Linear,
    heads: i64,
    head_dim: i64,
}

impl VisionAttention {
    fn load(cfg: &VisionConfig, w: &Weights<'_>) -> Result<Self, LoadError> {
        let h = cfg.hidden_size;
        Ok(VisionAttention {
            qkv: Linear::load(&w.pp("qkv"), h, 3 * h, cfg.attention_bias)?,
            proj: Linear::load(&w.pp("proj"), h, h, false)?,
            heads: cfg.num_heads,
            head_dim: h / cfg.num_heads,
        })
    }

    /// `x [n, hidden]`; `cos/sin [n, head_dim]` (f32); attention runs
    /// separately inside each `segments` window (one per image frame).
    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, segments: &[i64]) -> Result<Tensor, tch::TchError> {
        let n = x.size().first().copied().unwrap_or(0);
        let kind = x.kind();
        let qkv = self.qkv.forward(x)?.f_reshape([n, 3, self.heads, self.head_dim])?.f_permute([1, 0, 2, 3])?;
        let q = qkv.f_get(0)?;
        let k = qkv.f_get(1)?;
        let v = qkv.f_get(2)?;
        // apply_rotary_pos_emb_vision: in f32, cos/sin broadcast over heads.
        let cos = cos.f_unsqueeze(-2)?;
        let sin = sin.f_unsqueeze(-2)?;
        let rot = |t: &Tensor| -> Result<Tensor, tch::TchError> {
            let tf = t.f_to_kind(Kind::Float)?;
            tf.f_mul(&cos)?.f_add(&rotate_half(&tf)?.f_mul(&sin)?)?.f_to_kind(kind)
        };
        let q = rot(&q)?.f_transpose(0, 1)?.f_unsqueeze(0)?; // [1, heads, n, hd]
        let k = rot(&k)?.f_transpose(0, 1)?.f_unsqueeze(0)?;
        let v = v.f_transpose(0, 1)?.f_unsqueeze(0)?;
        let scale = (self.head_dim as f64).powf(-0.5);
        let qs = q.f_split_with_sizes(segments, 2)?;
        let ks = k.f_split_with_sizes(segments, 2)?;
        let vs = v.f_split_with_sizes(segments, 2)?;
        let mut outs = Vec::with_capacity(segments.len());
        for ((q, k), v) in qs.iter().zip(ks.iter()).zip(vs.iter()) {
            let o = Tensor::f_scaled_dot_product_attention::<Tensor>(q, k, v, None, 0.0, false, scale, false)?;
            outs.push(o); // [1, heads, seg, hd]
        }
        let o = Tensor::f_cat(&outs, 2)?; // [1, heads, n, hd]
        let o = o.f_squeeze_dim(0)?.f_transpose(0, 1)?.f_reshape([n, self.heads * self.head_dim])?;
        self.proj.forward(&o)
    }
}

/// SwiGLU `down(silu(gate(x)) * up(x))`.
pub(crate) struct SwiGlu {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl SwiGlu {
    pub(crate) fn load(w: &Weights<'_>, dim: i64, inner: i64) -> Result<Self, LoadError> {
        Ok(SwiGlu {
            gate: Linear::load(&w.pp("gate_proj"), dim, inner, false)?,
            up: Linear::load(&w.pp("up_proj"), dim, inner, false)?,
            down: Linear::load(&w.pp("down_proj"), inner, dim, false)?,
        })
    }
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, tch::TchError> {
        let g = self.gate.forward(x)?.f_silu()?;
        self.down.forward(&g.f_mul(&self.up.forward(x)?)?)
    }
}

struct VisionBlock {
    norm1: RmsNorm,
    norm2: RmsNorm,
    attn: VisionAttention,
    mlp: SwiGlu,
}

impl VisionBlock {
    fn load(cfg: &VisionConfig, w: &Weights<'_>) -> Result<Self, LoadError> {
        Ok(VisionBlock {
            norm1: RmsNorm::load(&w.pp("norm1"), cfg.hidden_size, cfg.rms_norm_eps)?,
            norm2: RmsNorm::load(&w.pp("norm2"), cfg.hidden_size, cfg.rms_norm_eps)?,
            attn: VisionAttention::load(cfg, &w.pp("attn"))?,
            // Glm4VisionMlp's width is out_hidden_size, as upstream.
            mlp: SwiGlu::load(&w.pp("mlp"), cfg.hidden_size, cfg.out_hidden_size)?,
        })
    }
    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, segments: &[i64]) -> Result<Tensor, tch::TchError> {
        let x = x.f_add(&self.attn.forward(&self.norm1.forward(x)?, cos, sin, segments)?)?;
        x.f_add(&self.mlp.forward(&self.norm2.forward(&x)?)?)
    }
}

/// `Glm4vVisionPatchMerger`: proj -> LayerNorm -> GELU -> SwiGLU.
struct PatchMerger {
    proj: Linear,
    ln_w: Tensor,
    ln_b: Tensor,
    mlp: SwiGlu,
    dim: i64,
}

impl PatchMerger {
    fn load(w: &Weights<'_>, dim: i64, context: i64) -> Result<Self, LoadError> {
        let ln = w.pp("post_projection_norm");
        Ok(PatchMerger {
            proj: Linear::load(&w.pp("proj"), dim, dim, false)?,
            ln_w: ln.get("weight", &[dim])?,
            ln_b: ln.get("bias", &[dim])?,
            mlp: SwiGlu::load(w, dim, context)?,
            dim,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor, tch::TchError> {
        let x = self.proj.forward(x)?;
        let x = x.f_layer_norm([self.dim], Some(&self.ln_w), Some(&self.ln_b), 1e-5, false)?;
        self.mlp.forward(&x.f_gelu("none")?)
    }
}

/// Output of [`Glm4vVisionModel::forward`].
#[derive(Debug)]
pub struct VisionOutput {
    /// After the 2x2 downsample, before the merger: `[tokens, out_hidden]`
    /// (transformers' `last_hidden_state`).
    pub hidden: Tensor,
    /// Merged features, one row per image token: `[tokens, out_hidden]`
    /// (transformers' `pooler_output`, concatenated over images).
    pub features: Tensor,
    /// Image tokens per input grid (`t*h*w / merge^2`).
    pub tokens_per_image: Vec<i64>,
}

/// `Glm4vVisionModel`. Build with [`Glm4vVisionModel::load`] on the
/// checkpoint prefix `model.visual` (or `visual` in older saves).
pub struct Glm4vVisionModel {
    cfg: VisionConfig,
    patch_w: Tensor,
    patch_b: Option<Tensor>,
    post_conv_layernorm: RmsNorm,
    /// `[1, hidden, side, side]` f32 position table for grid sampling.
    pos_table: Tensor,
    inv_freq: Tensor,
    blocks: Vec<VisionBlock>,
    post_layernorm: RmsNorm,
    downsample_w: Tensor,
    downsample_b: Option<Tensor>,
    merger: PatchMerger,
}

impl std::fmt::Debug for Glm4vVisionModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Glm4vVisionModel(depth {}, hidden {})", self.cfg.depth, self.cfg.hidden_size)
    }
}

impl Glm4vVisionModel {
    pub fn load(cfg: &VisionConfig, w: &Weights<'_>) -> Result<Self, VisionError> {
        cfg.validate()?;
        let h = cfg.hidden_size;
        let p = cfg.patch()?;
        let tp = cfg.temporal_patch()?;
        let m = cfg.spatial_merge_size;
        let side = cfg.image_size.square("image_size")? / p;
        let pe = w.pp("patch_embed").pp("proj");
        let patch_w = pe.get("weight", &[h, cfg.in_channels, tp, p, p])?;
        let patch_b = pe.get_opt("bias", &[h])?;
        let pos = w.pp("embeddings").pp("position_embedding").get("weight", &[side * side, h])?;
        let _guard = tch::no_grad_guard();
        let pos_table = pos
            .f_view([side, side, h])?
            .f_permute([2, 0, 1])?
            .f_unsqueeze(0)?
            .f_to_kind(Kind::Float)?
            .f_contiguous()?;
        let head_dim = h / cfg.num_heads;
        let spatial = head_dim / 2;
        let theta = cfg.rope_theta();
        // As torch: 1 / base ** (arange(0, dim, 2, f32) / dim), all in f32.
        let exponent =
            Tensor::f_arange_start_step(0, spatial, 2, (Kind::Float, w.device()))?.f_div_scalar(spatial as f64)?;
        let inv_freq = Tensor::f_pow_scalar(theta, &exponent)?.f_reciprocal()?;
        let mut blocks = Vec::new();
        for i in 0..cfg.depth {
            blocks.push(VisionBlock::load(cfg, &w.pp("blocks").pp(i))?);
        }
        let ds = w.pp("downsample");
        let out = cfg.out_hidden_size;
        Ok(Glm4vVisionModel {
            cfg: cfg.clone(),
            patch_w: patch_w.f_reshape([h, -1])?,
            patch_b,
            post_conv_layernorm: RmsNorm::load(&w.pp("post_conv_layernorm"), h, cfg.rms_norm_eps)?,
            pos_table,
            inv_freq,
            blocks,
            post_layernorm: RmsNorm::load(&w.pp("post_layernorm"), h, cfg.rms_norm_eps)?,
            downsample_w: ds.get("weight", &[out, h, m, m])?,
            downsample_b: ds.get_opt("bias", &[out])?,
            merger: PatchMerger::load(&w.pp("merger"), out, cfg.intermediate_size)?,
        })
    }

    pub fn config(&self) -> &VisionConfig {
        &self.cfg
    }

    /// Check `pixel_values` against the grids; returns patches per grid.
    fn check_input(&self, pixel_values: &Tensor, grids: &[Grid]) -> Result<(), VisionError> {
        let dim = self.cfg.patch_dim()?;
        let m = self.cfg.spatial_merge_size;
        if grids.is_empty() {
            return Err(VisionError::Input("no image grids".into()));
        }
        for (i, g) in grids.iter().enumerate() {
            if g.t <= 0 || g.h <= 0 || g.w <= 0 || g.h % m != 0 || g.w % m != 0 {
                return Err(VisionError::Input(format!(
                    "grid {i} = ({}, {}, {}) must be positive with h and w divisible by spatial_merge_size {m}",
                    g.t, g.h, g.w
                )));
            }
        }
        let total: i64 = grids.iter().map(Grid::patches).sum();
        let size = pixel_values.size();
        if size.as_slice() != [total, dim] {
            return Err(VisionError::Input(format!(
                "pixel_values has shape {size:?}, expected [{total}, {dim}] for grids {:?}",
                grids.iter().map(|g| (g.t, g.h, g.w)).collect::<Vec<_>>()
            )));
        }
        if !matches!(pixel_values.kind(), Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double) {
            return Err(VisionError::Input(format!("pixel_values dtype {:?} is not floating", pixel_values.kind())));
        }
        Ok(())
    }

    /// (h, w) patch coordinates in merge-block order, as transformers'
    /// `get_vision_position_ids`, plus the grid's (h, w) for every patch.
    fn coords(&self, grids: &[Grid]) -> (Vec<i64>, Vec<i64>, Vec<f32>, Vec<f32>) {
        let m = self.cfg.spatial_merge_size;
        let (mut hs, mut ws, mut th, mut tw) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for g in grids {
            for _ in 0..g.t {
                for bh in 0..g.h / m {
                    for bw in 0..g.w / m {
                        for ih in 0..m {
                            for iw in 0..m {
                                hs.push(bh * m + ih);
                                ws.push(bw * m + iw);
                                th.push(g.h as f32);
                                tw.push(g.w as f32);
                            }
                        }
                    }
                }
            }
        }
        (hs, ws, th, tw)
    }

    /// Run the tower. `pixel_values [sum(t*h*w), C*tp*p*p]` as made by
    /// [`preprocess`]; `grids` one per image.
    pub fn forward(&self, pixel_values: &Tensor, grids: &[Grid]) -> Result<VisionOutput, VisionError> {
        self.check_input(pixel_values, grids)?;
        let _guard = tch::no_grad_guard();
        let device = self.patch_w.device();
        let kind = self.patch_w.kind();
        let h = self.cfg.hidden_size;
        let m = self.cfg.spatial_merge_size;

        // Patch embed: Conv3d with stride == kernel is a matmul on flattened patches.
        let x = pixel_values.f_to_device(device)?.f_to_kind(kind)?;
        let x = x.f_linear(&self.patch_w, self.patch_b.as_ref())?;
        let x = self.post_conv_layernorm.forward(&x)?;

        let (hs, ws, th, tw) = self.coords(grids);
        let n = hs.len() as i64;
        let hpos = Tensor::f_from_slice(&hs)?.f_to_device(device)?;
        let wpos = Tensor::f_from_slice(&ws)?.f_to_device(device)?;

        // 2-D rotary: [h freqs | w freqs] twice over the head dim, f32.
        let fh = hpos.f_to_kind(Kind::Float)?.f_unsqueeze(1)?.f_mul(&self.inv_freq.f_unsqueeze(0)?)?;
        let fw = wpos.f_to_kind(Kind::Float)?.f_unsqueeze(1)?.f_mul(&self.inv_freq.f_unsqueeze(0)?)?;
        let hw = Tensor::f_cat(&[fh, fw], -1)?;
        let emb = Tensor::f_cat(&[&hw, &hw], -1)?;
        let cos = emb.f_cos()?;
        let sin = emb.f_sin()?;

        // Learned positions resampled to each image's grid (bicubic grid_sample,
        // align_corners=False, border padding), computed in f32.
        let th = Tensor::f_from_slice(&th)?.f_to_device(device)?;
        let tw = Tensor::f_from_slice(&tw)?.f_to_device(device)?;
        let norm_w =
            wpos.f_to_kind(Kind::Float)?.f_add_scalar(0.5)?.f_div(&tw)?.f_mul_scalar(2.0)?.f_sub_scalar(1.0)?;
        let norm_h =
            hpos.f_to_kind(Kind::Float)?.f_add_scalar(0.5)?.f_div(&th)?.f_mul_scalar(2.0)?.f_sub_scalar(1.0)?;
        let grid = Tensor::f_stack(&[norm_w, norm_h], -1)?.f_unsqueeze(0)?.f_unsqueeze(2)?; // [1, n, 1, 2]
        // interpolation 2 = bicubic, padding 1 = border.
        let pos = self.pos_table.f_grid_sampler(&grid, 2, 1, false)?; // [1, hidden, n, 1]
        let pos = pos.f_squeeze_dim(0)?.f_squeeze_dim(-1)?.f_permute([1, 0])?.f_to_kind(kind)?;
        let mut x = x.f_add(&pos)?;

        // Attention windows: one per frame of each image (cu_seqlens).
        let segments: Vec<i64> = grids.iter().flat_map(|g| std::iter::repeat_n(g.h * g.w, g.t as usize)).collect();
        for blk in &self.blocks {
            x = blk.forward(&x, &cos, &sin, &segments)?;
        }
        let x = self.post_layernorm.forward(&x)?;

        // 2x2 downsample: each run of m*m rows is one merge block.
        let x = x.f_view([n / (m * m), m, m, h])?.f_permute([0, 3, 1, 2])?;
        let x = x.f_conv2d(&self.downsample_w, self.downsample_b.as_ref(), [m, m], [0, 0], [1, 1], 1)?;
        let hidden = x.f_view([-1, self.cfg.out_hidden_size])?;
        let features = self.merger.forward(&hidden)?;
        Ok(VisionOutput { hidden, features, tokens_per_image: grids.iter().map(|g| g.patches() / (m * m)).collect() })
    }
}
