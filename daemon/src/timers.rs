//! The timer task: owns the hub's [`Timers`], saves every change to SQLite
//! before answering (a restart keeps them), wakes at the next deadline, and
//! announces each change on the event bus and on MQTT
//! (`<topic_prefix>/timer`, QoS 1, not retained). A timer made from "turn
//! off the oven in 10 minutes" runs its sentence through the pipeline when
//! it finishes, once: the row is marked fired first and deleted after, and a
//! restart in between runs the sentence only if no command carrying the
//! timer's correlation id was stored.
//!
//! The pure state machine is `hub_skills::timers`; this file is its I/O.

use std::time::Duration;

use hub_skills::timers::{Applied, Change, Timer, TimerError, TimerOp, TimerView, Timers};

use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::events::{EventBus, HubEvent, TimerEvent};
use crate::mqtt::MqttLink;
use crate::pipeline::{Origin, Pipeline};
use crate::store::{self, Store, StoreError};

/// The longest the task sleeps before looking at the wall clock again (a
/// clock step or a suspend is noticed within this).
const MAX_SLEEP: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum TimersError {
    #[error("{0}")]
    Timer(#[from] TimerError),
    #[error("cannot save the timer")]
    Store(#[source] StoreError),
    #[error("the timer task has stopped")]
    Stopped,
}

impl TimersError {
    /// The spoken reply.
    pub fn reply(&self) -> String {
        match self {
            TimersError::Timer(e) => e.reply(),
            TimersError::Store(_) | TimersError::Stopped => "Sorry, I can't keep timers right now.".into(),
        }
    }
}

enum Msg {
    Apply(TimerOp, oneshot::Sender<Result<Applied, TimersError>>),
    List(oneshot::Sender<Vec<TimerView>>),
}

/// Cloneable handle to the timer task.
#[derive(Clone)]
pub struct TimerService {
    tx: mpsc::Sender<Msg>,
}

impl TimerService {
    /// Apply a timer intent's operation; the reply is Home Assistant's.
    pub async fn apply(&self, op: TimerOp) -> Result<Applied, TimersError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Apply(op, tx)).await.map_err(|_| TimersError::Stopped)?;
        rx.await.map_err(|_| TimersError::Stopped)?
    }

    /// Every timer, soonest first.
    pub async fn list(&self) -> Vec<TimerView> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::List(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// What the timer task needs.
pub struct Deps {
    pub store: Store,
    pub bus: EventBus,
    pub link: MqttLink,
    /// `[mqtt] topic_prefix`: events go to `<prefix>/timer`.
    pub topic_prefix: String,
    /// Runs the sentences of command timers.
    pub pipeline: Pipeline,
    /// Sentences run in tasks the runtime awaits at shutdown.
    pub tracker: tokio_util::task::TaskTracker,
    /// Says "The pasta timer is done." (`[audio] output`).
    pub speaker: Option<crate::speech::Speaker>,
    pub stop: watch::Receiver<bool>,
}

/// Load the stored timers and start the task. Timers that ended while the
/// hub was down finish at once.
pub async fn spawn(deps: Deps) -> Result<(TimerService, JoinHandle<()>), StoreError> {
    let stored = deps.store.timers().await?;
    let mut live = Vec::new();
    let task = Task { deps, timers: Timers::default() };
    for s in stored {
        match s.fired_at {
            None => live.push(s.timer),
            Some(_) => task.resume_fired(s.timer).await,
        }
    }
    let mut task = Task { timers: Timers::new(live), ..task };
    let (tx, rx) = mpsc::channel(64);
    let handle = tokio::spawn(async move { task.run(rx).await });
    Ok((TimerService { tx }, handle))
}

struct Task {
    deps: Deps,
    timers: Timers,
}

fn correlation(t: &Timer) -> String {
    format!("timer-{}-{}", t.id, t.created_ms)
}

impl Task {
    async fn run(&mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut stop = self.deps.stop.clone();
        loop {
            self.finish_due().await;
            let wait = match self.timers.next_deadline() {
                Some(end) => Duration::from_millis((end - store::now_ms()).max(0) as u64).min(MAX_SLEEP),
                None => MAX_SLEEP,
            };
            tokio::select! {
                _ = async { drop(stop.wait_for(|s| *s).await) } => break,
                _ = tokio::time::sleep(wait) => {}
                msg = rx.recv() => match msg {
                    None => break,
                    Some(Msg::List(tx)) => {
                        let _ = tx.send(self.timers.views(store::now_ms()));
                    }
                    Some(Msg::Apply(op, tx)) => {
                        let out = self.apply(op).await;
                        let _ = tx.send(out);
                    }
                },
            }
        }
    }

    /// Apply, save, announce. After a failed save the state is reloaded
    /// from SQLite, which stays the one truth.
    async fn apply(&mut self, op: TimerOp) -> Result<Applied, TimersError> {
        let now = store::now_ms();
        let applied = self.timers.apply(&op, now)?;
        if let Err(e) = self.save(&applied.changes).await {
            tracing::error!(error = %e, "cannot save a timer change; reloading the timers");
            if let Ok(stored) = self.deps.store.timers().await {
                self.timers = Timers::new(stored.into_iter().filter(|s| s.fired_at.is_none()).map(|s| s.timer));
            }
            return Err(TimersError::Store(e));
        }
        let what = match op {
            TimerOp::Start { .. } => TimerEvent::Started,
            TimerOp::Cancel(_) | TimerOp::CancelAll { .. } => TimerEvent::Cancelled,
            TimerOp::Add(..) => TimerEvent::Updated,
            TimerOp::Pause(_) => TimerEvent::Paused,
            TimerOp::Unpause(_) => TimerEvent::Resumed,
            TimerOp::Status(_) => TimerEvent::Updated,
        };
        for t in &applied.timers {
            self.announce(what, t, now);
        }
        for t in applied.finished.clone() {
            self.finish(t).await;
        }
        Ok(applied)
    }

    async fn save(&self, changes: &[Change]) -> Result<(), StoreError> {
        for c in changes {
            match c {
                Change::Saved(t) => self.deps.store.save_timer(t).await?,
                Change::Removed(id) => self.deps.store.delete_timer(*id).await?,
            }
        }
        Ok(())
    }

    async fn finish_due(&mut self) {
        for t in self.timers.take_due(store::now_ms()) {
            self.finish(t).await;
        }
    }

    /// A timer ended: mark it, announce it, run its sentence, delete it.
    async fn finish(&self, t: Timer) {
        let now = store::now_ms();
        if let Err(e) = self.deps.store.mark_timer_fired(t.id, now).await {
            tracing::error!(timer = t.id, error = %e, "cannot mark a finished timer");
        }
        tracing::info!(timer = t.id, name = ?t.name, area = ?t.area, command = ?t.command, "timer finished");
        self.announce(TimerEvent::Finished, &t, now);
        if let (Some(speaker), Some(text)) = (&self.deps.speaker, hub_skills::timers::finished_text(&t)) {
            speaker.announce(text, "timer");
        }
        self.run_command(t);
    }

    /// A timer that had finished before a restart: run its sentence unless
    /// that already happened, then delete it.
    async fn resume_fired(&self, t: Timer) {
        let done = match &t.command {
            None => true,
            Some(_) => match self.deps.store.count_correlated_commands(&correlation(&t)).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(timer = t.id, error = %e, "cannot check a finished timer's commands");
                    true
                }
            },
        };
        if done {
            if let Err(e) = self.deps.store.delete_timer(t.id).await {
                tracing::error!(timer = t.id, error = %e, "cannot delete a finished timer");
            }
        } else {
            tracing::info!(timer = t.id, "running the sentence of a timer that finished before the restart");
            self.run_command(t);
        }
    }

    /// Run the timer's sentence (in its own task: the pipeline waits for
    /// device echoes), then delete the row.
    fn run_command(&self, t: Timer) {
        let (pipeline, store) = (self.deps.pipeline.clone(), self.deps.store.clone());
        self.deps.tracker.spawn(async move {
            if let Some(text) = &t.command {
                let origin = Origin { area: t.area.clone(), ..Origin::text() };
                match pipeline.handle_text_correlated(text, origin, Some(correlation(&t))).await {
                    Ok(out) => tracing::info!(timer = t.id, text, reply = %out.reply, "timer sentence ran"),
                    Err(e) => tracing::warn!(timer = t.id, text, error = %e, "timer sentence failed"),
                }
            }
            if let Err(e) = store.delete_timer(t.id).await {
                tracing::error!(timer = t.id, error = %e, "cannot delete a finished timer");
            }
        });
    }

    fn announce(&self, what: TimerEvent, t: &Timer, now: i64) {
        let view =
            TimerView { timer: t.clone(), seconds_left: t.left_ms(now) as f64 / 1000.0, is_active: t.is_active() };
        let payload = serde_json::json!({ "type": what.as_str(), "timer": view });
        let topic = format!("{}/timer", self.deps.topic_prefix);
        self.deps.link.publish_soon(topic, payload.to_string().into_bytes(), false, "timer event");
        self.deps.bus.publish(HubEvent::Timer { what, timer: view });
    }
}
