//! Motion parity with OpenCV: `motion_parity.py` (the project's `.venv`
//! python, cv2 4.13) runs the steps of `hub_kernels::motion` with
//! `cv2.cvtColor`, `cv2.resize(INTER_AREA)`, `cv2.accumulateWeighted`,
//! `cv2.convertScaleAbs` + `cv2.absdiff`, `cv2.threshold`, `cv2.dilate` and
//! `cv2.connectedComponentsWithStats` on 32 frames made from scikit-image's
//! pictures; ours must give the same boxes.
//!
//! - Whole-number ratios (640x480 to 160x120 and to 80x60): the grey frames
//!   are byte-identical and the boxes (and pixel counts) identical, fast path
//!   and reference alike.
//! - 640x480 to 133x100 (ratio 4.81): our down-scale gives each source pixel
//!   whole to one output pixel where INTER_AREA splits the pixels on a block
//!   border by their overlap, so grey values differ by a few levels along
//!   the borders, and pixels near the threshold flip. The detection steps are
//!   checked exactly on cv2's own grey frames; on our own grey frames every
//!   cv2 region of 100+ pixels must be found (IoU >= 0.5), each box edge
//!   within 4 px and at least 80 % of them within 2 px (measured: 22 of 27
//!   within 2 px, worst 4 px; small ghost regions of the background's tail
//!   come and go with the flipped pixels).
//! - `findContours(RETR_EXTERNAL)` + `boundingRect` (Frigate's call) gives
//!   the same boxes as the 8-connected components, less the regions nested in
//!   another's hole: each contour box is one of ours.
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use hub_kernels::motion::{MotionBox, MotionDetector, MotionParams, downscale_grey, downscale_grey_ref};

const W: usize = 640;
const H: usize = 480;
const N: usize = 32;
const THRESHOLD: u8 = 25;
const ALPHA: f32 = 0.05;
const MIN_AREA: u32 = 9;

/// Per scale name (`160x120`) and frame: boxes `[x0, y0, x1, y1, pixels]`.
type Regions = BTreeMap<(String, usize), Vec<[u32; 5]>>;

struct Reference {
    frames: Vec<u8>,
    cc: Regions,
    contours: Regions,
    dir: tempfile::TempDir,
}

fn reference() -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("../.venv/bin/python");
    let o = Command::new(&python)
        .arg(root.join("tests/motion_parity.py"))
        .arg(dir.path())
        .args([THRESHOLD.to_string(), ALPHA.to_string()])
        .output()
        .expect("run .venv/bin/python (run scripts/setup)");
    assert!(o.status.success(), "motion_parity.py: {}", String::from_utf8_lossy(&o.stderr));
    let (mut cc, mut contours) = (Regions::new(), Regions::new());
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let n: Vec<u32> = f[2..].iter().map(|v| v.parse().unwrap()).collect();
        let key = (f[1].to_string(), n[0] as usize);
        let b = [n[1], n[2], n[3], n[4], n.get(5).copied().unwrap_or(0)];
        match f[0] {
            "cc" => cc.entry(key).or_default().push(b),
            "contour" => contours.entry(key).or_default().push(b),
            other => panic!("unknown line kind {other}"),
        }
    }
    let frames = std::fs::read(dir.path().join("frames.rgb")).unwrap();
    assert_eq!(frames.len(), N * W * H * 3);
    Reference { frames, cc, contours, dir }
}

fn as_regions(boxes: &[MotionBox]) -> Vec<[u32; 5]> {
    let mut v: Vec<[u32; 5]> = boxes.iter().map(|b| [b.x0, b.y0, b.x1, b.y1, b.area]).collect();
    v.sort();
    v
}

fn sorted(v: Option<&Vec<[u32; 5]>>) -> Vec<[u32; 5]> {
    let mut v = v.cloned().unwrap_or_default();
    v.sort();
    v
}

fn params() -> MotionParams {
    MotionParams { threshold: THRESHOLD, alpha: ALPHA, min_area: MIN_AREA }
}

/// Our regions per frame on `greys` (fast path, checked against the reference).
fn detect_all(greys: &[Vec<u8>], w: usize, h: usize) -> Vec<Vec<[u32; 5]>> {
    let mut fast = MotionDetector::new(w, h, params(), None).unwrap();
    let mut slow = MotionDetector::new(w, h, params(), None).unwrap();
    greys
        .iter()
        .map(|g| {
            let a = fast.detect(g).unwrap();
            assert_eq!(a, slow.detect_ref(g).unwrap());
            as_regions(&a)
        })
        .collect()
}

