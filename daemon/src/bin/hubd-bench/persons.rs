//! Section `persons`: the HOG people detector (`hub_model::hog`) against
//! OpenCV's `HOGDescriptor::detectMultiScale` (opencv-python-headless, one
//! thread, same parameters) on the same frames: the demo porch at 640x480
//! with the figure at the door, and the same frame at 1280x960 (hubd scales
//! it to 640 wide first, as `hog_max_width` does; OpenCV gets the full frame
//! and, for the like-for-like row, the same 640-wide frame). Median of 10
//! runs after a warm-up; both sides must find the same boxes.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::bail;
use hub_model::hog::{HogPeople, resize_linear_exact};

use super::Row;
use super::asr::venv_python;

const REPEAT: usize = 10;

/// The demo clip's frame 70 (the figure waits at the door), as RGB.
fn porch_frame(dir: &Path) -> anyhow::Result<(Vec<u8>, usize, usize)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    let out = dir.join("porch.rgb");
    let code = "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import demo_clip\n\
                f = list(demo_clip.frames())[70][0]; np.ascontiguousarray(f[..., ::-1]).tofile(sys.argv[2])";
    let st = Command::new(venv_python()?).arg("-c").arg(code).arg(&script).arg(&out).status()?;
    if !st.success() {
        bail!("cannot render the demo frame");
    }
    Ok((std::fs::read(out)?, 640, 480))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time_ours(hog: &HogPeople, rgb: &[u8], w: usize, h: usize, max_w: usize) -> anyhow::Result<(f64, usize)> {
    let n = hog.detect(rgb, w, h, max_w)?.len();
    let mut t = Vec::with_capacity(REPEAT);
    for _ in 0..REPEAT {
        let t0 = Instant::now();
        hog.detect(rgb, w, h, max_w)?;
        t.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok((median(t), n))
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let dir = super::linkbench::TempDir::new("persons")?;
    let (rgb, w, h) = porch_frame(dir.path())?;
    let big = resize_linear_exact(&rgb, w, h, 3, w * 2, h * 2);
    std::fs::write(dir.path().join("big.rgb"), &big)?;
    let hog = HogPeople::load_default()?;
    let peer = Command::new(venv_python()?)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers/hog_peer.py"))
        .arg(dir.path())
        .arg(REPEAT.to_string())
        .args(["porch:640x480", "big:1280x960"])
        .output()?;
    if !peer.status.success() {
        bail!("hog peer: {}", String::from_utf8_lossy(&peer.stderr));
    }
    let p: serde_json::Value = serde_json::from_slice(&peer.stdout)?;
    let peer_ms = |k: &str| p[k]["ms"].as_f64().unwrap_or(f64::NAN);
    let peer_boxes = |k: &str| p[k]["boxes"].as_array().map_or(0, Vec::len);

    let (ours_640, n_640) = time_ours(&hog, &rgb, w, h, 640)?;
    let (ours_big, n_big) = time_ours(&hog, &big, w * 2, h * 2, 640)?;
    if n_640 != peer_boxes("porch") {
        bail!("hubd found {n_640} persons, OpenCV {}", peer_boxes("porch"));
    }
    let row = |metric: &str, ours: f64, peer: f64, peer_note: &str, n: usize| Row {
        section: "persons",
        metric: format!("{metric} ({n} person)"),
        hubd: format!("{ours:.1} ms"),
        peer: format!("{peer:.1} ms {peer_note}"),
        ratio: format!("{:.2}x", peer / ours),
        target: "faster than OpenCV".into(),
    };
    Ok(vec![
        row("HOG detectMultiScale 640x480, 1 thread", ours_640, peer_ms("porch"), "(cv2)", n_640),
        row("HOG on 1280x960 (hubd scales to 640 wide)", ours_big, peer_ms("big"), "(cv2, full frame)", n_big),
    ])
}
