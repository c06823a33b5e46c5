//! Linear layers: float (f32/bf16/f16 on any device) or weight-only int8
//! with per-output-channel scales (`[model] quantize = "int8"`).
use hub_kernels::int8::Int8Linear;
use tch::{Device, Kind, Tensor};

use super::{DecoderError, tch_err};

pub use hub_config::Quantize;

#[derive(Debug)]
pub enum Linear {
    Float { w: Tensor, b: Option<Tensor> },
    Int8(Int8Linear),
}

impl Linear {
    /// Build from a float weight `[out, in]` (any device/dtype): quantise if
    /// asked, then move to `device` in `kind`.
    pub fn new(
        w: Tensor,
        b: Option<Tensor>,
        quant: Quantize,
        kind: Kind,
        device: Device,
    ) -> Result<Self, DecoderError> {
        let b = match b {
            Some(b) => Some(b.f_to_kind(kind).and_then(|b| b.f_to_device(device)).map_err(tch_err("bias to device"))?),
            None => None,
        };
        match quant {
            Quantize::None => {
                let w = w
                    .f_to_kind(kind)
                    .and_then(|w| w.f_to_device(device))
                    .and_then(|w| w.f_contiguous())
                    .map_err(tch_err("weight to device"))?;
                Ok(Linear::Float { w, b })
            }
            Quantize::Int8 => {
                let wf = w.f_to_device(device).map_err(tch_err("weight to device"))?;
                let (q, scales) = hub_kernels::int8::quantize(&wf)?;
                Ok(Linear::Int8(Int8Linear::from_parts(q, scales, b)))
            }
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor, DecoderError> {
        match self {
            Linear::Float { w, b } => x.f_linear(w, b.as_ref()).map_err(tch_err("linear")),
            Linear::Int8(l) => Ok(l.forward(x)?),
        }
    }

    /// Bytes held by the weights (for reports).
    pub fn weight_bytes(&self) -> i64 {
        let bytes = |t: &Tensor| t.numel() as i64 * t.kind().elt_size_in_bytes() as i64;
        match self {
            Linear::Float { w, b } => bytes(w) + b.as_ref().map_or(0, bytes),
            Linear::Int8(l) => bytes(&l.q) + bytes(&l.scales) + l.bias.as_ref().map_or(0, bytes),
        }
    }
}
