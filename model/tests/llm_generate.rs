//! The generation service on the real SmolLM2 GGUF: streaming, stop
//! strings, bounded queue, cancellation when the stream is dropped,
//! replicas; and bad input (missing shard, wrong shapes, truncated GGUF,
//! unknown quantisation type, prompt over the context length) giving clear
//! errors; every ggml block type against the `gguf` package.
mod llm_common;

use std::sync::atomic::Ordering;

use hub_model::chat_template::{Channel, ChatMessage};
use hub_model::decoder::{Decoder, DecoderConfig, DecoderError, DecoderOptions};
use hub_model::generate::{
    EngineSpec, Event, FinishReason, GenerateError, Generator, GeneratorOptions, Prompt, Request,
};
use hub_model::gguf::{GgufError, GgufFile};
use hub_model::placement::Placement;
use hub_model::safetensors_loader::Checkpoint;
use llm_common::*;
use tch::Device;

fn spawn(copies: usize, queue: usize, placement: Placement) -> (Generator, hub_model::generate::Workers) {
    let mut spec = EngineSpec::new(smollm2_gguf());
    spec.placement = placement;
    Generator::spawn(
        copies,
        GeneratorOptions { queue, stream_buffer: 4, threads: 2, ..GeneratorOptions::default() },
        move |i| spec.load(i),
    )
    .unwrap()
}

fn collect(stream: &mut hub_model::generate::TokenStream) -> (String, hub_model::generate::Finished) {
    let mut text = String::new();
    loop {
        match stream.blocking_next().expect("stream ended without Done") {
            Event::Text { channel, text: t } => {
                assert_eq!(channel, Channel::Answer);
                text.push_str(&t);
            }
            Event::Done(f) => return (text, f),
            Event::Error { message } => panic!("generation error: {message}"),
        }
    }
}

#[test]
fn streams_chat_reply_and_stops() {
    let (g, workers) = spawn(1, 2, Placement::Single(Device::Cpu));
    let req = Request::chat(vec![ChatMessage::user("What is the capital of France?")], 40);
    let mut s = g.blocking_generate(req).unwrap();
    let (streamed, f) = collect(&mut s);
    assert!(f.generated_tokens > 0);
    assert_eq!(streamed.trim(), f.text);
    assert!(f.text.contains("Paris"), "reply: {:?}", f.text);
    assert!(!f.text.contains("<|im_end|>"));
    // A stop string cuts the text before it: take a word from the middle of
    // the greedy reply and generate again with it as a stop string.
    let words: Vec<&str> = f.text.split_whitespace().collect();
    assert!(words.len() >= 4, "reply too short to test stop strings: {:?}", f.text);
    let stop = words[words.len() / 2].to_string();
    let cut = f.text.find(stop.as_str()).unwrap();
    let mut req = Request::chat(vec![ChatMessage::user("What is the capital of France?")], 40);
    req.stop_strings = vec![stop.clone()];
    let (_, f2) = collect(&mut g.blocking_generate(req).unwrap());
    assert_eq!(f2.reason, FinishReason::StopString, "{f2:?}");
    assert_eq!(f2.text, f.text[..cut].trim(), "stop {stop:?}");
    drop(g);
    workers.join();
}

#[test]
fn dropping_the_stream_cancels_and_queue_is_bounded() {
    let (g, workers) = spawn(1, 1, Placement::Single(Device::Cpu));
    let long = || Request {
        prompt: Prompt::Text("Once upon a time".into()),
        min_new_tokens: 400,
        ..Request::chat(vec![], 400)
    };
    let mut s1 = g.blocking_generate(long()).unwrap();
    // Request 1 is running once its first text arrives.
    loop {
        if let Some(Event::Text { .. }) = s1.blocking_next() {
            break;
        }
    }
    // One slot in the queue: the second request waits, the third is refused.
    let s2 = g.try_generate(Request { prompt: Prompt::Text("Hello".into()), ..Request::chat(vec![], 3) }).unwrap();
    assert!(matches!(g.try_generate(long()), Err(GenerateError::QueueFull(1))));
    drop(s1); // cancel request 1
    let mut s2 = s2;
    let (_, f2) = collect(&mut s2);
    assert!(f2.generated_tokens <= 3);
    assert_eq!(g.stats().cancelled.load(Ordering::Relaxed), 1);
    assert_eq!(g.stats().completed.load(Ordering::Relaxed), 1);
    // Request 1 stopped early: far fewer than its 400 tokens were produced.
    assert!(g.stats().tokens.load(Ordering::Relaxed) < 400 / 2);
    drop(g);
    workers.join();
}

