//! Hugging Face safetensors checkpoints: one `model.safetensors`, or
//! `model.safetensors.index.json` plus its shards, memory-mapped.
//!
//! Only the headers are parsed at open time; a tensor's bytes are copied out
//! of the map into a libtorch tensor when a model asks for it by name
//! ([`Checkpoint::tensor`] or, for a module tree, [`Weights::get`]). Names
//! are the checkpoint's own (`model.visual.blocks.0.attn.qkv.weight`), so
//! constructors written as `new(cfg, w.pp("attn"))` mirror the file.
//!
//! Every failure names what was wrong: a missing shard (and the index that
//! wanted it), a missing tensor (and the file/shard searched), a shape
//! mismatch (expected vs found), an unsupported dtype.
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::{Dtype, SafeTensors};
use tch::{Device, Kind, Tensor};

/// Single-file checkpoint name.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Index of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir} holds no safetensors checkpoint (looked for {SINGLE_FILE} and {INDEX_FILE})")]
    NotACheckpoint { dir: PathBuf },
    #[error("bad index file {path}: {reason}")]
    Index { path: PathBuf, reason: String },
    #[error("shard {shard} named by {index} is missing")]
    MissingShard { shard: PathBuf, index: PathBuf },
    #[error("bad safetensors file {path}: {reason}")]
    Header { path: PathBuf, reason: String },
    #[error("tensor `{name}` not found in {location}")]
    MissingTensor { name: String, location: String },
    #[error("tensor `{name}`: expected shape {expected:?}, found {found:?} in {file}")]
    ShapeMismatch { name: String, expected: Vec<i64>, found: Vec<i64>, file: PathBuf },
    #[error("tensor `{name}` in {file} has unsupported dtype {dtype}")]
    UnsupportedDtype { name: String, dtype: String, file: PathBuf },
    #[error("tensor `{name}`: libtorch error: {source}")]
    Torch {
        name: String,
        #[source]
        source: tch::TchError,
    },
    #[error("bad config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
}

/// dtype and shape of one stored tensor, read from a shard header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorMeta {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

struct Shard {
    path: PathBuf,
    map: Mmap,
}

#[derive(Debug, Clone)]
struct Entry {
    shard: usize,
    dtype: Dtype,
    shape: Vec<usize>,
    /// Absolute byte range inside the shard's map.
    start: usize,
    end: usize,
}

/// An opened checkpoint: shard maps plus a name -> (shard, offsets) table.
pub struct Checkpoint {
    dir: PathBuf,
    shards: Vec<Shard>,
    entries: HashMap<String, Entry>,
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("dir", &self.dir)
            .field("shards", &self.shards.iter().map(|s| &s.path).collect::<Vec<_>>())
            .field("tensors", &self.entries.len())
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct IndexJson {
    weight_map: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Open a checkpoint directory: `model.safetensors.index.json` + shards if
    /// the index exists, else `model.safetensors`, else a directory holding
    /// exactly one `*.safetensors` file.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        let dir = dir.as_ref();
        if dir.is_file() {
            return Self::open_file(dir);
        }
        let index = dir.join(INDEX_FILE);
        if index.is_file() {
            return Self::open_index(&index);
        }
        let single = dir.join(SINGLE_FILE);
        if single.is_file() {
            return Self::open_file(&single);
        }
        let listing = std::fs::read_dir(dir).map_err(|source| LoadError::Io { path: dir.to_path_buf(), source })?;
        let mut found: Vec<PathBuf> = listing
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        if found.len() == 1
            && let Some(only) = found.pop()
        {
            return Self::open_file(&only);
        }
        Err(LoadError::NotACheckpoint { dir: dir.to_path_buf() })
    }

