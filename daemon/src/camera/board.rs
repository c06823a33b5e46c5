//! What every camera is doing, shared by its capture task, its analysis
//! thread, the MQTT publisher and the web API; and the pure pieces between
//! them: the newest-frame slot and the motion ON/OFF switch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;

/// A JPEG as received, with its arrival time (Unix ms) and its number among
/// the camera's parts (errors name it).
#[derive(Debug, Clone)]
pub struct Frame {
    pub jpeg: Arc<Vec<u8>>,
    pub at_ms: i64,
    pub seq: u64,
}

/// The hand-over between a capture task and its analysis thread: a bounded
/// channel of capacity one where **the newest frame wins**. A frame put while
/// the previous one is still waiting replaces it (counted as dropped), so a
/// slow analysis always works on the most recent picture and never queues
/// stale ones, and capture never blocks.
#[derive(Debug, Default)]
pub struct LatestSlot {
    inner: Mutex<(Option<Frame>, bool)>,
    ready: Condvar,
    dropped: AtomicU64,
}

impl LatestSlot {
    pub fn put(&self, f: Frame) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.0.replace(f).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.ready.notify_one();
    }

    /// The waiting frame, or `None` after `timeout` or once closed.
    pub fn take(&self, timeout: Duration) -> Option<Frame> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (mut g, _) =
            self.ready.wait_timeout_while(g, timeout, |s| s.0.is_none() && !s.1).unwrap_or_else(|p| p.into_inner());
        g.0.take()
    }

    /// Wake the taker for good (shutdown).
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.ready.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Frigate's motion switch: ON at the first frame with motion, OFF once
/// `off_delay_ms` pass without any. Returns the new state on a change.
#[derive(Debug, Clone)]
pub struct MotionSwitch {
    on: bool,
    last_motion_ms: i64,
    off_delay_ms: i64,
}

impl MotionSwitch {
    pub fn new(off_delay_ms: i64) -> Self {
        MotionSwitch { on: false, last_motion_ms: 0, off_delay_ms }
    }

    pub fn update(&mut self, now_ms: i64, motion: bool) -> Option<bool> {
        if motion {
            self.last_motion_ms = now_ms;
            if !self.on {
                self.on = true;
                return Some(true);
            }
        } else if self.on && now_ms - self.last_motion_ms >= self.off_delay_ms {
            self.on = false;
            return Some(false);
        }
        None
    }
}

/// Frame errors of one camera are logged as warnings at most this often.
pub const ERROR_LOG_EVERY_MS: i64 = 10_000;

/// One camera's state (`GET /api/cameras`, `hubd status`).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CameraStatus {
    pub id: String,
    pub name: String,
    pub available: bool,
    pub motion: bool,
    /// Frames analysed per second, over the last few seconds.
    pub fps: f64,
    pub last_frame_at: Option<i64>,
    /// A detector runs on this camera's motion frames.
    pub detect: bool,
    /// Moving objects are being tracked (frames go to the detector without motion).
    pub tracking: bool,
    pub frames: u64,
    pub motion_frames: u64,
    pub dropped_frames: u64,
    pub errors: u64,
    pub reconnects: u64,
    pub last_error: Option<String>,
    /// Parts the source delivered, good or bad (the last frame's number).
    pub received: u64,
    #[serde(skip)]
    pub latest: Option<Arc<Vec<u8>>>,
    /// When a frame error was last logged at warn level (Unix ms).
    #[serde(skip)]
    warned_ms: i64,
    #[serde(skip)]
    quiet_errors: u64,
    #[serde(skip)]
    fps_window: (i64, u64),
}

/// All cameras of this process, and the vision gate's counters.
#[derive(Debug, Default)]
pub struct Board {
    cams: Mutex<BTreeMap<String, CameraStatus>>,
    /// Frames where motion let the detector run / where it was skipped.
    pub gate_run: AtomicU64,
    pub gate_skip: AtomicU64,
    pub decode_errors: AtomicU64,
    /// Motion frames skipped because the detector was busy.
    pub detector_busy: AtomicU64,
    snapshot_dir: Mutex<Option<std::path::PathBuf>>,
    /// Raised on every availability or motion change (the MQTT publisher waits on it).
    pub changed: Notify,
}

