//! `hubd ask-camera` end to end: the real daemon with a `file://` replay
//! camera and the tiny random GLM-4.1V that `scripts/peers/glm_make_tiny.py`
//! makes with transformers (plus a word-level `tokenizer.json` written
//! here). The answer is gibberish, but it must be the model's: its tokens
//! equal transformers' greedy tokens for the same frame and prompt, and the
//! vision tower filled the image tokens the frame's size calls for. Without
//! `[model] vlm_path` the daemon and the CLI say which key to set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;

const VOCAB: usize = 300;
/// Words the test tokenizer knows (the rest of the 300 ids are `t<id>`).
const WORDS: [&str; 8] = ["is", "the", "garage", "door", "open", "yes", "no", "person"];
const MAX_TOKENS: usize = 6;

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv")
}

fn word(i: usize) -> String {
    WORDS.get(i).map_or_else(|| format!("t{i}"), |w| (*w).to_string())
}

/// A word-level tokenizer over the tiny model's 300 ids.
fn write_tokenizer(dir: &Path) {
    let vocab: serde_json::Map<String, serde_json::Value> = (0..VOCAB).map(|i| (word(i), i.into())).collect();
    let t = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "t8"}
    });
    std::fs::write(dir.join("tokenizer.json"), t.to_string()).unwrap();
}

/// The tiny GLM-4.1V checkpoint with a tokenizer, in `dir/glm4v`.
fn tiny_glm4v(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers/glm_make_tiny.py");
    let out = Command::new(venv().join("bin/python"))
        .arg(&script)
        .arg(dir)
        .arg("--no-glm4")
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "glm_make_tiny.py: {}", String::from_utf8_lossy(&out.stderr));
    let ck = dir.join("glm4v");
    write_tokenizer(&ck);
    ck
}

/// A 200x150 picture: a gradient with a bright block (JPEG).
fn frame_jpeg() -> Vec<u8> {
    let (w, h) = (200usize, 150usize);
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let inside = (60..120).contains(&x) && (40..110).contains(&y);
            let px = if inside { [240, 220, 60] } else { [(x + y) as u8, (2 * y) as u8, (255 - x) as u8] };
            rgb[(y * w + x) * 3..][..3].copy_from_slice(&px);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90).encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// transformers' greedy tokens for `prompt` (ids with the image placeholder)
/// and the raw RGB frame, `n` steps of full forward passes.
fn reference_tokens(ck: &Path, rgb_path: &Path, w: usize, h: usize, prompt: &[i64], n: usize) -> Vec<i64> {
    let script = r#"
import json, os, sys
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
import glm_make_tiny
from transformers import Glm4vForConditionalGeneration
ck, raw, w, h, n = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
prompt = json.loads(sys.argv[7])
img = np.fromfile(raw, np.uint8).reshape(h, w, 3)
pixel_values, grid, _ = glm_make_tiny.preprocess([img])
model = Glm4vForConditionalGeneration.from_pretrained(ck).eval().float()
ids = list(prompt)
out = []
with torch.no_grad():
    for _ in range(n):
        t = torch.tensor([ids])
        logits = model(input_ids=t, pixel_values=pixel_values, image_grid_thw=grid,
                       mm_token_type_ids=(t == model.config.image_token_id).int()).logits
        nxt = int(logits[0, -1].argmax())
        out.append(nxt)
        ids.append(nxt)
print(json.dumps({"tokens": out, "grid": grid[0].tolist()}))
"#;
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers");
    let o = Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(script)
        .arg(&peers)
        .arg(ck)
        .arg(rgb_path)
        .args([w.to_string(), h.to_string(), n.to_string(), serde_json::to_string(prompt).unwrap()])
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "reference: {}", String::from_utf8_lossy(&o.stderr));
    let v = json(String::from_utf8_lossy(&o.stdout).trim());
    v["tokens"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect()
}

