//! GLM-4.1V parity against transformers on tiny random checkpoints made at
//! test time by `scripts/peers/glm_make_tiny.py` (the project's `.venv`
//! python, offline): vision tower, image preprocessing, M-RoPE ids, full
//! logits (single-file and sharded saves), and bad checkpoints/inputs.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use hub_model::fusion_gate::{FitOptions, FusionGate};
use hub_model::glm4v::{Glm4vError, Glm4vForConditionalGeneration};
use hub_model::glm4v_chat::{Glm4vChat, Picture, empty_pictures};
use hub_model::safetensors_loader::{Checkpoint, LoadError};
use hub_model::vision::preprocess::{ImageProcessorConfig, RgbImage, preprocess};
use hub_model::vision::{Grid, VisionError};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

/// `<repo>/.venv` (from `<venv>/lib/python3.X/site-packages`).
fn venv() -> PathBuf {
    let sp = hub_model::weights::site_packages().expect("project .venv not found (run scripts/setup)");
    sp.ancestors().nth(3).expect("venv root").to_path_buf()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // Reuse outputs of an earlier run of the script (debugging only).
        if let Some(pre) = std::env::var_os("HUBD_GLM_TINY_DIR") {
            return Fixture { _dir: dir, root: PathBuf::from(pre) };
        }
        let root = dir.path().to_path_buf();
        let venv = venv();
        let script = venv.parent().expect("repo root").join("scripts/peers/glm_make_tiny.py");
        let out = Command::new(venv.join("bin").join("python"))
            .arg(&script)
            .arg(&root)
            .env("HF_HUB_OFFLINE", "1")
            .env("TRANSFORMERS_OFFLINE", "1")
            .output()
            .expect("run glm_make_tiny.py");
        assert!(
            out.status.success(),
            "glm_make_tiny.py failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Fixture { _dir: dir, root }
    })
}

fn reference() -> Checkpoint {
    Checkpoint::open_file(fixture().root.join("ref.safetensors")).unwrap()
}

fn rt(ck: &Checkpoint, name: &str) -> Tensor {
    let kind = match ck.meta(name).unwrap().dtype {
        safetensors::Dtype::I64 => Kind::Int64,
        safetensors::Dtype::U8 => Kind::Uint8,
        _ => Kind::Float,
    };
    ck.tensor(name, kind, Device::Cpu).unwrap()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs().max().double_value(&[])
}

fn grids(ref_ck: &Checkpoint) -> Vec<Grid> {
    let g = rt(ref_ck, "image_grid_thw");
    let v: Vec<i64> = Vec::<i64>::try_from(g.reshape([-1])).unwrap();
    v.chunks(3).map(|c| Grid { t: c[0], h: c[1], w: c[2] }).collect()
}

fn ids(ref_ck: &Checkpoint, name: &str) -> Vec<i64> {
    Vec::<i64>::try_from(rt(ref_ck, name).reshape([-1])).unwrap()
}

fn images(ref_ck: &Checkpoint) -> Vec<(usize, usize, Vec<u8>)> {
    (0..)
        .map(|i| format!("image_{i}"))
        .take_while(|n| ref_ck.contains(n))
        .map(|n| {
            let t = rt(ref_ck, &n);
            let s = t.size();
            (s[0] as usize, s[1] as usize, Vec::<u8>::try_from(t.reshape([-1])).unwrap())
        })
        .collect()
}

fn model(sub: &str) -> Glm4vForConditionalGeneration {
    Glm4vForConditionalGeneration::load(&fixture().root.join(sub), Kind::Float, Device::Cpu).unwrap()
}

