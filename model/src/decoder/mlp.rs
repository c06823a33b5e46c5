//! Gated MLP over a slice of the intermediate dimension on one device:
//! `down(act(gate(x)) * up(x))`, with gate and up fused into one matmul
//! (GLM-4 stores them fused as `gate_up_proj`; Llama's `gate_proj` and
//! `up_proj` are concatenated at load time).
use tch::{Device, Tensor};

use super::config::ActKind;
use super::linear::Linear;
use super::{DecoderError, tch_err};

#[derive(Debug)]
pub struct MlpShard {
    pub device: Device,
    /// `[2 * inter, hidden]`: gate rows then up rows.
    gate_up: Linear,
    /// `[hidden, inter]` (no bias: added once by the layer).
    down: Linear,
    inter: i64,
    act: ActKind,
}

impl MlpShard {
    pub fn new(device: Device, gate_up: Linear, down: Linear, inter: i64, act: ActKind) -> Self {
        MlpShard { device, gate_up, down, inter, act }
    }

    pub fn weight_bytes(&self) -> i64 {
        self.gate_up.weight_bytes() + self.down.weight_bytes()
    }

    /// Partial `[b, s, hidden]` output of this shard.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, DecoderError> {
        let t = tch_err("mlp");
        let gu = self.gate_up.forward(x)?;
        let gate = gu.f_narrow(-1, 0, self.inter).map_err(&t)?;
        let up = gu.f_narrow(-1, self.inter, self.inter).map_err(&t)?;
        let a = match self.act {
            ActKind::Silu => gate.f_silu(),
            ActKind::Gelu => gate.f_gelu("none"),
            ActKind::GeluTanh => gate.f_gelu("tanh"),
        }
        .map_err(&t)?;
        self.down.forward(&a.f_mul(&up).map_err(&t)?)
    }
}