/// A `w` x `h` JPEG with something in it: stripes, a gradient and a block,
/// varied by `i` (what `hubd train-gate` learns an open gate from).
fn scene_jpeg(i: usize, w: usize, h: usize) -> Vec<u8> {
    let mut rgb = vec![0u8; w * h * 3];
    let (bx, by) = ((i * 37) % (w / 2), (i * 23) % (h / 2));
    for y in 0..h {
        for x in 0..w {
            let inside = (bx..bx + w / 3).contains(&x) && (by..by + h / 3).contains(&y);
            let stripe = ((x + i * 3) / (3 + i % 5)).is_multiple_of(2);
            let px = if inside {
                [(200 + i * 11) as u8, (40 * i) as u8, 60]
            } else if stripe {
                [(x * 3 + i * 20) as u8, (y * 2) as u8, (255 - x - i) as u8]
            } else {
                [(y * 3) as u8, (100 + x + 9 * i) as u8, (i * 30) as u8]
            };
            rgb[(y * w + x) * 3..][..3].copy_from_slice(&px);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90).encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// A covered lens: one dark colour (JPEG).
fn covered_jpeg(w: usize, h: usize) -> Vec<u8> {
    let rgb: Vec<u8> = [20u8, 24, 30].iter().copied().cycle().take(w * h * 3).collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90).encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// The garage camera replaying `replay`, and a porch camera replaying `porch`.
fn camera_config(broker: u16, web: u16, replay: &Path, porch: &Path, vlm: Option<&Path>) -> String {
    let model = vlm.map_or_else(String::new, |p| format!("\n[model]\nvlm_path = \"{}\"\n", p.display()));
    let source = |id: &str, dir: &Path| {
        format!("\n[[camera.source]]\nid = \"{id}\"\nurl = \"file://{}\"\nfps = 2\n", dir.display())
    };
    config_text(broker, web, 3000)
        + &model
        + "\n[camera]\nenabled = true\n"
        + &source("garage", replay)
        + &source("porch", porch)
}

#[test]
fn ask_camera_answers_from_the_tiny_glm4v_and_names_the_key_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let ck = tiny_glm4v(&dir.path().join("tiny"));
    let broker = Mosquitto::start(dir.path());
    let replay = dir.path().join("replay");
    std::fs::create_dir(&replay).unwrap();
    std::fs::write(replay.join("0001.jpg"), frame_jpeg()).unwrap();
    let porch = dir.path().join("porch");
    std::fs::create_dir(&porch).unwrap();
    std::fs::write(porch.join("0001.jpg"), covered_jpeg(200, 150)).unwrap();
    let within = Duration::from_secs(20);

    // Without a model: the API and the CLI name `[model] vlm_path`.
    let web = free_port();
    let cfg = dir.path().join("plain.toml");
    std::fs::write(&cfg, camera_config(broker.port, web, &replay, &porch, None)).unwrap();
    let mut daemon = Daemon::start(&cfg, web, None);
    let body = r#"{"question": "is the garage door open?"}"#;
    let (st, text) = http(web, "POST", "/api/cameras/garage/ask", Some(body)).unwrap();
    assert_eq!(st, 503, "{text}");
    let msg = json(&text)["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("`vlm_path`") && msg.contains("`[model]`"), "{msg}");
    let o = hubd()
        .args(["--url", &format!("http://127.0.0.1:{web}"), "ask-camera", "garage", "is the door open?"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`vlm_path`"), "{}", String::from_utf8_lossy(&o.stderr));
    daemon.sigterm();

    // With the tiny GLM-4.1V.
    let web = free_port();
    let cfg = dir.path().join("vlm.toml");
    std::fs::write(&cfg, camera_config(broker.port, web, &replay, &porch, Some(&ck))).unwrap();
    let mut daemon = Daemon::start(&cfg, web, None);
    assert!(wait_until(within, || http(web, "GET", "/api/garage/latest.jpg", None).is_ok_and(|(s, _)| s == 200)));
    let (st, text) = http(web, "POST", "/api/cameras/nowhere/ask", Some(body)).unwrap();
    assert_eq!(st, 404, "{text}");
    let (st, text) = http(web, "POST", "/api/cameras/garage/ask", Some(r#"{"question": "  "}"#)).unwrap();
    assert_eq!(st, 400, "{text}");
    let ask = format!(r#"{{"question": "is the garage door open?", "max_tokens": {MAX_TOKENS}}}"#);
    let (st, text) = http(web, "POST", "/api/cameras/garage/ask", Some(&ask)).unwrap();
    assert_eq!(st, 200, "{text}\n{}", daemon.log_text());
    let a = json(&text);
    let answer = a["answer"].as_str().unwrap_or_default();
    assert!(!answer.is_empty(), "{a}");
    let tokens: Vec<i64> = a["tokens"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect();
    assert_eq!(tokens.len(), MAX_TOKENS, "{a}");
    // The answer is the tokens, as the tokenizer spells them.
    let words: Vec<String> = tokens.iter().map(|t| word(*t as usize)).collect();
    assert_eq!(answer, words.join(" "), "{a}");
    assert_eq!((a["frame_width"].as_u64(), a["frame_height"].as_u64()), (Some(200), Some(150)));

    // The vision path: 200x150 -> smart_resize 196x140 (x28) -> 14x10 patches of 14 -> 35 tokens after 2x2 merge.
    let (rh, rw) = hub_model::vision::preprocess::smart_resize(2, 150, 200, 2, 28, 112 * 112, 28 * 28 * 1024).unwrap();
    let expect_image = ((rh / 14) * (rw / 14) / 4) as usize;
    assert_eq!(a["image_tokens"].as_u64(), Some(expect_image as u64), "{a}");
    assert_eq!(a["grid"], serde_json::json!([1, rh / 14, rw / 14]), "{a}");
    // No gate trained yet: the frame went in, ungated.
    assert_eq!((&a["image_gate"], &a["image_used"]), (&serde_json::Value::Null, &serde_json::json!(true)), "{a}");

    // transformers on the same decoded frame and prompt gives the same tokens.
    let (_, jpeg) = http_raw_get(web, "/api/garage/latest.jpg");
    let (rgb, w, h) = hubd::camera::decode::decode_rgb(&jpeg).unwrap();
    let raw = dir.path().join("frame.rgb");
    std::fs::write(&raw, &rgb).unwrap();
    let mut prompt = vec![290];
    prompt.extend(std::iter::repeat_n(292, expect_image));
    prompt.push(291);
    // "is the garage door open?": the five words, then "?" as the unknown token (t8).
    prompt.extend([0, 1, 2, 3, 4, 8]);
    assert_eq!(a["prompt_tokens"].as_u64(), Some(prompt.len() as u64), "{a}");
    let want = reference_tokens(&ck, &raw, w, h, &prompt, MAX_TOKENS);
    assert_eq!(tokens, want, "hubd vs transformers greedy tokens");

    // The CLI prints the same answer.
    let o = hubd()
        .args(["--url", &format!("http://127.0.0.1:{web}"), "ask-camera", "garage", "is the garage door open?"])
        .args(["--max-tokens", &MAX_TOKENS.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), answer);

    fusion_gate_leaves_the_covered_camera_out(dir.path(), &cfg, web, &daemon);
    daemon.sigterm();
}

/// `hubd train-gate` on camera-sized scenes; the running daemon picks the
/// gate up at the next question: the garage frame (not among the training
/// scenes) goes in scaled by its gate, the covered porch camera is left out
/// of the prompt, and `/metrics` and `/api/status` count both.
fn fusion_gate_leaves_the_covered_camera_out(dir: &Path, cfg: &Path, web: u16, daemon: &Daemon) {
    let frames = dir.join("gate-frames");
    std::fs::create_dir(&frames).unwrap();
    for i in 0..12 {
        std::fs::write(frames.join(format!("{i:03}.jpg")), scene_jpeg(i, 200, 150)).unwrap();
    }
    let o = hubd().arg("--config").arg(cfg).args(["--json", "train-gate", "--frames"]).arg(&frames).output().unwrap();
    assert!(o.status.success(), "train-gate: {}", String::from_utf8_lossy(&o.stderr));
    let t = json(String::from_utf8_lossy(&o.stdout).trim());
    assert_eq!(
        (t["report"]["open_examples"].as_u64(), t["report"]["closed_examples"].as_u64()),
        (Some(48), Some(84)),
        "{t}"
    );
    assert!(Path::new(t["path"].as_str().unwrap()).is_file(), "{t}");
    // A directory without frames is refused, naming it.
    let o = hubd().arg("--config").arg(cfg).args(["train-gate", "--frames"]).arg(dir.join("nowhere")).output().unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--frames"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let ask = r#"{"question": "is the garage door open?", "max_tokens": 2}"#;
    let (st, text) = http(web, "POST", "/api/cameras/garage/ask", Some(ask)).unwrap();
    assert_eq!(st, 200, "{text}\n{}", daemon.log_text());
    let a = json(&text);
    let g = a["image_gate"].as_f64().unwrap_or(-1.0);
    assert!(g >= 0.5 && a["image_used"] == true && a["image_tokens"].as_u64() > Some(0), "{a}");
    let (st, text) = http(web, "POST", "/api/cameras/porch/ask", Some(ask)).unwrap();
    assert_eq!(st, 200, "{text}");
    let b = json(&text);
    let g = b["image_gate"].as_f64().unwrap_or(1.0);
    assert!(g < 0.5 && b["image_used"] == false && b["image_tokens"].as_u64() == Some(0), "{b}");
    assert!(b["prompt_tokens"].as_u64() < a["prompt_tokens"].as_u64(), "{a}\n{b}");

    let (_, metrics) = http(web, "GET", "/metrics", None).unwrap();
    for line in [
        "hubd_vision_fusion_total{decision=\"open\"} 1",
        "hubd_vision_fusion_total{decision=\"closed\"} 1",
        "hubd_vision_fusion_total{decision=\"ungated\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing:\n{metrics}");
    }
    let (_, status) = http(web, "GET", "/api/status", None).unwrap();
    let status = json(&status);
    let branch = status["models"].as_array().and_then(|b| b.iter().find(|b| b["branch"] == "vision-language")).cloned();
    let counters = branch.map(|b| b["counters"].clone()).unwrap_or_default();
    assert_eq!(counters, serde_json::json!({"fusion_open": 1, "fusion_closed": 1, "ungated": 2}), "{status}");
}

/// GET raw bytes (the JPEG).
fn http_raw_get(port: u16, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, buf[end + 4..].to_vec())
}
