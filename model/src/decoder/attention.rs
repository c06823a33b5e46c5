//! Self-attention over a group of heads on one device, with its own
//! pre-allocated KV cache. Single-device models have one group with every
//! head; `split = "tensor"` gives each device a group of whole KV heads (and
//! their query heads) and the matching rows of `o_proj`. Gemma 3 adds
//! per-head q/k norms, a sliding window on its local layers and its own
//! score scale ([`AttnExtras`]).
use std::sync::Arc;

use hub_kernels::norm::rms_norm;
use hub_kernels::rotary::apply_rotary;
use tch::{Device, Kind, Tensor};

use super::linear::Linear;
use super::rope::RopeTables;
use super::{DecoderError, tch_err};

/// Pre-allocated `[batch, kv_heads, capacity, head_dim]` key and value
/// buffers; a step writes its rows at `offset` in place (no per-token
/// concatenation). Growing (rare: only past the reserved capacity) doubles.
#[derive(Debug)]
pub struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: i64,
    batch: i64,
    capacity: i64,
}

impl KvCache {
    fn new() -> Self {
        KvCache { k: None, v: None, len: 0, batch: 0, capacity: 0 }
    }

    pub fn len(&self) -> i64 {
        self.len
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Drop the buffers (frees memory).
    pub fn release(&mut self) {
        *self = KvCache::new();
    }

    /// Make room for `needed` positions; keeps the first `self.len` rows.
    fn reserve(
        &mut self,
        batch: i64,
        kv_heads: i64,
        head_dim: i64,
        needed: i64,
        kind: Kind,
        device: Device,
    ) -> Result<(), DecoderError> {
        if self.k.is_some() && self.batch == batch && needed <= self.capacity {
            return Ok(());
        }
        let t = tch_err("kv cache alloc");
        let capacity = if self.batch == batch { needed.max(self.capacity * 2).max(16) } else { needed.max(16) };
        let k = Tensor::f_zeros([batch, kv_heads, capacity, head_dim], (kind, device)).map_err(&t)?;
        let v = Tensor::f_zeros([batch, kv_heads, capacity, head_dim], (kind, device)).map_err(&t)?;
        match (&self.k, &self.v) {
            (Some(ok), Some(ov)) if self.batch == batch && self.len > 0 => {
                let keep = self.len;
                k.f_narrow(2, 0, keep).and_then(|mut d| d.f_copy_(&ok.f_narrow(2, 0, keep)?)).map_err(&t)?;
                v.f_narrow(2, 0, keep).and_then(|mut d| d.f_copy_(&ov.f_narrow(2, 0, keep)?)).map_err(&t)?;
            }
            _ => self.len = 0,
        }
        self.k = Some(k);
        self.v = Some(v);
        self.batch = batch;
        self.capacity = capacity;
        Ok(())
    }
}

/// What Gemma 3 adds to a layer's attention (all off for Llama and GLM).
#[derive(Debug, Default)]
pub struct AttnExtras {
    /// Per-head RMS norms of q and k (weights already `1 + w`), before rotary.
    pub qk_norm: Option<(Tensor, Tensor)>,
    pub eps: f64,
    /// Sliding window: query `i` sees keys `i - window < j <= i`.
    pub window: Option<i64>,
    /// Scale of `q·k` (default `head_dim^-0.5`).
    pub scale: Option<f64>,
}

#[derive(Debug)]
pub struct AttentionShard {
    pub device: Device,
    /// Fused `[q; k; v]` projection for this shard's heads.
    qkv: Linear,
    /// `o_proj` input rows for this shard's heads (no bias: added once by the layer).
    o: Linear,
    heads: i64,
    kv_heads: i64,
    head_dim: i64,
    kind: Kind,
    rope: Arc<RopeTables>,
    extras: AttnExtras,
    cache: KvCache,
}

impl AttentionShard {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        device: Device,
        qkv: Linear,
        o: Linear,
        heads: i64,
        kv_heads: i64,
        head_dim: i64,
        kind: Kind,
        rope: Arc<RopeTables>,
        extras: AttnExtras,
    ) -> Self {
        AttentionShard { device, qkv, o, heads, kv_heads, head_dim, kind, rope, extras, cache: KvCache::new() }
    }

    pub fn clear_kv_cache(&mut self) {
        self.cache.clear();
    }

    pub fn release_kv_cache(&mut self) {
        self.cache.release();
    }

    pub fn kv_len(&self) -> i64 {
        self.cache.len()
    }

    /// Reserve cache room for `positions` tokens of `batch` sequences.
    pub fn reserve(&mut self, batch: i64, positions: i64) -> Result<(), DecoderError> {
        self.cache.reserve(batch, self.kv_heads, self.head_dim, positions, self.kind, self.device)
    }

    pub fn weight_bytes(&self) -> i64 {
        self.qkv.weight_bytes() + self.o.weight_bytes()
    }