impl Board {
    pub fn global() -> Arc<Board> {
        static GLOBAL: OnceLock<Arc<Board>> = OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(Board::default())).clone()
    }

    fn with<R>(&self, id: &str, f: impl FnOnce(&mut CameraStatus) -> R) -> Option<R> {
        self.cams.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id).map(f)
    }

    pub fn register(&self, id: &str, name: &str, detect: bool) {
        let st = CameraStatus { id: id.into(), name: name.into(), detect, ..Default::default() };
        self.cams.lock().unwrap_or_else(|p| p.into_inner()).insert(id.into(), st);
    }

    pub fn set_snapshot_dir(&self, dir: std::path::PathBuf) {
        *self.snapshot_dir.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir);
    }

    pub fn snapshot_dir(&self) -> Option<std::path::PathBuf> {
        self.snapshot_dir.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn list(&self) -> Vec<CameraStatus> {
        self.cams.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<CameraStatus> {
        self.cams.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    /// The capture side got a frame: the camera is available.
    pub fn frame_received(&self, id: &str, f: &Frame) {
        let changed = self.with(id, |c| {
            c.latest = Some(f.jpeg.clone());
            c.last_frame_at = Some(f.at_ms);
            !std::mem::replace(&mut c.available, true)
        });
        if changed == Some(true) {
            tracing::info!(camera = id, "camera available");
            self.changed.notify_one();
        }
    }

    /// The capture side lost the source.
    pub fn unavailable(&self, id: &str, error: String) {
        let changed = self.with(id, |c| {
            c.errors += 1;
            c.reconnects += 1;
            c.last_error = Some(error.clone());
            std::mem::replace(&mut c.available, false)
        });
        if changed == Some(true) {
            tracing::warn!(camera = id, error, "camera unavailable");
            self.changed.notify_one();
        }
    }

    /// The number of the camera's next part (1, 2, ...).
    pub fn next_frame(&self, id: &str) -> u64 {
        self.with(id, |c| {
            c.received += 1;
            c.received
        })
        .unwrap_or(0)
    }

    /// A bad frame or part that did not cost the connection: counted, kept
    /// as `last_error`, and logged as a warning at most every
    /// [`ERROR_LOG_EVERY_MS`] per camera (with how many were not), else at debug.
    pub fn error(&self, id: &str, error: String) {
        let now = super::source::now_ms();
        let warn = self.with(id, |c| {
            c.errors += 1;
            c.last_error = Some(error.clone());
            if now - c.warned_ms >= ERROR_LOG_EVERY_MS {
                c.warned_ms = now;
                Some(std::mem::take(&mut c.quiet_errors))
            } else {
                c.quiet_errors += 1;
                None
            }
        });
        match warn.flatten() {
            Some(not_logged) => tracing::warn!(camera = id, error, not_logged, "camera frame error"),
            None => tracing::debug!(camera = id, error, "camera frame error"),
        }
    }

    /// The analysis thread finished a frame.
    /// The analysis thread finished a frame; `run`: the frame goes to the
    /// detector (motion, or moving objects being tracked).
    pub fn analysed(&self, id: &str, now_ms: i64, motion: bool, run: bool, dropped: u64) {
        let c = if run { &self.gate_run } else { &self.gate_skip };
        c.fetch_add(1, Ordering::Relaxed);
        self.with(id, |c| {
            c.frames += 1;
            c.motion_frames += u64::from(motion);
            c.dropped_frames = dropped;
            let (start, n) = c.fps_window;
            if start == 0 {
                c.fps_window = (now_ms, 0);
            } else if now_ms - start >= 2000 {
                c.fps = (c.frames - n) as f64 * 1000.0 / (now_ms - start) as f64;
                c.fps_window = (now_ms, c.frames);
            }
        });
    }

    /// The detector follows moving objects on this camera: its frames are
    /// analysed even without motion, so an object that leaves is seen leaving.
    pub fn set_tracking(&self, id: &str, on: bool) {
        self.with(id, |c| c.tracking = on);
    }

    pub fn is_tracking(&self, id: &str) -> bool {
        self.with(id, |c| c.tracking).unwrap_or(false)
    }

    pub fn set_motion(&self, id: &str, on: bool) {
        self.with(id, |c| c.motion = on);
        self.changed.notify_one();
    }

    /// Prometheus lines for `/metrics`.
    pub fn render_prometheus(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "# HELP hubd_vision_gate_frames_total camera frames by the motion gate's decision\n\
             # TYPE hubd_vision_gate_frames_total counter\n\
             hubd_vision_gate_frames_total{{decision=\"run\"}} {}\n\
             hubd_vision_gate_frames_total{{decision=\"skip\"}} {}",
            self.gate_run.load(Ordering::Relaxed),
            self.gate_skip.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP hubd_camera_available 1 while the camera delivers frames\n# TYPE hubd_camera_available gauge"
        );
        let cams = self.list();
        for c in &cams {
            let _ = writeln!(out, "hubd_camera_available{{camera=\"{}\"}} {}", c.id, u8::from(c.available));
        }
        let _ = writeln!(
            out,
            "# HELP hubd_camera_errors_total stream and frame errors\n# TYPE hubd_camera_errors_total counter"
        );
        for c in &cams {
            let _ = writeln!(out, "hubd_camera_errors_total{{camera=\"{}\"}} {}", c.id, c.errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(at_ms: i64) -> Frame {
        Frame { jpeg: Arc::new(vec![at_ms as u8]), at_ms, seq: at_ms as u64 }
    }

    #[test]
    fn newest_frame_wins_and_drops_are_counted() {
        let s = LatestSlot::default();
        s.put(frame(1));
        s.put(frame(2));
        s.put(frame(3));
        assert_eq!(s.take(Duration::ZERO).map(|f| f.at_ms), Some(3));
        assert_eq!(s.dropped(), 2);
        assert!(s.take(Duration::from_millis(1)).is_none());
        s.close();
        assert!(s.is_closed());
        assert!(s.take(Duration::from_secs(60)).is_none());
    }

    #[test]
    fn motion_switch_turns_off_after_the_delay() {
        let mut m = MotionSwitch::new(1000);
        assert_eq!(m.update(0, false), None);
        assert_eq!(m.update(100, true), Some(true));
        assert_eq!(m.update(200, true), None);
        assert_eq!(m.update(1100, false), None);
        assert_eq!(m.update(1200, false), Some(false));
        assert_eq!(m.update(1300, false), None);
        assert_eq!(m.update(1400, true), Some(true));
    }

    #[test]
    fn availability_changes_once_per_edge() {
        let b = Board::default();
        b.register("door", "Door", false);
        b.frame_received("door", &frame(5));
        b.frame_received("door", &frame(6));
        let c = b.get("door").unwrap();
        assert!(c.available && c.last_frame_at == Some(6));
        b.unavailable("door", "stalled".into());
        b.unavailable("door", "refused".into());
        let c = b.get("door").unwrap();
        assert!(!c.available);
        assert_eq!((c.errors, c.last_error.as_deref()), (2, Some("refused")));
        b.analysed("door", 1, true, true, 0);
        b.analysed("door", 2, false, false, 3);
        b.analysed("door", 3, false, true, 3);
        let mut m = String::new();
        b.render_prometheus(&mut m);
        assert!(m.contains("decision=\"run\"} 2") && m.contains("decision=\"skip\"} 1"), "{m}");
        assert_eq!(b.get("door").unwrap().motion_frames, 1);
        assert!(m.contains("hubd_camera_available{camera=\"door\"} 0"), "{m}");
    }
}
