//! Object tracking and Frigate events as a pure state machine: detections of
//! one frame and its time in, events out. No I/O and no clock.
//!
//! - Detections below the label's `min_score` or `min_area`, or whose bottom
//!   centre is inside an object mask, are dropped.
//! - Each remaining detection is matched to the live object of the same
//!   label with the highest IoU (at least [`TrackerSettings::iou_match`]);
//!   unmatched ones start objects, objects unmatched for `max_disappeared`
//!   frames end.
//! - An object becomes an event (`new`) once its top score reaches the
//!   label's `threshold` (Frigate's false-positive rule), then `update`s when
//!   its top score, zones or stationary state change or it moves, and `end`s.
//! - Zones: an object is in a zone when the bottom centre of its box is
//!   (Frigate's rule) for `inertia` consecutive frames.
//! - Stationary: a box that stays put (IoU >= [`STATIONARY_IOU`] with where it
//!   last moved) for `stationary_frames` frames is stationary and produces no
//!   more updates until it moves, so a parked car does not alert all night.
//! - The best snapshot is the frame with the highest score (larger box on a tie).

use std::collections::HashMap;

use hub_kernels::motion::point_in_polygon;
use serde::Serialize;

/// IoU with the last moved-to box above which a box has not moved.
pub const STATIONARY_IOU: f32 = 0.9;

/// One detection: label, score 0..1, box `[x1, y1, x2, y2]` in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub label: String,
    pub score: f32,
    pub bbox: [f32; 4],
}

/// Per-label filters (Frigate's `objects.filters`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelFilter {
    pub min_score: f32,
    pub min_area: f32,
    /// Top score an object needs before it is an event.
    pub threshold: f32,
}

impl Default for LabelFilter {
    fn default() -> Self {
        LabelFilter { min_score: 0.5, min_area: 0.0, threshold: 0.7 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    /// Relative 0..1 polygon.
    pub polygon: Vec<(f32, f32)>,
    /// Consecutive frames inside before the object counts as in the zone.
    pub inertia: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrackerSettings {
    pub camera: String,
    pub frame_w: f32,
    pub frame_h: f32,
    pub iou_match: f32,
    pub max_disappeared: u32,
    pub stationary_frames: u32,
    pub zones: Vec<Zone>,
    /// Relative polygons; a detection whose bottom centre is inside is dropped.
    pub object_masks: Vec<Vec<(f32, f32)>>,
    pub filters: HashMap<String, LabelFilter>,
}

/// Frigate's event object (`before`/`after` of `<prefix>/events`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventObject {
    pub id: String,
    pub camera: String,
    pub frame_time: f64,
    pub label: String,
    pub sub_label: Option<String>,
    pub score: f32,
    pub top_score: f32,
    pub false_positive: bool,
    pub start_time: f64,
    pub end_time: Option<f64>,
    #[serde(rename = "box")]
    pub bbox: [i32; 4],
    pub area: i64,
    pub ratio: f32,
    pub region: [i32; 4],
    pub current_zones: Vec<String>,
    pub entered_zones: Vec<String>,
    pub stationary: bool,
    pub motionless_count: u32,
    pub position_changes: u32,
    pub has_snapshot: bool,
    pub has_clip: bool,
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    New,
    Update,
    End,
}

/// One `<prefix>/events` message; `best_snapshot`: this frame is the
/// object's best so far (the caller saves it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackerEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub before: EventObject,
    pub after: EventObject,
    #[serde(skip)]
    pub best_snapshot: bool,
}

#[derive(Debug, Clone)]
struct Tracked {
    obj: EventObject,
    /// Last published state (the next event's `before`).
    published: Option<EventObject>,
    raw_box: [f32; 4],
    moved_box: [f32; 4],
    disappeared: u32,
    zone_hits: HashMap<String, u32>,
    best: (f32, i64),
}

/// The tracker of one camera.
#[derive(Debug)]
pub struct Tracker {
    s: TrackerSettings,
    live: Vec<Tracked>,
    seq: u64,
}

pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

fn bottom_centre(b: &[f32; 4], w: f32, h: f32) -> (f32, f32) {
    ((b[0] + b[2]) / 2.0 / w, b[3] / h)
}

impl Tracker {
    pub fn new(s: TrackerSettings) -> Tracker {
        Tracker { s, live: Vec::new(), seq: 0 }
    }

    pub fn settings(&self) -> &TrackerSettings {
        &self.s
    }

    fn filter(&self, label: &str) -> LabelFilter {
        self.s.filters.get(label).copied().unwrap_or_default()
    }

