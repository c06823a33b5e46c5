//! Parity with OpenCV (opencv-python-headless in the venv) on the same
//! images: the pyramid resize bit for bit, window descriptors, and
//! `detectMultiScale` boxes and weights.

use std::path::{Path, PathBuf};

use super::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn hog() -> HogPeople {
    HogPeople::load_default().expect("scripts/setup derives hog/people.safetensors")
}

/// Images the reference script wrote (`<name>.rgb`) and its JSON results.
struct Reference {
    dir: tempfile::TempDir,
    json: serde_json::Value,
}

impl Reference {
    fn image(&self, name: &str) -> (Vec<u8>, usize, usize) {
        let meta = &self.json["images"][name];
        let (w, h) = (meta["w"].as_u64().unwrap() as usize, meta["h"].as_u64().unwrap() as usize);
        (std::fs::read(self.dir.path().join(format!("{name}.rgb"))).unwrap(), w, h)
    }
}

/// Runs OpenCV on scikit-image's astronaut and rocket, the demo clip's porch
/// with and without the figure, and a crowd of three figures.
fn reference() -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ref.py");
    std::fs::write(
        &script,
        r#"
import sys, json, os
import numpy as np, cv2
from skimage import data
sys.path.insert(0, sys.argv[2])
import demo_clip
out = sys.argv[1]
cv2.setNumThreads(1)
hog = cv2.HOGDescriptor()
hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
imgs = {"astronaut": data.astronaut(), "rocket": data.rocket()}
frames = list(demo_clip.frames())
imgs["porch_empty"] = frames[0][0][..., ::-1]
imgs["porch_door"] = frames[70][0][..., ::-1]
crowd = demo_clip.background()
for cx, h in [(120, 150), (300, 200), (520, 130)]:
    demo_clip.draw_person(crowd, cx, 450, h, 8)
imgs["crowd"] = crowd[..., ::-1]
res = {"images": {}, "resize": {}, "descriptor": {}}
for name, rgb in imgs.items():
    rgb = np.ascontiguousarray(rgb)
    rgb.tofile(os.path.join(out, name + ".rgb"))
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    r, w = hog.detectMultiScale(bgr, hitThreshold=0, winStride=(8, 8), padding=(0, 0), scale=1.05, groupThreshold=2)
    res["images"][name] = {"w": rgb.shape[1], "h": rgb.shape[0],
                           "boxes": [list(map(int, b)) for b in r], "weights": np.ravel(w).tolist()}
src = imgs["astronaut"]
for dw, dh in [(487, 488), (301, 290), (256, 256), (64, 128), (600, 530)]:
    small = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR_EXACT)
    small.tofile(os.path.join(out, f"resize_{dw}x{dh}.rgb"))
    res["resize"][f"{dw}x{dh}"] = [dw, dh]
for name, (x, y) in [("astronaut", (200, 150)), ("porch_door", (440, 270)), ("crowd", (270, 240))]:
    win = np.ascontiguousarray(imgs[name][y:y + 128, x:x + 64])
    win.tofile(os.path.join(out, f"win_{name}.rgb"))
    d = hog.compute(np.ascontiguousarray(win[..., ::-1]))
    res["descriptor"][name] = np.ravel(d).tolist()
print(json.dumps(res))
"#,
    )
    .unwrap();
    let py = repo().join(".venv/bin/python");
    let o = std::process::Command::new(py)
        .arg(&script)
        .arg(dir.path())
        .arg(repo().join("scripts"))
        .output()
        .expect("venv python");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = serde_json::from_slice(&o.stdout).unwrap();
    Reference { dir, json }
}