    /// Open one `.safetensors` file.
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut ck = Checkpoint { dir, shards: Vec::new(), entries: HashMap::new() };
        ck.add_shard(path, None)?;
        Ok(ck)
    }

    /// Open a sharded checkpoint through its index file.
    pub fn open_index(index: impl AsRef<Path>) -> Result<Self, LoadError> {
        let index = index.as_ref();
        let text =
            std::fs::read_to_string(index).map_err(|source| LoadError::Io { path: index.to_path_buf(), source })?;
        let parsed: IndexJson = serde_json::from_str(&text)
            .map_err(|e| LoadError::Index { path: index.to_path_buf(), reason: e.to_string() })?;
        let dir = index.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut ck = Checkpoint { dir: dir.clone(), shards: Vec::new(), entries: HashMap::new() };
        // Shard names in file order of first appearance, deduplicated.
        let mut shard_names: Vec<&str> = parsed.weight_map.values().map(String::as_str).collect();
        shard_names.sort_unstable();
        shard_names.dedup();
        for name in &shard_names {
            if name.contains("..") || Path::new(name).is_absolute() {
                return Err(LoadError::Index {
                    path: index.to_path_buf(),
                    reason: format!("shard name `{name}` leaves the checkpoint directory"),
                });
            }
            let shard = dir.join(name);
            if !shard.is_file() {
                return Err(LoadError::MissingShard { shard, index: index.to_path_buf() });
            }
            ck.add_shard(&shard, Some(index))?;
        }
        // Every tensor the index promises must be in the shard it names.
        for (tensor, shard_name) in &parsed.weight_map {
            let Some(entry) = ck.entries.get(tensor) else {
                return Err(LoadError::MissingTensor {
                    name: tensor.clone(),
                    location: format!("shard {} (as listed by {})", dir.join(shard_name).display(), index.display()),
                });
            };
            let actual = ck.shards.get(entry.shard).map(|s| s.path.clone()).unwrap_or_default();
            if actual != dir.join(shard_name) {
                return Err(LoadError::Index {
                    path: index.to_path_buf(),
                    reason: format!("tensor `{tensor}` is listed in {shard_name} but stored in {}", actual.display()),
                });
            }
        }
        Ok(ck)
    }

    fn add_shard(&mut self, path: &Path, index: Option<&Path>) -> Result<(), LoadError> {
        let file = File::open(path).map_err(|source| match (source.kind(), index) {
            (std::io::ErrorKind::NotFound, Some(index)) => {
                LoadError::MissingShard { shard: path.to_path_buf(), index: index.to_path_buf() }
            }
            _ => LoadError::Io { path: path.to_path_buf(), source },
        })?;
        // SAFETY: the map is read-only and private to this process. Like every
        // mmap-based loader (safetensors, candle), we rely on the checkpoint
        // not being truncated or rewritten while it is open; the header is
        // validated against the mapped length below, so a file that is
        // already short is rejected rather than read out of bounds.
        let map = unsafe { Mmap::map(&file) }.map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
        let (header_len, meta) = SafeTensors::read_metadata(&map[..])
            .map_err(|e| LoadError::Header { path: path.to_path_buf(), reason: format!("{e:?}") })?;
        let data_start = 8 + header_len;
        let shard = self.shards.len();
        for (name, info) in meta.tensors() {
            let (lo, hi) = info.data_offsets;
            let (Some(start), Some(end)) = (data_start.checked_add(lo), data_start.checked_add(hi)) else {
                return Err(LoadError::Header {
                    path: path.to_path_buf(),
                    reason: format!("tensor `{name}` has offsets out of range"),
                });
            };
            if end > map.len() || start > end {
                return Err(LoadError::Header {
                    path: path.to_path_buf(),
                    reason: format!("tensor `{name}` data [{start}, {end}) lies outside the file"),
                });
            }
            if let Some(prev) = self.entries.get(&name) {
                let prev_path = self.shards.get(prev.shard).map(|s| s.path.display().to_string());
                return Err(LoadError::Header {
                    path: path.to_path_buf(),
                    reason: format!("tensor `{name}` is stored twice (also in {})", prev_path.unwrap_or_default()),
                });
            }
            self.entries.insert(name, Entry { shard, dtype: info.dtype, shape: info.shape.clone(), start, end });
        }
        self.shards.push(Shard { path: path.to_path_buf(), map });
        Ok(())
    }

    /// The checkpoint directory (where `config.json` lives).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Paths of the mapped shard files.
    pub fn shard_paths(&self) -> Vec<&Path> {
        self.shards.iter().map(|s| s.path.as_path()).collect()
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.entries.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// dtype and shape of a stored tensor, without reading it.
    pub fn meta(&self, name: &str) -> Option<TensorMeta> {
        self.entries.get(name).map(|e| TensorMeta { dtype: e.dtype, shape: e.shape.clone() })
    }

    /// Parse `config.json` next to the weights into `T`.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T, LoadError> {
        read_config(&self.dir.join("config.json"))
    }

    fn location(&self) -> String {
        match self.shards.as_slice() {
            [one] => one.path.display().to_string(),
            _ => format!("{} ({} shards)", self.dir.display(), self.shards.len()),
        }
    }

    fn entry(&self, name: &str) -> Result<(&Entry, &Shard), LoadError> {
        let missing = || LoadError::MissingTensor { name: name.to_string(), location: self.location() };
        let entry = self.entries.get(name).ok_or_else(missing)?;
        let shard = self.shards.get(entry.shard).ok_or_else(missing)?;
        Ok((entry, shard))
    }

    /// Copy one tensor out of its map as `kind` on `device`, any shape.
    pub fn tensor(&self, name: &str, kind: Kind, device: Device) -> Result<Tensor, LoadError> {
        let (entry, shard) = self.entry(name)?;
        let src_kind = torch_kind(entry.dtype).ok_or_else(|| LoadError::UnsupportedDtype {
            name: name.to_string(),
            dtype: format!("{:?}", entry.dtype),
            file: shard.path.clone(),
        })?;
        let bytes = shard.map.get(entry.start..entry.end).ok_or_else(|| LoadError::Header {
            path: shard.path.clone(),
            reason: format!("tensor `{name}` data lies outside the file"),
        })?;
        let shape: Vec<i64> = entry.shape.iter().map(|&d| d as i64).collect();
        let numel: usize = entry.shape.iter().product();
        let want = numel.checked_mul(src_kind.elt_size_in_bytes());
        if want != Some(bytes.len()) {
            return Err(LoadError::Header {
                path: shard.path.clone(),
                reason: format!(
                    "tensor `{name}` of shape {:?} ({:?}) needs {:?} bytes, has {}",
                    entry.shape,
                    entry.dtype,
                    want,
                    bytes.len()
                ),
            });
        }
        let torch_err = |source| LoadError::Torch { name: name.to_string(), source };
        // safetensors data is little-endian; libtorch copies native-endian.
        #[cfg(target_endian = "big")]
        compile_error!("safetensors_loader assumes a little-endian host");
        let t = Tensor::f_from_data_size(bytes, &shape, src_kind).map_err(torch_err)?;
        let t = if src_kind == kind { t } else { t.f_to_kind(kind).map_err(torch_err)? };
        if device == Device::Cpu { Ok(t) } else { t.f_to_device(device).map_err(torch_err) }
    }

    /// Like [`Checkpoint::tensor`], but the stored shape must equal `shape`.
    pub fn tensor_shaped(&self, name: &str, shape: &[i64], kind: Kind, device: Device) -> Result<Tensor, LoadError> {
        self.check_shape(name, shape)?;
        self.tensor(name, kind, device)
    }

    fn check_shape(&self, name: &str, shape: &[i64]) -> Result<(), LoadError> {
        let (entry, shard) = self.entry(name)?;
        let found: Vec<i64> = entry.shape.iter().map(|&d| d as i64).collect();
        if found != shape {
            return Err(LoadError::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                found,
                file: shard.path.clone(),
            });
        }
        Ok(())
    }

    /// A [`Weights`] view at the root of the name tree.
    pub fn weights(&self, kind: Kind, device: Device) -> Weights<'_> {
        Weights { ckpt: self, prefix: String::new(), kind, device }
    }

    /// Fill every variable of a `tch::nn::VarStore` from the tensor of the
    /// same name (VarStore names use `.` separators, like HF checkpoints).
    /// Shapes must match; a variable with no tensor is an error.
    pub fn load_var_store(&self, vs: &mut tch::nn::VarStore) -> Result<(), LoadError> {
        let _guard = tch::no_grad_guard();
        let device = vs.device();
        for (name, mut var) in vs.variables() {
            let shape = var.size();
            let src = self.tensor_shaped(&name, &shape, var.kind(), device)?;
            var.f_copy_(&src).map_err(|source| LoadError::Torch { name: name.clone(), source })?;
        }
        Ok(())
    }
}

