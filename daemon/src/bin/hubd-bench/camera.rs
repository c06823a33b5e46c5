//! Section `camera`, peers in the same run (`scripts/peers/camera_peer.py`,
//! the project's `.venv`):
//! - motion pipeline frames/s on one core (this thread pinned to CPU 0, the
//!   peer under `taskset -c 0` with `cv2.setNumThreads(1)`), 640x480 and
//!   1920x1080, the same 16 frames (scikit-image's coffee scene, the
//!   astronaut's head moving, sensor noise) and the same steps: from RGB
//!   (grey + area down-scale to height 100 + background, difference,
//!   threshold, dilation, regions; hub_kernels against cv2), and from the
//!   JPEGs (hubd's reduced-scale libjpeg-turbo grey decode against
//!   `cv2.imdecode(IMREAD_REDUCED_GRAYSCALE_8)`, libjpeg-turbo's 1/8 IDCT).
//!   Each side runs twice, alternating; the better run counts. Goal: >= 2x.
//! - MTCNN latency per picture, one thread each: hub_model's MTCNN against
//!   `facenet_pytorch.MTCNN.detect` (same weights, same pictures).
//! - CPU share of a release `hubd` with two 1080p MJPEG cameras at 5 fps
//!   ([`super::camera_cpu`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hub_kernels::motion::{MotionDetector, MotionParams, downscale_grey};
use hubd::camera::decode::{decode_grey, motion_size};

use super::Row;
use super::linkbench::TempDir;

const SECTION: &str = "camera";
const FRAMES: usize = 16;
/// Frigate's (and hubd's) motion defaults.
const THRESHOLD: u8 = 30;
const ALPHA: f32 = 0.02;
const MIN_AREA: u32 = 10;
const MOTION_HEIGHT: u32 = 100;
const SECONDS: f64 = 3.0;
const MTCNN_REPEATS: usize = 10;

pub struct Peer {
    pub python: PathBuf,
    pub script: PathBuf,
}

