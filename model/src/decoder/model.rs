//! The decoder stack and its loading/placement logic.
use std::sync::Arc;

use hub_kernels::norm::rms_norm;
use tch::{Device, Kind, Tensor};

use super::attention::{AttentionShard, AttnExtras};
use super::config::{DecoderConfig, Family};
use super::linear::{Linear, Quantize};
use super::mlp::MlpShard;
use super::rope::{MAX_TABLE_POSITIONS, RopeTables};
use super::weights::WeightSource;
use super::{DecoderError, tch_err};
use crate::placement::Placement;

/// Checkpoint name prefixes: `model` + `lm_head` for `*ForCausalLM`;
/// `model.language_model` + `lm_head` for `Glm4vForConditionalGeneration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefixes {
    pub model: String,
    pub lm_head: String,
}

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes { model: "model".into(), lm_head: "lm_head".into() }
    }
}

/// How to build a [`Decoder`].
#[derive(Debug, Clone)]
pub struct DecoderOptions {
    /// Activation/weight dtype (`Float` on CPU; `BFloat16` for 9B on GPUs).
    pub kind: Kind,
    pub quantize: Quantize,
    pub placement: Placement,
    pub prefixes: Prefixes,
    /// Cap on positions (rotary tables and context check); default
    /// `min(max_position_embeddings, 32768)`.
    pub max_positions: Option<i64>,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            kind: Kind::Float,
            quantize: Quantize::None,
            placement: Placement::default(),
            prefixes: Prefixes::default(),
            max_positions: None,
        }
    }
}

#[derive(Debug)]
struct Layer {
    /// Where norms, residuals and partial sums live.
    device: Device,
    input_norm: Tensor,
    post_attn_norm: Tensor,
    post_self_attn_norm: Option<Tensor>,
    post_mlp_norm: Option<Tensor>,
    o_bias: Option<Tensor>,
    down_bias: Option<Tensor>,
    attn: Vec<AttentionShard>,
    mlp: Vec<MlpShard>,
    eps: f64,
}

impl Layer {
    fn forward(&mut self, x: &Tensor, offset: i64, rope: Option<(&Tensor, &Tensor)>) -> Result<Tensor, DecoderError> {
        let t = tch_err("layer");
        let dev = self.device;
        let h = rms_norm(x, &self.input_norm, self.eps)?;
        let mut a: Option<Tensor> = None;
        for shard in &mut self.attn {
            let input = h.f_to_device(shard.device).map_err(&t)?;
            let part = shard.forward(&input, offset, rope)?.f_to_device(dev).map_err(&t)?;
            a = Some(match a {
                None => part,
                Some(acc) => acc.f_add(&part).map_err(&t)?,
            });
        }
        let mut a = a.ok_or_else(|| DecoderError::Placement("layer has no attention shard".into()))?;
        if let Some(b) = &self.o_bias {
            a = a.f_add(b).map_err(&t)?;
        }
        if let Some(n) = &self.post_self_attn_norm {
            a = rms_norm(&a, n, self.eps)?;
        }
        let x = x.f_add(&a).map_err(&t)?;
        let h = rms_norm(&x, &self.post_attn_norm, self.eps)?;
        let mut m: Option<Tensor> = None;
        for shard in &self.mlp {
            let input = h.f_to_device(shard.device).map_err(&t)?;
            let part = shard.forward(&input)?.f_to_device(dev).map_err(&t)?;
            m = Some(match m {
                None => part,
                Some(acc) => acc.f_add(&part).map_err(&t)?,
            });
        }
        let mut m = m.ok_or_else(|| DecoderError::Placement("layer has no MLP shard".into()))?;
        if let Some(b) = &self.down_bias {
            m = m.f_add(b).map_err(&t)?;
        }
        if let Some(n) = &self.post_mlp_norm {
            m = rms_norm(&m, n, self.eps)?;
        }
        x.f_add(&m).map_err(&t)
    }
}

