//! The hub's event bus: one typed stream of what happens in the home.
//!
//! Producers (the outbox, the pipeline, the voice loop, later cameras and
//! automations) call [`EventBus::publish`], which never blocks and never
//! fails: it stamps the event with a sequence number, keeps it in a bounded
//! replay window and hands it to a `tokio::sync::broadcast` channel. A slow
//! subscriber does not slow a producer; it loses the oldest events instead,
//! and the loss is counted ([`EventBus::lagged`], `hubd_events_lagged_total`).
//! `GET /api/events` streams the bus as Server-Sent Events; the replay window
//! serves `Last-Event-ID` so a reconnecting browser misses nothing recent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use firmware_bridge::DeviceState;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::store::{CommandStatus, Modality, Role};

/// Where a device state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateSource {
    /// A state message from the device (or its bridge) over MQTT.
    Mqtt,
}

/// Something that happened in the home or the hub.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HubEvent {
    /// A device reported a state that differs from the last one known.
    StateChanged { entity_id: String, old: Option<DeviceState>, new: DeviceState, source: StateSource },
    /// An outbox row changed status.
    CommandStatus { command_id: i64, entity_id: String, status: CommandStatus, attempts: u32, reason: Option<String> },
    /// A dialogue turn was stored.
    DialogueTurn { turn_id: i64, session: String, role: Role, modality: Modality, text: String },
    /// The audio gate's counters after an utterance (VAD frames seen, speech
    /// frames, utterances cut, utterances decoded by Whisper).
    AudioGate { frames: u64, speech_frames: u64, utterances: u64, decoded: u64 },
    /// An automation run ended (or a trigger was refused): its stored id,
    /// outcome and what triggered it.
    AutomationRun {
        run_id: i64,
        automation_id: String,
        outcome: String,
        trigger: serde_json::Value,
        error: Option<String>,
    },
    /// A camera's motion switch turned on or off (`<prefix>/<camera>/motion`).
    Motion { camera: String, on: bool },
    /// A Frigate event (`<prefix>/events`): `event_type` new/update/end.
    CameraEvent {
        event_type: String,
        id: String,
        camera: String,
        label: String,
        top_score: f32,
        current_zones: Vec<String>,
        entered_zones: Vec<String>,
        start_time: f64,
        end_time: Option<f64>,
        has_snapshot: bool,
    },
    /// A timer was started, changed, cancelled or finished (`what`); the
    /// timer as it is now, with the seconds left.
    Timer { what: TimerEvent, timer: hub_skills::timers::TimerView },
    /// One stage of a request on its way through the pipeline (as Home
    /// Assistant's assist-pipeline events): `wake`, `speech`, `transcript`
    /// (voice), then `intent`, `commands` and `reply`. `ms` counts from the
    /// end of speech for voice, from the request for text.
    Pipeline { session: String, stage: PipelineStage, ms: f64, data: serde_json::Value },
}

/// The stages of [`HubEvent::Pipeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineStage {
    /// The wake phrase was heard (`via`: wake_phrase or follow_up).
    Wake,
    /// An utterance ended (`speech_ms`, `endpoint_ms`; `start_ms` and
    /// `end_ms` place the speech on the voice clock, 0 = its end).
    Speech,
    /// Whisper's transcript (`text`, `asr_ms`).
    Transcript,
    /// What the request was understood as (`intent`, `source`, `confidence`).
    Intent,
    /// Its commands are in the outbox (`ids`).
    Commands,
    /// The reply (`text`, `error`).
    Reply,
    /// The reply started playing (`tts_ms`, `audio_ms`, `device`); `ms`
    /// is from the end of speech.
    Spoken,
    /// A stop phrase heard while hubd spoke cut its speech (`text`,
    /// `was_speaking`); the conversation ends.
    Interrupted,
}

/// What happened to a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerEvent {
    Started,
    Updated,
    Paused,
    Resumed,
    Cancelled,
    Finished,
}

impl TimerEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerEvent::Started => "started",
            TimerEvent::Updated => "updated",
            TimerEvent::Paused => "paused",
            TimerEvent::Resumed => "resumed",
            TimerEvent::Cancelled => "cancelled",
            TimerEvent::Finished => "finished",
        }
    }
}

impl HubEvent {
    /// The SSE `event:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            HubEvent::StateChanged { .. } => "state_changed",
            HubEvent::CommandStatus { .. } => "command_status",
            HubEvent::DialogueTurn { .. } => "dialogue_turn",
            HubEvent::AudioGate { .. } => "audio_gate",
            HubEvent::AutomationRun { .. } => "automation_run",
            HubEvent::Motion { .. } => "motion",
            HubEvent::CameraEvent { .. } => "camera_event",
            HubEvent::Timer { .. } => "timer",
            HubEvent::Pipeline { .. } => "pipeline",
        }
    }
}

/// An event with its sequence number (the SSE id) and time.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope {
    pub id: u64,
    /// Unix ms.
    pub at: i64,
    #[serde(flatten)]
    pub event: HubEvent,
}

struct Inner {
    tx: broadcast::Sender<Arc<Envelope>>,
    /// Next sequence number; also the lock that orders sends, so ids reach
    /// every subscriber in order.
    window: Mutex<Window>,
    lagged: AtomicU64,
    published: AtomicU64,
}

struct Window {
    next_id: u64,
    recent: VecDeque<Arc<Envelope>>,
    cap: usize,
}

/// Cloneable handle to the bus.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus").field("published", &self.published()).finish()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(1024, 1024)
    }
}