impl Peer {
    pub fn find() -> anyhow::Result<Peer> {
        let sp = hub_model::weights::site_packages().context("no .venv site-packages (run scripts/setup)")?;
        let python = sp.ancestors().nth(3).map(|v| v.join("bin/python")).context("venv python")?;
        let cwd = std::env::current_dir()?;
        let root = cwd
            .ancestors()
            .find(|d| d.join("scripts/peers/camera_peer.py").exists())
            .map(Path::to_path_buf)
            .or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf))
            .context("repository root")?;
        Ok(Peer { python, script: root.join("scripts/peers/camera_peer.py") })
    }

    /// Run the peer (under `taskset -c 0` when `pinned`) and return its stdout.
    pub fn run(&self, pinned: bool, args: &[String]) -> anyhow::Result<String> {
        let mut c = if pinned {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(&self.python);
            c
        } else {
            Command::new(&self.python)
        };
        let o = c
            .arg(&self.script)
            .args(args)
            .env("HF_HUB_OFFLINE", "1")
            .env("OMP_NUM_THREADS", "1")
            .output()
            .context("run camera_peer.py")?;
        if !o.status.success() {
            bail!("camera_peer.py {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }
}

/// Pin the calling thread to CPU 0.
fn pin_cpu0() -> anyhow::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside
    // it; sched_setaffinity reads `size_of` bytes of it for this thread (0).
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        bail!("sched_setaffinity: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

fn params() -> MotionParams {
    MotionParams { threshold: THRESHOLD, alpha: ALPHA, min_area: MIN_AREA }
}

/// Frames/s of `step` over `inputs` on CPU 0 (whole passes until `SECONDS`).
fn timed<T: Sync>(
    inputs: &[T],
    mut step: impl FnMut(&T) -> anyhow::Result<usize> + Send,
) -> anyhow::Result<(f64, usize)> {
    std::thread::scope(|s| {
        s.spawn(|| {
            pin_cpu0()?;
            for x in inputs.iter().take(2) {
                step(x)?;
            }
            let (mut done, mut regions) = (0usize, 0usize);
            let t0 = Instant::now();
            loop {
                for x in inputs {
                    regions += step(x)?;
                }
                done += inputs.len();
                if t0.elapsed().as_secs_f64() >= SECONDS {
                    break;
                }
            }
            Ok((done as f64 / t0.elapsed().as_secs_f64(), regions))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("bench thread panicked"))?
    })
}

fn fps_of(json: &str) -> anyhow::Result<f64> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).context("peer output")?;
    v["fps"].as_f64().context("peer fps")
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}x", a / b)
}

fn motion_rows(peer: &Peer, dir: &Path, w: usize, h: usize) -> anyhow::Result<Vec<Row>> {
    let raw = std::fs::read(dir.join(format!("frames_{w}x{h}.rgb")))?;
    let frames: Vec<&[u8]> = raw.chunks_exact(w * h * 3).collect();
    let jpegs: Vec<Vec<u8>> =
        (0..FRAMES).map(|i| std::fs::read(dir.join(format!("frame_{w}x{h}_{i}.jpg")))).collect::<Result<_, _>>()?;
    let kb = jpegs.iter().map(Vec::len).sum::<usize>() / jpegs.len() / 1024;
    let (dw, dh) = motion_size(w as u32, h as u32, MOTION_HEIGHT);
    let args = |kind: &str| -> Vec<String> {
        vec![
            kind.to_string(),
            dir.display().to_string(),
            w.to_string(),
            h.to_string(),
            SECONDS.to_string(),
            THRESHOLD.to_string(),
            ALPHA.to_string(),
        ]
    };
    let (mut ours_raw, mut cv_raw, mut ours_jpeg, mut cv_jpeg) = (0f64, 0f64, 0f64, 0f64);
    for _ in 0..2 {
        cv_raw = cv_raw.max(fps_of(&peer.run(true, &args("motion"))?)?);
        let mut det = MotionDetector::new(dw, dh, params(), None)?;
        let (fps, _) = timed(&frames, |f| {
            let g = downscale_grey(f, w, h, 3, dw, dh)?;
            Ok(det.detect(&g)?.len())
        })?;
        ours_raw = ours_raw.max(fps);
        cv_jpeg = cv_jpeg.max(fps_of(&peer.run(true, &args("jpeg"))?)?);
        let mut det = MotionDetector::new(dw, dh, params(), None)?;
        let (fps, _) = timed(&jpegs, |j| {
            let g = decode_grey(j, MOTION_HEIGHT)?;
            Ok(det.detect(&g.pixels)?.len())
        })?;
        ours_jpeg = ours_jpeg.max(fps);
    }
    let goal = |a: f64, b: f64| format!(">= 2x: {}", if a >= 2.0 * b { "met" } else { "MISSED" });
    Ok(vec![
        Row {
            section: SECTION,
            metric: format!(
                "motion frames/s, one core, {w}x{h} RGB -> {dw}x{dh} (grey, area down-scale, background, threshold, dilate, regions)"
            ),
            hubd: format!("{ours_raw:.0}/s"),
            peer: format!("OpenCV 4.13 (cv2, 1 thread): {cv_raw:.0}/s"),
            ratio: ratio(ours_raw, cv_raw),
            target: goal(ours_raw, cv_raw),
        },
        Row {
            section: SECTION,
            metric: format!(
                "motion frames/s, one core, {w}x{h} JPEG ({kb} KB, q85) -> {dw}x{dh}, reduced-scale decode + the same steps"
            ),
            hubd: format!("{ours_jpeg:.0}/s (libjpeg-turbo, scaled IDCT, grey)"),
            peer: format!("cv2.imdecode(IMREAD_REDUCED_GRAYSCALE_8) (libjpeg-turbo): {cv_jpeg:.0}/s"),
            ratio: ratio(ours_jpeg, cv_jpeg),
            target: "-".into(),
        },
    ])
}

fn mtcnn_rows(peer: &Peer, dir: &Path) -> anyhow::Result<Vec<Row>> {
    let out = peer.run(true, &["mtcnn".to_string(), dir.display().to_string(), MTCNN_REPEATS.to_string()])?;
    let lines: Vec<serde_json::Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let weights = lines.iter().find_map(|v| v["weights"].as_str()).context("peer weights dir")?;
    let m = hub_model::mtcnn::Mtcnn::load(Path::new(weights))?;
    tch::set_num_threads(1);
    let mut rows = Vec::new();
    for v in lines.iter().filter(|v| v["name"].is_string()) {
        let name = v["name"].as_str().unwrap_or_default();
        let (w, h) = (v["w"].as_u64().unwrap_or(0) as usize, v["h"].as_u64().unwrap_or(0) as usize);
        let rgb = std::fs::read(dir.join(format!("mtcnn_{name}.rgb")))?;
        let faces = m.detect(&rgb, w, h)?.len();
        let t0 = Instant::now();
        for _ in 0..MTCNN_REPEATS {
            m.detect(&rgb, w, h)?;
        }
        let ms = t0.elapsed().as_secs_f64() * 1000.0 / MTCNN_REPEATS as f64;
        let peer_ms = v["ms"].as_f64().unwrap_or(f64::NAN);
        rows.push(Row {
            section: SECTION,
            metric: format!("MTCNN latency per picture, {name}, 1 thread (faces: hubd {faces}, peer {})", v["faces"]),
            hubd: format!("{ms:.1} ms"),
            peer: format!("facenet-pytorch MTCNN.detect: {peer_ms:.1} ms"),
            ratio: format!("{:.2}x faster", peer_ms / ms),
            target: "-".into(),
        });
    }
    Ok(rows)
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let peer = Peer::find()?;
    let dir = TempDir::new("camera")?;
    let d = dir.path().display().to_string();
    for (w, h) in [(640usize, 480usize), (1920, 1080)] {
        peer.run(false, &["frames".into(), d.clone(), w.to_string(), h.to_string(), FRAMES.to_string()])?;
    }
    let mut rows = Vec::new();
    for (w, h) in [(640usize, 480usize), (1920, 1080)] {
        rows.extend(motion_rows(&peer, dir.path(), w, h)?);
    }
    rows.extend(mtcnn_rows(&peer, dir.path())?);
    let jpegs: Vec<Vec<u8>> = (0..FRAMES)
        .map(|i| std::fs::read(dir.path().join(format!("frame_1920x1080_{i}.jpg"))))
        .collect::<Result<_, _>>()?;
    rows.extend(super::camera_cpu::run(dir.path(), jpegs, Duration::from_secs(20))?);
    Ok(rows)
}