/// A loaded decoder (Llama, GLM-4 or Gemma 3 family) on its placement.
#[derive(Debug)]
pub struct Decoder {
    cfg: DecoderConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Linear,
    placement: Placement,
    kind: Kind,
    max_positions: i64,
    first: Device,
    last: Device,
}

/// One device's share of a layer under `split = "tensor"`.
#[derive(Debug, Clone, Copy)]
struct ShardPlan {
    device: Device,
    /// KV heads `[kv0, kv0 + kvn)`.
    kv0: i64,
    kvn: i64,
    /// Intermediate columns `[i0, i0 + inn)`.
    i0: i64,
    inn: i64,
}

fn rows(t: &Tensor, start: i64, len: i64) -> Result<Tensor, DecoderError> {
    t.f_narrow(0, start, len).map_err(tch_err("shard rows"))
}

fn cols(t: &Tensor, start: i64, len: i64) -> Result<Tensor, DecoderError> {
    t.f_narrow(1, start, len).map_err(tch_err("shard cols"))
}

fn cat0(ts: &[Tensor]) -> Result<Tensor, DecoderError> {
    Tensor::f_cat(ts, 0).map_err(tch_err("concat weights"))
}

impl Decoder {
    /// Build the decoder from `src` under `opts.placement` (not `Replica`:
    /// load one copy per `placement.copies()` entry).
    pub fn load(cfg: &DecoderConfig, src: &dyn WeightSource, opts: &DecoderOptions) -> Result<Self, DecoderError> {
        cfg.validate()?;
        let _guard = tch::no_grad_guard();
        let n = cfg.num_layers;
        let (hs, hd, h, kvh, inter) =
            (cfg.hidden_size, cfg.head_dim, cfg.num_heads, cfg.num_kv_heads, cfg.intermediate_size);
        let group = h / kvh;
        let kind = opts.kind;
        let load_kind = if opts.quantize == Quantize::Int8 { Kind::Float } else { kind };
        let max_positions = opts
            .max_positions
            .unwrap_or(cfg.max_position_embeddings)
            .min(cfg.max_position_embeddings)
            .min(MAX_TABLE_POSITIONS);
        if max_positions <= 0 {
            return Err(DecoderError::Config(format!("max_positions must be positive, got {max_positions}")));
        }

        // Per layer: primary device and shard plans.
        let whole = |d: Device| ShardPlan { device: d, kv0: 0, kvn: kvh, i0: 0, inn: inter };
        let plans: Vec<(Device, Vec<ShardPlan>)> = match &opts.placement {
            Placement::Single(d) => (0..n).map(|_| (*d, vec![whole(*d)])).collect(),
            Placement::Layers { first, second, split_at } => {
                let split = split_at.map(|s| s as i64).unwrap_or((n + 1) / 2);
                if split < 0 || split > n {
                    return Err(DecoderError::Placement(format!("split_at {split} outside 0..={n} layers")));
                }
                (0..n)
                    .map(|i| {
                        let d = if i < split { *first } else { *second };
                        (d, vec![whole(d)])
                    })
                    .collect()
            }
            Placement::Tensor { first, second } => {
                if kvh < 2 {
                    return Err(DecoderError::Placement(format!(
                        "split = \"tensor\" needs at least 2 KV heads to divide, the model has {kvh}"
                    )));
                }
                if inter < 2 {
                    return Err(DecoderError::Placement("intermediate size too small to split".into()));
                }
                let kv_a = (kvh + 1) / 2;
                let i_a = (inter + 1) / 2;
                let a = ShardPlan { device: *first, kv0: 0, kvn: kv_a, i0: 0, inn: i_a };
                let b = ShardPlan { device: *second, kv0: kv_a, kvn: kvh - kv_a, i0: i_a, inn: inter - i_a };
                (0..n).map(|_| (*first, vec![a, b])).collect()
            }
            Placement::Replica(_) => {
                return Err(DecoderError::Placement(
                    "a replica placement loads one decoder per device: use placement.copies()".into(),
                ));
            }
        };
        let first = plans.first().map(|p| p.0).unwrap_or(Device::Cpu);
        let last = plans.last().map(|p| p.0).unwrap_or(first);

        // Rotary tables: one Arc per distinct device and base.
        let mut ropes: Vec<(Device, u64, Arc<RopeTables>)> = Vec::new();
        let mut rope_for = |d: Device, theta: f64| -> Result<Arc<RopeTables>, DecoderError> {
            if let Some((_, _, r)) = ropes.iter().find(|(rd, th, _)| *rd == d && *th == theta.to_bits()) {
                return Ok(r.clone());
            }
            let r = RopeTables::new(max_positions, cfg.rotary_dim, theta, cfg.rope_style, kind, d)?;
            ropes.push((d, theta.to_bits(), r.clone()));
            Ok(r)
        };
        // Gemma's RMS norms scale by `1 + w`.
        let gemma = cfg.family == Family::Gemma3;
        let norm_shift = if gemma { 1.0 } else { 0.0 };

        let mp = &opts.prefixes.model;
        let get = |name: &str, shape: &[i64]| src.load(name, shape, load_kind, Device::Cpu);
        let get_opt = |name: &str, shape: &[i64], want: bool| -> Result<Option<Tensor>, DecoderError> {
            if want || src.contains(name) { get(name, shape).map(Some) } else { Ok(None) }
        };
        let to_dev = |t: Tensor, d: Device| {
            t.f_to_kind(kind).and_then(|t| t.f_to_device(d)).map_err(tch_err("weight to device"))
        };
        let norm_of = |name: &str, len: i64, d: Device| -> Result<Tensor, DecoderError> {
            let w = get(name, &[len])?.f_add_scalar(norm_shift).map_err(tch_err("norm weight"))?;
            to_dev(w, d)
        };
        let norm_w = |name: &str, d: Device| norm_of(name, hs, d);

        let embed_cpu = get(&format!("{mp}.embed_tokens.weight"), &[cfg.vocab_size, hs])?;
        let mut layers = Vec::with_capacity(n as usize);
        for (i, (dev, shards)) in plans.iter().enumerate() {
            let p = format!("{mp}.layers.{i}");
            let q_w = get(&format!("{p}.self_attn.q_proj.weight"), &[h * hd, hs])?;
            let k_w = get(&format!("{p}.self_attn.k_proj.weight"), &[kvh * hd, hs])?;
            let v_w = get(&format!("{p}.self_attn.v_proj.weight"), &[kvh * hd, hs])?;
            let ab = cfg.attention_bias;
            let q_b = get_opt(&format!("{p}.self_attn.q_proj.bias"), &[h * hd], ab)?;
            let k_b = get_opt(&format!("{p}.self_attn.k_proj.bias"), &[kvh * hd], ab)?;
            let v_b = get_opt(&format!("{p}.self_attn.v_proj.bias"), &[kvh * hd], ab)?;
            let o_w = get(&format!("{p}.self_attn.o_proj.weight"), &[hs, h * hd])?;
            let o_b = get_opt(&format!("{p}.self_attn.o_proj.bias"), &[hs], cfg.o_bias())?;
            let (gate_w, up_w, gate_b, up_b) = match cfg.family {
                Family::Glm4 => {
                    let gu = get(&format!("{p}.mlp.gate_up_proj.weight"), &[2 * inter, hs])?;
                    (rows(&gu, 0, inter)?, rows(&gu, inter, inter)?, None, None)
                }
                Family::Llama | Family::Gemma3 => (
                    get(&format!("{p}.mlp.gate_proj.weight"), &[inter, hs])?,
                    get(&format!("{p}.mlp.up_proj.weight"), &[inter, hs])?,
                    get_opt(&format!("{p}.mlp.gate_proj.bias"), &[inter], cfg.mlp_bias)?,
                    get_opt(&format!("{p}.mlp.up_proj.bias"), &[inter], cfg.mlp_bias)?,
                ),
            };
            let down_w = get(&format!("{p}.mlp.down_proj.weight"), &[hs, inter])?;
            let down_b = get_opt(&format!("{p}.mlp.down_proj.bias"), &[hs], cfg.mlp_bias)?;

            let window = cfg.window_of(i as i64);
            let theta = match (window, cfg.sliding) {
                (Some(_), Some(sl)) => sl.local_rope_theta,
                _ => cfg.rope_theta,
            };
            let extras = |d: Device| -> Result<AttnExtras, DecoderError> {
                let qk_norm = if gemma {
                    Some((
                        norm_of(&format!("{p}.self_attn.q_norm.weight"), hd, d)?,
                        norm_of(&format!("{p}.self_attn.k_norm.weight"), hd, d)?,
                    ))
                } else {
                    None
                };
                Ok(AttnExtras { qk_norm, eps: cfg.rms_norm_eps, window, scale: cfg.attn_scale })
            };
            let mut attn = Vec::with_capacity(shards.len());
            let mut mlp = Vec::with_capacity(shards.len());
            for sp in shards {
                let (q0, qn) = (sp.kv0 * group * hd, sp.kvn * group * hd);
                let (k0, kn) = (sp.kv0 * hd, sp.kvn * hd);
                let w = cat0(&[rows(&q_w, q0, qn)?, rows(&k_w, k0, kn)?, rows(&v_w, k0, kn)?])?;
                let b = match (&q_b, &k_b, &v_b) {
                    (Some(qb), Some(kb), Some(vb)) => {
                        Some(cat0(&[rows(qb, q0, qn)?, rows(kb, k0, kn)?, rows(vb, k0, kn)?])?)
                    }
                    _ => None,
                };
                let qkv = Linear::new(w, b, opts.quantize, kind, sp.device)?;
                let o = Linear::new(cols(&o_w, q0, qn)?, None, opts.quantize, kind, sp.device)?;
                attn.push(AttentionShard::new(
                    sp.device,
                    qkv,
                    o,
                    sp.kvn * group,
                    sp.kvn,
                    hd,
                    kind,
                    rope_for(sp.device, theta)?,
                    extras(sp.device)?,
                ));

                let w = cat0(&[rows(&gate_w, sp.i0, sp.inn)?, rows(&up_w, sp.i0, sp.inn)?])?;
                let b = match (&gate_b, &up_b) {
                    (Some(gb), Some(ub)) => Some(cat0(&[rows(gb, sp.i0, sp.inn)?, rows(ub, sp.i0, sp.inn)?])?),
                    _ => None,
                };
                let gate_up = Linear::new(w, b, opts.quantize, kind, sp.device)?;
                let down = Linear::new(cols(&down_w, sp.i0, sp.inn)?, None, opts.quantize, kind, sp.device)?;
                mlp.push(MlpShard::new(sp.device, gate_up, down, sp.inn, cfg.hidden_act));
            }
            // (pre-MLP norm, norm after attention, norm after the MLP)
            let (pre_mlp, after_attn, after_mlp) = match cfg.family {
                Family::Llama => ("post_attention_layernorm", None, None),
                Family::Glm4 => {
                    ("post_attention_layernorm", Some("post_self_attn_layernorm"), Some("post_mlp_layernorm"))
                }
                Family::Gemma3 => {
                    ("pre_feedforward_layernorm", Some("post_attention_layernorm"), Some("post_feedforward_layernorm"))
                }
            };
            let opt_norm = |leaf: Option<&str>| leaf.map(|l| norm_w(&format!("{p}.{l}.weight"), *dev)).transpose();
            layers.push(Layer {
                device: *dev,
                input_norm: norm_w(&format!("{p}.input_layernorm.weight"), *dev)?,
                post_attn_norm: norm_w(&format!("{p}.{pre_mlp}.weight"), *dev)?,
                post_self_attn_norm: opt_norm(after_attn)?,
                post_mlp_norm: opt_norm(after_mlp)?,
                o_bias: o_b.map(|b| to_dev(b, *dev)).transpose()?,
                down_bias: down_b.map(|b| to_dev(b, *dev)).transpose()?,
                attn,
                mlp,
                eps: cfg.rms_norm_eps,
            });
        }
        let norm = norm_w(&format!("{mp}.norm.weight"), last)?;
        let head_w = if cfg.tie_word_embeddings {
            embed_cpu.shallow_clone()
        } else {
            get(&format!("{}.weight", opts.prefixes.lm_head), &[cfg.vocab_size, hs])?
        };
        let lm_head = Linear::new(head_w, None, opts.quantize, kind, last)?;
        let embed = to_dev(embed_cpu, first)?;
        Ok(Decoder {
            cfg: cfg.clone(),
            embed,
            layers,
            norm,
            lm_head,
            placement: opts.placement.clone(),
            kind,
            max_positions,
            first,
            last,
        })
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }
    pub fn placement(&self) -> &Placement {
        &self.placement
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// Positions this decoder can attend over (prompt + generated).
    pub fn max_positions(&self) -> i64 {
        self.max_positions
    }
    /// Device of the embedding (inputs go here).
    pub fn first_device(&self) -> Device {
        self.first
    }
    /// Device of the final norm and LM head (logits come from here).
    pub fn last_device(&self) -> Device {
        self.last
    }
    /// Positions currently held by the KV cache.
    pub fn kv_len(&self) -> i64 {
        self.layers.first().and_then(|l| l.attn.first()).map_or(0, |a| a.kv_len())
    }

    /// Bytes of weights held (embedding, layers, head).
    pub fn weight_bytes(&self) -> i64 {
        let b = |t: &Tensor| t.numel() as i64 * t.kind().elt_size_in_bytes() as i64;
        let layers: i64 = self
            .layers
            .iter()
            .map(|l| {
                l.attn.iter().map(|a| a.weight_bytes()).sum::<i64>()
                    + l.mlp.iter().map(|m| m.weight_bytes()).sum::<i64>()
                    + 2 * b(&l.input_norm)
            })
            .sum();
        let tied_same =
            self.cfg.tie_word_embeddings && matches!(self.lm_head, Linear::Float { .. }) && self.first == self.last;
        b(&self.embed) + layers + b(&self.norm) + if tied_same { 0 } else { self.lm_head.weight_bytes() }
    }

    /// Forget cached positions (buffers are kept for the next request).
    pub fn clear_kv_cache(&mut self) {
        for l in &mut self.layers {
            for a in &mut l.attn {
                a.clear_kv_cache();
            }
        }
    }

    /// Free the KV buffers.
    pub fn release_kv_cache(&mut self) {
        for l in &mut self.layers {
            for a in &mut l.attn {
                a.release_kv_cache();
            }
        }
    }

    /// Pre-allocate KV room for `positions` tokens of `batch` sequences, so
    /// generation never reallocates.
    pub fn reserve_kv(&mut self, batch: i64, positions: i64) -> Result<(), DecoderError> {
        let positions = positions.min(self.max_positions);
        for l in &mut self.layers {
            for a in &mut l.attn {
                a.reserve(batch, positions)?;
            }
        }
        Ok(())
    }

    /// Token embeddings `[b, s, hidden]` on the first device.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor, DecoderError> {
        let size = ids.size();
        if size.len() != 2 || size[1] == 0 {
            return Err(DecoderError::Input(format!("token ids must be [batch, seq>0], got {size:?}")));
        }
        if ids.kind() != Kind::Int64 {
            return Err(DecoderError::Input(format!("token ids must be int64, got {:?}", ids.kind())));
        }
        let t = tch_err("embed");
        let lo = ids.f_min().map_err(&t)?.f_int64_value(&[]).map_err(&t)?;
        let hi = ids.f_max().map_err(&t)?.f_int64_value(&[]).map_err(&t)?;
        if lo < 0 || hi >= self.cfg.vocab_size {
            return Err(DecoderError::Input(format!(
                "token id {} outside the vocabulary of {}",
                if lo < 0 { lo } else { hi },
                self.cfg.vocab_size
            )));
        }
        let ids = ids.f_to_device(self.first).map_err(&t)?;
        let x = Tensor::f_embedding(&self.embed, &ids, -1, false, false).map_err(&t)?;
        if self.cfg.family == Family::Gemma3 {
            // Gemma3TextScaledWordEmbedding: times sqrt(hidden) in the weights' dtype.
            x.f_mul_scalar((self.cfg.hidden_size as f64).sqrt()).map_err(&t)
        } else {
            Ok(x)
        }
    }

