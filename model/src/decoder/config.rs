//! Decoder configuration: one normalised [`DecoderConfig`] for every family,
//! built from a Hugging Face `config.json` ([`DecoderConfig::from_hf_json`])
//! or from GGUF metadata (`gguf::GgufFile::decoder_config`).
//!
//! Hugging Face field names (see `LlamaConfig`, `Glm4Config`,
//! `Glm4vTextConfig` in transformers 5.x) are kept in [`HfConfig`]; older
//! checkpoints put `rope_theta`/`partial_rotary_factor` at the top level,
//! transformers 5 writes them inside `rope_parameters`. Both are read.
use serde::Deserialize;

use super::DecoderError;
pub use hub_kernels::rotary::RopeStyle;

/// Architecture family: decides layer layout and weight names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Llama / SmolLM2: pre-norm layers, `gate_proj`/`up_proj`, half rotary.
    Llama,
    /// GLM-4-0414 and the GLM-4.1V text model: sandwich norms
    /// (`post_self_attn_layernorm`, `post_mlp_layernorm`), fused
    /// `gate_up_proj`, q/k/v bias, partial interleaved rotary.
    Glm4,
    /// Gemma 3 text: sandwich norms (`pre_feedforward_layernorm`,
    /// `post_feedforward_layernorm`), RMS norms scaling by `1 + w`, per-head
    /// q/k norms, embeddings scaled by `sqrt(hidden)`, GeGLU (tanh GELU),
    /// and five sliding-window layers (local rotary base) to each global one.
    Gemma3,
}

/// MLP activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActKind {
    Silu,
    Gelu,
    /// `gelu_pytorch_tanh`.
    GeluTanh,
}

/// Normalised decoder hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    pub family: Family,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_layers: i64,
    pub num_heads: i64,
    pub num_kv_heads: i64,
    pub head_dim: i64,
    /// Rotating dimensions per head (`head_dim * partial_rotary_factor`).
    pub rotary_dim: i64,
    pub rope_theta: f64,
    pub rope_style: RopeStyle,
    pub rms_norm_eps: f64,
    pub max_position_embeddings: i64,
    /// Bias on q/k/v (and, for Llama, on o).
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub tie_word_embeddings: bool,
    pub hidden_act: ActKind,
    pub eos_token_ids: Vec<i64>,
    pub bos_token_id: Option<i64>,
    /// Sliding-window attention: the window (keys `i - window < j <= i`)
    /// and the layer pattern (every `pattern`-th layer is global).
    pub sliding: Option<Sliding>,
    /// Scale of `q·k` when it is not `head_dim^-0.5` (Gemma:
    /// `query_pre_attn_scalar^-0.5`).
    pub attn_scale: Option<f64>,
}

/// Gemma 3's local attention layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sliding {
    pub window: i64,
    /// Layer `i` is global when `(i + 1) % pattern == 0`.
    pub pattern: i64,
    /// Rotary base of the sliding layers.
    pub local_rope_theta: f64,
}

impl DecoderConfig {
    /// The sliding window of layer `i`, if it is a local layer.
    pub fn window_of(&self, i: i64) -> Option<i64> {
        self.sliding.filter(|s| s.pattern <= 0 || (i + 1) % s.pattern != 0).map(|s| s.window)
    }

    /// o_proj has a bias (Llama with `attention_bias`; never GLM-4).
    pub fn o_bias(&self) -> bool {
        self.family == Family::Llama && self.attention_bias
    }

