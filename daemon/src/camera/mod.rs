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

pub mod board;
pub mod decode;
pub mod mjpeg;
pub mod source;
pub mod tracker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_kernels::motion::{MotionDetector, MotionParams, rasterize_polygons};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use board::{Board, CameraStatus, Frame, LatestSlot, MotionSwitch};

use crate::config::{CameraConfig, CameraSource, parse_polygon};
use crate::events::{EventBus, HubEvent};
use crate::mqtt::MqttLink;

/// Start every configured camera; the returned task stops them all when
/// `stop` turns true (capture tasks end, analysis threads are joined, and
/// `<prefix>/available` is set `offline`).
pub fn start(cfg: &CameraConfig, link: MqttLink, bus: EventBus, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let board = Board::global();
    let mut captures = Vec::new();
    let mut threads = Vec::new();
    let mut slots = Vec::new();
    for cam in &cfg.source {
        board.register(&cam.id, cam.display_name());
        let slot = Arc::new(LatestSlot::default());
        let cap = source::Capture {
            id: cam.id.clone(),
            url: cam.url.clone(),
            fps: cam.fps,
            slot: slot.clone(),
            board: board.clone(),
        };
        captures.push(tokio::spawn(cap.run(stop.clone())));
        let (cam, b, s, bus) = (cam.clone(), board.clone(), slot.clone(), bus.clone());
        match std::thread::Builder::new().name(format!("camera-{}", cam.id)).spawn(move || analyse(cam, s, b, bus)) {
            Ok(t) => threads.push(t),
            Err(e) => tracing::error!(error = %e, "cannot start a camera analysis thread"),
        }
        slots.push(slot);
    }
    let ids: Vec<String> = cfg.source.iter().map(|c| c.id.clone()).collect();
    let prefix = cfg.mqtt_prefix.clone();
    tokio::spawn(async move {
        publish_loop(&prefix, &ids, &link, &board, stop).await;
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
async fn publish_loop(prefix: &str, ids: &[String], link: &MqttLink, board: &Board, mut stop: watch::Receiver<bool>) {
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
        tokio::select! {
            _ = board.changed.notified() => {}
            r = connected.changed() => if r.is_err() { break },
            // Retry deferred publishes (a full client queue).
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    if link.is_connected() {
        let _ = link.try_publish(None, &format!("{prefix}/available"), "offline", true);
        for id in ids {
            let _ = link.try_publish(None, &format!("{prefix}/{id}/available"), "offline", true);
        }
    }
}

/// The analysis thread of one camera (see the module docs).
fn analyse(cam: CameraSource, slot: Arc<LatestSlot>, board: Arc<Board>, bus: EventBus) {
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
                board.error(&cam.id, e.to_string());
                continue;
            }
        };
        if detector.as_ref().is_none_or(|d| d.size() != (grey.w, grey.h)) {
            let mask = (!masks.is_empty()).then(|| rasterize_polygons(&masks, grey.w, grey.h));
            detector = match MotionDetector::new(grey.w, grey.h, params, mask) {
                Ok(d) => Some(d),
                Err(e) => {
                    board.error(&cam.id, e.to_string());
                    continue;
                }
            };
        }
        let Some(det) = detector.as_mut() else { continue };
        let motion = match det.detect(&grey.pixels) {
            Ok(boxes) => !boxes.is_empty(),
            Err(e) => {
                board.error(&cam.id, e.to_string());
                continue;
            }
        };
        let now = source::now_ms();
        board.analysed(&cam.id, now, motion, slot.dropped());
        if let Some(on) = switch.update(now, motion) {
            set(on);
        }
        // At most `fps` frames a second: the newest waits in the slot.
        if let Some(rest) = interval.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}
