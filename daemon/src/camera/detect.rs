//! The detector thread: one OS thread owns the model and one [`Tracker`] per
//! camera. Analysis threads hand it motion frames through a bounded channel
//! (`try_send`; a frame that finds it full is skipped, so the detector never
//! queues stale frames). Per frame: full decode, detection, tracking; the
//! best snapshot of each event is written (as received, and with the box
//! drawn); events and label counts go to the async side over a channel.
//!
//! Frames reach the detector when there is motion, or while it tracks a
//! moving (not stationary) object on that camera, so an object that leaves
//! is seen gone (Frigate also detects where tracked objects are). Stationary
//! objects age only on motion frames: a parked car with no motion around it
//! stays one stationary event instead of ending and re-alerting. A camera
//! that goes unavailable ends its events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use hub_model::detector::{Detected, TorchScriptDetector};
use hub_model::hog::HogPeople;
use hub_model::mtcnn::Mtcnn;
use tokio::sync::mpsc;

use super::board::{Board, Frame};
use super::decode::{decode_rgb, draw_box, encode_rgb};
use super::tracker::{Detection, EventType, LabelFilter, Tracker, TrackerEvent, TrackerSettings, Zone};
use crate::config::{CameraSource, parse_polygon};

/// A motion frame for the detector.
pub struct DetectRequest {
    pub camera: usize,
    pub frame: Frame,
}

/// What the detector thread reports.
#[derive(Debug)]
pub enum DetectOutput {
    Event(Box<TrackerEvent>),
    /// `<prefix>/<camera>/<label>`: live confirmed objects of that label.
    Count {
        camera: String,
        label: String,
        count: u32,
    },
}

/// Snapshot retention.
#[derive(Debug, Clone)]
pub struct Retention {
    pub max_age: Duration,
    pub max_bytes: u64,
}

/// Tracker settings of one camera at frame size `w` x `h`; `fps` sets the
/// frame counts (gone after 2 s of analysed frames, stationary after 10 s).
pub fn tracker_settings(cam: &CameraSource, w: f32, h: f32) -> TrackerSettings {
    let fps = cam.fps.max(0.1);
    TrackerSettings {
        camera: cam.id.clone(),
        frame_w: w,
        frame_h: h,
        iou_match: 0.3,
        max_disappeared: (fps * 2.0).ceil() as u32,
        stationary_frames: (fps * 10.0).ceil() as u32,
        zones: cam
            .zones
            .iter()
            .filter_map(|(name, z)| {
                parse_polygon(&z.coordinates).ok().map(|p| Zone { name: name.clone(), polygon: p, inertia: z.inertia })
            })
            .collect(),
        object_masks: cam.objects.mask.iter().filter_map(|m| parse_polygon(m).ok()).collect(),
        filters: cam
            .objects
            .filters
            .iter()
            .map(|(l, f)| {
                (l.clone(), LabelFilter { min_score: f.min_score, min_area: f.min_area as f32, threshold: f.threshold })
            })
            .collect(),
    }
}

/// Snapshot file of an event: `<dir>/<camera>-<id>.jpg` or `...-bbox.jpg`.
pub fn snapshot_path(dir: &Path, camera: &str, id: &str, bbox: bool) -> PathBuf {
    dir.join(format!("{camera}-{id}{}.jpg", if bbox { "-bbox" } else { "" }))
}

fn now_s() -> f64 {
    super::source::now_ms() as f64 / 1000.0
}

/// A configured model.
pub enum Model {
    TorchScript(TorchScriptDetector),
    /// Faces, label `face`.
    Mtcnn(Mtcnn),
    /// Persons, label `person`; frames wider than `max_width` are scaled down.
    Hog {
        hog: HogPeople,
        max_width: usize,
    },
}

impl Model {
    pub fn detect(&self, rgb: &[u8], w: usize, h: usize) -> Result<Vec<Detected>, String> {
        match self {
            Model::TorchScript(d) => d.detect(rgb, w, h).map_err(|e| e.to_string()),
            Model::Hog { hog, max_width } => hog.detect(rgb, w, h, *max_width).map_err(|e| e.to_string()),
            Model::Mtcnn(m) => m
                .detect(rgb, w, h)
                .map(|faces| {
                    faces.into_iter().map(|f| Detected { label: "face".into(), score: f.score, bbox: f.bbox }).collect()
                })
                .map_err(|e| e.to_string()),
        }
    }
}

pub struct DetectorLoop {
    /// Every configured model runs on each frame; their detections are joined.
    pub models: Vec<Model>,
    pub cameras: Vec<CameraSource>,
    pub rx: Receiver<DetectRequest>,
    pub out: mpsc::Sender<DetectOutput>,
    pub board: Arc<Board>,
    pub snapshot_dir: PathBuf,
    pub retention: Retention,
}