    /// Check the numbers fit together.
    pub fn validate(&self) -> Result<(), DecoderError> {
        let bad = |reason: String| Err(DecoderError::Config(reason));
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v <= 0 {
                return bad(format!("{name} must be positive, got {v}"));
            }
        }
        if self.num_heads % self.num_kv_heads != 0 {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_heads, self.num_kv_heads
            ));
        }
        if self.rotary_dim <= 0 || self.rotary_dim > self.head_dim || self.rotary_dim % 2 != 0 {
            return bad(format!("rotary dimension {} must be even and in 1..={}", self.rotary_dim, self.head_dim));
        }
        if let Some(sl) = self.sliding
            && (sl.window <= 0 || !(sl.local_rope_theta > 0.0))
        {
            return bad(format!(
                "sliding window {} and local rope theta {} must be positive",
                sl.window, sl.local_rope_theta
            ));
        }
        if !(self.rms_norm_eps > 0.0) || !(self.rope_theta > 0.0) {
            return bad(format!(
                "rms_norm_eps {} and rope_theta {} must be positive",
                self.rms_norm_eps, self.rope_theta
            ));
        }
        Ok(())
    }

    /// Parse a Hugging Face `config.json` (Llama, GLM-4, GLM-4.1V: for the
    /// latter the nested `text_config` is used).
    pub fn from_hf_json(text: &str) -> Result<Self, DecoderError> {
        let raw: HfConfig =
            serde_json::from_str(text).map_err(|e| DecoderError::Config(format!("config.json: {e}")))?;
        let mut raw = raw;
        if let Some(text_cfg) = raw.text_config.take() {
            let mut inner: HfConfig = serde_json::from_value(text_cfg)
                .map_err(|e| DecoderError::Config(format!("config.json text_config: {e}")))?;
            if inner.model_type.is_none() {
                inner.model_type = raw.model_type.clone().map(|m| format!("{m}_text"));
            }
            if inner.eos_token_id.is_none() {
                inner.eos_token_id = raw.eos_token_id.take();
            }
            if inner.tie_word_embeddings.is_none() {
                inner.tie_word_embeddings = raw.tie_word_embeddings;
            }
            raw = inner;
        }
        raw.into_config()
    }
}

/// `eos_token_id` is an int or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(i64),
    Many(Vec<i64>),
}

/// The fields of `config.json` the decoder reads (names as in transformers).
#[derive(Debug, Clone, Deserialize)]
pub struct HfConfig {
    pub model_type: Option<String>,
    pub vocab_size: Option<i64>,
    pub hidden_size: Option<i64>,
    pub intermediate_size: Option<i64>,
    /// `num_hidden_layers`
    pub num_hidden_layers: Option<i64>,
    pub num_attention_heads: Option<i64>,
    pub num_key_value_heads: Option<i64>,
    pub head_dim: Option<i64>,
    pub hidden_act: Option<String>,
    pub max_position_embeddings: Option<i64>,
    pub rms_norm_eps: Option<f64>,
    pub rope_theta: Option<f64>,
    pub partial_rotary_factor: Option<f64>,
    /// transformers 5: `{rope_type, rope_theta, partial_rotary_factor, mrope_section}`.
    pub rope_parameters: Option<serde_json::Value>,
    /// transformers 4: `{type|rope_type, ...}`; only `default` is supported.
    pub rope_scaling: Option<serde_json::Value>,
    pub attention_bias: Option<bool>,
    pub mlp_bias: Option<bool>,
    pub tie_word_embeddings: Option<bool>,
    pub eos_token_id: Option<OneOrMany>,
    pub bos_token_id: Option<i64>,
    pub text_config: Option<serde_json::Value>,
}