/// Why [`save_f32_atomic`] failed: the tensors (shape, bytes) or the file.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{0}")]
    Format(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Write f32 tensors `(name, shape, values)` and `meta` to `path` as
/// safetensors, atomically: a temporary file beside it, then renamed, so a
/// reader never sees half a file.
pub fn save_f32_atomic(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    meta: HashMap<String, String>,
) -> Result<(), SaveError> {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, shape, _), b)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), b).map(|v| (n.as_str(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SaveError::Format(e.to_string()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    safetensors::serialize_to_file(views, Some(meta), &tmp).map_err(|e| SaveError::Format(e.to_string()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Read and parse a JSON config file.
pub fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| LoadError::Config { path: path.to_path_buf(), reason: e.to_string() })
}

/// The libtorch kind for a safetensors dtype, if libtorch has one we load.
pub fn torch_kind(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

/// A prefix into a [`Checkpoint`] plus the dtype/device tensors are created
/// in; `pp` descends one level (`w.pp("blocks").pp(3).pp("attn")`).
#[derive(Clone)]
pub struct Weights<'a> {
    ckpt: &'a Checkpoint,
    prefix: String,
    kind: Kind,
    device: Device,
}

impl fmt::Debug for Weights<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Weights({:?}, {:?}, {:?})", self.prefix, self.kind, self.device)
    }
}

impl<'a> Weights<'a> {
    /// Descend into `name` (a module name or a layer index).
    pub fn pp(&self, name: impl fmt::Display) -> Weights<'a> {
        let prefix = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{}", self.prefix, name) };
        Weights { ckpt: self.ckpt, prefix, kind: self.kind, device: self.device }
    }

    /// Same prefix, tensors created as `kind`.
    pub fn with_kind(&self, kind: Kind) -> Weights<'a> {
        Weights { kind, ..self.clone() }
    }

    /// Same prefix, tensors created on `device`.
    pub fn with_device(&self, device: Device) -> Weights<'a> {
        Weights { device, ..self.clone() }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn checkpoint(&self) -> &'a Checkpoint {
        self.ckpt
    }

    /// Full checkpoint name of `name` under this prefix.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}.{}", self.prefix, name) }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.ckpt.contains(&self.path(name))
    }

    /// The tensor `prefix.name`, which must have exactly `shape`.
    pub fn get(&self, name: &str, shape: &[i64]) -> Result<Tensor, LoadError> {
        self.ckpt.tensor_shaped(&self.path(name), shape, self.kind, self.device)
    }

    /// `get`, or `None` when the tensor is absent (optional biases).
    pub fn get_opt(&self, name: &str, shape: &[i64]) -> Result<Option<Tensor>, LoadError> {
        if self.contains(name) { self.get(name, shape).map(Some) } else { Ok(None) }
    }

    /// The tensor `prefix.name` with whatever shape it has.
    pub fn get_any(&self, name: &str) -> Result<Tensor, LoadError> {
        self.ckpt.tensor(&self.path(name), self.kind, self.device)
    }

    /// Stored shape of `prefix.name`.
    pub fn shape(&self, name: &str) -> Result<Vec<i64>, LoadError> {
        let full = self.path(name);
        self.ckpt
            .meta(&full)
            .map(|m| m.shape.iter().map(|&d| d as i64).collect())
            .ok_or_else(|| LoadError::MissingTensor { name: full, location: self.ckpt.location() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_file(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::tensor::serialize_to_file(views, None, path).unwrap();
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn single_file_roundtrip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bf: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|x| half::bf16::from_f32(*x).to_le_bytes()).collect();
        write_file(
            &dir.path().join(SINGLE_FILE),
            &[
                ("a.weight", Dtype::F32, vec![2, 3], f32_bytes(&[0., 1., 2., 3., 4., 5.])),
                ("b", Dtype::BF16, vec![2], bf),
                ("c", Dtype::F8_E4M3, vec![1], vec![0]),
            ],
        );
        let ck = Checkpoint::open(dir.path()).unwrap();
        assert_eq!(ck.names(), vec!["a.weight", "b", "c"]);
        let w = ck.weights(Kind::Float, Device::Cpu);
        let a = w.pp("a").get("weight", &[2, 3]).unwrap();
        assert_eq!(a.double_value(&[1, 2]), 5.0);
        let b = w.get("b", &[2]).unwrap();
        assert_eq!(b.kind(), Kind::Float);
        assert_eq!(b.double_value(&[0]), 1.5);
        let e = w.pp("a").get("weight", &[3, 2]).unwrap_err();
        assert!(matches!(e, LoadError::ShapeMismatch { .. }), "{e}");
        assert!(e.to_string().contains("expected shape [3, 2], found [2, 3]"), "{e}");
        let e = w.get("nope", &[1]).unwrap_err();
        assert!(matches!(e, LoadError::MissingTensor { .. }) && e.to_string().contains("`nope`"), "{e}");
        let e = w.get_any("c").unwrap_err();
        assert!(matches!(e, LoadError::UnsupportedDtype { .. }), "{e}");
        assert!(w.get_opt("nope", &[1]).unwrap().is_none());
    }

    #[test]
    fn truncated_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(SINGLE_FILE);
        write_file(&p, &[("a", Dtype::F32, vec![4], f32_bytes(&[1., 2., 3., 4.]))]);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let e = Checkpoint::open(dir.path()).unwrap_err();
        assert!(matches!(e, LoadError::Header { .. }), "{e}");
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(Checkpoint::open(empty.path()).unwrap_err(), LoadError::NotACheckpoint { .. }));
    }

    #[test]
    fn sharded_index_and_missing_shard() {
        let dir = tempfile::tempdir().unwrap();
        write_file(&dir.path().join("m-1.safetensors"), &[("x", Dtype::F32, vec![1], f32_bytes(&[7.]))]);
        write_file(&dir.path().join("m-2.safetensors"), &[("y", Dtype::F32, vec![1], f32_bytes(&[9.]))]);
        let index = r#"{"metadata":{},"weight_map":{"x":"m-1.safetensors","y":"m-2.safetensors"}}"#;
        std::fs::write(dir.path().join(INDEX_FILE), index).unwrap();
        let ck = Checkpoint::open(dir.path()).unwrap();
        assert_eq!(ck.shard_paths().len(), 2);
        assert_eq!(ck.tensor("y", Kind::Float, Device::Cpu).unwrap().double_value(&[0]), 9.0);
        let bad = r#"{"weight_map":{"x":"m-1.safetensors","z":"m-2.safetensors"}}"#;
        std::fs::write(dir.path().join(INDEX_FILE), bad).unwrap();
        let e = Checkpoint::open(dir.path()).unwrap_err();
        assert!(matches!(e, LoadError::MissingTensor { .. }) && e.to_string().contains("`z`"), "{e}");
        std::fs::write(dir.path().join(INDEX_FILE), index).unwrap();
        std::fs::remove_file(dir.path().join("m-2.safetensors")).unwrap();
        let e = Checkpoint::open(dir.path()).unwrap_err();
        assert!(matches!(e, LoadError::MissingShard { .. }) && e.to_string().contains("m-2.safetensors"), "{e}");
    }
}
