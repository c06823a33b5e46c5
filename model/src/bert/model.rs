//! The BERT encoder on libtorch.
//!
//! Structure follows transformers' `modeling_bert.py` (and candle's
//! `candle-transformers/src/models/bert.rs`, read for layout): word +
//! position + token-type embeddings and a LayerNorm, then post-LN layers
//! (`attention.self` -> `attention.output` (dense + residual + LayerNorm) ->
//! `intermediate` (dense + GELU) -> `output` (dense + residual + LayerNorm)).
//! Module paths repeat the checkpoint names (`encoder.layer.3.attention.self.query`).
//! At load time query/key/value are fused into one `[3 H, H]` projection so a
//! layer's attention inputs come from one GEMM. The pooler (`pooler.dense`)
//! is not used: sentence embeddings are mean-pooled (see [`super::pool`]).
use tch::{Device, Kind, Tensor};

use super::config::BertConfig;
use super::{BertError, tch_err};
use crate::safetensors_loader::{Checkpoint, Weights};

/// A dense layer `y = x W^T + b`.
#[derive(Debug)]
pub(super) struct Linear {
    pub(super) weight: Tensor,
    pub(super) bias: Tensor,
}

impl Linear {
    fn new(w: &Weights<'_>, out_dim: i64, in_dim: i64) -> Result<Self, BertError> {
        Ok(Linear { weight: w.get("weight", &[out_dim, in_dim])?, bias: w.get("bias", &[out_dim])? })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, BertError> {
        x.f_linear(&self.weight, Some(&self.bias)).map_err(tch_err("linear"))
    }
}

#[derive(Debug)]
pub(super) struct LayerNorm {
    pub(super) weight: Tensor,
    pub(super) bias: Tensor,
    dim: i64,
    eps: f64,
}

impl LayerNorm {
    fn new(w: &Weights<'_>, dim: i64, eps: f64) -> Result<Self, BertError> {
        Ok(LayerNorm { weight: w.get("weight", &[dim])?, bias: w.get("bias", &[dim])?, dim, eps })
    }

