//! Where model weights live: the venv's packages or a configured path (the
//! lookups are plain paths and live in the configuration crate, which checks
//! them too).
pub use hub_config::weights::*;
