//! Frigate compatibility end to end, as a Home Assistant user sees it: a
//! Python consumer (paho-mqtt, `frigate_consumer.py`) reads `hubd/events` the
//! way Frigate blueprints do while the real daemon watches a scripted MJPEG
//! camera with the test's TorchScript detector. On the way:
//! - motion only inside a motion mask never runs the detector (the vision
//!   gate's `skip` counter grows on `/metrics`, `run` does not, no event);
//! - a person walks into the porch zone and stands still while something
//!   else keeps moving: the event becomes `stationary` and sends no more
//!   updates; when the person leaves, the event ends.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::camera::{Render, camera_json, events_of, part, start_camera_with, write_detector};
use crate::common::*;

/// Scenes of the scripted camera (the `mode`).
const EMPTY: u8 = 0;
/// 1..=9: a bright box at x = 10 * mode in the masked left half.
const MASKED_MAX: u8 = 9;
/// 100 + k (k 0..=9): the person at x = 170 + 10 k (right half).
const WALK: u8 = 100;
/// The person stands at x = 260 while a grey patch (no person) flickers.
const STAND: u8 = 200;
/// The porch is empty, the patch still flickers.
const GONE: u8 = 201;

/// 320x240 scene: background 70, a bright (250, 240, 200) person or box, a
/// grey (150) patch outside the mask on even frames of the flickering scenes.
fn scene(mode: u8, i: usize) -> Vec<u8> {
    let (w, h) = (320usize, 240usize);
    let mut rgb = vec![70u8; w * h * 3];
    let mut fill = |x0: usize, y0: usize, rw: usize, rh: usize, c: [u8; 3]| {
        for y in y0..(y0 + rh).min(h) {
            for x in x0..(x0 + rw).min(w) {
                rgb[(y * w + x) * 3..][..3].copy_from_slice(&c);
            }
        }
    };
    let bright = [250, 240, 200];
    match mode {
        1..=MASKED_MAX => fill(usize::from(mode) * 10, 20, 40, 40, bright),
        WALK..=109 => fill(170 + usize::from(mode - WALK) * 10, 120, 40, 100, bright),
        STAND => fill(260, 120, 40, 100, bright),
        _ => {}
    }
    if matches!(mode, STAND | GONE) && i.is_multiple_of(2) {
        fill(200, 10, 30, 30, [150, 150, 150]);
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90).encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

fn gate(web: u16, decision: &str) -> u64 {
    let (_, metrics) = http(web, "GET", "/metrics", None).unwrap();
    let prefix = format!("hubd_vision_gate_frames_total{{decision=\"{decision}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(prefix.as_str())).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn frames(web: u16) -> u64 {
    camera_json(web, "door")["frames"].as_u64().unwrap_or(0)
}

#[test]
fn frigate_consumer_sees_a_person_enter_stand_still_and_leave_masked_motion_skips_the_detector() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let web = free_port();
    let model = write_detector(dir.path());
    let render: Render = Arc::new(|mode, i| Some(part(&scene(mode, i), "image/jpeg", "frame")));
    let cam = start_camera_with(&rt, render);
    cam.mode.store(EMPTY, Ordering::SeqCst);
    let cfg = dir.path().join("hub.toml");
    let text = config_text(broker.port, web, 3000)
        + &format!(
            r#"
[camera]
enabled = true
snapshot_dir = "snaps"

[camera.detector]
torchscript = "{}"
labels = ["person"]
input_width = 160
input_height = 120

[[camera.source]]
id = "door"
url = "mjpeg+http://127.0.0.1:{}/cam.mjpg"
fps = 10
[camera.source.motion]
frame_height = 60
mqtt_off_delay = 1
mask = ["0,0,0.5,0,0.5,1,0,1"]
[camera.source.zones.porch]
coordinates = "0.5,0.5,1,0.5,1,1,0.5,1"
inertia = 2
"#,
            model.display(),
            cam.port
        );
    std::fs::write(&cfg, text).unwrap();
    let obs = Observer::start(&rt, broker.port, &["hubd/#"]);
    let mut daemon = Daemon::start(&cfg, web, None);
    let within = Duration::from_secs(20);
    assert!(wait_until(within, || frames(web) >= 10));

    // The consumer subscribes before anything happens.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/frigate_consumer.py");
    let mut consumer = Command::new(crate::voice::venv().join("bin/python"))
        .arg(&script)
        .args(["127.0.0.1", &broker.port.to_string(), "hubd", "door", "person", "porch", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv's python");
    let mut lines = BufReader::new(consumer.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("ready"), "the consumer did not subscribe");

    // 1. Motion only inside the motion mask: analysed, but the detector never runs.
    let (run0, skip0, frames0) = (gate(web, "run"), gate(web, "skip"), frames(web));
    for round in 0..3 {
        for k in 1..=MASKED_MAX {
            cam.mode.store(if round % 2 == 0 { k } else { MASKED_MAX + 1 - k }, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(120));
        }
    }
    cam.mode.store(EMPTY, Ordering::SeqCst);
    assert!(wait_until(within, || frames(web) >= frames0 + 30));
    assert_eq!(gate(web, "run"), run0, "masked motion ran the detector");
    assert!(gate(web, "skip") >= skip0 + 30);
    assert!(obs.on("hubd/door/motion").iter().all(|m| m == "OFF"), "{:?}", obs.on("hubd/door/motion"));
    assert!(events_of(&obs).is_empty(), "masked motion made events: {:?}", events_of(&obs));
    assert_eq!(camera_json(web, "door")["motion_frames"], 0);

    // 2. A person walks into the porch (outside the mask): the gate runs the detector.
    for k in 0..=9 {
        cam.mode.store(WALK + k, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(wait_until(within, || events_of(&obs).iter().any(|e| e["type"] == "new")));
    assert!(gate(web, "run") > run0);

    // 3. The person stands still while a patch flickers nearby, so the
    // detector keeps running on motion: the event turns stationary, then stays quiet.
    cam.mode.store(STAND, Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(60), || events_of(&obs).iter().any(|e| e["after"]["stationary"] == true)),
        "never stationary: {:?}",
        events_of(&obs)
    );
    let (n, run1, frames1) = (events_of(&obs).len(), gate(web, "run"), frames(web));
    assert!(wait_until(within, || frames(web) >= frames1 + 30 && gate(web, "run") >= run1 + 10));
    assert_eq!(events_of(&obs).len(), n, "updates while stationary: {:?}", &events_of(&obs)[n..]);

    // 4. The porch empties: the event ends, and the consumer is done.
    cam.mode.store(GONE, Ordering::SeqCst);
    assert!(wait_until(within, || events_of(&obs).iter().any(|e| e["type"] == "end")));
    let mut exited = None;
    assert!(wait_until(within, || {
        exited = consumer.try_wait().ok().flatten();
        exited.is_some()
    }));
    let summary_line = lines.next().and_then(Result::ok).unwrap_or_default();
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut consumer.stderr.take().unwrap(), &mut stderr);
    let summary = json(&summary_line);
    assert!(exited.is_some_and(|s| s.success()), "consumer failed: {summary_line}\n{stderr}");
    assert_eq!(summary["errors"], serde_json::json!([]));
    // What the consumer saw is what hubd published (and stored).
    let evs = events_of(&obs);
    let types: Vec<&str> = evs.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(summary["types"], serde_json::json!(types), "{summary}");
    assert_eq!(summary["id"], evs[0]["after"]["id"]);
    assert_eq!(summary["entered_zones"], serde_json::json!(["porch"]));
    assert_eq!(summary["has_snapshot"], true);
    assert!(summary["stationary_at"].as_u64().is_some_and(|i| i >= 1), "{summary}");
    let id = summary["id"].as_str().unwrap().to_string();
    assert!(wait_until(within, || {
        let (_, body) = http(web, "GET", "/api/cameras/events?camera=door", None).unwrap();
        json(&body).as_array().is_some_and(|l| l.len() == 1 && l[0]["id"] == id.as_str() && l[0]["stationary"] == true)
    }));
    assert!(daemon.alive());
}