#[test]
fn vision_tower_matches_transformers() {
    let r = reference();
    let m = model("glm4v");
    let out = m.vision().forward(&rt(&r, "pixel_values"), &grids(&r)).unwrap();
    let e_hidden = max_abs(&out.hidden, &rt(&r, "vision_hidden"));
    let e_feat = max_abs(&out.features, &rt(&r, "vision_out"));
    eprintln!("vision parity: hidden max|err| {e_hidden:.3e}, features max|err| {e_feat:.3e}");
    assert!(e_hidden < TOL && e_feat < TOL, "hidden {e_hidden}, features {e_feat}");
    // The reference itself must not be trivial.
    assert!(rt(&r, "vision_out").abs().max().double_value(&[]) > 0.1);
}

#[test]
fn preprocessing_matches_image_processor() {
    let r = reference();
    let imgs = images(&r);
    assert_eq!(imgs.len(), 2);
    let views: Vec<RgbImage<'_>> = imgs.iter().map(|(h, w, d)| RgbImage { height: *h, width: *w, data: d }).collect();
    let (pv, g) = preprocess(&views, &ImageProcessorConfig::default()).unwrap();
    assert_eq!(g, grids(&r));
    let err = max_abs(&pv, &rt(&r, "pixel_values"));
    eprintln!("preprocess parity: pixel_values max|err| {err:.3e}");
    assert!(err < 1e-5, "pixel_values differ by {err}");
}

#[test]
fn rope_index_and_logits_match_transformers() {
    let r = reference();
    let input_ids = ids(&r, "input_ids");
    let g = grids(&r);
    for sub in ["glm4v", "glm4v_sharded"] {
        let mut m = model(sub);
        let (pos, _delta) = m.rope_index(&input_ids, &g).unwrap();
        let want = Vec::<i64>::try_from(rt(&r, "position_ids").reshape([-1])).unwrap();
        let got: Vec<i64> = pos.iter().flatten().copied().collect();
        assert_eq!(got, want, "M-RoPE ids ({sub})");

        let logits = m.forward(&input_ids, Some(&rt(&r, "pixel_values")), &g).unwrap();
        let err = max_abs(&logits, &rt(&r, "logits"));
        // Non-trivial references: a wrong op must move the logits.
        assert!(rt(&r, "logits").std(true).double_value(&[]) > 0.1);
        assert!(rt(&r, "text_logits").std(true).double_value(&[]) > 0.1);
        let text = m.forward(&ids(&r, "text_input_ids"), None, &[]).unwrap();
        let err_text = max_abs(&text, &rt(&r, "text_logits"));
        eprintln!("glm4v logits parity ({sub}): image prompt {err:.3e}, text prompt {err_text:.3e}");
        assert!(err < TOL && err_text < TOL, "{sub}: image {err}, text {err_text}");
    }
    // End to end from raw RGB bytes through our preprocessing.
    let mut m = model("glm4v");
    let imgs = images(&r);
    let views: Vec<RgbImage<'_>> = imgs.iter().map(|(h, w, d)| RgbImage { height: *h, width: *w, data: d }).collect();
    let (pv, g2) = preprocess(&views, &ImageProcessorConfig::default()).unwrap();
    let mut prompt = vec![1, 2, 3];
    for gr in &g2 {
        prompt.extend(m.image_placeholder(*gr));
        prompt.push(4);
    }
    let logits = m.forward(&prompt, Some(&pv), &g2).unwrap();
    assert_eq!(logits.size(), vec![1, prompt.len() as i64, 300]);
}

