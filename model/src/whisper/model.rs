//! The Whisper encoder-decoder on libtorch.
//!
//! Structure follows openai/whisper `model.py` (and candle's
//! `candle-transformers/src/models/whisper/model.rs`, read for layout): a
//! two-conv stem with GELU, position embeddings, pre-LN transformer blocks.
//! Weights are kept in CTranslate2's fused layout (self-attention q|k|v in
//! one linear, cross-attention k|v in one linear) whatever the source format,
//! so one GEMM produces all projections. The decoder's self-attention KV
//! cache is allocated once (`[batch, heads, n_text_ctx, head_dim]` per layer)
//! and written in place; cross-attention K/V are computed once per window.
use tch::{Device, Kind, Tensor};

use super::WhisperError;
use super::config::Dims;

pub(crate) fn terr(op: &'static str) -> impl Fn(tch::TchError) -> WhisperError {
    move |source| WhisperError::Torch { op, source }
}

/// A dense layer `y = x W^T + b`.
#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, WhisperError> {
        x.f_linear(&self.weight, self.bias.as_ref()).map_err(terr("linear"))
    }
}

#[derive(Debug)]
pub struct LayerNorm {
    pub gamma: Tensor,
    pub beta: Tensor,
    pub dim: i64,
}

impl LayerNorm {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, WhisperError> {
        x.f_layer_norm([self.dim], Some(&self.gamma), Some(&self.beta), 1e-5, false).map_err(terr("layer_norm"))
    }
}

#[derive(Debug)]
pub struct Conv1d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub stride: i64,
}

impl Conv1d {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, WhisperError> {
        x.f_conv1d(&self.weight, Some(&self.bias), [self.stride], [1], [1], 1).map_err(terr("conv1d"))
    }
}