    /// The same norm over other parameters.
    pub(super) fn with(&self, weight: Tensor, bias: Tensor) -> LayerNorm {
        LayerNorm { weight, bias, dim: self.dim, eps: self.eps }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, BertError> {
        x.f_layer_norm([self.dim], Some(&self.weight), Some(&self.bias), self.eps, false).map_err(tch_err("layer_norm"))
    }
}

/// `embeddings.*`: word + absolute position + token type, then LayerNorm.
#[derive(Debug)]
struct Embeddings {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    layer_norm: LayerNorm,
}

impl Embeddings {
    fn new(cfg: &BertConfig, w: &Weights<'_>) -> Result<Self, BertError> {
        let h = cfg.hidden_size;
        Ok(Embeddings {
            word_embeddings: w.pp("word_embeddings").get("weight", &[cfg.vocab_size, h])?,
            position_embeddings: w.pp("position_embeddings").get("weight", &[cfg.max_position_embeddings, h])?,
            token_type_embeddings: w.pp("token_type_embeddings").get("weight", &[cfg.type_vocab_size, h])?,
            layer_norm: LayerNorm::new(&w.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
        })
    }

    /// `[B, T]` ids -> `[B, T, H]`.
    fn forward(&self, input_ids: &Tensor, token_type_ids: &Tensor) -> Result<Tensor, BertError> {
        let t = tch_err("embeddings");
        let len = input_ids.size().last().copied().unwrap_or(0);
        let words = Tensor::f_embedding(&self.word_embeddings, input_ids, -1, false, false).map_err(&t)?;
        let types = Tensor::f_embedding(&self.token_type_embeddings, token_type_ids, -1, false, false).map_err(&t)?;
        let pos = self.position_embeddings.f_narrow(0, 0, len).map_err(&t)?;
        let x = words.f_add(&types).and_then(|x| x.f_add(&pos)).map_err(&t)?;
        self.layer_norm.forward(&x)
    }
}

/// `encoder.layer.N.attention`: fused q|k|v, SDPA, `output.dense` + residual + LayerNorm.
#[derive(Debug)]
pub(super) struct Attention {
    /// `[3 H, H]`: `self.query`, `self.key`, `self.value` rows in that order.
    pub(super) qkv: Linear,
    pub(super) output_dense: Linear,
    pub(super) output_norm: LayerNorm,
    heads: i64,
    head_dim: i64,
}

impl Attention {
    fn new(cfg: &BertConfig, w: &Weights<'_>) -> Result<Self, BertError> {
        let h = cfg.hidden_size;
        let s = w.pp("self");
        let parts =
            ["query", "key", "value"].iter().map(|n| Linear::new(&s.pp(n), h, h)).collect::<Result<Vec<_>, _>>()?;
        let t = tch_err("fuse qkv");
        let weight = Tensor::f_cat(&parts.iter().map(|l| &l.weight).collect::<Vec<_>>(), 0)
            .and_then(|x| x.f_contiguous())
            .map_err(&t)?;
        let bias = Tensor::f_cat(&parts.iter().map(|l| &l.bias).collect::<Vec<_>>(), 0).map_err(&t)?;
        let o = w.pp("output");
        Ok(Attention {
            qkv: Linear { weight, bias },
            output_dense: Linear::new(&o.pp("dense"), h, h)?,
            output_norm: LayerNorm::new(&o.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
        })
    }

    /// The same attention over other parameters.
    pub(super) fn with(&self, qkv: Linear, output_dense: Linear, output_norm: LayerNorm) -> Attention {
        Attention { qkv, output_dense, output_norm, heads: self.heads, head_dim: self.head_dim }
    }

    /// `x: [B, T, H]`; `mask: [B, 1, 1, T]` bool (true = attend) or `None` when nothing is padded.
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor, BertError> {
        let t = tch_err("attention");
        let (b, len, h) = x.size3().map_err(&t)?;
        let qkv = self
            .qkv
            .forward(x)?
            .f_view([b, len, 3, self.heads, self.head_dim])
            .and_then(|v| v.f_permute([2, 0, 3, 1, 4]))
            .map_err(&t)?;
        let (q, k, v) = (qkv.f_get(0).map_err(&t)?, qkv.f_get(1).map_err(&t)?, qkv.f_get(2).map_err(&t)?);
        let ctx = Tensor::f_scaled_dot_product_attention(&q, &k, &v, mask, 0.0, false, None::<f64>, false)
            .and_then(|c| c.f_transpose(1, 2))
            .and_then(|c| c.f_reshape([b, len, h]))
            .map_err(&t)?;
        let out = self.output_dense.forward(&ctx)?.f_add(x).map_err(&t)?;
        self.output_norm.forward(&out)
    }
}

/// `encoder.layer.N`.
#[derive(Debug)]
pub(super) struct Layer {
    pub(super) attention: Attention,
    pub(super) intermediate: Linear,
    pub(super) output_dense: Linear,
    pub(super) output_norm: LayerNorm,
}

impl Layer {
    pub(super) fn new(cfg: &BertConfig, w: &Weights<'_>) -> Result<Self, BertError> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let o = w.pp("output");
        Ok(Layer {
            attention: Attention::new(cfg, &w.pp("attention"))?,
            intermediate: Linear::new(&w.pp("intermediate").pp("dense"), i, h)?,
            output_dense: Linear::new(&o.pp("dense"), h, i)?,
            output_norm: LayerNorm::new(&o.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
        })
    }

    pub(super) fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor, BertError> {
        let a = self.attention.forward(x, mask)?;
        let i = self.intermediate.forward(&a)?.f_gelu("none").map_err(tch_err("gelu"))?;
        let o = self.output_dense.forward(&i)?.f_add(&a).map_err(tch_err("residual"))?;
        self.output_norm.forward(&o)
    }
}

/// A BERT encoder (no pooler, no heads): ids -> last hidden states.
#[derive(Debug)]
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    cfg: BertConfig,
    device: Device,
    kind: Kind,
}

impl BertModel {
    /// Build from checkpoint weights, held and computed in `kind` (`Float`
    /// for parity with transformers; `BFloat16`/`Half` halve the weights'
    /// memory at a cosine of > 0.99 to the f32 embeddings).
    /// Names may carry a `bert.` prefix (checkpoints saved from `BertFor*`
    /// task models); both are accepted.
    pub fn new(cfg: &BertConfig, ckpt: &Checkpoint, device: Device, kind: Kind) -> Result<Self, BertError> {
        cfg.validate()?;
        if !matches!(kind, Kind::Float | Kind::BFloat16 | Kind::Half) {
            return Err(BertError::Config(format!("compute dtype {kind:?} is not supported (Float, BFloat16, Half)")));
        }
        let root = ckpt.weights(kind, device);
        let root = if ckpt.contains("bert.embeddings.word_embeddings.weight") { root.pp("bert") } else { root };
        let embeddings = Embeddings::new(cfg, &root.pp("embeddings"))?;
        let enc = root.pp("encoder").pp("layer");
        let layers = (0..cfg.num_hidden_layers).map(|i| Layer::new(cfg, &enc.pp(i))).collect::<Result<_, _>>()?;
        Ok(BertModel { embeddings, layers, cfg: cfg.clone(), device, kind })
    }

    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// The dtype weights are held and computed in.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `input_ids`, `attention_mask` (1 = token, 0 = padding) and optional
    /// `token_type_ids` (zeros when `None`), all `[B, T]` int64 ->
    /// last hidden states `[B, T, H]`, always f32. Runs without autograd.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: Option<&Tensor>,
    ) -> Result<Tensor, BertError> {
        let mut states = self.hidden_states(input_ids, attention_mask, token_type_ids)?;
        states.pop().ok_or_else(|| BertError::Input("the encoder has no layers".into()))
    }

