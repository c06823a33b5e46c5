//! Heads checkpoints: one safetensors file (`intent.{0,2}.{weight,bias}`,
//! `slot.{0,2}.{weight,bias}`, f32: see [`super::mlp`]; with the encoder's
//! tuned top layers under their own names, `encoder.layer.2.…`) whose
//! metadata names the labels, so the file alone says what its outputs mean:
//!
//! | key | value |
//! |---|---|
//! | `format` | [`HEADS_FORMAT`] |
//! | `version` | `3` (`2`, the same without tuned layers, still loads; version 1, linear heads, is refused: the daemon retrains) |
//! | `encoder_top_first` | the first tuned encoder layer, e.g. `2`; absent: none |
//! | `encoder_config` | the encoder's `config.json` (JSON), with tuned layers |
//! | `hidden_size` | encoder width, e.g. `384` |
//! | `intents` | JSON array, in logit order |
//! | `slot_types` | JSON array; tags are `O`, `B-x`, `I-x`, ... in that order |
//! | `tags` | JSON array of the tag names (derived; checked on load) |
//! | `slot_context` | `2`: the slot head reads two neighbours on each side |
//! | `intent_pooling` | `mean,max` |
//! | `head_hidden` | width of each head's hidden layer, e.g. `256` |
//! | `spelled_numbers` | JSON array of the language's numbers as words ("forty two") a slot span may grow to; absent: none |
//! | `slot_values` | JSON object: closed slot type -> its values, lower case ("living room"); a span of the type is fitted to them; absent: spans stay as tagged |
//! | `intent_slots` | JSON object: intent -> the slot types its tokens are tagged among; absent: every type for every intent |
//!
//! Saving writes a temporary file beside the target and renames it, so a
//! reader never sees half a checkpoint.
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};
use tch::{Kind, Tensor};

use super::mlp::{self, Mlp};
use super::{HeadsError, MultiTaskHeads, SLOT_CONTEXT, check_labels, tag_names, terr};
use crate::bert::{BertConfig, TopLayers};
use crate::safetensors_loader::{Checkpoint, SaveError, save_f32_atomic};

/// Value of the `format` metadata key.
pub const HEADS_FORMAT: &str = "hubd-multitask-heads";
const VERSION: &str = "3";
/// Versions [`MultiTaskHeads::load`] reads.
const READS: [&str; 2] = ["2", "3"];
const INTENT_POOLING: &str = "mean,max";

fn f32_values(t: &Tensor) -> Result<Vec<f32>, HeadsError> {
    let flat = t.f_flatten(0, -1).and_then(|x| x.f_to_kind(Kind::Float)).map_err(terr("heads to f32"))?;
    Vec::<f32>::try_from(&flat).map_err(terr("heads to f32"))
}

impl MultiTaskHeads {
    fn named(&self) -> Result<Vec<(String, Tensor)>, HeadsError> {
        let mut out = Vec::new();
        for (head, m) in [("intent", &self.intent), ("slot", &self.slot)] {
            for (n, t) in mlp::NAMES.iter().zip(m.tensors()) {
                out.push((format!("{head}.{n}"), t.shallow_clone()));
            }
        }
        if let Some(top) = &self.top {
            out.extend(top.named_tensors()?.into_iter().map(|(n, t)| (format!("encoder.layer.{n}"), t)));
        }
        Ok(out)
    }