/// Intersection over union of two inclusive boxes `[x0, y0, x1, y1, ..]`.
fn iou(a: &[u32; 5], b: &[u32; 5]) -> f64 {
    let w = (a[2].min(b[2]) + 1).saturating_sub(a[0].max(b[0]));
    let h = (a[3].min(b[3]) + 1).saturating_sub(a[1].max(b[1]));
    let area = |x: &[u32; 5]| f64::from((x[2] - x[0] + 1) * (x[3] - x[1] + 1));
    let inter = f64::from(w * h);
    inter / (area(a) + area(b) - inter)
}

#[test]
fn motion_boxes_match_opencv() {
    let r = reference();
    let frame = |i: usize| &r.frames[i * W * H * 3..][..W * H * 3];
    let mut compared = 0;
    for (dw, dh) in [(160usize, 120usize), (80, 60), (133, 100)] {
        let name = format!("{dw}x{dh}");
        let cv_grey = std::fs::read(r.dir.path().join(format!("grey_{name}.raw"))).unwrap();
        let cv_greys: Vec<Vec<u8>> = cv_grey.chunks_exact(dw * dh).map(<[u8]>::to_vec).collect();
        let ours: Vec<Vec<u8>> = (0..N)
            .map(|i| {
                let g = downscale_grey(frame(i), W, H, 3, dw, dh).unwrap();
                assert_eq!(g, downscale_grey_ref(frame(i), W, H, 3, dw, dh).unwrap());
                g
            })
            .collect();
        let whole = W.is_multiple_of(dw) && H.is_multiple_of(dh);
        if whole {
            for (i, (a, b)) in ours.iter().zip(&cv_greys).enumerate() {
                let diff: Vec<(usize, u8, u8)> =
                    a.iter().zip(b).enumerate().filter(|(_, (x, y))| x != y).map(|(k, (x, y))| (k, *x, *y)).collect();
                assert!(
                    diff.is_empty(),
                    "{name} frame {i}: {} pixels differ from cv2 INTER_AREA: {:?}",
                    diff.len(),
                    &diff[..diff.len().min(8)]
                );
            }
        }
        // Detection steps on cv2's grey frames: exactly cv2's regions.
        let on_cv = detect_all(&cv_greys, dw, dh);
        let on_ours = detect_all(&ours, dw, dh);
        let mut motion_frames = 0;
        let (mut worst_edge, mut within_2, mut matched) = (0, 0, 0);
        for (i, (mine, full)) in on_cv.iter().zip(&on_ours).enumerate() {
            let key = (name.clone(), i);
            let all = sorted(r.cc.get(&key));
            let want: Vec<[u32; 5]> = all.iter().filter(|b| b[4] >= MIN_AREA).copied().collect();
            assert_eq!(*mine, want, "{name} frame {i}: regions on cv2's grey frames");
            motion_frames += usize::from(!want.is_empty());
            compared += want.len();
            // Frigate's findContours boxes are among the components' boxes.
            for c in r.contours.get(&key).into_iter().flatten() {
                assert!(all.iter().any(|b| b[..4] == c[..4]), "{name} frame {i}: contour box {c:?} not a component");
            }
            if whole {
                assert_eq!(*full, want, "{name} frame {i}: regions on our grey frames");
            } else {
                for b in want.iter().filter(|b| b[4] >= 100) {
                    let best = full.iter().map(|m| (iou(m, b), m)).max_by(|x, y| x.0.total_cmp(&y.0));
                    let Some((overlap, m)) = best else { panic!("{name} frame {i}: cv2 region {b:?} missing") };
                    assert!(overlap >= 0.5, "{name} frame {i}: cv2 region {b:?}, ours {full:?}");
                    let edge = (0..4).map(|k| m[k].abs_diff(b[k])).max().unwrap_or(0);
                    worst_edge = worst_edge.max(edge);
                    within_2 += usize::from(edge <= 2);
                    matched += 1;
                }
            }
        }
        if !whole {
            eprintln!(
                "{name}: {matched} regions of 100+ px matched, {within_2} with every edge within 2 px, worst edge {worst_edge} px"
            );
            assert!(matched >= 20, "{name}: {matched} regions compared");
            assert!(worst_edge <= 4 && within_2 * 5 >= matched * 4, "{name}: {within_2} of {matched} within 2 px");
        }
        // Frames 1-3 are noise only; the moving head and the lighting jump move.
        assert!(motion_frames >= 20, "{name}: only {motion_frames} frames with motion");
        assert!((1..4).all(|i| on_cv[i].is_empty()), "{name}: noise counted as motion");
    }
    assert!(compared > 100, "{compared} regions compared");
}