    /// The embedding table `[vocab, hidden]` (on the first device).
    pub fn embed_tokens(&self) -> &Tensor {
        &self.embed
    }

    fn run_layers(
        &mut self,
        x: &Tensor,
        offset: i64,
        rope: Option<(&Tensor, &Tensor)>,
    ) -> Result<Tensor, DecoderError> {
        let _guard = tch::no_grad_guard();
        let size = x.size();
        let (s, hid) = match size.as_slice() {
            [_, s, hid] => (*s, *hid),
            other => {
                return Err(DecoderError::Input(format!("hidden states must be [batch, seq, hidden], got {other:?}")));
            }
        };
        if hid != self.cfg.hidden_size {
            return Err(DecoderError::Input(format!("hidden size {hid}, model has {}", self.cfg.hidden_size)));
        }
        if offset < 0 || offset + s > self.max_positions {
            return Err(DecoderError::ContextOverflow { offset, len: s, max: self.max_positions });
        }
        let t = tch_err("move hidden state");
        let mut x = x.f_to_kind(self.kind).map_err(&t)?;
        for layer in &mut self.layers {
            if x.device() != layer.device {
                x = x.f_to_device(layer.device).map_err(&t)?;
            }
            x = layer.forward(&x, offset, rope)?;
        }
        if x.device() != self.last {
            x = x.f_to_device(self.last).map_err(&t)?;
        }
        Ok(x)
    }

