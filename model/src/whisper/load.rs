//! Building [`WhisperModel`] from a CTranslate2 `model.bin` or from a Hugging
//! Face `model.safetensors` (`WhisperForConditionalGeneration` layout, as in
//! the `openai/whisper-*` repositories). Both end in the same fused layout.
use std::path::Path;

use tch::{Device, Kind, Tensor};

use super::WhisperError;
use super::config::{Dims, HfConfig};
use super::model::{Conv1d, Decoder, DecoderLayer, Encoder, EncoderLayer, Ffn, LayerNorm, Linear, WhisperModel, terr};
use crate::ct2::Ct2Model;
use crate::safetensors_loader::Checkpoint;

/// Source of named tensors (names are the source format's own).
trait Source {
    fn get(&self, name: &str) -> Result<Tensor, WhisperError>;
    fn has(&self, name: &str) -> bool;
}

struct Ct2Src<'a> {
    m: &'a Ct2Model,
    kind: Kind,
    device: Device,
}

impl Source for Ct2Src<'_> {
    fn get(&self, name: &str) -> Result<Tensor, WhisperError> {
        Ok(self.m.tensor(name, self.kind, self.device)?)
    }
    fn has(&self, name: &str) -> bool {
        self.m.contains(name)
    }
}

struct HfSrc<'a> {
    c: &'a Checkpoint,
    kind: Kind,
    device: Device,
}

impl Source for HfSrc<'_> {
    fn get(&self, name: &str) -> Result<Tensor, WhisperError> {
        self.c
            .tensor(name, self.kind, self.device)
            .map_err(|e| WhisperError::Weights { detail: format!("{name}: {e}") })
    }
    fn has(&self, name: &str) -> bool {
        self.c.contains(name)
    }
}

fn check(t: Tensor, name: &str, shape: &[i64]) -> Result<Tensor, WhisperError> {
    if t.size() != shape {
        return Err(WhisperError::Weights { detail: format!("{name} has shape {:?}, expected {shape:?}", t.size()) });
    }
    Ok(t)
}

fn get_shaped(src: &dyn Source, name: &str, shape: &[i64]) -> Result<Tensor, WhisperError> {
    check(src.get(name)?, name, shape)
}

fn count_layers(src: &dyn Source, fmt: &dyn Fn(usize) -> String) -> usize {
    let mut n = 0;
    while src.has(&fmt(n)) {
        n += 1;
    }
    n
}

fn cat0(parts: &[Tensor]) -> Result<Tensor, WhisperError> {
    Tensor::f_cat(parts, 0).map_err(terr("cat"))
}

// ---------------------------------------------------------------- CTranslate2

fn ct2_linear(src: &dyn Source, p: &str, out: i64, inp: i64) -> Result<Linear, WhisperError> {
    let weight = get_shaped(src, &format!("{p}/weight"), &[out, inp])?;
    let bname = format!("{p}/bias");
    let bias = if src.has(&bname) { Some(get_shaped(src, &bname, &[out])?) } else { None };
    Ok(Linear { weight, bias })
}

fn ct2_norm(src: &dyn Source, p: &str, d: i64) -> Result<LayerNorm, WhisperError> {
    Ok(LayerNorm {
        gamma: get_shaped(src, &format!("{p}/gamma"), &[d])?,
        beta: get_shaped(src, &format!("{p}/beta"), &[d])?,
        dim: d,
    })
}

fn ct2_ffn(src: &dyn Source, p: &str, d: i64) -> Result<Ffn, WhisperError> {
    let w = src.get(&format!("{p}/linear_0/weight"))?;
    let hidden = w.size().first().copied().unwrap_or(0);
    Ok(Ffn {
        norm: ct2_norm(src, &format!("{p}/layer_norm"), d)?,
        fc1: ct2_linear(src, &format!("{p}/linear_0"), hidden, d)?,
        fc2: ct2_linear(src, &format!("{p}/linear_1"), d, hidden)?,
    })
}