#[test]
fn replicas_serve_requests_with_identical_output() {
    let (g, workers) = spawn(2, 4, Placement::Replica(vec![Device::Cpu, Device::Cpu]));
    let req = || Request::chat(vec![ChatMessage::user("Name a colour.")], 12);
    let mut a = g.blocking_generate(req()).unwrap();
    let mut b = g.blocking_generate(req()).unwrap();
    let (_, fa) = collect(&mut a);
    let (_, fb) = collect(&mut b);
    assert_eq!(fa.token_ids, fb.token_ids);
    drop(g);
    workers.join();
}

#[test]
fn prompt_over_context_length_is_an_error() {
    let mut spec = EngineSpec::new(smollm2_gguf());
    spec.max_positions = Some(32);
    let mut e = spec.load(0).unwrap();
    let long = "lights ".repeat(40);
    let err = e.run(&Request { prompt: Prompt::Text(long), ..Request::chat(vec![], 8) }, &mut |_| true).unwrap_err();
    assert!(matches!(err, GenerateError::PromptTooLong { max: 32, .. }), "{err}");
    assert!(err.to_string().contains("context length"));
    // Direct decoder call past the context length.
    let ids = tch::Tensor::from_slice(&[1i64, 2, 3]).view([1, 3]);
    let err = e.decoder.forward(&ids, 30).unwrap_err();
    assert!(matches!(err, DecoderError::ContextOverflow { .. }), "{err}");
    // Out-of-vocabulary id.
    let bad = tch::Tensor::from_slice(&[1i64, 999_999]).view([1, 2]);
    assert!(matches!(e.decoder.forward(&bad, 0), Err(DecoderError::Input(_))));
    // Bad sampling parameters.
    let mut req = Request::chat(vec![ChatMessage::user("hi")], 4);
    req.sampling.top_p = 0.0;
    assert!(matches!(e.run(&req, &mut |_| true), Err(GenerateError::Sampling(_))));
}

