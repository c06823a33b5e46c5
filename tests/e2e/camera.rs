//! Cameras end to end: a test HTTP server streams multipart MJPEG made from
//! JPEGs the test encodes; the real daemon captures it next to a `file://`
//! replay camera, and a real mosquitto carries Frigate's availability and
//! motion topics. The stream goes still, moves, goes still, sends bad parts
//! (truncated JPEG, non-JPEG part, a 20000x20000 header, wrong boundary) and
//! stalls; the camera
//! reports each and recovers, the other camera and the daemon keep running.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

const STILL: u8 = 0;
const MOVING: u8 = 1;
const BAD: u8 = 2;
const STALL: u8 = 3;

/// 320x240 grey picture with a bright 48-pixel square at (`x`, 100).
fn jpeg(x: usize) -> Vec<u8> {
    picture(Some((x, 100, 48, 48)))
}

/// 320x240 grey picture, with a bright `(x, y, w, h)` rectangle if given.
pub(crate) fn picture(rect: Option<(usize, usize, usize, usize)>) -> Vec<u8> {
    let (w, h) = (320usize, 240usize);
    let mut rgb = vec![70u8; w * h * 3];
    if let Some((rx, ry, rw, rh)) = rect {
        for y in ry..(ry + rh).min(h) {
            for px in rx..(rx + rw).min(w) {
                rgb[(y * w + px) * 3..][..3].copy_from_slice(&[250, 240, 200]);
            }
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85).encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

pub(crate) fn part(body: &[u8], ctype: &str, boundary: &str) -> Vec<u8> {
    let mut v = format!("--{boundary}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    v.extend_from_slice(body);
    v.extend_from_slice(b"\r\n");
    v
}

/// The scripted camera: what it sends follows `mode`; `connections` counts clients.
pub(crate) struct Camera {
    pub(crate) mode: Arc<AtomicU8>,
    pub(crate) connections: Arc<AtomicU64>,
    pub(crate) port: u16,
}

/// What the scripted camera sends for (mode, frame number); `None`: nothing (stalled).
pub(crate) type Render = Arc<dyn Fn(u8, usize) -> Option<Vec<u8>> + Send + Sync>;

/// Still, moving, bad parts or stalled, after `mode`.
fn scripted() -> Render {
    let still = jpeg(20);
    let moving: Vec<Vec<u8>> = (0..8).map(|i| jpeg(20 + i * 30)).collect();
    // The still picture with its frame header claiming 20000x20000.
    let mut huge = still.clone();
    let sof = huge.windows(2).position(|w| w == [0xFF, 0xC0]).expect("baseline JPEG");
    huge[sof + 5..sof + 9].copy_from_slice(&[0x4E, 0x20, 0x4E, 0x20]);
    Arc::new(move |mode, i| match mode {
        STILL => Some(part(&still, "image/jpeg", "frame")),
        MOVING => Some(part(&moving[i % moving.len()], "image/jpeg", "frame")),
        BAD => Some(match i % 4 {
            0 => part(&still[..still.len() / 3], "image/jpeg", "frame"),
            1 => part(b"<html>oops</html>", "text/html", "frame"),
            2 => part(&huge, "image/jpeg", "frame"),
            _ => part(&still, "image/jpeg", "wrong"),
        }),
        _ => None,
    })
}

fn start_camera(rt: &tokio::runtime::Runtime) -> Camera {
    start_camera_with(rt, scripted())
}

pub(crate) fn start_camera_with(rt: &tokio::runtime::Runtime, render: Render) -> Camera {
    let mode = Arc::new(AtomicU8::new(STILL));
    let connections = Arc::new(AtomicU64::new(0));
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (m, c) = (mode.clone(), connections.clone());
    rt.spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            c.fetch_add(1, Ordering::SeqCst);
            let (m, render) = (m.clone(), render.clone());
            tokio::spawn(async move {
                let mut req = [0u8; 2048];
                let _ = s.read(&mut req).await;
                let head = "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n";
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for i in 0usize.. {
                    let Some(data) = render(m.load(Ordering::SeqCst), i) else {
                        // Stalled: the connection stays open, nothing comes.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    if s.write_all(&data).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    });
    Camera { mode, connections, port }
}

/// GET a path and return status and raw body bytes.
pub(crate) fn get_bytes(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, buf[end + 4..].to_vec())
}

pub(crate) fn camera_json(web: u16, id: &str) -> serde_json::Value {
    let (st, body) = http(web, "GET", "/api/cameras", None).unwrap();
    assert_eq!(st, 200, "{body}");
    json(&body).as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap_or_default()
}

#[test]
fn mjpeg_camera_motion_availability_and_bad_input() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let web = free_port();
    let cam = start_camera(&rt);
    let replay = dir.path().join("replay");
    std::fs::create_dir(&replay).unwrap();
    std::fs::write(replay.join("0001.jpg"), jpeg(100)).unwrap();
    let cfg = dir.path().join("hub.toml");
    let text = config_text(broker.port, web, 3000)
        + &format!(
            r#"
[camera]
enabled = true
mqtt_prefix = "hubd"

[[camera.source]]
id = "door"
name = "Front door"
url = "mjpeg+http://127.0.0.1:{}/cam.mjpg"
fps = 10
[camera.source.motion]
frame_height = 60
mqtt_off_delay = 1
mask = ["0,0,1,0,1,0.1,0,0.1"]

[[camera.source]]
id = "yard"
url = "file://{}"
fps = 2
"#,
            cam.port,
            replay.display()
        );
    std::fs::write(&cfg, text).unwrap();
    let obs = Observer::start(&rt, broker.port, &["hubd/#"]);
    let mut daemon = Daemon::start(&cfg, web, None);
    let within = Duration::from_secs(15);

    // Both cameras come up; a still picture is no motion.
    assert!(wait_until(within, || obs.on("hubd/door/available").last().map(String::as_str) == Some("online")));
    assert!(wait_until(within, || obs.on("hubd/yard/available").last().map(String::as_str) == Some("online")));
    assert_eq!(obs.on("hubd/available").last().map(String::as_str), Some("online"));
    assert!(wait_until(within, || camera_json(web, "door")["frames"].as_u64().unwrap_or(0) >= 10));
    assert_eq!(obs.on("hubd/door/motion"), vec!["OFF"], "a still picture made motion");

    // Movement: ON; still again: OFF after the 1 s delay.
    cam.mode.store(MOVING, Ordering::SeqCst);
    assert!(wait_until(within, || obs.on("hubd/door/motion").last().map(String::as_str) == Some("ON")));
    assert!(camera_json(web, "door")["motion"] == true);
    cam.mode.store(STILL, Ordering::SeqCst);
    assert!(wait_until(within, || obs.on("hubd/door/motion").last().map(String::as_str) == Some("OFF")));
    assert_eq!(obs.on("hubd/door/motion"), vec!["OFF", "ON", "OFF"]);
    assert!(obs.on("hubd/yard/motion").iter().all(|m| m == "OFF"));

    // The latest frame is served as the camera sent it.
    let (st, body) = get_bytes(web, "/api/door/latest.jpg");
    assert_eq!(st, 200);
    assert!(body.starts_with(&[0xFF, 0xD8]) && body.ends_with(&[0xFF, 0xD9]), "{} bytes", body.len());
    assert_eq!(get_bytes(web, "/api/nope/latest.jpg").0, 404);
    assert_eq!(get_bytes(web, "/api/..%2Fetc/latest.jpg").0, 404);
    let (_, metrics) = http(web, "GET", "/metrics", None).unwrap();
    let run: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("hubd_vision_gate_frames_total{decision=\"run\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(run >= 1, "{metrics}");

    // Bad parts: each is reported, the camera stays up and recovers.
    let errors_before = camera_json(web, "door")["errors"].as_u64().unwrap();
    let conns_before = cam.connections.load(Ordering::SeqCst);
    cam.mode.store(BAD, Ordering::SeqCst);
    assert!(wait_until(within, || camera_json(web, "door")["errors"].as_u64().unwrap() >= errors_before + 8));
    cam.mode.store(STILL, Ordering::SeqCst);
    let frames = camera_json(web, "door")["frames"].as_u64().unwrap();
    assert!(wait_until(within, || camera_json(web, "door")["frames"].as_u64().unwrap() >= frames + 5));
    let c = camera_json(web, "door");
    assert!(c["available"] == true, "{c}");
    assert_eq!(cam.connections.load(Ordering::SeqCst), conns_before, "bad parts cost the connection");
    let log = daemon.log_text();
    for what in ["bad JPEG", "not a JPEG", "not the announced boundary", "20000x20000, over the limit"] {
        assert!(log.contains(what), "`{what}` not reported:\n{log}");
        // Each report names the frame (the camera's part number).
        assert!(
            log.lines().any(|l| l.contains("camera frame error") && l.contains(what) && l.contains("error=\"frame ")),
            "`{what}` reported without its frame:\n{log}"
        );
    }
    let last = c["last_error"].as_str().unwrap_or_default();
    let n: u64 =
        last.strip_prefix("frame ").and_then(|r| r.split(':').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(n >= 1 && n <= c["received"].as_u64().unwrap_or(0), "{c}");
    // The other camera kept producing frames all along.
    let yard_frames = camera_json(web, "yard")["frames"].as_u64().unwrap_or(0);
    assert!(wait_until(within, || camera_json(web, "yard")["frames"].as_u64().unwrap_or(0) > yard_frames));

    // A stalled stream: offline after the stall limit, then reconnected.
    cam.mode.store(STALL, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(12), || obs.on("hubd/door/available").last().map(String::as_str)
        == Some("offline")));
    assert!(camera_json(web, "door")["last_error"].as_str().unwrap_or("").contains("stalled"));
    cam.mode.store(STILL, Ordering::SeqCst);
    assert!(wait_until(within, || obs.on("hubd/door/available").last().map(String::as_str) == Some("online")));
    assert!(cam.connections.load(Ordering::SeqCst) > conns_before);
    // The replay camera never noticed: online once, never offline after.
    let yard = obs.on("hubd/yard/available");
    assert_eq!(yard.iter().filter(|a| *a == "online").count(), 1, "{yard:?}");
    assert_eq!(yard.last().map(String::as_str), Some("online"));
    let (_, status) = http(web, "GET", "/api/status", None).unwrap();
    assert!(json(&status)["cameras"].as_array().is_some_and(|c| c.len() == 2), "{status}");
    let out = hubd().arg("--config").arg(&cfg).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cam in ["door", "yard"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(&format!("camera      {cam}  available"))), "{text}");
    }
    assert!(text.contains("last error: stalled"), "{text}");

    assert!(daemon.alive());
    daemon.stop_cleanly();
    assert!(
        wait_until(Duration::from_secs(5), || obs.on("hubd/available").last().map(String::as_str) == Some("offline"))
    );
}

/// A TorchScript detector the venv's torch writes: one `person` box (score
/// 0.9) around the bright area of the frame.
pub(crate) fn write_detector(dir: &std::path::Path) -> std::path::PathBuf {
    let script = r#"
import sys, torch
class Bright(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x[0].mean(0) > 0.8
        if int(m.sum()) < 20:
            return torch.zeros((0, 6))
        nz = torch.nonzero(m)
        ys = nz[:, 0].float()
        xs = nz[:, 1].float()
        return torch.stack([xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0,
                            torch.tensor(0.9), torch.tensor(0.0)]).unsqueeze(0)
torch.jit.script(Bright()).save(sys.argv[1])
"#;
    let src = dir.join("make_detector.py");
    std::fs::write(&src, script).unwrap();
    let out = dir.join("bright.pt");
    let st = std::process::Command::new(crate::voice::venv().join("bin/python")).arg(&src).arg(&out).status().unwrap();
    assert!(st.success(), "the venv's torch could not write the detector");
    out
}

pub(crate) fn events_of(obs: &Observer) -> Vec<serde_json::Value> {
    obs.on("hubd/events").iter().map(|p| json(p)).collect()
}

#[test]
fn a_person_walks_into_the_porch_zone_frigate_events_and_snapshots() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let web = free_port();
    let model = write_detector(dir.path());
    // Mode 0: the empty porch; mode k: a bright 40x100 figure at x = 10k.
    let cam = start_camera_with(
        &rt,
        Arc::new(|mode, _| {
            let rect = (mode > 0).then(|| (usize::from(mode) * 10, 120, 40, 100));
            Some(part(&picture(rect), "image/jpeg", "frame"))
        }),
    );
    cam.mode.store(0, Ordering::SeqCst);
    let cfg = dir.path().join("hub.toml");
    // A home on the equator where it is midnight now: the rule's "after sunset" holds.
    let utc_h = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 86_400) as f64
        / 3600.0;
    let lon = ((-utc_h * 15.0 + 540.0) % 360.0) - 180.0;
    let text = config_text(broker.port, web, 3000)
        + &format!(
            r#"
[home]
latitude = 0.0
longitude = {lon:.3}

[[device]]
id = "light.porch"
name = "Porch Light"
area = "hallway"
dialect = {{ type = "zigbee2mqtt", friendly_name = "Porch Light" }}

[[automation]]
id = "porch_light_at_night"
triggers = [{{ trigger = "event", camera = "door", label = "person", zone = "porch", min_score = 0.5 }}]
conditions = [{{ condition = "sun", after = "sunset", before = "sunrise" }}]
actions = [
  {{ action = "light.turn_on", target = {{ entity_id = "light.porch" }} }},
  {{ action = "notify.phone", data = {{ message = "{{{{ trigger.event.label }}}} at the {{{{ trigger.camera }}}} camera" }} }},
]

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
[camera.source.zones.porch]
coordinates = "0.5,0.5,1,0.5,1,1,0.5,1"
inertia = 2
[camera.source.objects.filters.person]
min_score = 0.5
threshold = 0.7
"#,
            model.display(),
            cam.port
        );
    std::fs::write(&cfg, text).unwrap();
    let obs = Observer::start(&rt, broker.port, &["hubd/#", "zigbee2mqtt/+/set"]);
    let _daemon = Daemon::start(&cfg, web, None);
    let within = Duration::from_secs(15);
    assert!(wait_until(within, || camera_json(web, "door")["frames"].as_u64().unwrap_or(0) >= 10));
    assert!(camera_json(web, "door")["detect"] == true);
    assert!(events_of(&obs).is_empty(), "an empty porch made events");

    // Walk from the left into the porch zone (the right half) and stop there.
    for k in 1..=20u8 {
        cam.mode.store(k, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(wait_until(within, || events_of(&obs)
        .iter()
        .any(|e| e["after"]["entered_zones"] == serde_json::json!(["porch"]))));
    let evs = events_of(&obs);
    assert_eq!(evs[0]["type"], "new", "{evs:?}");
    let new = &evs[0]["after"];
    assert_eq!((new["camera"].as_str(), new["label"].as_str()), (Some("door"), Some("person")));
    assert!(new["current_zones"] == serde_json::json!([]) && new["end_time"].is_null() && new["has_snapshot"] == true);
    let id = new["id"].as_str().unwrap().to_string();
    assert!(evs.iter().all(|e| e["after"]["id"] == id.as_str()), "one person, one event: {evs:?}");
    assert!(evs.iter().skip(1).all(|e| e["type"] == "update"));
    assert!(wait_until(within, || obs.on("hubd/door/person").last().map(String::as_str) == Some("1")));

    // The automation: a person entered the porch zone at night -> the porch light's Zigbee2MQTT command,
    // a notification, and the run in SQLite with the camera event that caused it.
    assert!(wait_until(within, || obs.on("zigbee2mqtt/Porch Light/set").iter().any(|p| p.contains("ON"))));
    assert!(wait_until(within, || obs.on("hubd/notify/phone").iter().any(|p| p.contains("person at the door camera"))));
    let (_, runs) = http(web, "GET", "/api/automations/porch_light_at_night/runs", None).unwrap();
    let runs = json(&runs);
    let run = &runs[0];
    assert_eq!(run["outcome"], "finished", "{runs}");
    assert_eq!(run["trigger"]["platform"], "event");
    assert_eq!(run["trigger"]["event"]["id"], id.as_str());
    assert_eq!(run["trigger"]["event"]["entered_zones"], serde_json::json!(["porch"]));
    assert_eq!(run["conditions"][0]["result"], true);
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "repeated updates of one person run the rule once: {runs}");

    // The porch empties: the event ends, with the zone it entered.
    cam.mode.store(0, Ordering::SeqCst);
    assert!(wait_until(within, || events_of(&obs).iter().any(|e| e["type"] == "end")));
    let evs = events_of(&obs);
    let end = evs.iter().find(|e| e["type"] == "end").unwrap();
    assert_eq!(end["after"]["id"], id.as_str());
    assert!(end["after"]["end_time"].as_f64().unwrap() > end["after"]["start_time"].as_f64().unwrap());
    assert_eq!(end["after"]["entered_zones"], serde_json::json!(["porch"]));
    assert!(end["before"]["end_time"].is_null());
    assert!(wait_until(within, || obs.on("hubd/door/person").last().map(String::as_str) == Some("0")));

    // Stored, and the snapshots are served.
    assert!(wait_until(within, || {
        let (_, body) = http(web, "GET", "/api/cameras/events?camera=door&label=person", None).unwrap();
        json(&body).as_array().is_some_and(|l| l.len() == 1 && l[0]["id"] == id.as_str() && l[0]["end_time"].is_f64())
    }));
    let (st, clean) = get_bytes(web, &format!("/api/events/{id}/snapshot.jpg"));
    assert_eq!(st, 200);
    assert!(clean.starts_with(&[0xFF, 0xD8]));
    let (st, boxed) = get_bytes(web, &format!("/api/events/{id}/snapshot.jpg?bbox=1"));
    assert_eq!(st, 200);
    assert!(boxed.starts_with(&[0xFF, 0xD8]) && boxed != clean);
    assert_eq!(get_bytes(web, "/api/events/..%2F..%2Fhub.toml/snapshot.jpg").0, 404);
    assert_eq!(get_bytes(web, "/api/events/1.0-nope/snapshot.jpg").0, 404);
    assert!(dir.path().join("snaps").join(format!("door-{id}.jpg")).exists());

    // The dashboard shows the event with its snapshot, and the rule's run with its trace (headless Chromium).
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("tests/e2e/browser/cameras.py"))
        .env("HUBD_URL", format!("http://127.0.0.1:{web}"))
        .env("HUBD_ARTIFACTS", repo.join("target/test-artifacts"))
        .output()
        .expect("python with playwright in the venv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let found = json(stdout.lines().last().unwrap_or_default());
    assert_eq!(found["errors"], serde_json::json!([]), "{found}");
    assert_eq!(found["snapshot_loaded"], true, "{found}");
    assert_eq!(found["latest_loaded"], true, "{found}");
    assert!(found["event"].as_str().is_some_and(|t| t.contains("zones porch")), "{found}");
    let trace = found["automation_trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("condition sun") && trace.contains("light.turn_on") && trace.contains("commands"),
        "{found}"
    );
}

/// scikit-image's astronaut as JPEG (written by the venv's PIL), and the
/// folder of facenet-pytorch's MTCNN weights.
fn astronaut(dir: &std::path::Path) -> (Vec<u8>, std::path::PathBuf) {
    let script = dir.join("astronaut.py");
    std::fs::write(
        &script,
        "import sys, os, facenet_pytorch\nfrom skimage import data\nfrom PIL import Image\n\
         Image.fromarray(data.astronaut()).save(sys.argv[1], quality=90)\n\
         print(os.path.join(os.path.dirname(facenet_pytorch.__file__), 'data'))\n",
    )
    .unwrap();
    let out = dir.join("astronaut.jpg");
    let o =
        std::process::Command::new(crate::voice::venv().join("bin/python")).arg(&script).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let weights = String::from_utf8(o.stdout).unwrap().trim().to_string();
    (std::fs::read(out).unwrap(), weights.into())
}

#[test]
fn a_face_appears_mtcnn_makes_a_face_event() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let web = free_port();
    let (face, weights) = astronaut(dir.path());
    let empty = {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(&vec![120u8; 512 * 512 * 3], 512, 512, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    };
    let cam = start_camera_with(
        &rt,
        Arc::new(move |mode, _| Some(part(if mode == 1 { &face } else { &empty }, "image/jpeg", "frame"))),
    );
    cam.mode.store(0, Ordering::SeqCst);
    let cfg = dir.path().join("hub.toml");
    let text = config_text(broker.port, web, 3000)
        + &format!(
            r#"
[camera]
enabled = true
mqtt_prefix = "frigate"

[camera.detector]
mtcnn = "{}"

[[camera.source]]
id = "hall"
url = "mjpeg+http://127.0.0.1:{}/cam.mjpg"
fps = 5
[camera.source.motion]
mqtt_off_delay = 1
"#,
            weights.display(),
            cam.port
        );
    std::fs::write(&cfg, text).unwrap();
    let obs = Observer::start(&rt, broker.port, &["frigate/#"]);
    let _daemon = Daemon::start(&cfg, web, None);
    let within = Duration::from_secs(20);
    assert!(wait_until(within, || camera_json(web, "hall")["frames"].as_u64().unwrap_or(0) >= 5));
    cam.mode.store(1, Ordering::SeqCst);
    assert!(wait_until(within, || obs.on("frigate/events").iter().any(|p| json(p)["type"] == "new")));
    let new = obs.on("frigate/events").iter().map(|p| json(p)).find(|e| e["type"] == "new").unwrap();
    let a = &new["after"];
    assert_eq!((a["camera"].as_str(), a["label"].as_str()), (Some("hall"), Some("face")));
    assert!(a["top_score"].as_f64().unwrap() > 0.99, "{a}");
    // facenet-pytorch finds the face at about (181, 62)-(268, 172).
    let b: Vec<i64> = a["box"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert!(
        (b[0] - 181).abs() <= 3 && (b[1] - 62).abs() <= 3 && (b[2] - 268).abs() <= 3 && (b[3] - 172).abs() <= 3,
        "{b:?}"
    );
    assert!(wait_until(within, || obs.on("frigate/hall/face").last().map(String::as_str) == Some("1")));
    assert!(obs.on("frigate/hall/motion").contains(&"ON".to_string()));
}
