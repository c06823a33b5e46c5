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

    /// Add the end-of-sequence ids of a `generation_config.json` (an
    /// instruction-tuned Gemma ends its turn with `<end_of_turn>`, listed
    /// there and not in `config.json`); a file that does not parse adds none.
    pub fn add_generation_eos(&mut self, text: &str) {
        #[derive(Deserialize)]
        struct Generation {
            eos_token_id: Option<OneOrMany>,
        }
        let ids = match serde_json::from_str::<Generation>(text).ok().and_then(|g| g.eos_token_id) {
            Some(OneOrMany::One(i)) => vec![i],
            Some(OneOrMany::Many(v)) => v,
            None => Vec::new(),
        };
        for id in ids {
            if !self.eos_token_ids.contains(&id) {
                self.eos_token_ids.push(id);
            }
        }
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
    /// Gemma 3 (`gemma3_text`): `gelu_pytorch_tanh`.
    pub hidden_activation: Option<String>,
    pub sliding_window: Option<i64>,
    /// transformers 5: `sliding_attention` / `full_attention` per layer.
    pub layer_types: Option<Vec<String>>,
    /// transformers 4: every `sliding_window_pattern`-th layer is global.
    pub sliding_window_pattern: Option<i64>,
    /// transformers 4: the sliding layers' rotary base.
    pub rope_local_base_freq: Option<f64>,
    pub query_pre_attn_scalar: Option<f64>,
    pub attn_logit_softcapping: Option<f64>,
    pub final_logit_softcapping: Option<f64>,
    pub use_bidirectional_attention: Option<bool>,
}

