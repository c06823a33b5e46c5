//! BERT configuration: the fields of Hugging Face's `BertConfig` that the
//! encoder uses (names as in `config.json`), plus sentence-transformers'
//! `sentence_bert_config.json` (the truncation length the embedding model
//! was trained with).
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::BertError;

/// `config.json` of a BERT checkpoint (`model_type: "bert"`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct BertConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    /// Only the exact (erf) GELU is implemented: `"gelu"`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: i64,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: i64,
    /// Only `"absolute"` is implemented.
    #[serde(default = "default_pos_type")]
    pub position_embedding_type: String,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> i64 {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_pos_type() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Read `config.json` and check that it describes a model we can run.
    pub fn from_file(path: &Path) -> Result<Self, BertError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| BertError::Io { path: path.to_path_buf(), source })?;
        let cfg: BertConfig =
            serde_json::from_str(&text).map_err(|e| BertError::Config(format!("{}: {e}", path.display())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn head_dim(&self) -> i64 {
        self.hidden_size / self.num_attention_heads
    }

    /// Reject what this implementation does not do instead of running it wrong.
    pub fn validate(&self) -> Result<(), BertError> {
        let bad = |r: String| Err(BertError::Config(r));
        if let Some(t) = &self.model_type
            && t != "bert"
        {
            return bad(format!("model_type `{t}` is not implemented (only `bert`)"));
        }
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if v <= 0 {
                return bad(format!("{name} must be positive, got {v}"));
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.hidden_act != "gelu" {
            return bad(format!("hidden_act `{}` is not implemented yet (only `gelu`)", self.hidden_act));
        }
        if self.position_embedding_type != "absolute" {
            return bad(format!(
                "position_embedding_type `{}` is not implemented yet (only `absolute`)",
                self.position_embedding_type
            ));
        }
        Ok(())
    }
}

/// sentence-transformers' `sentence_bert_config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct SentenceBertConfig {
    /// Inputs are truncated to this many tokens (special tokens included).
    pub max_seq_length: usize,
    #[serde(default)]
    pub do_lower_case: bool,
}

impl SentenceBertConfig {
    /// Read the file if it exists (`Ok(None)` when the directory has none).
    pub fn from_dir(dir: &Path) -> Result<Option<Self>, BertError> {
        let path = dir.join("sentence_bert_config.json");
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|source| BertError::Io { path: path.clone(), source })?;
        serde_json::from_str(&text).map(Some).map_err(|e| BertError::Config(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINILM: &str = r#"{"architectures":["BertModel"],"hidden_act":"gelu","hidden_size":384,
        "intermediate_size":1536,"layer_norm_eps":1e-12,"max_position_embeddings":512,"model_type":"bert",
        "num_attention_heads":12,"num_hidden_layers":6,"pad_token_id":0,"position_embedding_type":"absolute",
        "type_vocab_size":2,"vocab_size":30522}"#;

    #[test]
    fn parses_minilm_config() {
        let c: BertConfig = serde_json::from_str(MINILM).unwrap();
        c.validate().unwrap();
        assert_eq!((c.hidden_size, c.num_hidden_layers, c.head_dim()), (384, 6, 32));
        assert!((c.layer_norm_eps - 1e-12).abs() < 1e-20);
    }

    #[test]
    fn rejects_what_is_not_implemented() {
        let mut c: BertConfig = serde_json::from_str(MINILM).unwrap();
        c.position_embedding_type = "relative_key".into();
        assert!(c.validate().unwrap_err().to_string().contains("not implemented"));
        let mut c: BertConfig = serde_json::from_str(MINILM).unwrap();
        c.hidden_act = "relu".into();
        assert!(c.validate().is_err());
        let mut c: BertConfig = serde_json::from_str(MINILM).unwrap();
        c.num_attention_heads = 7;
        assert!(c.validate().unwrap_err().to_string().contains("multiple"));
    }
}