#[test]
fn matches_opencv_resize_descriptors_and_detections() {
    let r = reference();
    let hog = hog();

    // The pyramid's resize is bit-exact.
    let (src, sw, sh) = r.image("astronaut");
    for (key, v) in r.json["resize"].as_object().unwrap() {
        let (dw, dh) = (v[0].as_u64().unwrap() as usize, v[1].as_u64().unwrap() as usize);
        let want = std::fs::read(r.dir.path().join(format!("resize_{key}.rgb"))).unwrap();
        let got = resize_linear_exact(&src, sw, sh, 3, dw, dh);
        let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "resize to {key}: {diff} bytes differ");
    }

    // Window descriptors agree (the summation orders are OpenCV's).
    for (name, want) in r.json["descriptor"].as_object().unwrap() {
        let win = std::fs::read(r.dir.path().join(format!("win_{name}.rgb"))).unwrap();
        let got = hog.descriptor(&win).unwrap();
        let want: Vec<f32> = want.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(got.len(), want.len());
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{name}: descriptor differs by {worst}");
    }

    // detectMultiScale: the same boxes (within 2 px) and weights (within 0.01).
    let mut found = 0;
    for (name, want) in r.json["images"].as_object().unwrap() {
        let (rgb, w, h) = r.image(name);
        let got = hog.detect_weighted(&rgb, w, h).unwrap();
        let boxes = want["boxes"].as_array().unwrap();
        let weights = want["weights"].as_array().unwrap();
        assert_eq!(got.len(), boxes.len(), "{name}: ours {got:?} vs OpenCV {boxes:?}");
        for (b, wt) in boxes.iter().zip(weights) {
            let b: Vec<i32> = b.as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i32).collect();
            let hit = got.iter().min_by_key(|g| (g.rect.x - b[0]).abs() + (g.rect.y - b[1]).abs()).unwrap();
            let r = hit.rect;
            let d = [(r.x - b[0]).abs(), (r.y - b[1]).abs(), (r.w - b[2]).abs(), (r.h - b[3]).abs()];
            assert!(d.iter().all(|&v| v <= 2), "{name}: {r:?} vs {b:?}");
            assert!((hit.weight - wt.as_f64().unwrap()).abs() < 0.01, "{name}: {} vs {wt}", hit.weight);
            found += 1;
        }
    }
    assert!(found >= 4, "the figures are found ({found} boxes)");
    let crowd = r.json["images"]["crowd"]["boxes"].as_array().unwrap().len();
    assert_eq!(crowd, 3, "OpenCV sees the three figures");
    assert!(r.json["images"]["porch_empty"]["boxes"].as_array().unwrap().is_empty());
}

#[test]
fn detect_scales_wide_frames_and_reports_persons_in_frame_pixels() {
    let r = reference();
    let hog = hog();
    let (rgb, w, h) = r.image("porch_door");
    let direct = hog.detect(&rgb, w, h, 4096).unwrap();
    assert_eq!(direct.len(), 1, "{direct:?}");
    let d = &direct[0];
    assert_eq!(d.label, "person");
    assert!(d.score > 0.7 && d.score < 1.0, "{}", d.score);
    // The figure stands at x 480, feet at y 440 (scripts/demo_clip.py).
    let cx = (d.bbox[0] + d.bbox[2]) / 2.0;
    assert!((cx - 480.0).abs() < 20.0 && (d.bbox[3] - 440.0).abs() < 40.0, "{:?}", d.bbox);
    // Twice the size, scaled back down to 640 wide: the same person, in the big frame's pixels
    // (within the pyramid's 5 % steps).
    let big = resize_linear_exact(&rgb, w, h, 3, w * 2, h * 2);
    let scaled = hog.detect(&big, w * 2, h * 2, 640).unwrap();
    assert_eq!(scaled.len(), 1, "{scaled:?}");
    for k in 0..4 {
        assert!((scaled[0].bbox[k] - 2.0 * d.bbox[k]).abs() <= 12.0, "{:?} vs {:?}", scaled[0].bbox, d.bbox);
    }
    assert!(matches!(hog.detect(&rgb[1..], w, h, 640), Err(HogError::Frame { .. })));
}

#[test]
fn coefficients_are_checked() {
    assert!(HogPeople::from_coefficients(&[0.0; 10]).is_err());
    let mut c = vec![0.0; DESCRIPTOR + 1];
    assert!(HogPeople::from_coefficients(&c).is_ok());
    c[5] = f32::NAN;
    assert!(HogPeople::from_coefficients(&c).is_err());
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    assert!(matches!(HogPeople::load(&bad), Err(HogError::Format { .. })));
    assert!(matches!(HogPeople::load(&dir.path().join("none")), Err(HogError::Read { .. })));
}