    fn keep(&self, d: &Detection) -> bool {
        let f = self.filter(&d.label);
        let area = (d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1]);
        let (x, y) = bottom_centre(&d.bbox, self.s.frame_w, self.s.frame_h);
        d.score >= f.min_score && area >= f.min_area && !self.s.object_masks.iter().any(|m| point_in_polygon(m, x, y))
    }

    /// Labels of live, confirmed objects and how many of each
    /// (`<prefix>/<camera>/<label>` counts).
    pub fn counts(&self) -> HashMap<String, u32> {
        let mut out = HashMap::new();
        for t in self.live.iter().filter(|t| t.published.is_some()) {
            *out.entry(t.obj.label.clone()).or_insert(0) += 1;
        }
        out
    }

    /// Some live object is not stationary.
    pub fn has_moving(&self) -> bool {
        self.live.iter().any(|t| !t.obj.stationary)
    }

    /// Feed one analysed frame (time in Unix seconds).
    pub fn update(&mut self, now: f64, detections: &[Detection]) -> Vec<TrackerEvent> {
        let dets: Vec<&Detection> = detections.iter().filter(|d| self.keep(d)).collect();
        // Greedy IoU matching, best pairs first.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.live.iter().enumerate() {
            for (di, d) in dets.iter().enumerate() {
                let v = iou(&t.raw_box, &d.bbox);
                if t.obj.label == d.label && v >= self.s.iou_match {
                    pairs.push((v, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut t_used, mut d_used) = (vec![false; self.live.len()], vec![false; dets.len()]);
        let mut matched: Vec<(usize, usize)> = Vec::new();
        for (_, ti, di) in pairs {
            if !t_used[ti] && !d_used[di] {
                t_used[ti] = true;
                d_used[di] = true;
                matched.push((ti, di));
            }
        }
        let mut out = Vec::new();
        for (ti, di) in matched {
            let d = dets[di];
            if let Some(ev) = self.observe(ti, now, d) {
                out.push(ev);
            }
        }
        for (ti, used) in t_used.iter().enumerate() {
            if !used {
                self.live[ti].disappeared = self.live[ti].disappeared.saturating_add(1);
            }
        }
        for (di, d) in dets.iter().enumerate() {
            if !d_used[di] {
                self.seq += 1;
                let t = self.start(now, d);
                self.live.push(t);
                let ti = self.live.len() - 1;
                if let Some(ev) = self.observe(ti, now, d) {
                    out.push(ev);
                }
            }
        }
        let max = self.s.max_disappeared;
        let (gone, live): (Vec<Tracked>, Vec<Tracked>) =
            std::mem::take(&mut self.live).into_iter().partition(|t| t.disappeared > max);
        self.live = live;
        for t in gone {
            if let Some(before) = t.published {
                let mut after = t.obj.clone();
                after.end_time = Some(now);
                after.active = false;
                out.push(TrackerEvent { kind: EventType::End, before, after, best_snapshot: false });
            }
        }
        out
    }

    /// End every live event (shutdown).
    pub fn end_all(&mut self, now: f64) -> Vec<TrackerEvent> {
        for t in &mut self.live {
            t.disappeared = u32::MAX;
        }
        let max = std::mem::replace(&mut self.s.max_disappeared, 0);
        let out = self.update(now, &[]);
        self.s.max_disappeared = max;
        out
    }

    fn start(&self, now: f64, d: &Detection) -> Tracked {
        let obj = EventObject {
            id: format!("{now:.6}-{}", base36(self.seq)),
            camera: self.s.camera.clone(),
            frame_time: now,
            label: d.label.clone(),
            sub_label: None,
            score: 0.0,
            top_score: 0.0,
            false_positive: true,
            start_time: now,
            end_time: None,
            bbox: [0; 4],
            area: 0,
            ratio: 0.0,
            region: [0, 0, self.s.frame_w as i32, self.s.frame_h as i32],
            current_zones: Vec::new(),
            entered_zones: Vec::new(),
            stationary: false,
            motionless_count: 0,
            position_changes: 0,
            has_snapshot: false,
            has_clip: false,
            active: true,
        };
        Tracked {
            obj,
            published: None,
            raw_box: d.bbox,
            moved_box: d.bbox,
            disappeared: 0,
            zone_hits: HashMap::new(),
            best: (f32::MIN, 0),
        }
    }

    /// Apply detection `d` to live object `ti`; the event to publish, if any.
    fn observe(&mut self, ti: usize, now: f64, d: &Detection) -> Option<TrackerEvent> {
        let (fw, fh) = (self.s.frame_w, self.s.frame_h);
        let threshold = self.filter(&d.label).threshold;
        let zones = self.s.zones.clone();
        let stationary_frames = self.s.stationary_frames;
        let t = &mut self.live[ti];
        let prev = t.obj.clone();
        t.disappeared = 0;
        t.raw_box = d.bbox;
        let o = &mut t.obj;
        o.frame_time = now;
        o.score = d.score;
        o.top_score = o.top_score.max(d.score);
        o.false_positive = o.top_score < threshold;
        o.bbox = d.bbox.map(|v| v.round() as i32);
        let (w, h) = (d.bbox[2] - d.bbox[0], d.bbox[3] - d.bbox[1]);
        o.area = (w * h).round() as i64;
        o.ratio = if h > 0.0 { w / h } else { 0.0 };
        let moved = iou(&t.moved_box, &d.bbox) < STATIONARY_IOU;
        if moved {
            t.moved_box = d.bbox;
            o.motionless_count = 0;
            o.position_changes += 1;
        } else {
            o.motionless_count = o.motionless_count.saturating_add(1);
        }
        o.stationary = o.motionless_count >= stationary_frames;
        let (bx, by) = bottom_centre(&d.bbox, fw, fh);
        for z in &zones {
            let hits = t.zone_hits.entry(z.name.clone()).or_insert(0);
            if point_in_polygon(&z.polygon, bx, by) {
                *hits = hits.saturating_add(1);
            } else {
                *hits = 0;
            }
            let inside = *hits >= z.inertia.max(1);
            let listed = o.current_zones.contains(&z.name);
            if inside && !listed {
                o.current_zones.push(z.name.clone());
                if !o.entered_zones.contains(&z.name) {
                    o.entered_zones.push(z.name.clone());
                }
            } else if !inside && listed {
                o.current_zones.retain(|n| n != &z.name);
            }
        }
        let area = o.area;
        let best = d.score > t.best.0 || (d.score == t.best.0 && area > t.best.1);
        if best {
            t.best = (d.score, area);
        }
        if o.false_positive {
            return None;
        }
        let Some(before) = t.published.clone() else {
            o.has_snapshot = true;
            t.published = Some(o.clone());
            return Some(TrackerEvent {
                kind: EventType::New,
                before: o.clone(),
                after: o.clone(),
                best_snapshot: true,
            });
        };
        let changed = o.top_score > prev.top_score
            || o.current_zones != prev.current_zones
            || o.stationary != prev.stationary
            || (moved && !o.stationary);
        if !changed || (o.stationary && prev.stationary) {
            return None;
        }
        t.published = Some(o.clone());
        Some(TrackerEvent { kind: EventType::Update, before, after: o.clone(), best_snapshot: best })
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TrackerSettings {
        TrackerSettings {
            camera: "door".into(),
            frame_w: 100.0,
            frame_h: 100.0,
            iou_match: 0.3,
            max_disappeared: 2,
            stationary_frames: 3,
            zones: vec![Zone {
                name: "porch".into(),
                polygon: vec![(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)],
                inertia: 2,
            }],
            object_masks: vec![vec![(0.0, 0.9), (0.2, 0.9), (0.2, 1.0), (0.0, 1.0)]],
            filters: HashMap::from([("person".into(), LabelFilter { min_score: 0.4, min_area: 50.0, threshold: 0.7 })]),
        }
    }

    fn person(score: f32, x: f32, y: f32) -> Detection {
        Detection { label: "person".into(), score, bbox: [x, y, x + 10.0, y + 40.0] }
    }

    fn kinds(ev: &[TrackerEvent]) -> Vec<EventType> {
        ev.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn an_event_starts_at_the_threshold_moves_into_a_zone_and_ends() {
        let mut t = Tracker::new(settings());
        // Below the threshold: tracked, no event.
        assert!(t.update(1.0, &[person(0.6, 10.0, 5.0)]).is_empty());
        let ev = t.update(1.5, &[person(0.8, 12.0, 5.0)]);
        assert_eq!(kinds(&ev), vec![EventType::New]);
        let new = &ev[0].after;
        assert_eq!((new.start_time, new.top_score, new.bbox), (1.0, 0.8, [12, 5, 22, 45]));
        assert!(new.has_snapshot && ev[0].best_snapshot && new.id.starts_with("1.000000-"));
        assert_eq!(t.counts().get("person"), Some(&1));
        // Walk into the porch zone (the bottom half): inertia 2 frames.
        let ev = t.update(2.0, &[person(0.75, 12.0, 15.0)]);
        assert_eq!(kinds(&ev), vec![EventType::Update]);
        assert!(ev[0].after.current_zones.is_empty(), "{ev:?}");
        let ev = t.update(2.5, &[person(0.75, 12.0, 16.0)]);
        assert_eq!(kinds(&ev), vec![EventType::Update]);
        assert_eq!(ev[0].after.entered_zones, vec!["porch"]);
        assert_eq!(ev[0].before.current_zones, Vec::<String>::new());
        // Gone for more than max_disappeared frames: end.
        assert!(t.update(3.0, &[]).is_empty());
        assert!(t.update(3.5, &[]).is_empty());
        let ev = t.update(4.0, &[]);
        assert_eq!(kinds(&ev), vec![EventType::End]);
        assert_eq!(ev[0].after.end_time, Some(4.0));
        assert_eq!(ev[0].after.entered_zones, vec!["porch"]);
        assert!(!ev[0].after.active && ev[0].before.active);
        assert!(t.counts().is_empty());
        assert!(!t.has_moving());
    }

    #[test]
    fn a_stationary_object_stops_updating_until_it_moves() {
        let mut t = Tracker::new(settings());
        let mut updates = 0;
        let mut score = 0.8;
        for i in 0..50 {
            score = (score + 0.001f32).min(0.99);
            let ev = t.update(f64::from(i), &[person(score, 10.0, 10.0)]);
            updates += ev.iter().filter(|e| e.kind == EventType::Update).count();
            if i > 5 {
                assert!(ev.iter().all(|e| e.kind != EventType::Update), "frame {i}: {ev:?}");
            }
        }
        assert!(updates <= 4, "{updates}");
        let ev = t.update(60.0, &[person(0.9, 14.0, 10.0)]);
        assert_eq!(kinds(&ev), vec![EventType::Update]);
        assert!(!ev[0].after.stationary && ev[0].before.stationary);
    }

    #[test]
    fn filters_and_masks_drop_detections() {
        let mut t = Tracker::new(settings());
        let small = Detection { label: "person".into(), score: 0.9, bbox: [0.0, 0.0, 5.0, 5.0] };
        let weak = person(0.3, 40.0, 10.0);
        let masked = person(0.9, 2.0, 55.0); // bottom centre (0.07, 0.95)
        for _ in 0..5 {
            assert!(t.update(1.0, &[small.clone(), weak.clone(), masked.clone()]).is_empty());
        }
        // Other labels use the default filter (min score 0.5, threshold 0.7).
        let car = Detection { label: "car".into(), score: 0.9, bbox: [50.0, 10.0, 90.0, 30.0] };
        assert_eq!(kinds(&t.update(2.0, &[car])), vec![EventType::New]);
    }

    #[test]
    fn two_objects_keep_their_ids_and_best_snapshot_follows_the_score() {
        let mut t = Tracker::new(settings());
        let a = |x: f32, s: f32| person(s, x, 10.0);
        let ev = t.update(1.0, &[a(10.0, 0.8), a(60.0, 0.9)]);
        assert_eq!(ev.len(), 2);
        let ids: Vec<String> = ev.iter().map(|e| e.after.id.clone()).collect();
        assert_ne!(ids[0], ids[1]);
        let ev = t.update(2.0, &[a(62.0, 0.95), a(12.0, 0.7)]);
        let up: Vec<&TrackerEvent> = ev.iter().filter(|e| e.kind == EventType::Update).collect();
        assert_eq!(up.len(), 2, "{ev:?}");
        for e in &up {
            assert!(ids.contains(&e.after.id));
            // The object at 60 got a better score: its frame is the best; the other's is not.
            assert_eq!(e.best_snapshot, e.after.bbox[0] == 62, "{e:?}");
        }
        let ends = t.end_all(3.0);
        assert_eq!(kinds(&ends), vec![EventType::End, EventType::End]);
    }

    #[test]
    fn event_json_has_frigates_fields() {
        let mut t = Tracker::new(settings());
        let ev = t.update(1.0, &[person(0.9, 10.0, 10.0)]);
        let v = serde_json::to_value(&ev[0]).unwrap();
        assert_eq!(v["type"], "new");
        for k in [
            "id",
            "camera",
            "frame_time",
            "label",
            "sub_label",
            "score",
            "top_score",
            "box",
            "area",
            "region",
            "current_zones",
            "entered_zones",
            "stationary",
            "has_snapshot",
            "start_time",
            "end_time",
        ] {
            assert!(v["after"].get(k).is_some() && v["before"].get(k).is_some(), "{k}: {v}");
        }
        assert_eq!(v["after"]["box"], serde_json::json!([10, 10, 20, 50]));
        assert!(v["after"]["end_time"].is_null());
        assert!((iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 1.0, 3.0, 3.0]) - 1.0 / 7.0).abs() < 1e-6);
    }
}