impl EventBus {
    /// `capacity`: events a subscriber may fall behind before it loses the
    /// oldest; `replay`: events kept for `Last-Event-ID`.
    pub fn new(capacity: usize, replay: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus {
            inner: Arc::new(Inner {
                tx,
                window: Mutex::new(Window { next_id: 1, recent: VecDeque::with_capacity(replay), cap: replay }),
                lagged: AtomicU64::new(0),
                published: AtomicU64::new(0),
            }),
        }
    }

    /// Stamp and send; never blocks on subscribers.
    pub fn publish(&self, event: HubEvent) -> u64 {
        // A std mutex held only for the stamp, the window push and the
        // (non-blocking) broadcast send, never across an await.
        let mut w = match self.inner.window.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        let id = w.next_id;
        w.next_id += 1;
        let env = Arc::new(Envelope { id, at: crate::store::now_ms(), event });
        if w.cap > 0 {
            if w.recent.len() == w.cap {
                w.recent.pop_front();
            }
            w.recent.push_back(env.clone());
        }
        // Err only means nobody is subscribed.
        let _ = self.inner.tx.send(env);
        self.inner.published.fetch_add(1, Ordering::Relaxed);
        id
    }

    /// A live subscription plus the retained events after `last_id`
    /// (oldest first), with no gap and no duplicate between the two.
    pub fn subscribe_from(&self, last_id: Option<u64>) -> Subscription {
        let w = match self.inner.window.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        let rx = self.inner.tx.subscribe();
        let replay = match last_id {
            Some(last) => w.recent.iter().filter(|e| e.id > last).cloned().collect(),
            None => Vec::new(),
        };
        Subscription { rx, replay: replay.into(), bus: self.clone() }
    }

    pub fn subscribe(&self) -> Subscription {
        self.subscribe_from(None)
    }

    /// Events lost by slow subscribers, summed.
    pub fn lagged(&self) -> u64 {
        self.inner.lagged.load(Ordering::Relaxed)
    }

    pub fn published(&self) -> u64 {
        self.inner.published.load(Ordering::Relaxed)
    }

    pub fn subscribers(&self) -> usize {
        self.inner.tx.receiver_count()
    }
}

/// One subscriber's view of the bus.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Envelope>>,
    replay: VecDeque<Arc<Envelope>>,
    bus: EventBus,
}

impl Subscription {
    /// The next event; lost events are counted and skipped. `None` when the
    /// bus is gone.
    pub async fn recv(&mut self) -> Option<Arc<Envelope>> {
        if let Some(e) = self.replay.pop_front() {
            return Some(e);
        }
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.bus.inner.lagged.fetch_add(n, Ordering::Relaxed);
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Like [`Subscription::recv`] without waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Envelope>> {
        if let Some(e) = self.replay.pop_front() {
            return Some(e);
        }
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    self.bus.inner.lagged.fetch_add(n, Ordering::Relaxed);
                }
                Err(_) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(i: i64) -> HubEvent {
        HubEvent::DialogueTurn {
            turn_id: i,
            session: "s".into(),
            role: Role::User,
            modality: Modality::Text,
            text: format!("t{i}"),
        }
    }

    #[tokio::test]
    async fn subscribers_see_events_in_order() {
        let bus = EventBus::new(16, 16);
        let mut a = bus.subscribe();
        for i in 0..5 {
            bus.publish(turn(i));
        }
        for want in 1..=5u64 {
            assert_eq!(a.recv().await.map(|e| e.id), Some(want));
        }
    }

    /// A subscriber that never reads costs the producer nothing: publishing
    /// goes on at full speed and the loss is counted when it reads again.
    #[tokio::test]
    async fn a_stalled_subscriber_never_blocks_the_producer() {
        let bus = EventBus::new(8, 4);
        let mut stalled = bus.subscribe();
        let mut live = bus.subscribe();
        for i in 0..10_000 {
            bus.publish(turn(i));
            // The live one keeps up.
            assert!(live.try_recv().is_some());
        }
        assert_eq!(bus.published(), 10_000);
        let first = stalled.recv().await.map(|e| e.id);
        assert_eq!(first, Some(10_000 - 8 + 1), "the stalled subscriber resumes at the oldest retained event");
        assert_eq!(bus.lagged(), 10_000 - 8);
    }

    /// `Last-Event-ID` replay: retained events after the id, then live ones,
    /// with no gap and no duplicate.
    #[tokio::test]
    async fn replay_then_live_without_gap() {
        let bus = EventBus::new(16, 3);
        for i in 0..5 {
            bus.publish(turn(i));
        }
        let mut s = bus.subscribe_from(Some(3));
        bus.publish(turn(5));
        let ids: Vec<u64> =
            [s.recv().await, s.recv().await, s.recv().await].into_iter().flatten().map(|e| e.id).collect();
        assert_eq!(ids, vec![4, 5, 6]);
        // An id older than the window replays what is left of it.
        let mut s = bus.subscribe_from(Some(0));
        assert_eq!(s.try_recv().map(|e| e.id), Some(4));
    }

    #[test]
    fn events_serialise_with_their_type() {
        let v = serde_json::to_value(Envelope { id: 7, at: 1, event: turn(3) }).expect("json");
        assert_eq!(v["type"], "dialogue_turn");
        assert_eq!(v["id"], 7);
        assert_eq!(v["turn_id"], 3);
        assert_eq!(v["text"], "t3");
    }
}