    /// Write the heads and their label names to `path` (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), HeadsError> {
        let path = path.as_ref();
        let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let mut meta: HashMap<String, String> = [
            ("format", HEADS_FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("hidden_size", self.hidden.to_string()),
            ("intents", json(&self.intents)),
            ("slot_types", json(&self.slot_types)),
            ("tags", json(&self.tag_names())),
            ("slot_context", SLOT_CONTEXT.to_string()),
            ("intent_pooling", INTENT_POOLING.to_string()),
            ("head_hidden", self.intent.shape().1.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if !self.spelled_numbers.is_empty() {
            meta.insert("spelled_numbers".into(), serde_json::to_string(&self.spelled_numbers).unwrap_or_default());
        }
        if !self.slot_values.is_empty() {
            meta.insert("slot_values".into(), serde_json::to_string(&self.slot_values).unwrap_or_default());
        }
        if !self.intent_slots.is_empty() {
            meta.insert("intent_slots".into(), serde_json::to_string(&self.intent_slots).unwrap_or_default());
        }
        if !self.intent_needs.is_empty() {
            meta.insert("intent_needs".into(), serde_json::to_string(&self.intent_needs).unwrap_or_default());
        }
        if let Some(top) = &self.top {
            meta.insert("encoder_top_first".into(), top.first().to_string());
            meta.insert("encoder_config".into(), serde_json::to_string(top.config()).unwrap_or_default());
        }
        let data: Vec<(String, Vec<usize>, Vec<f32>)> = self
            .named()?
            .into_iter()
            .map(|(n, t)| Ok((n, t.size().iter().map(|&d| d as usize).collect(), f32_values(&t)?)))
            .collect::<Result<_, HeadsError>>()?;
        save_f32_atomic(path, &data, meta).map_err(|e| match e {
            SaveError::Io(source) => HeadsError::Io { path: path.to_path_buf(), source },
            SaveError::Format(reason) => HeadsError::Format { path: path.to_path_buf(), reason },
        })
    }

    /// Read heads written by [`MultiTaskHeads::save`]; labels, shapes and
    /// dtypes are checked against each other.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, HeadsError> {
        let path = path.as_ref();
        let bad = |reason: String| HeadsError::Format { path: path.to_path_buf(), reason };
        let bytes = std::fs::read(path).map_err(|source| HeadsError::Io { path: path.to_path_buf(), source })?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let meta = header.metadata().clone().ok_or_else(|| bad("no metadata".into()))?;
        let get = |k: &str| meta.get(k).ok_or_else(|| bad(format!("metadata key `{k}` missing")));
        if get("format")? != HEADS_FORMAT {
            return Err(bad(format!("format is `{}`, expected `{HEADS_FORMAT}`", get("format")?)));
        }
        if !READS.contains(&get("version")?.as_str()) {
            return Err(bad(format!("version `{}` is not supported (only {})", get("version")?, READS.join(", "))));
        }
        if get("slot_context")? != &SLOT_CONTEXT.to_string() {
            return Err(bad(format!("slot_context `{}` is not supported (only {SLOT_CONTEXT})", get("slot_context")?)));
        }
        if get("intent_pooling")? != INTENT_POOLING {
            return Err(bad(format!(
                "intent_pooling `{}` is not supported (only {INTENT_POOLING})",
                get("intent_pooling")?
            )));
        }
        let head: i64 = get("head_hidden")?.parse().map_err(|_| bad("head_hidden is not a number".into()))?;
        let hidden: i64 = get("hidden_size")?.parse().map_err(|_| bad("hidden_size is not a number".into()))?;
        let list = |k: &str| -> Result<Vec<String>, HeadsError> {
            serde_json::from_str(get(k)?).map_err(|e| bad(format!("`{k}`: {e}")))
        };
        let (intents, slot_types, tags) = (list("intents")?, list("slot_types")?, list("tags")?);
        check_labels("intent", &intents).map_err(|e| bad(e.to_string()))?;
        check_labels("slot type", &slot_types).map_err(|e| bad(e.to_string()))?;
        if tags != tag_names(&slot_types) {
            return Err(bad("`tags` do not match `slot_types`".into()));
        }
        if hidden <= 0 || head <= 0 || intents.is_empty() {
            return Err(bad(format!("hidden_size {hidden}, head_hidden {head} with {} intents", intents.len())));
        }
        let (ni, nt) = (intents.len() as i64, tags.len() as i64);
        let tensor = |name: &str, shape: &[i64]| -> Result<Tensor, HeadsError> {
            let v = st.tensor(name).map_err(|e| bad(format!("`{name}`: {e}")))?;
            let found: Vec<i64> = v.shape().iter().map(|&d| d as i64).collect();
            if v.dtype() != Dtype::F32 || found != shape {
                return Err(bad(format!("`{name}` is {:?} {found:?}, expected F32 {shape:?}", v.dtype())));
            }
            Tensor::f_from_data_size(v.data(), shape, Kind::Float).map_err(terr("load heads"))
        };
        let mlp = |name: &str, input: i64, out: i64| -> Result<Mlp, HeadsError> {
            let shapes: [Vec<i64>; 4] = [vec![head, input], vec![head], vec![out, head], vec![out]];
            let mut t = Vec::with_capacity(4);
            for (n, shape) in mlp::NAMES.iter().zip(&shapes) {
                t.push(tensor(&format!("{name}.{n}"), shape)?);
            }
            let [w1, b1, w2, b2]: [Tensor; 4] = t.try_into().map_err(|_| bad(format!("`{name}`: four tensors")))?;
            Ok(Mlp { w1, b1, w2, b2 })
        };
        let top = match meta.get("encoder_top_first") {
            None => None,
            Some(first) => {
                let first: usize = first.parse().map_err(|_| bad("encoder_top_first is not a number".into()))?;
                let cfg: BertConfig =
                    serde_json::from_str(get("encoder_config")?).map_err(|e| bad(format!("`encoder_config`: {e}")))?;
                if cfg.hidden_size != hidden {
                    return Err(bad(format!("encoder width {} for heads of width {hidden}", cfg.hidden_size)));
                }
                let ck = Checkpoint::open_file(path).map_err(|e| bad(e.to_string()))?;
                let w = ck.weights(Kind::Float, tch::Device::Cpu);
                let top = TopLayers::load(&cfg, &w.pp("encoder").pp("layer"), first);
                Some(top.map_err(|e| bad(format!("tuned encoder layers: {e}")))?)
            }
        };
        let mut heads = MultiTaskHeads {
            spelled_numbers: Default::default(),
            slot_values: Default::default(),
            intent_slots: Default::default(),
            intent_needs: Default::default(),
            intent: mlp("intent", 2 * hidden, ni)?,
            slot: mlp("slot", (2 * SLOT_CONTEXT + 1) * hidden, nt)?,
            intents,
            slot_types,
            hidden,
            top,
            fast: None,
        };
        if meta.contains_key("spelled_numbers") {
            heads.set_spelled_numbers(list("spelled_numbers")?);
        }
        if let Some(json) = meta.get("slot_values") {
            let map = serde_json::from_str(json).map_err(|e| bad(format!("`slot_values`: {e}")))?;
            heads.set_slot_values(map).map_err(|e| bad(format!("`slot_values`: {e}")))?;
        }
        if let Some(json) = meta.get("intent_slots") {
            let map = serde_json::from_str(json).map_err(|e| bad(format!("`intent_slots`: {e}")))?;
            heads.set_intent_slots(map).map_err(|e| bad(format!("`intent_slots`: {e}")))?;
        }
        if let Some(json) = meta.get("intent_needs") {
            let map = serde_json::from_str(json).map_err(|e| bad(format!("`intent_needs`: {e}")))?;
            heads.set_intent_needs(map).map_err(|e| bad(format!("`intent_needs`: {e}")))?;
        }
        Ok(heads)
    }
}