impl HfConfig {
    fn into_config(self) -> Result<DecoderConfig, DecoderError> {
        let mt = self.model_type.clone().unwrap_or_default();
        let family = match mt.as_str() {
            "llama" | "mistral" | "smollm" | "smollm2" => Family::Llama,
            "glm4" | "glm4v_text" | "glm4v" => Family::Glm4,
            other => {
                return Err(DecoderError::Config(format!(
                    "model_type `{other}` is not supported (llama, glm4, glm4v)"
                )));
            }
        };
        let need =
            |v: Option<i64>, name: &str| v.ok_or_else(|| DecoderError::Config(format!("config.json lacks `{name}`")));
        let hidden = need(self.hidden_size, "hidden_size")?;
        let heads = need(self.num_attention_heads, "num_attention_heads")?;
        if heads <= 0 {
            return Err(DecoderError::Config(format!("num_attention_heads must be positive, got {heads}")));
        }
        let head_dim = match (family, mt.as_str()) {
            // Glm4vTextAttention always uses hidden_size / heads.
            (_, "glm4v_text" | "glm4v") => hidden / heads,
            (Family::Glm4, _) => self.head_dim.unwrap_or(128),
            _ => self.head_dim.unwrap_or(hidden / heads),
        };
        let rp = self.rope_parameters.as_ref();
        let rp_f = |k: &str| rp.and_then(|v| v.get(k)).and_then(|v| v.as_f64());
        if let Some(rt) = rp.and_then(|v| v.get("rope_type")).and_then(|v| v.as_str())
            && rt != "default"
        {
            return Err(DecoderError::Config(format!("rope_type `{rt}` is not supported (only `default`)")));
        }
        if let Some(rs) = self.rope_scaling.as_ref().filter(|v| !v.is_null()) {
            let ty = rs.get("rope_type").or_else(|| rs.get("type")).and_then(|v| v.as_str()).unwrap_or("?");
            if ty != "default" && ty != "mrope" {
                return Err(DecoderError::Config(format!("rope_scaling type `{ty}` is not supported")));
            }
        }
        let theta = rp_f("rope_theta").or(self.rope_theta).unwrap_or(10000.0);
        let default_partial = if family == Family::Glm4 { 0.5 } else { 1.0 };
        let partial = rp_f("partial_rotary_factor").or(self.partial_rotary_factor).unwrap_or(default_partial);
        let rotary_dim = (head_dim as f64 * partial) as i64;
        let act = match self.hidden_act.as_deref().unwrap_or("silu") {
            "silu" | "swish" => ActKind::Silu,
            "gelu" => ActKind::Gelu,
            other => return Err(DecoderError::Config(format!("hidden_act `{other}` is not supported"))),
        };
        let eos = match self.eos_token_id {
            Some(OneOrMany::One(i)) => vec![i],
            Some(OneOrMany::Many(v)) => v,
            None if family == Family::Glm4 => vec![151329, 151336, 151338],
            None => Vec::new(),
        };
        let cfg = DecoderConfig {
            family,
            vocab_size: need(self.vocab_size, "vocab_size")?,
            hidden_size: hidden,
            intermediate_size: need(self.intermediate_size, "intermediate_size")?,
            num_layers: need(self.num_hidden_layers, "num_hidden_layers")?,
            num_heads: heads,
            num_kv_heads: self.num_key_value_heads.unwrap_or(heads),
            head_dim,
            rotary_dim,
            rope_theta: theta,
            rope_style: if family == Family::Glm4 { RopeStyle::Interleaved } else { RopeStyle::Half },
            rms_norm_eps: self.rms_norm_eps.unwrap_or(if family == Family::Glm4 { 1.5625e-7 } else { 1e-6 }),
            max_position_embeddings: self.max_position_embeddings.unwrap_or(2048),
            attention_bias: match mt.as_str() {
                "glm4v_text" | "glm4v" => true,
                _ => self.attention_bias.unwrap_or(family == Family::Glm4),
            },
            mlp_bias: self.mlp_bias.unwrap_or(false),
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(false),
            hidden_act: act,
            eos_token_ids: eos,
            bos_token_id: self.bos_token_id,
            sliding: None,
            attn_scale: None,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glm4_config_both_rope_spellings() {
        let old = r#"{"model_type":"glm4","vocab_size":100,"hidden_size":64,"intermediate_size":96,
            "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":16,
            "rope_theta":10000.0,"partial_rotary_factor":0.5,"eos_token_id":[1,2]}"#;
        let new = r#"{"model_type":"glm4","vocab_size":100,"hidden_size":64,"intermediate_size":96,
            "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":16,
            "rope_parameters":{"rope_type":"default","rope_theta":10000.0,"partial_rotary_factor":0.5},"eos_token_id":[1,2]}"#;
        let a = DecoderConfig::from_hf_json(old).unwrap();
        let b = DecoderConfig::from_hf_json(new).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.rotary_dim, 8);
        assert_eq!(a.rope_style, RopeStyle::Interleaved);
        assert!(a.family == Family::Glm4 && a.attention_bias && !a.o_bias());
    }

    #[test]
    fn glm4v_reads_text_config() {
        let j = r#"{"model_type":"glm4v","text_config":{"model_type":"glm4v_text","vocab_size":100,"hidden_size":64,
            "intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
            "rope_parameters":{"rope_type":"default","rope_theta":10000.0,"partial_rotary_factor":0.5,"mrope_section":[2,1,1]}}}"#;
        let c = DecoderConfig::from_hf_json(j).unwrap();
        assert_eq!(c.head_dim, 16);
        assert_eq!(c.rotary_dim, 8);
        assert_eq!(c.family, Family::Glm4);
    }

    #[test]
    fn bad_configs_are_errors() {
        assert!(DecoderConfig::from_hf_json("{").is_err());
        assert!(DecoderConfig::from_hf_json(r#"{"model_type":"bert"}"#).is_err());
        let j = r#"{"model_type":"llama","vocab_size":100,"hidden_size":64,"intermediate_size":96,
            "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":3}"#;
        assert!(matches!(DecoderConfig::from_hf_json(j), Err(DecoderError::Config(_))));
        let j = r#"{"model_type":"llama","vocab_size":100,"hidden_size":64,"intermediate_size":96,
            "num_hidden_layers":2,"num_attention_heads":4,"rope_scaling":{"rope_type":"llama3"}}"#;
        assert!(matches!(DecoderConfig::from_hf_json(j), Err(DecoderError::Config(_))));
    }
}