#[derive(Debug)]
pub struct Ffn {
    pub norm: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Ffn {
    fn forward(&self, x: &Tensor) -> Result<Tensor, WhisperError> {
        let h = self.norm.forward(x)?;
        let h = self.fc1.forward(&h)?.f_gelu("none").map_err(terr("gelu"))?;
        self.fc2.forward(&h)
    }
}

/// `[B, T, H*D] -> [B, H, T, D]`
fn split_heads(x: &Tensor, heads: i64) -> Result<Tensor, WhisperError> {
    let s = x.size();
    let (b, t, d) = match s.as_slice() {
        [b, t, d] => (*b, *t, *d),
        _ => return Err(WhisperError::Shape { what: "attention input", got: s }),
    };
    x.f_view([b, t, heads, d / heads]).and_then(|v| v.f_transpose(1, 2)).map_err(terr("split_heads"))
}

/// `[B, H, T, D] -> [B, T, H*D]`
fn merge_heads(x: &Tensor) -> Result<Tensor, WhisperError> {
    let s = x.size();
    let (b, h, t, d) = match s.as_slice() {
        [b, h, t, d] => (*b, *h, *t, *d),
        _ => return Err(WhisperError::Shape { what: "attention output", got: s }),
    };
    x.f_transpose(1, 2).and_then(|v| v.f_reshape([b, t, h * d])).map_err(terr("merge_heads"))
}

fn sdpa(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, mask: Option<&Tensor>) -> Result<Tensor, WhisperError> {
    Tensor::f_scaled_dot_product_attention(q, k, v, mask, 0.0, causal, None::<f64>, false).map_err(terr("sdpa"))
}

#[derive(Debug)]
pub struct EncoderLayer {
    pub attn_norm: LayerNorm,
    /// Fused q|k|v, `[3 d, d]`.
    pub qkv: Linear,
    pub out: Linear,
    pub ffn: Ffn,
}

#[derive(Debug)]
pub struct Encoder {
    pub conv1: Conv1d,
    pub conv2: Conv1d,
    /// `[n_audio_ctx, d]`.
    pub positions: Tensor,
    pub layers: Vec<EncoderLayer>,
    pub norm: LayerNorm,
    pub heads: i64,
}

impl Encoder {
    /// `[B, n_mels, 2 * n_audio_ctx]` log-mel -> `[B, n_audio_ctx, d]`.
    pub fn forward(&self, mel: &Tensor) -> Result<Tensor, WhisperError> {
        let x = self.conv1.forward(mel)?.f_gelu("none").map_err(terr("gelu"))?;
        let x = self.conv2.forward(&x)?.f_gelu("none").map_err(terr("gelu"))?;
        let x = x.f_transpose(1, 2).map_err(terr("transpose"))?;
        let t = x.size().get(1).copied().unwrap_or(0);
        let n_pos = self.positions.size().first().copied().unwrap_or(0);
        if t > n_pos {
            return Err(WhisperError::Shape { what: "encoder frames (more than the position table)", got: x.size() });
        }
        let pos = self.positions.f_narrow(0, 0, t).map_err(terr("narrow"))?;
        let mut x = x.f_add(&pos).map_err(terr("add"))?;
        let d = self.norm.dim;
        for layer in &self.layers {
            let h = layer.attn_norm.forward(&x)?;
            let qkv = layer.qkv.forward(&h)?;
            let q = split_heads(&qkv.f_narrow(2, 0, d).map_err(terr("narrow"))?, self.heads)?;
            let k = split_heads(&qkv.f_narrow(2, d, d).map_err(terr("narrow"))?, self.heads)?;
            let v = split_heads(&qkv.f_narrow(2, 2 * d, d).map_err(terr("narrow"))?, self.heads)?;
            let a = merge_heads(&sdpa(&q, &k, &v, false, None)?)?;
            x = x.f_add(&layer.out.forward(&a)?).map_err(terr("add"))?;
            x = x.f_add(&layer.ffn.forward(&x)?).map_err(terr("add"))?;
        }
        self.norm.forward(&x)
    }
}

#[derive(Debug)]
pub struct DecoderLayer {
    pub self_norm: LayerNorm,
    /// Fused q|k|v, `[3 d, d]`.
    pub self_qkv: Linear,
    pub self_out: Linear,
    pub cross_norm: LayerNorm,
    pub cross_q: Linear,
    /// Fused k|v over the encoder output, `[2 d, d]`.
    pub cross_kv: Linear,
    pub cross_out: Linear,
    pub ffn: Ffn,
}

#[derive(Debug)]
pub struct Decoder {
    /// `[n_vocab, d]`, also the output projection (tied).
    pub embeddings: Tensor,
    /// `[n_text_ctx, d]`.
    pub positions: Tensor,
    pub layers: Vec<DecoderLayer>,
    pub norm: LayerNorm,
    pub heads: i64,
}

/// Per-window decoder state: cross-attention K/V (computed once from the
/// encoder output) and the pre-allocated self-attention cache.
#[derive(Debug)]
pub struct DecoderState {
    /// Per layer `(k, v)`, each `[1, H, n_audio_ctx, D]` (expanded to the batch when used).
    cross: Vec<(Tensor, Tensor)>,
    /// Per layer `(k, v)`, each `[max_batch, H, n_text_ctx, D]`.
    cache: Vec<(Tensor, Tensor)>,
    /// Filled positions.
    pub len: i64,
    /// Rows of the cache in use.
    pub batch: i64,
    max_batch: i64,
    /// Caller-chosen id of the encoder output the cross K/V came from.
    primed_for: u64,
}

impl DecoderState {
    pub fn max_batch(&self) -> i64 {
        self.max_batch
    }

    /// Reorder the batch rows of the cache (beam search), in place.
    pub fn reorder(&mut self, rows: &[i64]) -> Result<(), WhisperError> {
        let n = rows.len() as i64;
        if n > self.max_batch {
            return Err(WhisperError::Shape { what: "beam rows (more than the cache holds)", got: vec![n] });
        }
        let idx = Tensor::from_slice(rows);
        for (k, v) in &mut self.cache {
            for c in [k, v] {
                let live = c.f_narrow(2, 0, self.len).map_err(terr("narrow"))?;
                let picked = live
                    .f_narrow(0, 0, self.batch)
                    .and_then(|t| t.f_index_select(0, &idx))
                    .map_err(terr("index_select"))?;
                let mut dst = live.f_narrow(0, 0, n).map_err(terr("narrow"))?;
                dst.f_copy_(&picked).map_err(terr("copy_"))?;
            }
        }
        self.batch = n;
        Ok(())
    }

