//! Rotary tables, built once per device and shared by every layer on that
//! device through `Arc`. Computed exactly like transformers'
//! `compute_default_rope_parameters` + `RotaryEmbedding.forward` (all f32:
//! `inv_freq = 1 / base^(arange(0, rot, 2) / rot)`, `freqs = pos * inv_freq`),
//! then laid out for the family's [`RopeStyle`] and cast to the model dtype.
use std::sync::Arc;

use hub_kernels::rotary::RopeStyle;
use tch::{Device, Kind, Tensor};

use super::{DecoderError, tch_err};

/// Positions covered by the tables at most (the effective context length is
/// `min(max_position_embeddings, MAX_TABLE_POSITIONS)`).
pub const MAX_TABLE_POSITIONS: i64 = 32_768;

#[derive(Debug)]
pub struct RopeTables {
    /// `[positions, rot]` in the model dtype.
    pub cos: Tensor,
    pub sin: Tensor,
    pub style: RopeStyle,
    pub rot: i64,
}

impl RopeTables {
    pub fn new(
        positions: i64,
        rot: i64,
        theta: f64,
        style: RopeStyle,
        kind: Kind,
        device: Device,
    ) -> Result<Arc<Self>, DecoderError> {
        let t = tch_err("rope tables");
        let opts = (Kind::Float, Device::Cpu);
        let exps = Tensor::f_arange_start_step(0, rot, 2, opts).map_err(&t)?.f_div_scalar(rot as f64).map_err(&t)?;
        let inv = Tensor::f_pow_scalar(theta, &exps).map_err(&t)?.f_reciprocal().map_err(&t)?;
        let pos = Tensor::f_arange(positions, opts).map_err(&t)?;
        let freqs = pos.f_unsqueeze(1).map_err(&t)?.f_mul(&inv.f_unsqueeze(0).map_err(&t)?).map_err(&t)?;
        let emb = match style {
            RopeStyle::Half => Tensor::f_cat(&[&freqs, &freqs], -1).map_err(&t)?,
            RopeStyle::Interleaved => freqs.f_repeat_interleave_self_int(2, -1, None::<i64>).map_err(&t)?,
        };
        let cos = emb.f_cos().and_then(|c| c.f_to_kind(kind)).and_then(|c| c.f_to_device(device)).map_err(&t)?;
        let sin = emb.f_sin().and_then(|c| c.f_to_kind(kind)).and_then(|c| c.f_to_device(device)).map_err(&t)?;
        // Shared by the layers of one model on one thread; tch's Tensor is Send but not Sync.
        #[allow(clippy::arc_with_non_send_sync)]
        Ok(Arc::new(RopeTables { cos, sin, style, rot }))
    }

    pub fn positions(&self) -> i64 {
        self.cos.size().first().copied().unwrap_or(0)
    }

    /// Rows `offset .. offset + len`.
    pub fn rows(&self, offset: i64, len: i64) -> Result<(Tensor, Tensor), DecoderError> {
        let max = self.positions();
        if offset < 0 || len < 0 || offset + len > max {
            return Err(DecoderError::ContextOverflow { offset, len, max });
        }
        let t = tch_err("rope rows");
        Ok((self.cos.f_narrow(0, offset, len).map_err(&t)?, self.sin.f_narrow(0, offset, len).map_err(&t)?))
    }
}
