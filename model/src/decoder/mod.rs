//! The LLM decoder: one implementation for the Llama family (SmolLM2), the
//! GLM-4 family (GLM-4-0414, the GLM-4.1V / AutoGLM text model) and Gemma 3
//! text (from GGUF), switched by [`DecoderConfig`].
//!
//! Structure follows candle-transformers' `glm4_new.rs`/`llama.rs` and
//! transformers' `modeling_llama.py`/`modeling_glm4.py`/`modeling_gemma3.py`: layers are built
//! from checkpoint names (`model.layers.N.self_attn.q_proj`), attention owns
//! its pre-allocated KV cache, `forward(input, offset)` appends at `offset`,
//! [`Decoder::clear_kv_cache`] cascades, rotary tables are built once per
//! device and shared through `Arc`, and the LM head runs on the last token
//! only. A [`crate::placement::Placement`] maps the stack onto one or two
//! devices (`layers`/`tensor` split) with the same code.
//!
//! Weights come through [`WeightSource`]: Hugging Face safetensors
//! ([`crate::safetensors_loader::Checkpoint`], sharded, memory-mapped) or a
//! GGUF file ([`crate::gguf::GgufWeights`], dequantised on load).
mod attention;
mod config;
mod linear;
mod mlp;
mod model;
mod rope;
mod weights;

pub use config::{ActKind, DecoderConfig, Family, HfConfig, RopeStyle, Sliding};
pub use linear::Quantize;
pub use model::{Decoder, DecoderOptions, Prefixes};
pub use rope::RopeTables;
pub use weights::WeightSource;

#[derive(Debug, thiserror::Error)]
pub enum DecoderError {
    #[error("decoder config: {0}")]
    Config(String),
    #[error("weight `{name}` not found in {source_desc}")]
    MissingWeight { name: String, source_desc: String },
    #[error("weight `{name}`: expected shape {expected:?}, found {found:?}")]
    ShapeMismatch { name: String, expected: Vec<i64>, found: Vec<i64> },
    #[error("loading weights: {0}")]
    Weights(String),
    #[error("placement: {0}")]
    Placement(String),
    #[error("input of {len} tokens at position {offset} exceeds the context length {max}")]
    ContextOverflow { offset: i64, len: i64, max: i64 },
    #[error("bad input: {0}")]
    Input(String),
    #[error("libtorch op `{op}` failed: {source}")]
    Torch {
        op: &'static str,
        #[source]
        source: tch::TchError,
    },
    #[error(transparent)]
    Norm(#[from] hub_kernels::norm::NormError),
    #[error(transparent)]
    Rotary(#[from] hub_kernels::rotary::RotaryError),
    #[error(transparent)]
    Int8(#[from] hub_kernels::int8::Int8Error),
}

/// `map_err` helper for libtorch ops.
pub(crate) fn tch_err(op: &'static str) -> impl Fn(tch::TchError) -> DecoderError {
    move |source| DecoderError::Torch { op, source }
}
