//! The vision branch, as built so far: capture, motion and its MQTT topics.
//!
//! Per camera: a capture task ([`source`]) puts JPEGs into a [`LatestSlot`]
//! (newest frame wins), and an analysis OS thread takes the newest frame at
//! most `fps` times a second, decodes it at reduced scale to a small grey
//! frame ([`decode`]), runs the motion kernel (`hub_kernels::motion`) with the
//! camera's masks, counts the vision gate (run = motion, skip = none) and
//! drives the motion switch. One publisher task puts the state on MQTT under
//! `[camera] mqtt_prefix` in Frigate's topics, and republishes it after every
//! reconnect:
//! - `<prefix>/available` `online`/`offline` (retained; `offline` at stop);
//! - `<prefix>/<camera>/available` `online`/`offline` (retained);
//! - `<prefix>/<camera>/motion` `ON`/`OFF` (retained).
//!
//! Motion changes also go on the event bus as [`HubEvent::Motion`].
//!
//! With a `[camera.detector]`, motion frames go to the detector thread
//! ([`detect`]), whose tracker turns detections into Frigate events:
//! `<prefix>/events` (`{type, before, after}`), `<prefix>/<camera>/<label>`
//! counts (retained), a row in `camera_events`, [`HubEvent::CameraEvent`] on
//! the bus and snapshots in `[camera] snapshot_dir`.

pub mod board;
pub mod decode;
pub mod detect;
pub mod mjpeg;
pub mod source;
pub mod tracker;
pub mod turbo;
pub mod video4linux;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_kernels::motion::{MotionDetector, MotionParams, rasterize_polygons};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use board::{Board, CameraStatus, Frame, LatestSlot, MotionSwitch};

use crate::config::{CameraSource, Config, parse_polygon};
use crate::events::{EventBus, HubEvent};
use crate::mqtt::MqttLink;
use crate::store::Store;
use detect::{DetectOutput, DetectRequest};

/// Motion frames waiting for the detector (more are skipped).
const DETECT_QUEUE: usize = 2;

/// Load the configured detector and start its thread.
fn start_detector(
    cfg: &Config,
    board: &Arc<Board>,
) -> Option<(
    std::sync::mpsc::SyncSender<DetectRequest>,
    tokio::sync::mpsc::Receiver<DetectOutput>,
    std::thread::JoinHandle<()>,
)> {
    let d = cfg.camera.detector.as_ref()?;
    let models = match load_models(cfg, d) {
        Ok(m) if !m.is_empty() => m,
        Ok(_) => {
            tracing::error!("camera detector has no model: motion only");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "camera detector not loaded: motion only");
            return None;
        }
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(DETECT_QUEUE);
    let (out_tx, out_rx) = tokio::sync::mpsc::channel(256);
    let snapshot_dir = cfg.resolve_path(&cfg.camera.snapshot_dir);
    board.set_snapshot_dir(snapshot_dir.clone());
    let lp = detect::DetectorLoop {
        models,
        cameras: cfg.camera.source.clone(),
        rx,
        out: out_tx,
        board: board.clone(),
        snapshot_dir,
        retention: detect::Retention {
            max_age: Duration::from_secs(u64::from(cfg.camera.snapshot_days) * 86_400),
            max_bytes: cfg.camera.snapshot_max_mb.saturating_mul(1 << 20),
        },
    };
    match std::thread::Builder::new().name("camera-detector".into()).spawn(move || lp.run()) {
        Ok(h) => Some((tx, out_rx, h)),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the detector thread");
            None
        }
    }
}

/// Every model `[camera.detector]` names, loaded.
fn load_models(cfg: &Config, d: &crate::config::CameraDetectorConfig) -> Result<Vec<detect::Model>, String> {
    let mut models = Vec::new();
    if d.hog {
        let hog = match &d.hog_svm {
            Some(p) => hub_model::hog::HogPeople::load(&cfg.resolve_path(p)),
            None => hub_model::hog::HogPeople::load_default(),
        }
        .map_err(|e| e.to_string())?;
        models.push(detect::Model::Hog { hog, max_width: d.hog_max_width as usize });
    }
    if let Some(dir) = &d.mtcnn {
        let m = hub_model::mtcnn::Mtcnn::load(&cfg.resolve_path(dir)).map_err(|e| e.to_string())?;
        models.push(detect::Model::Mtcnn(m));
    }
    if let Some(p) = &d.torchscript {
        let m = hub_model::detector::TorchScriptDetector::load(
            &cfg.resolve_path(p),
            d.labels.clone(),
            d.input_width,
            d.input_height,
        )
        .map_err(|e| e.to_string())?;
        models.push(detect::Model::TorchScript(m));
    }
    Ok(models)
}