    /// `x`: `[b, s, hidden]` (already on this shard's device). Returns this
    /// shard's partial `o_proj` output `[b, s, hidden]`. `rope`: explicit
    /// cos/sin rows (`[s, rot]` or `[b, s, rot]`), else the shared tables at
    /// `offset..offset+s`.
    pub fn forward(
        &mut self,
        x: &Tensor,
        offset: i64,
        rope: Option<(&Tensor, &Tensor)>,
    ) -> Result<Tensor, DecoderError> {
        let size = x.size();
        let (b, s) = match size.as_slice() {
            [b, s, _] => (*b, *s),
            other => {
                return Err(DecoderError::Input(format!(
                    "attention input must be [batch, seq, hidden], got {other:?}"
                )));
            }
        };
        if offset < 0 || offset > self.cache.len() {
            return Err(DecoderError::Input(format!(
                "offset {offset} but the KV cache holds {} positions",
                self.cache.len()
            )));
        }
        let t = tch_err("attention");
        let (h, kvh, hd) = (self.heads, self.kv_heads, self.head_dim);
        let qkv = self.qkv.forward(x)?.f_view([b, s, h + 2 * kvh, hd]).map_err(&t)?;
        // Rotate q and k together: heads [0, h + kvh).
        let qk = qkv.f_narrow(2, 0, h + kvh).map_err(&t)?;
        let qk = match &self.extras.qk_norm {
            Some((qn, kn)) => {
                let eps = self.extras.eps;
                let q = rms_norm(&qk.f_narrow(2, 0, h).map_err(&t)?, qn, eps)?;
                let k = rms_norm(&qk.f_narrow(2, h, kvh).map_err(&t)?, kn, eps)?;
                Tensor::f_cat(&[q, k], 2).map_err(&t)?
            }
            None => qk,
        };
        let qk = match rope {
            Some((cos, sin)) => {
                let cos = cos.f_to_device(self.device).and_then(|c| c.f_to_kind(self.kind)).map_err(&t)?;
                let sin = sin.f_to_device(self.device).and_then(|c| c.f_to_kind(self.kind)).map_err(&t)?;
                apply_rotary(&qk, &cos, &sin, self.rope.style)?
            }
            None => {
                let (cos, sin) = self.rope.rows(offset, s)?;
                apply_rotary(&qk, &cos, &sin, self.rope.style)?
            }
        };
        let q = qk.f_narrow(2, 0, h).and_then(|q| q.f_transpose(1, 2)).map_err(&t)?;
        let k = qk.f_narrow(2, h, kvh).and_then(|k| k.f_transpose(1, 2)).map_err(&t)?;
        let v = qkv.f_narrow(2, h + kvh, kvh).and_then(|v| v.f_transpose(1, 2)).map_err(&t)?;
        let total = offset + s;
        self.cache.len = offset;
        self.reserve(b, total)?;
        let (kc, vc) = match (&self.cache.k, &self.cache.v) {
            (Some(k), Some(v)) => (k, v),
            _ => return Err(DecoderError::Input("KV cache missing after reserve".into())),
        };
        kc.f_narrow(2, offset, s).and_then(|mut d| d.f_copy_(&k)).map_err(&t)?;
        vc.f_narrow(2, offset, s).and_then(|mut d| d.f_copy_(&v)).map_err(&t)?;
        self.cache.len = total;
        // Keys before `first` are outside every query's window.
        let window = self.extras.window.filter(|&w| total > w);
        let first = window.map_or(0, |w| (offset + 1 - w).max(0));
        let keys = kc.f_narrow(2, first, total - first).map_err(&t)?;
        let values = vc.f_narrow(2, first, total - first).map_err(&t)?;
        let gqa = h != kvh;
        let scale = self.extras.scale;
        let y = if s == 1 {
            Tensor::f_scaled_dot_product_attention(&q, &keys, &values, None::<&Tensor>, 0.0, false, scale, gqa)
        } else if offset == 0 && window.is_none() {
            Tensor::f_scaled_dot_product_attention(&q, &keys, &values, None::<&Tensor>, 0.0, true, scale, gqa)
        } else {
            // Query i (position offset + i) sees keys j <= offset + i, and
            // within a window only j > offset + i - window.
            let dev = self.device;
            let rows =
                Tensor::f_arange_start(offset, total, (Kind::Int64, dev)).map_err(&t)?.f_unsqueeze(1).map_err(&t)?;
            let cols =
                Tensor::f_arange_start(first, total, (Kind::Int64, dev)).map_err(&t)?.f_unsqueeze(0).map_err(&t)?;
            let mut mask = cols.f_le_tensor(&rows).map_err(&t)?;
            if let Some(w) = window {
                let near = cols.f_gt_tensor(&rows.f_sub_scalar(w).map_err(&t)?).map_err(&t)?;
                mask = mask.f_logical_and(&near).map_err(&t)?;
            }
            Tensor::f_scaled_dot_product_attention(&q, &keys, &values, Some(&mask), 0.0, false, scale, gqa)
        }
        .map_err(tch_err("scaled_dot_product_attention"))?;
        let y = y.f_transpose(1, 2).and_then(|y| y.f_reshape([b, s, h * hd])).map_err(&t)?;
        self.o.forward(&y)
    }
}