impl DetectorLoop {
    pub fn run(self) {
        let mut trackers: Vec<Option<Tracker>> = self.cameras.iter().map(|_| None).collect();
        let mut counts: HashMap<(String, String), u32> = HashMap::new();
        let mut pruned = Instant::now() - Duration::from_secs(3600);
        if let Err(e) = std::fs::create_dir_all(&self.snapshot_dir) {
            tracing::warn!(dir = %self.snapshot_dir.display(), error = %e, "cannot create the snapshot directory");
        }
        loop {
            if pruned.elapsed() > Duration::from_secs(600) {
                pruned = Instant::now();
                let removed = prune_snapshots(&self.snapshot_dir, SystemTime::now(), &self.retention);
                if removed > 0 {
                    tracing::info!(removed, "old camera snapshots deleted");
                }
            }
            let req = match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(r) => Some(r),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let now = now_s();
            let mut events = Vec::new();
            if let Some(req) = req {
                let Some(cam) = self.cameras.get(req.camera) else { continue };
                match self.detect(cam, &req.frame, &mut trackers[req.camera], now) {
                    Ok(ev) => events.extend(ev),
                    Err(e) => self.board.error(&cam.id, format!("frame {}: {e}", req.frame.seq)),
                }
            }
            // Cameras that went away end their events.
            for (i, cam) in self.cameras.iter().enumerate() {
                if let Some(t) = trackers[i].as_mut()
                    && !self.board.get(&cam.id).is_some_and(|c| c.available)
                {
                    events.extend(t.end_all(now));
                }
            }
            let mut outs: Vec<DetectOutput> = events.into_iter().map(|e| DetectOutput::Event(Box::new(e))).collect();
            for (i, cam) in self.cameras.iter().enumerate() {
                let Some(t) = &trackers[i] else { continue };
                self.board.set_tracking(&cam.id, t.has_moving());
                let live = t.counts();
                let mut labels: Vec<String> =
                    counts.keys().filter(|(c, _)| c == &cam.id).map(|(_, l)| l.clone()).collect();
                labels.extend(live.keys().cloned());
                labels.sort();
                labels.dedup();
                for label in labels {
                    let count = live.get(&label).copied().unwrap_or(0);
                    if counts.insert((cam.id.clone(), label.clone()), count) != Some(count) {
                        outs.push(DetectOutput::Count { camera: cam.id.clone(), label, count });
                    }
                }
            }
            for msg in outs {
                if self.out.blocking_send(msg).is_err() {
                    return;
                }
            }
        }
        for t in trackers.iter_mut().flatten() {
            for e in t.end_all(now_s()) {
                let _ = self.out.blocking_send(DetectOutput::Event(Box::new(e)));
            }
        }
    }

    fn detect(
        &self,
        cam: &CameraSource,
        frame: &Frame,
        tracker: &mut Option<Tracker>,
        now: f64,
    ) -> Result<Vec<TrackerEvent>, String> {
        let (rgb, w, h) = decode_rgb(&frame.jpeg).map_err(|e| e.to_string())?;
        let mut dets = Vec::new();
        for m in &self.models {
            dets.extend(m.detect(&rgb, w, h)?);
        }
        let t = tracker.get_or_insert_with(|| Tracker::new(tracker_settings(cam, w as f32, h as f32)));
        let dets: Vec<Detection> =
            dets.into_iter().map(|d| Detection { label: d.label, score: d.score, bbox: d.bbox }).collect();
        let events = t.update(now, &dets);
        for e in events.iter().filter(|e| e.best_snapshot && e.kind != EventType::End) {
            let clean = snapshot_path(&self.snapshot_dir, &cam.id, &e.after.id, false);
            let boxed = snapshot_path(&self.snapshot_dir, &cam.id, &e.after.id, true);
            let mut drawn = rgb.clone();
            draw_box(&mut drawn, w, h, e.after.bbox, [255, 40, 40], 3);
            let res = std::fs::write(&clean, frame.jpeg.as_slice()).map_err(|e| e.to_string()).and_then(|()| {
                let j = encode_rgb(&drawn, w, h).map_err(|e| e.to_string())?;
                std::fs::write(&boxed, j).map_err(|e| e.to_string())
            });
            if let Err(err) = res {
                tracing::warn!(camera = %cam.id, error = %err, "cannot write an event snapshot");
            }
        }
        Ok(events)
    }
}

/// Delete snapshot files older than `max_age`, then the oldest until the
/// folder is under `max_bytes`. Returns how many were deleted.
pub fn prune_snapshots(dir: &Path, now: SystemTime, r: &Retention) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    let mut files: Vec<(SystemTime, u64, PathBuf)> = rd
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jpg"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    files.sort();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    let mut removed = 0;
    for (modified, len, path) in files {
        let old = now.duration_since(modified).is_ok_and(|age| age > r.max_age);
        if (old || total > r.max_bytes) && std::fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(len);
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_removes_old_then_oldest_over_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = SystemTime::now();
        for (i, name) in ["a.jpg", "b.jpg", "c.jpg", "d.txt"].iter().enumerate() {
            let p = dir.path().join(name);
            std::fs::write(&p, vec![0u8; 100]).unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(t0 - Duration::from_secs(1000 - i as u64 * 100)).unwrap();
        }
        // a is 1000 s old, b 900 s, c 800 s.
        let r = Retention { max_age: Duration::from_secs(950), max_bytes: 10_000 };
        assert_eq!(prune_snapshots(dir.path(), t0, &r), 1);
        assert!(!dir.path().join("a.jpg").exists());
        let r = Retention { max_age: Duration::from_secs(10_000), max_bytes: 150 };
        assert_eq!(prune_snapshots(dir.path(), t0, &r), 1);
        assert!(!dir.path().join("b.jpg").exists() && dir.path().join("c.jpg").exists());
        assert!(dir.path().join("d.txt").exists());
    }
}