/// Start every configured camera; the returned task stops them all when
/// `stop` turns true (capture tasks end, analysis threads are joined, and
/// `<prefix>/available` is set `offline`).
pub fn start(
    config: &Config,
    link: MqttLink,
    bus: EventBus,
    store: Store,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let cfg = &config.camera;
    let board = Board::global();
    let mut captures = Vec::new();
    let mut threads = Vec::new();
    let mut slots = Vec::new();
    let detector = start_detector(config, &board);
    let (det_tx, det_rx) = match detector {
        Some((tx, rx, h)) => {
            threads.push(h);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    for (index, cam) in cfg.source.iter().enumerate() {
        board.register(&cam.id, cam.display_name(), det_tx.is_some());
        let slot = Arc::new(LatestSlot::default());
        let cap = source::Capture {
            id: cam.id.clone(),
            url: config.camera_url(cam),
            fps: cam.fps,
            slot: slot.clone(),
            board: board.clone(),
            v4l: source::video4linux_settings(cam),
        };
        captures.push(tokio::spawn(cap.run(stop.clone())));
        let (cam, b, s, bus) = (cam.clone(), board.clone(), slot.clone(), bus.clone());
        let det = det_tx.clone().map(|tx| (index, tx));
        match std::thread::Builder::new().name(format!("camera-{}", cam.id)).spawn(move || analyse(cam, s, b, bus, det))
        {
            Ok(t) => threads.push(t),
            Err(e) => tracing::error!(error = %e, "cannot start a camera analysis thread"),
        }
        slots.push(slot);
    }
    let ids: Vec<String> = cfg.source.iter().map(|c| c.id.clone()).collect();
    let prefix = cfg.mqtt_prefix.clone();
    drop(det_tx);
    tokio::spawn(async move {
        let events = EventSink { prefix: prefix.clone(), link: link.clone(), bus, store };
        publish_loop(&prefix, &ids, &link, &board, det_rx, &events, stop).await;
        for s in &slots {
            s.close();
        }
        for c in captures {
            let _ = c.await;
        }
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    })
}

/// Publish availability and motion whenever they change or the link comes
/// back, until `stop`.
async fn publish_loop(
    prefix: &str,
    ids: &[String],
    link: &MqttLink,
    board: &Board,
    mut det_rx: Option<tokio::sync::mpsc::Receiver<DetectOutput>>,
    events: &EventSink,
    mut stop: watch::Receiver<bool>,
) {
    let mut connected = link.connected_watch();
    // What the broker has, per topic; cleared on reconnect.
    let mut sent: HashMap<String, &'static str> = HashMap::new();
    loop {
        if *connected.borrow_and_update() {
            let mut want = vec![(format!("{prefix}/available"), "online")];
            for id in ids {
                let c = board.get(id).unwrap_or_default();
                want.push((format!("{prefix}/{id}/available"), if c.available { "online" } else { "offline" }));
                want.push((format!("{prefix}/{id}/motion"), if c.motion { "ON" } else { "OFF" }));
            }
            for (topic, payload) in want {
                if sent.get(&topic) != Some(&payload) {
                    match link.try_publish(None, &topic, payload, true) {
                        Ok(()) => {
                            sent.insert(topic, payload);
                        }
                        Err(e) => tracing::debug!(topic, error = %e, "camera publish deferred"),
                    }
                }
            }
        } else {
            sent.clear();
        }
        // The branches only pick what happened; the handling (which awaits)
        // runs after they are dropped.
        let out = tokio::select! {
            Some(out) = async { match det_rx.as_mut() { Some(r) => r.recv().await, None => None } } => Some(out),
            _ = board.changed.notified() => None,
            r = connected.changed() => {
                if r.is_err() {
                    break;
                }
                None
            }
            // Retry deferred publishes (a full client queue).
            _ = tokio::time::sleep(Duration::from_secs(1)) => None,
            _ = stop.wait_for(|s| *s) => break,
        };
        if let Some(out) = out {
            events.handle(out).await;
        }
    }
    // The detector ends open events when its channel closes (the analysis
    // threads are stopped by the caller); what is already queued is stored.
    if let Some(mut rx) = det_rx {
        while let Ok(out) = rx.try_recv() {
            events.handle(out).await;
        }
    }
    if link.is_connected() {
        let _ = link.try_publish(None, &format!("{prefix}/available"), "offline", true);
        for id in ids {
            let _ = link.try_publish(None, &format!("{prefix}/{id}/available"), "offline", true);
        }
    }
}

/// Where Frigate events go: MQTT, the store, the bus.
struct EventSink {
    prefix: String,
    link: MqttLink,
    bus: EventBus,
    store: Store,
}

impl EventSink {
    async fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) {
        for _ in 0..50 {
            match self.link.try_publish(None, topic, payload.clone(), retain) {
                Ok(()) => return,
                Err(crate::mqtt::PublishError::Full) => {
                    let _ = tokio::time::timeout(Duration::from_millis(100), self.link.wait_space()).await;
                }
                Err(e) => {
                    tracing::warn!(topic, error = %e, "camera event not published on MQTT");
                    return;
                }
            }
        }
    }

    async fn handle(&self, out: DetectOutput) {
        match out {
            DetectOutput::Count { camera, label, count } => {
                let topic = format!("{}/{camera}/{label}", self.prefix);
                self.publish(&topic, count.to_string().into_bytes(), true).await;
            }
            DetectOutput::Event(e) => {
                let payload = serde_json::to_vec(&e).unwrap_or_default();
                self.publish(&format!("{}/events", self.prefix), payload, false).await;
                match serde_json::to_value(&e.after) {
                    Ok(after) => {
                        if let Err(err) = self.store.upsert_camera_event(&after).await {
                            tracing::warn!(error = %err, "camera event not stored");
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "camera event not serialisable"),
                }
                let a = e.after.clone();
                self.bus.publish(HubEvent::CameraEvent {
                    event_type: serde_json::to_value(e.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    id: a.id,
                    camera: a.camera,
                    label: a.label,
                    top_score: a.top_score,
                    current_zones: a.current_zones,
                    entered_zones: a.entered_zones,
                    start_time: a.start_time,
                    end_time: a.end_time,
                    has_snapshot: a.has_snapshot,
                });
            }
        }
    }
}

/// The analysis thread of one camera (see the module docs). `det_queue`:
/// this camera's index and the detector's queue.
fn analyse(
    cam: CameraSource,
    slot: Arc<LatestSlot>,
    board: Arc<Board>,
    bus: EventBus,
    det_queue: Option<(usize, std::sync::mpsc::SyncSender<DetectRequest>)>,
) {
    let m = &cam.motion;
    let params = MotionParams { threshold: m.threshold, alpha: m.frame_alpha, min_area: m.contour_area.max(1) };
    let masks: Vec<Vec<(f32, f32)>> = m.mask.iter().filter_map(|p| parse_polygon(p).ok()).collect();
    let mut detector: Option<MotionDetector> = None;
    let mut switch = MotionSwitch::new(i64::from(m.mqtt_off_delay) * 1000);
    let interval = Duration::from_secs_f32(1.0 / cam.fps.max(0.01));
    let set = |on: bool| {
        board.set_motion(&cam.id, on);
        bus.publish(HubEvent::Motion { camera: cam.id.clone(), on });
    };
    while !slot.is_closed() {
        let started = Instant::now();
        let Some(frame) = slot.take(Duration::from_millis(500)) else {
            if let Some(on) = switch.update(source::now_ms(), false) {
                set(on);
            }
            continue;
        };
        let grey = match decode::decode_grey(&frame.jpeg, m.frame_height) {
            Ok(g) => g,
            Err(e) => {
                board.decode_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                board.error(&cam.id, format!("frame {}: {e}", frame.seq));
                continue;
            }
        };
        if detector.as_ref().is_none_or(|d| d.size() != (grey.w, grey.h)) {
            let mask = (!masks.is_empty()).then(|| rasterize_polygons(&masks, grey.w, grey.h));
            detector = match MotionDetector::new(grey.w, grey.h, params, mask) {
                Ok(d) => Some(d),
                Err(e) => {
                    board.error(&cam.id, format!("frame {}: {e}", frame.seq));
                    continue;
                }
            };
        }
        let Some(det) = detector.as_mut() else { continue };
        let motion = match det.detect(&grey.pixels) {
            Ok(boxes) => !boxes.is_empty(),
            Err(e) => {
                board.error(&cam.id, format!("frame {}: {e}", frame.seq));
                continue;
            }
        };
        let now = source::now_ms();
        // The gate's decision (counted with or without a detector).
        let run = motion || board.is_tracking(&cam.id);
        board.analysed(&cam.id, now, motion, run, slot.dropped());
        if run && let Some((index, tx)) = &det_queue {
            match tx.try_send(DetectRequest { camera: *index, frame }) {
                Ok(()) => {}
                Err(std::sync::mpsc::TrySendError::Full(_)) => {
                    board.detector_busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {}
            }
        }
        if let Some(on) = switch.update(now, motion) {
            set(on);
        }
        // At most `fps` frames a second: the newest waits in the slot.
        if let Some(rest) = interval.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}