/// Load from a CTranslate2 `WhisperSpec` model (any float dtype; int8 is refused).
pub fn from_ct2(m: &Ct2Model, kind: Kind, device: Device) -> Result<WhisperModel, WhisperError> {
    if m.spec_name != "WhisperSpec" {
        return Err(WhisperError::Weights {
            detail: format!("{}: spec is `{}`, not WhisperSpec", m.path().display(), m.spec_name),
        });
    }
    if let Some(v) = m.get("encoder/conv1/weight")
        && !v.dtype.is_float()
    {
        return Err(WhisperError::Weights {
            detail: format!(
                "{}: weights are {} (quantised CT2 models are not supported; convert with float16/float32)",
                m.path().display(),
                v.dtype
            ),
        });
    }
    let src = Ct2Src { m, kind, device };
    let conv1 = src.get("encoder/conv1/weight")?;
    let cs = conv1.size();
    let (d, n_mels) = match cs.as_slice() {
        [d, n, 3] => (*d, *n),
        _ => return Err(WhisperError::Weights { detail: format!("encoder/conv1/weight has shape {cs:?}") }),
    };
    let enc_pos = src.get("encoder/position_encodings/encodings")?;
    let n_audio_ctx = enc_pos.size().first().copied().unwrap_or(0);
    let dec_pos = src.get("decoder/position_encodings/encodings")?;
    let n_text_ctx = dec_pos.size().first().copied().unwrap_or(0);
    let emb = src.get("decoder/embeddings/weight")?;
    let n_vocab = emb.size().first().copied().unwrap_or(0);
    let enc_layers = count_layers(&src, &|i| format!("encoder/layer_{i}/self_attention/linear_0/weight"));
    let dec_layers = count_layers(&src, &|i| format!("decoder/layer_{i}/self_attention/linear_0/weight"));
    let enc_heads = m.scalar_i64("encoder/num_heads")?;
    let dec_heads = m.scalar_i64("decoder/num_heads")?;
    if enc_heads <= 0 || dec_heads <= 0 || d % enc_heads != 0 || d % dec_heads != 0 {
        return Err(WhisperError::Weights {
            detail: format!("d_model {d} not divisible by heads {enc_heads}/{dec_heads}"),
        });
    }
    if m.contains("decoder/activation") && m.scalar_i64("decoder/activation")? != 3 {
        return Err(WhisperError::Weights { detail: "decoder activation is not GELU".into() });
    }
    let dims = Dims {
        n_mels: n_mels as usize,
        n_audio_ctx: n_audio_ctx as usize,
        d_model: d as usize,
        encoder_heads: enc_heads as usize,
        encoder_layers: enc_layers,
        n_vocab: n_vocab as usize,
        n_text_ctx: n_text_ctx as usize,
        decoder_heads: dec_heads as usize,
        decoder_layers: dec_layers,
    };
    let mut elayers = Vec::with_capacity(enc_layers);
    for i in 0..enc_layers {
        let p = format!("encoder/layer_{i}");
        elayers.push(EncoderLayer {
            attn_norm: ct2_norm(&src, &format!("{p}/self_attention/layer_norm"), d)?,
            qkv: ct2_linear(&src, &format!("{p}/self_attention/linear_0"), 3 * d, d)?,
            out: ct2_linear(&src, &format!("{p}/self_attention/linear_1"), d, d)?,
            ffn: ct2_ffn(&src, &format!("{p}/ffn"), d)?,
        });
    }
    let encoder = Encoder {
        conv1: Conv1d { weight: conv1, bias: get_shaped(&src, "encoder/conv1/bias", &[d])?, stride: 1 },
        conv2: Conv1d {
            weight: get_shaped(&src, "encoder/conv2/weight", &[d, d, 3])?,
            bias: get_shaped(&src, "encoder/conv2/bias", &[d])?,
            stride: 2,
        },
        positions: check(enc_pos, "encoder/position_encodings/encodings", &[n_audio_ctx, d])?,
        layers: elayers,
        norm: ct2_norm(&src, "encoder/layer_norm", d)?,
        heads: enc_heads,
    };
    let mut dlayers = Vec::with_capacity(dec_layers);
    for i in 0..dec_layers {
        let p = format!("decoder/layer_{i}");
        dlayers.push(DecoderLayer {
            self_norm: ct2_norm(&src, &format!("{p}/self_attention/layer_norm"), d)?,
            self_qkv: ct2_linear(&src, &format!("{p}/self_attention/linear_0"), 3 * d, d)?,
            self_out: ct2_linear(&src, &format!("{p}/self_attention/linear_1"), d, d)?,
            cross_norm: ct2_norm(&src, &format!("{p}/attention/layer_norm"), d)?,
            cross_q: ct2_linear(&src, &format!("{p}/attention/linear_0"), d, d)?,
            cross_kv: ct2_linear(&src, &format!("{p}/attention/linear_1"), 2 * d, d)?,
            cross_out: ct2_linear(&src, &format!("{p}/attention/linear_2"), d, d)?,
            ffn: ct2_ffn(&src, &format!("{p}/ffn"), d)?,
        });
    }
    let decoder = Decoder {
        embeddings: check(emb, "decoder/embeddings/weight", &[n_vocab, d])?,
        positions: check(dec_pos, "decoder/position_encodings/encodings", &[n_text_ctx, d])?,
        layers: dlayers,
        norm: ct2_norm(&src, "decoder/layer_norm", d)?,
        heads: dec_heads,
    };
    Ok(WhisperModel { dims, encoder, decoder })
}