/// The decoder helper's GLM-4 `Decoder` (KV cache, placement) runs the
/// GLM-4.1V text model when given our embeddings (image features scattered
/// in) and M-RoPE cos/sin: the same logits as transformers.
#[test]
fn decoder_with_mrope_matches_transformers() {
    use hub_model::decoder::{Decoder, DecoderConfig, DecoderOptions, Prefixes};
    let r = reference();
    let dir = fixture().root.join("glm4v_sharded");
    let m = model("glm4v_sharded");
    let cfg = DecoderConfig::from_hf_json(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let ck = Checkpoint::open(&dir).unwrap();
    let opts = DecoderOptions {
        prefixes: Prefixes { model: "model.language_model".into(), lm_head: "lm_head".into() },
        ..DecoderOptions::default()
    };
    let mut dec = Decoder::load(&cfg, &ck, &opts).unwrap();
    let input_ids = ids(&r, "input_ids");
    let g = grids(&r);
    let feats = m.vision().forward(&rt(&r, "pixel_values"), &g).unwrap().features;
    let embeds = m.embed(&input_ids, Some(&feats)).unwrap();
    let (pos, _) = m.rope_index(&input_ids, &g).unwrap();
    let (cos, sin) = m.mrope_cos_sin(&pos, Kind::Float).unwrap();
    let hidden = dec.forward_embeds(&embeds, 0, Some((&cos, &sin))).unwrap();
    let logits = dec.lm_head(&hidden).unwrap();
    let err = max_abs(&logits, &rt(&r, "logits"));
    eprintln!("decoder + M-RoPE logits parity: {err:.3e}");
    assert!(err < TOL, "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Rewrite `model.safetensors` in `dir` through `edit` (name, shape, bytes).
fn rewrite(dir: &Path, edit: impl Fn(&str, Vec<usize>, Vec<u8>) -> Option<(Vec<usize>, Vec<u8>)>) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut kept: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        if let Some((shape, data)) = edit(&name, view.shape().to_vec(), view.data().to_vec()) {
            kept.push((name, view.dtype(), shape, data));
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = kept
        .iter()
        .map(|(n, d, s, b)| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::tensor::serialize_to_file(views, None, &path).unwrap();
}

/// Incremental decoding through the KV cache with M-RoPE continuing after an
/// image prompt (`p + delta`) gives the logits of a full pass over prompt +
/// generated tokens (the full pass is checked against transformers above).
#[test]
fn cached_generation_after_an_image_matches_full_passes() {
    let r = reference();
    let input_ids = ids(&r, "input_ids");
    let g = grids(&r);
    let pv = rt(&r, "pixel_values");
    let mut m = model("glm4v");
    let new = m.generate_greedy(&input_ids, Some(&pv), &g, 6, &[]).unwrap();
    assert_eq!(new.len(), 6);
    let (_, delta) = m.rope_index(&input_ids, &g).unwrap();
    assert!(delta < 0, "an image compresses positions: delta {delta}");
    // Teacher-forced: the full pass over prompt + new tokens predicts each
    // generated token at the previous position, with the same logits.
    let mut all = input_ids.clone();
    all.extend(&new[..5]);
    let full = m.forward(&all, Some(&pv), &g).unwrap();
    let mut logits = m.prefill(&input_ids, Some(&pv), &g, 6).unwrap();
    for (i, &tok) in new.iter().enumerate() {
        let want = full.get(0).get(input_ids.len() as i64 - 1 + i as i64);
        let err = max_abs(&logits.get(0), &want);
        assert!(err < TOL, "step {i}: cached vs full {err}");
        assert_eq!(want.argmax(-1, false).int64_value(&[]), tok, "step {i}");
        if i + 1 < new.len() {
            logits = m.step(tok).unwrap();
        }
    }
}

#[test]
fn bad_checkpoints_give_clear_errors() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();

    // Missing shard.
    let sharded = tmp.path().join("sharded");
    copy_dir(&f.root.join("glm4v_sharded"), &sharded);
    let shard = std::fs::read_dir(&sharded)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-00003-of-00016.safetensors"))
        .expect("sharded save has 16 shards");
    std::fs::remove_file(&shard).unwrap();
    let e = Glm4vForConditionalGeneration::load(&sharded, Kind::Float, Device::Cpu).unwrap_err();
    assert!(matches!(e, Glm4vError::Load(LoadError::MissingShard { .. })), "{e}");
    assert!(e.to_string().contains("00003-of-00016"), "{e}");

    // Wrong shape.
    let wrong = tmp.path().join("wrong_shape");
    copy_dir(&f.root.join("glm4v"), &wrong);
    const QKV: &str = "model.visual.blocks.1.attn.qkv.weight";
    rewrite(&wrong, |name, shape, data| {
        if name == QKV {
            let row = data.len() / shape[0];
            Some((vec![shape[0] - 1, shape[1]], data[..data.len() - row].to_vec()))
        } else {
            Some((shape, data))
        }
    });
    let e = Glm4vForConditionalGeneration::load(&wrong, Kind::Float, Device::Cpu).unwrap_err();
    assert!(matches!(e, Glm4vError::Vision(VisionError::Load(LoadError::ShapeMismatch { .. }))), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(QKV) && msg.contains("expected shape [96, 32], found [95, 32]"), "{msg}");

    // Missing tensor.
    let missing = tmp.path().join("missing_tensor");
    copy_dir(&f.root.join("glm4v"), &missing);
    const NORM: &str = "model.language_model.layers.1.post_mlp_layernorm.weight";
    rewrite(&missing, |name, shape, data| (name != NORM).then_some((shape, data)));
    let e = Glm4vForConditionalGeneration::load(&missing, Kind::Float, Device::Cpu).unwrap_err();
    assert!(matches!(e, Glm4vError::Decoder(hub_model::decoder::DecoderError::MissingWeight { .. })), "{e}");
    assert!(e.to_string().contains(NORM), "{e}");

    // Broken config.
    let bad_cfg = tmp.path().join("bad_config");
    copy_dir(&f.root.join("glm4v"), &bad_cfg);
    std::fs::write(bad_cfg.join("config.json"), "{\"vision_config\": {}, \"text_config\": {\"vocab_size\": 3}}")
        .unwrap();
    let e = Glm4vForConditionalGeneration::load(&bad_cfg, Kind::Float, Device::Cpu).unwrap_err();
    assert!(matches!(e, Glm4vError::Config { .. }) && e.to_string().contains("config.json"), "{e}");
}

#[test]
fn bad_inputs_give_clear_errors() {
    let r = reference();
    let mut m = model("glm4v");
    let g = grids(&r);
    let pv = rt(&r, "pixel_values");
    // pixel rows that do not match the grids
    let e = m.vision().forward(&pv.narrow(0, 0, 10), &g).unwrap_err();
    assert!(e.to_string().contains("pixel_values has shape [10, 1176]"), "{e}");
    // odd grid
    let e = m.vision().forward(&pv, &[Grid { t: 1, h: 3, w: 4 }]).unwrap_err();
    assert!(e.to_string().contains("divisible"), "{e}");
    // image tokens without an image, and a count mismatch
    let input_ids = ids(&r, "input_ids");
    let e = m.forward(&input_ids, None, &[]).unwrap_err();
    assert!(e.to_string().contains("no image was given"), "{e}");
    let e = m.forward(&input_ids[..input_ids.len() / 2], Some(&pv), &g).unwrap_err();
    assert!(matches!(e, Glm4vError::Input(_)), "{e}");
    // token outside the vocabulary
    let e = m.forward(&[1, 2, 100_000], None, &[]).unwrap_err();
    assert!(e.to_string().contains("outside the vocabulary"), "{e}");
}

/// A word-level `tokenizer.json` over the tiny model's vocabulary.
fn write_tokenizer(dir: &Path, vocab: usize) {
    let words: serde_json::Map<String, serde_json::Value> = (0..vocab).map(|i| (format!("t{i}"), i.into())).collect();
    let t = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": words, "unk_token": "t8"}
    });
    std::fs::write(dir.join("tokenizer.json"), t.to_string()).unwrap();
}

/// A picture with something in it: a gradient, stripes and a block, varied
/// by `i` in size, colours and layout.
fn scene(i: usize) -> Picture {
    let (w, h) = [(84, 56), (56, 84), (112, 84), (70, 70)][i % 4];
    let mut rgb = vec![0u8; w * h * 3];
    let (bx, by) = ((i * 13) % (w / 2), (i * 7) % (h / 2));
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
    Picture { width: w, height: h, rgb }
}

/// The learned fusion gate, trained on the tiny model's own features:
/// it stays open on scenes it never saw and closes on empty pictures it
/// never saw (other sizes, colours and noise), and a closed picture is left
/// out of the prompt while an open one is scaled by the gate.
#[test]
fn fusion_gate_closes_on_empty_pictures_and_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("glm4v");
    copy_dir(&fixture().root.join("glm4v"), &ck);
    let vocab = model("glm4v").config().text.vocab_size as usize;
    write_tokenizer(&ck, vocab);
    let mut chat = Glm4vChat::load(&ck).unwrap();
    let train: Vec<Picture> = (0..16).map(scene).collect();
    let (gate, report) = chat.train_gate(&train, FitOptions::default(), "tiny glm4v").unwrap();
    assert_eq!((report.open_examples, report.closed_examples), (64, 112));
    assert_eq!(report.train_accuracy, 1.0, "{report:?}");

    // New content in the cameras' sizes (a camera's size does not change).
    let unseen_scenes: Vec<Picture> = (16..28).map(scene).collect();
    let mut unseen_empty = Vec::new();
    for (i, like) in [(84, 56), (56, 84), (112, 84), (70, 70)].into_iter().enumerate() {
        let like = Picture { width: like.0, height: like.1, rgb: vec![(30 + 50 * i) as u8; like.0 * like.1 * 3] };
        unseen_empty.extend(empty_pictures(&like, 100 + i as u64));
    }
    // A dark blue wall and a dim grey one: solid colours not in training.
    for c in [[10u8, 20, 90], [60, 60, 60]] {
        unseen_empty.push(Picture {
            width: 84,
            height: 56,
            rgb: c.iter().copied().cycle().take(84 * 56 * 3).collect(),
        });
    }
    chat.set_gate(Some(gate)).unwrap();
    for (i, p) in unseen_scenes.iter().enumerate() {
        let a = chat.ask(&p.rgb, p.width, p.height, "t1 t2", 2).unwrap();
        let g = a.image_gate.unwrap();
        assert!(a.image_used && a.image_tokens > 0 && g >= 0.5, "unseen scene {i}: gate {g}");
    }
    let text_only = chat.ask(&[0u8; 56 * 56 * 3], 56, 56, "t1 t2", 2).unwrap();
    for (i, p) in unseen_empty.iter().enumerate() {
        let a = chat.ask(&p.rgb, p.width, p.height, "t1 t2", 2).unwrap();
        let g = a.image_gate.unwrap();
        assert!(!a.image_used && a.image_tokens == 0 && g < 0.5, "unseen empty picture {i}: gate {g}");
        // Left out: the same text-only prompt and answer whatever the picture.
        assert_eq!((a.prompt_tokens, &a.tokens), (text_only.prompt_tokens, &text_only.tokens));
    }

    // Open: the features are the tower's scaled by g (same tokens as asking
    // the model with the scaled features by hand).
    let p = &unseen_scenes[0];
    let a = chat.ask(&p.rgb, p.width, p.height, "t1 t2", 3).unwrap();
    let g = a.image_gate.unwrap();
    let (pv, grids) =
        preprocess(&[RgbImage { width: p.width, height: p.height, data: &p.rgb }], &ImageProcessorConfig::default())
            .unwrap();
    let mut m = model("glm4v");
    let f = m.image_features(Some(&pv), &grids).unwrap().unwrap() * g;
    let mut ids = vec![];
    ids.extend(m.image_placeholder(grids[0]));
    ids.extend([1i64, 2]);
    let by_hand = m.generate_greedy_features(&ids, Some(&f), &grids, 3, &[]).unwrap();
    assert_eq!(a.tokens, by_hand);
    assert!(
        chat.set_gate(Some(FusionGate::fit(&[vec![1.0; 3]], &[vec![0.0; 3]], FitOptions::default(), "x").unwrap()))
            .is_err()
    );
}