    /// Repeat row 0 into rows `0..n` (start of beam search / sampling).
    pub fn broadcast_first(&mut self, n: i64) -> Result<(), WhisperError> {
        let rows = vec![0i64; n as usize];
        self.reorder(&rows)
    }
}

impl Decoder {
    pub fn n_ctx(&self) -> i64 {
        self.positions.size().first().copied().unwrap_or(0)
    }

    /// Compute cross-attention K/V and allocate the self-attention cache.
    pub fn new_state(&self, audio: &Tensor, max_batch: i64, audio_id: u64) -> Result<DecoderState, WhisperError> {
        let d = self.norm.dim;
        let h = self.heads;
        let cross = self.cross_kv(audio)?;
        let mut cache = Vec::with_capacity(self.layers.len());
        let n_ctx = self.n_ctx();
        let kind = self.embeddings.kind();
        let device = self.embeddings.device();
        for _ in &self.layers {
            let shape = [max_batch, h, n_ctx, d / h];
            let ck = Tensor::f_zeros(shape, (kind, device)).map_err(terr("zeros"))?;
            let cv = Tensor::f_zeros(shape, (kind, device)).map_err(terr("zeros"))?;
            cache.push((ck, cv));
        }
        Ok(DecoderState { cross, cache, len: 0, batch: 1, max_batch, primed_for: audio_id })
    }

    fn cross_kv(&self, audio: &Tensor) -> Result<Vec<(Tensor, Tensor)>, WhisperError> {
        let d = self.norm.dim;
        let h = self.heads;
        let mut cross = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let kv = layer.cross_kv.forward(audio)?;
            let k = split_heads(&kv.f_narrow(2, 0, d).map_err(terr("narrow"))?, h)?
                .f_contiguous()
                .map_err(terr("contiguous"))?;
            let v = split_heads(&kv.f_narrow(2, d, d).map_err(terr("narrow"))?, h)?
                .f_contiguous()
                .map_err(terr("contiguous"))?;
            cross.push((k, v));
        }
        Ok(cross)
    }

    /// Reuse an allocated state for a (possibly new) encoder output: the
    /// self-attention cache is rewound, cross K/V recomputed only if `audio_id` changed.
    pub fn prime(&self, state: &mut DecoderState, audio: &Tensor, audio_id: u64) -> Result<(), WhisperError> {
        let id = audio_id;
        if id != state.primed_for {
            state.cross = self.cross_kv(audio)?;
            state.primed_for = id;
        }
        state.len = 0;
        state.batch = 1;
        Ok(())
    }