// --------------------------------------------------------------- Hugging Face

fn hf_linear(src: &dyn Source, p: &str, out: i64, inp: i64, bias: bool) -> Result<Linear, WhisperError> {
    let weight = get_shaped(src, &format!("{p}.weight"), &[out, inp])?;
    let bias = if bias { Some(get_shaped(src, &format!("{p}.bias"), &[out])?) } else { None };
    Ok(Linear { weight, bias })
}

fn hf_norm(src: &dyn Source, p: &str, d: i64) -> Result<LayerNorm, WhisperError> {
    Ok(LayerNorm {
        gamma: get_shaped(src, &format!("{p}.weight"), &[d])?,
        beta: get_shaped(src, &format!("{p}.bias"), &[d])?,
        dim: d,
    })
}

/// q|k|v (k has no bias in Whisper) -> one fused linear.
fn hf_fused(src: &dyn Source, p: &str, parts: &[&str], d: i64) -> Result<Linear, WhisperError> {
    let mut ws = Vec::new();
    let mut bs = Vec::new();
    for part in parts {
        let l = hf_linear(src, &format!("{p}.{part}"), d, d, *part != "k_proj")?;
        let b = match l.bias {
            Some(b) => b,
            None => l.weight.f_new_zeros([d], (l.weight.kind(), l.weight.device())).map_err(terr("zeros"))?,
        };
        ws.push(l.weight);
        bs.push(b);
    }
    Ok(Linear { weight: cat0(&ws)?, bias: Some(cat0(&bs)?) })
}

fn hf_ffn(src: &dyn Source, p: &str, d: i64) -> Result<Ffn, WhisperError> {
    let w = src.get(&format!("{p}.fc1.weight"))?;
    let hidden = w.size().first().copied().unwrap_or(0);
    Ok(Ffn {
        norm: hf_norm(src, &format!("{p}.final_layer_norm"), d)?,
        fc1: hf_linear(src, &format!("{p}.fc1"), hidden, d, true)?,
        fc2: hf_linear(src, &format!("{p}.fc2"), d, hidden, true)?,
    })
}