    /// [`Self::forward`] keeping every stage, as transformers'
    /// `output_hidden_states`: the embeddings' output, then each layer's
    /// (`num_hidden_layers + 1` tensors `[B, T, H]`, f32).
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: Option<&Tensor>,
    ) -> Result<Vec<Tensor>, BertError> {
        self.hidden_states_below(input_ids, attention_mask, token_type_ids, self.layers.len())
    }

    /// [`Self::hidden_states`] of the embeddings and the first `layers`
    /// layers only (`layers + 1` tensors; `layers` is capped at the
    /// model's): what layers tuned for a task ([`super::TopLayers`])
    /// continue from, without running the model's own layers above them.
    pub fn hidden_states_below(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: Option<&Tensor>,
        layers: usize,
    ) -> Result<Vec<Tensor>, BertError> {
        let _guard = tch::no_grad_guard();
        let t = tch_err("bert forward");
        let (b, len) = input_ids.size2().map_err(&t)?;
        if attention_mask.size() != [b, len] {
            return Err(BertError::Input(format!(
                "attention_mask shape {:?} does not match input_ids [{b}, {len}]",
                attention_mask.size()
            )));
        }
        if len > self.cfg.max_position_embeddings {
            return Err(BertError::Input(format!(
                "{len} tokens exceed max_position_embeddings {}",
                self.cfg.max_position_embeddings
            )));
        }
        let zeros;
        let types = match token_type_ids {
            Some(t) => t,
            None => {
                zeros = input_ids.f_zeros_like().map_err(&t)?;
                &zeros
            }
        };
        let mask = sdpa_mask(attention_mask)?;
        let mut x = self.embeddings.forward(input_ids, types)?;
        let mut out = Vec::with_capacity(layers.min(self.layers.len()) + 1);
        for layer in self.layers.iter().take(layers) {
            let next = layer.forward(&x, mask.as_ref())?;
            out.push(self.to_f32(x)?);
            x = next;
        }
        out.push(self.to_f32(x)?);
        Ok(out)
    }

    fn to_f32(&self, x: Tensor) -> Result<Tensor, BertError> {
        if self.kind == Kind::Float { Ok(x) } else { x.f_to_kind(Kind::Float).map_err(tch_err("to f32")) }
    }

    /// Layers `first..` (`encoder.layer.N`), for [`super::TopLayers`].
    pub(super) fn layers_from(&self, first: usize) -> &[Layer] {
        self.layers.get(first..).unwrap_or(&[])
    }
}

/// The `[B, 1, 1, T]` boolean mask SDPA takes (true = attend), or `None`
/// when nothing is padded: a padding-free batch takes SDPA's fast path.
pub(super) fn sdpa_mask(attention_mask: &Tensor) -> Result<Option<Tensor>, BertError> {
    let t = tch_err("attention mask");
    let (b, len) = attention_mask.size2().map_err(&t)?;
    if b * len == 0 {
        return Ok(None);
    }
    let padded = attention_mask.f_min().and_then(|m| m.f_int64_value(&[])).map_err(&t)? == 0;
    if !padded {
        return Ok(None);
    }
    attention_mask.f_ne(0).and_then(|m| m.f_view([b, 1, 1, len])).map(Some).map_err(t)
}