    /// Run `tokens` (`[B, n]`, at positions `state.len .. state.len + n`)
    /// through the decoder; returns hidden states `[B, n, d]` after the final
    /// norm. `B` must equal `state.batch`.
    pub fn forward(&self, tokens: &Tensor, state: &mut DecoderState) -> Result<Tensor, WhisperError> {
        let s = tokens.size();
        let (b, n) = match s.as_slice() {
            [b, n] => (*b, *n),
            _ => return Err(WhisperError::Shape { what: "decoder tokens", got: s }),
        };
        if b != state.batch {
            return Err(WhisperError::Shape { what: "decoder batch (differs from the cache)", got: s });
        }
        let offset = state.len;
        if offset + n > self.n_ctx() {
            return Err(WhisperError::Shape { what: "decoder positions (past n_text_ctx)", got: vec![offset, n] });
        }
        let d = self.norm.dim;
        let h = self.heads;
        let emb = Tensor::f_embedding(&self.embeddings, tokens, -1, false, false).map_err(terr("embedding"))?;
        let pos = self.positions.f_narrow(0, offset, n).map_err(terr("narrow"))?;
        let mut x = emb.f_add(&pos).map_err(terr("add"))?;
        // Causal mask for a multi-token block that continues a filled cache.
        let mask = if n > 1 && offset > 0 {
            let total = offset + n;
            let i = Tensor::f_arange(n, (Kind::Int64, Device::Cpu))
                .map_err(terr("arange"))?
                .f_view([n, 1])
                .map_err(terr("view"))?;
            let j = Tensor::f_arange(total, (Kind::Int64, Device::Cpu))
                .map_err(terr("arange"))?
                .f_view([1, total])
                .map_err(terr("view"))?;
            let allowed = j.f_le_tensor(&i.f_add_scalar(offset).map_err(terr("add"))?).map_err(terr("le"))?;
            Some(allowed.f_to_device(x.device()).map_err(terr("to_device"))?)
        } else {
            None
        };
        for (li, layer) in self.layers.iter().enumerate() {
            let (ck, cv) =
                state.cache.get_mut(li).ok_or(WhisperError::Shape { what: "cache layers", got: vec![li as i64] })?;
            let hs = layer.self_norm.forward(&x)?;
            let qkv = layer.self_qkv.forward(&hs)?;
            let q = split_heads(&qkv.f_narrow(2, 0, d).map_err(terr("narrow"))?, h)?;
            let k = split_heads(&qkv.f_narrow(2, d, d).map_err(terr("narrow"))?, h)?;
            let v = split_heads(&qkv.f_narrow(2, 2 * d, d).map_err(terr("narrow"))?, h)?;
            let mut kd = ck.f_narrow(0, 0, b).and_then(|t| t.f_narrow(2, offset, n)).map_err(terr("narrow"))?;
            kd.f_copy_(&k).map_err(terr("copy_"))?;
            let mut vd = cv.f_narrow(0, 0, b).and_then(|t| t.f_narrow(2, offset, n)).map_err(terr("narrow"))?;
            vd.f_copy_(&v).map_err(terr("copy_"))?;
            let kall = ck.f_narrow(0, 0, b).and_then(|t| t.f_narrow(2, 0, offset + n)).map_err(terr("narrow"))?;
            let vall = cv.f_narrow(0, 0, b).and_then(|t| t.f_narrow(2, 0, offset + n)).map_err(terr("narrow"))?;
            let causal = n > 1 && offset == 0;
            let a = merge_heads(&sdpa(&q, &kall, &vall, causal, mask.as_ref())?)?;
            x = x.f_add(&layer.self_out.forward(&a)?).map_err(terr("add"))?;

            let (xk, xv) =
                state.cross.get(li).ok_or(WhisperError::Shape { what: "cross layers", got: vec![li as i64] })?;
            let hc = layer.cross_norm.forward(&x)?;
            let q = split_heads(&layer.cross_q.forward(&hc)?, h)?;
            let (xk, xv) = if b == 1 {
                (xk.shallow_clone(), xv.shallow_clone())
            } else {
                let sz = xk.size();
                let shape = [b, sz[1], sz[2], sz[3]];
                (xk.f_expand(shape, false).map_err(terr("expand"))?, xv.f_expand(shape, false).map_err(terr("expand"))?)
            };
            let a = merge_heads(&sdpa(&q, &xk, &xv, false, None)?)?;
            x = x.f_add(&layer.cross_out.forward(&a)?).map_err(terr("add"))?;
            x = x.f_add(&layer.ffn.forward(&x)?).map_err(terr("add"))?;
        }
        state.len = offset + n;
        self.norm.forward(&x)
    }

    /// `[B, d]` hidden states -> `[B, n_vocab]` f32 logits (tied embeddings).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor, WhisperError> {
        let l = hidden.f_linear(&self.embeddings, None::<&Tensor>).map_err(terr("logits"))?;
        if l.kind() == Kind::Float { Ok(l) } else { l.f_to_kind(Kind::Float).map_err(terr("to_kind")) }
    }
}

/// The whole network.
#[derive(Debug)]
pub struct WhisperModel {
    pub dims: Dims,
    pub encoder: Encoder,
    pub decoder: Decoder,
}