/// Load a Hugging Face `WhisperForConditionalGeneration` checkpoint directory
/// (`config.json` + `model.safetensors`, or a sharded index).
pub fn from_hf(dir: &Path, kind: Kind, device: Device) -> Result<(WhisperModel, HfConfig), WhisperError> {
    let ckpt =
        Checkpoint::open(dir).map_err(|e| WhisperError::Weights { detail: format!("{}: {e}", dir.display()) })?;
    let cfg: HfConfig =
        ckpt.config().map_err(|e| WhisperError::Weights { detail: format!("{}: config.json: {e}", dir.display()) })?;
    if let Some(act) = &cfg.activation_function
        && act != "gelu"
    {
        return Err(WhisperError::Weights { detail: format!("activation `{act}` is not supported (gelu only)") });
    }
    if cfg.scale_embedding == Some(true) {
        return Err(WhisperError::Weights { detail: "scale_embedding = true is not supported".into() });
    }
    let dims = cfg.dims();
    let d = dims.d_model as i64;
    let src = HfSrc { c: &ckpt, kind, device };
    // Checkpoints saved from the bare `WhisperModel` have no `model.` prefix.
    let root = if src.has("model.encoder.conv1.weight") { "model." } else { "" };
    let e = format!("{root}encoder");
    let mut elayers = Vec::new();
    for i in 0..dims.encoder_layers {
        let p = format!("{e}.layers.{i}");
        elayers.push(EncoderLayer {
            attn_norm: hf_norm(&src, &format!("{p}.self_attn_layer_norm"), d)?,
            qkv: hf_fused(&src, &format!("{p}.self_attn"), &["q_proj", "k_proj", "v_proj"], d)?,
            out: hf_linear(&src, &format!("{p}.self_attn.out_proj"), d, d, true)?,
            ffn: hf_ffn(&src, &p, d)?,
        });
    }
    let n_mels = dims.n_mels as i64;
    let encoder = Encoder {
        conv1: Conv1d {
            weight: get_shaped(&src, &format!("{e}.conv1.weight"), &[d, n_mels, 3])?,
            bias: get_shaped(&src, &format!("{e}.conv1.bias"), &[d])?,
            stride: 1,
        },
        conv2: Conv1d {
            weight: get_shaped(&src, &format!("{e}.conv2.weight"), &[d, d, 3])?,
            bias: get_shaped(&src, &format!("{e}.conv2.bias"), &[d])?,
            stride: 2,
        },
        positions: get_shaped(&src, &format!("{e}.embed_positions.weight"), &[dims.n_audio_ctx as i64, d])?,
        layers: elayers,
        norm: hf_norm(&src, &format!("{e}.layer_norm"), d)?,
        heads: dims.encoder_heads as i64,
    };
    let dd = format!("{root}decoder");
    let mut dlayers = Vec::new();
    for i in 0..dims.decoder_layers {
        let p = format!("{dd}.layers.{i}");
        let kv = hf_fused(&src, &format!("{p}.encoder_attn"), &["k_proj", "v_proj"], d)?;
        dlayers.push(DecoderLayer {
            self_norm: hf_norm(&src, &format!("{p}.self_attn_layer_norm"), d)?,
            self_qkv: hf_fused(&src, &format!("{p}.self_attn"), &["q_proj", "k_proj", "v_proj"], d)?,
            self_out: hf_linear(&src, &format!("{p}.self_attn.out_proj"), d, d, true)?,
            cross_norm: hf_norm(&src, &format!("{p}.encoder_attn_layer_norm"), d)?,
            cross_q: hf_linear(&src, &format!("{p}.encoder_attn.q_proj"), d, d, true)?,
            cross_kv: kv,
            cross_out: hf_linear(&src, &format!("{p}.encoder_attn.out_proj"), d, d, true)?,
            ffn: hf_ffn(&src, &p, d)?,
        });
    }
    let decoder = Decoder {
        embeddings: get_shaped(&src, &format!("{dd}.embed_tokens.weight"), &[dims.n_vocab as i64, d])?,
        positions: get_shaped(&src, &format!("{dd}.embed_positions.weight"), &[dims.n_text_ctx as i64, d])?,
        layers: dlayers,
        norm: hf_norm(&src, &format!("{dd}.layer_norm"), d)?,
        heads: dims.decoder_heads as i64,
    };
    Ok((WhisperModel { dims, encoder, decoder }, cfg))
}