    /// Run the stack on input embeddings `[b, s, hidden]` whose first
    /// position is `offset`; returns the final-normed hidden states
    /// `[b, s, hidden]` on the last device. `rope`: explicit cos/sin rows
    /// (`[s, rot]` or `[b, s, rot]`, in this family's layout — GLM:
    /// `repeat_interleave(2)`, Llama: `cat(f, f)`), e.g. M-RoPE; `None` uses
    /// the 1-D positions `offset..offset+s`.
    pub fn forward_embeds(
        &mut self,
        embeds: &Tensor,
        offset: i64,
        rope: Option<(&Tensor, &Tensor)>,
    ) -> Result<Tensor, DecoderError> {
        let x = self.run_layers(embeds, offset, rope)?;
        Ok(rms_norm(&x, &self.norm, self.cfg.rms_norm_eps)?)
    }

    /// LM head on final-normed hidden states `[.., hidden]` -> f32 logits.
    pub fn lm_head(&self, hidden: &Tensor) -> Result<Tensor, DecoderError> {
        let _guard = tch::no_grad_guard();
        let t = tch_err("lm_head");
        let h = hidden.f_to_device(self.last).and_then(|h| h.f_to_kind(self.kind)).map_err(&t)?;
        self.lm_head.forward(&h)?.f_to_kind(Kind::Float).map_err(&t)
    }

    /// Token ids `[b, s]` at positions `offset..`: f32 logits of the last
    /// position, `[b, vocab]` (the head runs on that position only).
    pub fn forward(&mut self, ids: &Tensor, offset: i64) -> Result<Tensor, DecoderError> {
        let x = self.embed(ids)?;
        let s = x.size()[1];
        let h = self.run_layers(&x, offset, None)?;
        let last = h.f_select(1, s - 1).map_err(tch_err("last position"))?;
        let last = rms_norm(&last, &self.norm, self.cfg.rms_norm_eps)?;
        self.lm_head(&last)
    }

    /// Logits for every position, `[b, s, vocab]` (parity tests, scoring).
    pub fn forward_all(&mut self, ids: &Tensor, offset: i64) -> Result<Tensor, DecoderError> {
        let x = self.embed(ids)?;
        let h = self.forward_embeds(&x, offset, None)?;
        self.lm_head(&h)
    }
}