impl HfConfig {
    fn into_config(self) -> Result<DecoderConfig, DecoderError> {
        let mt = self.model_type.clone().unwrap_or_default();
        let family = match mt.as_str() {
            "llama" | "mistral" | "smollm" | "smollm2" => Family::Llama,
            "glm4" | "glm4v_text" | "glm4v" => Family::Glm4,
            "gemma3_text" | "gemma3" => Family::Gemma3,
            other => {
                return Err(DecoderError::Config(format!(
                    "model_type `{other}` is not supported (llama, glm4, glm4v, gemma3_text)"
                )));
            }
        };
        let gemma = family == Family::Gemma3;
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
            (Family::Gemma3, _) => self.head_dim.unwrap_or(256),
            _ => self.head_dim.unwrap_or(hidden / heads),
        };
        // Gemma 3 in transformers 5: one rotary entry per layer type.
        let (rope_parameters, local_rope) = match self.rope_parameters.as_ref() {
            Some(rp) if gemma && rp.get("full_attention").is_some() => {
                (rp.get("full_attention"), rp.get("sliding_attention"))
            }
            rp => (rp, None),
        };
        let rp = rope_parameters;
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
        let theta = rp_f("rope_theta").or(self.rope_theta).unwrap_or(if gemma { 1_000_000.0 } else { 10000.0 });
        let default_partial = if family == Family::Glm4 { 0.5 } else { 1.0 };
        let partial = rp_f("partial_rotary_factor").or(self.partial_rotary_factor).unwrap_or(default_partial);
        let rotary_dim = (head_dim as f64 * partial) as i64;
        let act_name = self.hidden_activation.as_deref().or(self.hidden_act.as_deref());
        let act = match act_name.unwrap_or(if gemma { "gelu_pytorch_tanh" } else { "silu" }) {
            "silu" | "swish" => ActKind::Silu,
            "gelu" => ActKind::Gelu,
            "gelu_pytorch_tanh" => ActKind::GeluTanh,
            other => return Err(DecoderError::Config(format!("hidden_act `{other}` is not supported"))),
        };
        let (sliding, attn_scale) = if gemma { self.gemma_attention(head_dim, local_rope)? } else { (None, None) };
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
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(gemma),
            hidden_act: act,
            eos_token_ids: eos,
            bos_token_id: self.bos_token_id,
            sliding,
            attn_scale,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Gemma 3's sliding layers (window, which layers are global, their
    /// rotary base; `local_rope`: transformers 5's `sliding_attention`
    /// rotary entry) and the `q·k` scale. What the decoder does not run
    /// (logit soft-capping, bidirectional attention, scaled rotary on the
    /// local layers, global layers that do not recur every n-th) is refused.
    fn gemma_attention(
        &self,
        head_dim: i64,
        local_rope: Option<&serde_json::Value>,
    ) -> Result<(Option<Sliding>, Option<f64>), DecoderError> {
        let bad = |reason: String| Err(DecoderError::Config(format!("gemma3_text: {reason}")));
        if let Some(c) = self.attn_logit_softcapping.or(self.final_logit_softcapping) {
            return bad(format!("logit soft-capping ({c}) is not supported"));
        }
        if self.use_bidirectional_attention == Some(true) {
            return bad("bidirectional attention is not supported".into());
        }
        if let Some(rt) = local_rope.and_then(|v| v.get("rope_type")).and_then(|v| v.as_str())
            && rt != "default"
        {
            return bad(format!("sliding_attention rope_type `{rt}` is not supported (only `default`)"));
        }
        let layers = self.num_hidden_layers.unwrap_or(0);
        let pattern = match &self.layer_types {
            Some(types) => {
                let global = |t: &String| t == "full_attention";
                let pattern = types.iter().position(global).map_or(0, |i| i as i64 + 1);
                let regular = types.len() as i64 == layers
                    && types.iter().enumerate().all(|(i, t)| {
                        (global(t) || t == "sliding_attention")
                            && global(t) == (pattern > 0 && (i as i64 + 1) % pattern == 0)
                    });
                if !regular {
                    return bad(format!("layer_types {types:?} are not every n-th layer global over {layers}"));
                }
                pattern
            }
            None => self.sliding_window_pattern.unwrap_or(6),
        };
        let local = local_rope.and_then(|v| v.get("rope_theta")).and_then(|v| v.as_f64());
        let sliding = self.sliding_window.map(|window| Sliding {
            window,
            pattern,
            local_rope_theta: local.or(self.rope_local_base_freq).unwrap_or(10_000.0),
        });
        let scalar = self.query_pre_attn_scalar.unwrap_or(head_dim as f64);
        if !(scalar > 0.0) {
            return bad(format!("query_pre_attn_scalar {scalar} must be positive"));
        }
        let scale = (scalar != head_dim as f64).then(|| scalar.powf(-0.5));
        Ok((sliding, scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gemma 3 as transformers 5 writes it (rotary per layer type,
    /// `layer_types`) and as transformers 4 did (`rope_local_base_freq`,
    /// `sliding_window_pattern`): the same config as the GGUF's.
    #[test]
    fn gemma3_text_config_both_spellings() {
        let v5 = r#"{"model_type":"gemma3_text","vocab_size":300,"hidden_size":64,"intermediate_size":96,
            "num_hidden_layers":7,"num_attention_heads":4,"num_key_value_heads":1,"head_dim":16,
            "hidden_activation":"gelu_pytorch_tanh","query_pre_attn_scalar":16,"sliding_window":8,
            "layer_types":["sliding_attention","sliding_attention","sliding_attention","sliding_attention",
                "sliding_attention","full_attention","sliding_attention"],
            "rope_parameters":{"full_attention":{"rope_theta":1000000.0,"rope_type":"default"},
                "sliding_attention":{"rope_theta":10000.0,"rope_type":"default"}},
            "attn_logit_softcapping":null,"final_logit_softcapping":null,"eos_token_id":1,"bos_token_id":2}"#;
        let v4 = r#"{"model_type":"gemma3_text","vocab_size":300,"hidden_size":64,"intermediate_size":96,
            "num_hidden_layers":7,"num_attention_heads":4,"num_key_value_heads":1,"head_dim":16,
            "hidden_activation":"gelu_pytorch_tanh","query_pre_attn_scalar":16,"sliding_window":8,
            "sliding_window_pattern":6,"rope_theta":1000000.0,"rope_local_base_freq":10000.0,
            "eos_token_id":1,"bos_token_id":2}"#;
        let a = DecoderConfig::from_hf_json(v5).unwrap();
        assert_eq!(a, DecoderConfig::from_hf_json(v4).unwrap());
        assert_eq!((a.family, a.hidden_act, a.tie_word_embeddings), (Family::Gemma3, ActKind::GeluTanh, true));
        assert_eq!(a.sliding, Some(Sliding { window: 8, pattern: 6, local_rope_theta: 10_000.0 }));
        assert_eq!((a.rope_theta, a.attn_scale), (1e6, None));
        assert_eq!(
            (0..7).map(|i| a.window_of(i).is_some()).collect::<Vec<_>>(),
            [true, true, true, true, true, false, true]
        );
        let mut with_turn_end = a.clone();
        with_turn_end.add_generation_eos(r#"{"eos_token_id": [1, 106], "do_sample": true}"#);
        with_turn_end.add_generation_eos("not json");
        assert_eq!(with_turn_end.eos_token_ids, [1, 106]);
        let scaled = v5.replace(r#""query_pre_attn_scalar":16"#, r#""query_pre_attn_scalar":64"#);
        assert_eq!(DecoderConfig::from_hf_json(&scaled).unwrap().attn_scale, Some(0.125));
        // What the decoder does not run is refused, by name.
        for (from, to, says) in [
            (r#""attn_logit_softcapping":null"#, r#""attn_logit_softcapping":50.0"#, "soft-capping"),
            (
                r#""sliding_attention","full_attention","sliding_attention"]"#,
                r#""sliding_attention","full_attention","full_attention"]"#,
                "layer_types",
            ),
            (
                r#""rope_theta":1000000.0,"rope_type":"default""#,
                r#""rope_theta":1000000.0,"rope_type":"linear""#,
                "linear",
            ),
            (r#""query_pre_attn_scalar":16"#, r#""query_pre_attn_scalar":0"#, "query_pre_attn_scalar"),
        ] {
            let bad = v5.replace(from, to);
            assert_ne!(bad, v5, "{from}");
            let e = DecoderConfig::from_hf_json(&bad).unwrap_err().to_string();
            assert!(e.contains(says), "{says}: {e}");
        }
    }

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