#[test]
fn truncated_gguf_is_an_error() {
    let src = std::fs::read(smollm2_gguf()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Cut in the tensor data: the header parses, a tensor does not fit.
    let p = dir.path().join("cut_data.gguf");
    std::fs::write(&p, &src[..src.len() / 2]).unwrap();
    let err = GgufFile::open(&p).unwrap_err();
    assert!(matches!(err, GgufError::TensorBounds { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    // Cut inside the metadata.
    let p = dir.path().join("cut_header.gguf");
    std::fs::write(&p, &src[..4096]).unwrap();
    assert!(matches!(GgufFile::open(&p), Err(GgufError::Truncated { .. })));
    // Not a GGUF at all.
    let p = dir.path().join("junk.gguf");
    std::fs::write(&p, b"PK\x03\x04 not gguf").unwrap();
    assert!(matches!(GgufFile::open(&p), Err(GgufError::Magic { .. })));
    // Through the engine loader: an error, not a panic.
    assert!(matches!(EngineSpec::new(dir.path().join("cut_data.gguf")).load(0), Err(GenerateError::Load(_))));
}

/// A minimal GGUF v3 writer for hand-made files.
fn write_gguf(tensors: &[(&str, Vec<u64>, u32, Vec<u8>)]) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, v: &str) {
        out.extend((v.len() as u64).to_le_bytes());
        out.extend(v.as_bytes());
    }
    let mut out = Vec::new();
    out.extend(b"GGUF");
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend(1u64.to_le_bytes());
    s(&mut out, "general.architecture");
    out.extend(8u32.to_le_bytes());
    s(&mut out, "llama");
    let mut offset = 0u64;
    for (name, dims, ty, data) in tensors {
        s(&mut out, name);
        out.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(ty.to_le_bytes());
        out.extend(offset.to_le_bytes());
        offset += (data.len() as u64).div_ceil(32) * 32;
    }
    while out.len() % 32 != 0 {
        out.push(0);
    }
    for (_, _, _, data) in tensors {
        out.extend(data);
        while out.len() % 32 != 0 {
            out.push(0);
        }
    }
    out
}

/// Random blocks of every supported block type (scales kept finite), in a
/// GGUF written here, dequantised by us and by the `gguf` package
/// (`scripts/peers/llm_gguf.py dequant`): bit-identical. The real files
/// cover Q4_1 (SmolLM2) and Q4_K, Q6_K, Q5_0, Q8_0 (Gemma 3); this covers
/// the rest too.
#[test]
fn every_block_type_dequantises_as_the_gguf_package_does() {
    // (ggml type, elements per block, bytes per block, byte offsets of f16 scales)
    let types: [(u32, u64, usize, &[usize]); 8] = [
        (2, 32, 18, &[0]),
        (3, 32, 20, &[0, 2]),
        (6, 32, 22, &[0]),
        (7, 32, 24, &[0, 2]),
        (8, 32, 34, &[0]),
        (12, 256, 144, &[0, 2]),
        (13, 256, 176, &[0, 2]),
        (14, 256, 210, &[208]),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let blocks = 6;
    let mut tensors = Vec::new();
    for (ty, elems, bytes, scales) in types {
        let mut data: Vec<u8> = (0..bytes * blocks).map(|_| next() as u8).collect();
        for b in 0..blocks {
            for &at in scales {
                let v = half::f16::from_f32(((next() % 2000) as f32 - 1000.0) / 4096.0);
                data[b * bytes + at..b * bytes + at + 2].copy_from_slice(&v.to_le_bytes());
            }
        }
        tensors.push((format!("t{ty}.weight"), vec![elems * blocks as u64], ty, data));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("blocks.gguf");
    let refs: Vec<(&str, Vec<u64>, u32, Vec<u8>)> =
        tensors.iter().map(|(n, d, t, b)| (n.as_str(), d.clone(), *t, b.clone())).collect();
    std::fs::write(&p, write_gguf(&refs)).unwrap();
    let out = dir.path().join("ref.safetensors");
    let mut args = vec!["dequant", p.to_str().unwrap(), out.to_str().unwrap()];
    args.extend(tensors.iter().map(|t| t.0.as_str()));
    run_peer("llm_gguf.py", &args);
    let want = read_safetensors(&out);
    let f = GgufFile::open(&p).unwrap();
    for (name, _, ty, _) in &tensors {
        let ours = f.dequantize(name).unwrap();
        let theirs = Vec::<f32>::try_from(&want[name.as_str()]).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name}");
        let differ = ours.iter().zip(&theirs).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differ, 0, "type {ty}: {differ} of {} values differ", ours.len());
    }
}

#[test]
fn unknown_quantisation_type_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("q.gguf");
    let f32s: Vec<u8> = [1.5f32, -2.0, 0.25, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    // Q2_K (type 10): 256-element blocks of 84 bytes, not supported; Q4_K
    // (type 12, 144-byte blocks) is.
    std::fs::write(
        &p,
        write_gguf(&[
            ("ok.weight", vec![2, 2], 0, f32s),
            ("k.weight", vec![256], 10, vec![0u8; 84]),
            ("q4k.weight", vec![256], 12, vec![0u8; 144]),
        ]),
    )
    .unwrap();
    let f = GgufFile::open(&p).unwrap();
    let ok = f.tensor("ok.weight").unwrap();
    assert_eq!(ok.size(), vec![2, 2]);
    assert_eq!(Vec::<f32>::try_from(&ok.view([-1])).unwrap(), vec![1.5, -2.0, 0.25, 4.0]);
    assert_eq!(f.tensor("q4k.weight").unwrap().size(), vec![256]);
    let err = f.tensor("k.weight").unwrap_err();
    assert!(matches!(err, GgufError::UnsupportedType { type_id: 10, .. }), "{err}");
    assert!(err.to_string().contains("Q2_K"), "{err}");
    assert!(matches!(f.tensor("nope"), Err(GgufError::MissingTensor { .. })));
    assert!(f.decoder_config().is_err(), "no llama.* metadata: config error, not a panic");
}

#[test]
fn missing_shard_and_wrong_shapes_are_errors() {
    let src = tiny_dir().join("glm4");
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    // Wrong shapes: config says a wider model than the weights.
    let cfg_text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let mut cfg = DecoderConfig::from_hf_json(&cfg_text).unwrap();
    cfg.intermediate_size += 8;
    let ck = Checkpoint::open(dir.path()).unwrap();
    let err = Decoder::load(&cfg, &ck, &DecoderOptions::default()).unwrap_err();
    assert!(matches!(err, DecoderError::ShapeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("gate_up_proj"), "{err}");
    // A split that cannot divide the heads.
    let mut one_kv = DecoderConfig::from_hf_json(&cfg_text).unwrap();
    one_kv.num_kv_heads = 1;
    let opts = DecoderOptions {
        placement: Placement::Tensor { first: Device::Cpu, second: Device::Cpu },
        ..DecoderOptions::default()
    };
    assert!(matches!(Decoder::load(&one_kv, &ck, &opts), Err(DecoderError::Placement(_))));
    drop(ck);
    // Missing shard.
    let shard = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("-00002-of-"))
        .unwrap();
    std::fs::remove_file(&shard).unwrap();
    let err = EngineSpec::new(dir.path()).load(0).err().expect("missing shard must fail");
    let msg = err.to_string();
    assert!(msg.contains("00002"), "{msg}");
}
