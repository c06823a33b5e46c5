//! Retention (`[store] retention_days`, `max_db_mb`): a task that purges the
//! database at start-up and then once a day, until shutdown.
//!
//! What goes: dialogue turns, events, automation runs and finished commands
//! older than `retention_days` (0 keeps them), then, while the database uses
//! more than `max_db_mb`, the oldest of those rows first. Open commands
//! (pending/sent) and device state are never purged. Files that purged rows
//! point to (utterance recordings, event snapshots) are deleted with them.
//! The SQL lives in [`Store::purge_older_than`] / [`Store::purge_to_size`];
//! this module owns only the schedule and the file deletions.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::config::Config;
use crate::store::{PurgeReport, Store, StoreError};

/// Rows purged per step while over the size cap.
const SIZE_BATCH: u32 = 500;

/// What to purge and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Rows older than this many days go; 0 keeps everything (age-wise).
    pub retention_days: u32,
    /// Size cap in bytes; `None` = no cap.
    pub max_db_bytes: Option<u64>,
    /// Time between purges (the first runs at start-up).
    pub period: Duration,
}

impl From<&Config> for Settings {
    fn from(cfg: &Config) -> Settings {
        Settings {
            retention_days: cfg.store.retention_days,
            max_db_bytes: cfg.store.max_db_mb.map(|mb| mb.saturating_mul(1024 * 1024)),
            period: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl Settings {
    /// Nothing to do: no age limit and no size cap.
    pub fn keeps_everything(&self) -> bool {
        self.retention_days == 0 && self.max_db_bytes.is_none()
    }
}

/// Start the retention task. It purges once right away, then every
/// `settings.period`, and returns when `shutdown` turns true (or its sender
/// is gone). With nothing to purge by configuration it returns at once.
pub fn spawn(store: Store, settings: Settings, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        if settings.keeps_everything() {
            return;
        }
        let period = settings.period;
        schedule(period, shutdown, || {
            let store = store.clone();
            let settings = settings.clone();
            async move {
                match purge_once(&store, &settings).await {
                    Ok(r) if r.rows() > 0 => tracing::info!(
                        turns = r.turns,
                        commands = r.commands,
                        events = r.events,
                        automation_runs = r.automation_runs,
                        files = r.files.len(),
                        "retention purge"
                    ),
                    Ok(_) => tracing::debug!("retention purge: nothing to remove"),
                    Err(e) => tracing::warn!(error = %e, "retention purge failed; retrying at the next period"),
                }
            }
        })
        .await;
    })
}

/// Run `purge` now and then every `period` until shutdown. A purge in
/// progress is finished before shutdown is noticed (it is one transaction
/// per step, and short).
async fn schedule<F, Fut>(period: Duration, mut shutdown: watch::Receiver<bool>, mut purge: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = tick.tick() => purge().await,
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// One purge: by age, then by size, then the files of the purged rows.
pub async fn purge_once(store: &Store, settings: &Settings) -> Result<PurgeReport, StoreError> {
    let mut report = store.purge_retention(settings.retention_days).await?;
    if let Some(max) = settings.max_db_bytes {
        report.merge(store.purge_to_size(max, SIZE_BATCH).await?);
    }
    for f in &report.files {
        match tokio::fs::remove_file(f).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(file = %f.display(), error = %e, "cannot delete a purged row's file"),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::store::{CommandStatus, Modality, NewCommand, NewTurn, Role, now_ms};

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;

    /// Let spawned tasks run what is ready (paused clock, one thread).
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    fn settings(days: u32, max_db_bytes: Option<u64>) -> Settings {
        Settings { retention_days: days, max_db_bytes, period: DAY }
    }

    fn command(payload: &str) -> NewCommand {
        NewCommand {
            device_id: "light.a".into(),
            topic: "z/a/set".into(),
            payload: payload.as_bytes().to_vec(),
            retain: false,
            action: serde_json::json!({"action": "turn_on"}),
            expires_at: None,
            correlation: None,
        }
    }

    /// The schedule on a paused clock. (The purge itself is tested on real
    /// SQLite files below with the real clock: under a paused clock sqlx's
    /// pool acquire timeout fires as soon as the runtime idles while SQLite
    /// works on its own thread.)
    #[tokio::test(start_paused = true)]
    async fn purges_at_start_up_then_daily_until_shutdown() {
        let runs = Arc::new(AtomicU32::new(0));
        let (tx, rx) = watch::channel(false);
        let r = runs.clone();
        let task = tokio::spawn(schedule(DAY, rx, move || {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
            }
        }));
        settle().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "a purge at start-up");
        tokio::time::advance(DAY - Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "not before a day has passed");
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "then daily");
        tokio::time::advance(DAY * 3).await;
        settle().await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "missed days are not replayed in a burst");
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), task).await.expect("stops on shutdown").unwrap();
    }

    #[tokio::test]
    async fn purge_removes_old_finished_rows_and_their_files_never_open_commands() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("hub.db")).await.unwrap();
        let wav = dir.path().join("old.wav");
        std::fs::write(&wav, b"RIFF").unwrap();
        let mut old_turn = NewTurn::new("s", Role::User, Modality::Voice, "old");
        old_turn.audio_path = Some(wav.display().to_string());
        let old_turn = store.insert_turn(&old_turn).await.unwrap();
        let new_turn = store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, "new")).await.unwrap();
        let ids = store.insert_commands(&[command("old acked"), command("old pending")]).await.unwrap();
        store.mark_acked(ids[0]).await.unwrap();
        let old = now_ms() - 40 * DAY_MS;
        store.set_created_at("dialogue_turns", old_turn, old).await.unwrap();
        store.set_created_at("commands", ids[0], old).await.unwrap();
        store.set_created_at("commands", ids[1], old).await.unwrap();

        let report = purge_once(&store, &settings(30, None)).await.unwrap();
        assert_eq!((report.turns, report.commands), (1, 1), "{report:?}");
        assert!(!wav.exists(), "the purged turn's recording is deleted");
        let turns = store.recent_turns(10).await.unwrap();
        assert_eq!(turns.iter().map(|t| t.id).collect::<Vec<_>>(), vec![new_turn]);
        let cmds = store.recent_commands(10).await.unwrap();
        assert_eq!(cmds.len(), 1);
        assert_eq!((cmds[0].id, cmds[0].status), (ids[1], CommandStatus::Pending), "open commands are never purged");
    }

    #[tokio::test]
    async fn size_cap_purges_oldest_finished_rows_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("hub.db")).await.unwrap();
        let big = "x".repeat(4000);
        let turns: Vec<NewTurn> =
            (0..400).map(|i| NewTurn::new("s", Role::User, Modality::Text, format!("{i} {big}"))).collect();
        let ids = store.insert_turns(&turns).await.unwrap();
        for (age, id) in ids.iter().enumerate() {
            // The first inserted is the oldest.
            store.set_created_at("dialogue_turns", *id, now_ms() - 1000 * (400 - age as i64)).await.unwrap();
        }
        let open = store.insert_commands(&[command("open")]).await.unwrap();
        store.set_created_at("commands", open[0], 0).await.unwrap();
        let before = store.used_bytes().await.unwrap();
        assert!(before > 1_000_000, "{before}");
        let cap = before / 2;

        // No age limit: only the cap applies.
        let report = purge_once(&store, &settings(0, Some(cap))).await.unwrap();
        assert!(report.turns > 0 && report.turns < 400, "{report:?}");
        assert!(store.used_bytes().await.unwrap() <= cap);
        let left = store.recent_turns(1000).await.unwrap();
        let oldest_left = left.iter().map(|t| t.id).min().unwrap();
        assert_eq!(oldest_left, ids[report.turns as usize], "the oldest rows went first");
        assert_eq!(left.iter().map(|t| t.id).max(), ids.last().copied(), "the newest is kept");
        let cmds = store.recent_commands(10).await.unwrap();
        assert_eq!(cmds.iter().map(|c| c.id).collect::<Vec<_>>(), open, "an open command is kept, however old");
    }

    #[tokio::test]
    async fn spawned_task_purges_at_start_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("hub.db")).await.unwrap();
        let id = store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, "old")).await.unwrap();
        store.set_created_at("dialogue_turns", id, now_ms() - 40 * DAY_MS).await.unwrap();
        let (tx, rx) = watch::channel(false);
        let task = spawn(store.clone(), settings(30, None), rx);
        let t0 = std::time::Instant::now();
        while !store.recent_turns(10).await.unwrap().is_empty() {
            assert!(t0.elapsed() < Duration::from_secs(10), "start-up purge did not run");
            tokio::task::yield_now().await;
        }
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("stops on shutdown").unwrap();
    }
}
