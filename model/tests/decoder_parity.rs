//! Decoder parity with HF transformers on tiny random checkpoints created
//! at test time (`scripts/peers/llm_tiny.py`): GLM-4-0414 layout (saved
//! sharded, loaded through the index file), Llama, and Gemma 3 from its
//! Hugging Face `config.json` (sliding window shorter than the sequence). Logits within 1e-4
//! (max |diff| / max |ref|), KV-cache chunking equal to one pass, greedy
//! continuations identical; tensor/layers splits over two CPU shards and
//! replicas equal to one device within 1e-5; int8 close to fp32.
mod llm_common;

use hub_model::decoder::{Decoder, DecoderConfig, DecoderOptions, Quantize};
use hub_model::placement::Placement;
use hub_model::safetensors_loader::Checkpoint;
use llm_common::*;
use tch::{Device, Kind, Tensor};

fn load(name: &str, placement: Placement, quantize: Quantize) -> (Decoder, Tensor, Tensor) {
    let dir = tiny_dir().join(name);
    let cfg = DecoderConfig::from_hf_json(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let ck = Checkpoint::open(&dir).unwrap();
    let opts = DecoderOptions { placement, quantize, ..DecoderOptions::default() };
    let dec = Decoder::load(&cfg, &ck, &opts).unwrap();
    let r = read_safetensors(&dir.join("ref.safetensors"));
    (dec, r["input_ids"].shallow_clone(), r["logits"].shallow_clone())
}

fn single() -> Placement {
    Placement::Single(Device::Cpu)
}

#[test]
fn glm4_sharded_checkpoint_logits_match_transformers() {
    let dir = tiny_dir().join("glm4");
    assert!(dir.join("model.safetensors.index.json").exists(), "glm4 tiny checkpoint should be sharded");
    let (mut dec, ids, want) = load("glm4", single(), Quantize::None);
    let got = dec.forward_all(&ids, 0).unwrap();
    let e = rel_err(&got, &want);
    eprintln!("glm4 tiny: rel err {e:.3e}, max abs {:.3e}", max_abs(&got, &want));
    assert!(e <= 1e-4, "glm4 logits rel err {e}");
}

/// Llama, and Gemma 3 read from transformers' own `config.json` and
/// safetensors (the GGUF path is `gemma3_parity.rs`): six of its seven
/// layers see only the last 8 of the 13 positions, and
/// `query_pre_attn_scalar` is not `head_dim`.
#[test]
fn llama_and_gemma3_logits_match_transformers() {
    for name in ["llama", "gemma3"] {
        let (mut dec, ids, want) = load(name, single(), Quantize::None);
        let got = dec.forward_all(&ids, 0).unwrap();
        let e = rel_err(&got, &want);
        eprintln!("{name} tiny: rel err {e:.3e}");
        assert!(e <= 1e-4, "{name} logits rel err {e}");
    }
}

#[test]
fn kv_cache_chunks_and_single_steps_equal_one_pass() {
    for name in ["glm4", "llama", "gemma3"] {
        let (mut dec, ids, want) = load(name, single(), Quantize::None);
        let s = ids.size()[1];
        // Prefill 5, then a chunk of 4 after the cache, then single steps.
        dec.clear_kv_cache();
        let a = dec.forward_all(&ids.narrow(1, 0, 5), 0).unwrap();
        let b = dec.forward_all(&ids.narrow(1, 5, 4), 5).unwrap();
        let mut parts = vec![a, b];
        for p in 9..s {
            let last = dec.forward(&ids.narrow(1, p, 1), p).unwrap();
            parts.push(last.unsqueeze(1));
        }
        let got = Tensor::cat(&parts, 1);
        let e = rel_err(&got, &want);
        assert!(e <= 1e-4, "{name}: chunked rel err {e}");
        // Rewind: recompute the last 3 positions over the cached prefix.
        let again = dec.forward_all(&ids.narrow(1, s - 3, 3), s - 3).unwrap();
        assert!(rel_err(&again, &want.narrow(1, s - 3, 3)) <= 1e-4, "{name}: rewind");
        assert_eq!(dec.kv_len(), s);
    }
}

#[test]
fn greedy_continuations_match_transformers() {
    for name in ["glm4", "llama", "gemma3"] {
        let dir = tiny_dir().join(name);
        let g: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("greedy.json")).unwrap()).unwrap();
        let prompt: Vec<i64> = g["prompt"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let want: Vec<i64> = g["tokens"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let (mut dec, _, _) = load(name, single(), Quantize::None);
        let got = greedy(&mut dec, &prompt, want.len(), prompt.len());
        assert_eq!(got, want, "{name} greedy");
    }
}

fn split_check(name: &str, placement: Placement) -> f64 {
    let (mut one, ids, _) = load(name, single(), Quantize::None);
    let (mut two, _, _) = load(name, placement.clone(), Quantize::None);
    let a = one.forward_all(&ids, 0).unwrap();
    let b = two.forward_all(&ids, 0).unwrap();
    // And a decode step through the split KV caches.
    let s = ids.size()[1];
    let extra = ids.narrow(1, 0, 1);
    let a1 = one.forward(&extra, s).unwrap();
    let b1 = two.forward(&extra, s).unwrap();
    let e = rel_err(&b, &a).max(rel_err(&b1, &a1));
    eprintln!("{name} {}: rel err vs single device {e:.3e}", placement.label());
    e
}

#[test]
fn tensor_split_over_two_cpu_shards_matches_single_device() {
    for name in ["glm4", "llama"] {
        let e = split_check(name, Placement::Tensor { first: Device::Cpu, second: Device::Cpu });
        assert!(e <= 1e-5, "{name} tensor split rel err {e}");
    }
}

#[test]
fn layers_split_over_two_cpu_shards_matches_single_device() {
    for name in ["glm4", "llama", "gemma3"] {
        for split_at in [None, Some(1), Some(0), Some(3)] {
            let e = split_check(name, Placement::Layers { first: Device::Cpu, second: Device::Cpu, split_at });
            assert!(e <= 1e-5, "{name} layers split {split_at:?} rel err {e}");
        }
    }
}

#[test]
fn replicas_match_single_device() {
    let placement = Placement::Replica(vec![Device::Cpu, Device::Cpu]);
    let (mut one, ids, _) = load("glm4", single(), Quantize::None);
    let a = one.forward_all(&ids, 0).unwrap();
    for copy in placement.copies() {
        let (mut c, _, _) = load("glm4", copy, Quantize::None);
        let e = rel_err(&c.forward_all(&ids, 0).unwrap(), &a);
        assert!(e <= 1e-5, "replica rel err {e}");
    }
}

#[test]
fn int8_is_close_to_fp32() {
    for name in ["glm4", "llama"] {
        let (mut f, ids, _) = load(name, single(), Quantize::None);
        let (mut q, _, _) = load(name, single(), Quantize::Int8);
        let a = f.forward_all(&ids, 0).unwrap();
        let b = q.forward_all(&ids, 0).unwrap();
        let e = rel_err(&b, &a);
        let agree = a
            .argmax(-1, false)
            .eq_tensor(&b.argmax(-1, false))
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        eprintln!("{name} int8 vs fp32: rel err {e:.3e}, top-1 agreement {agree:.3}");
        assert!(e <= 6e-2, "{name} int8 rel err {e}");
        assert!(agree >= 0.9, "{name} int8 top-1 agreement {agree}");
        // int8 also composes with the tensor split (row shards get their own
        // per-channel scales, so compare against fp32, not bit-for-bit).
        let (mut qs, _, _) = load(name, Placement::Tensor { first: Device::Cpu, second: Device::Cpu }, Quantize::Int8);
        let c = qs.forward_all(&ids, 0).unwrap();
        assert!(rel_err(&c, &a) <= 6e-2, "{name} int8 tensor split");
    }
}
