//! The store: SQLite (WAL) holding dialogue turns, the command outbox,
//! events, last known device state and automation runs.
//!
//! All SQL of the daemon lives here, as runtime `query`/`query_as` with
//! `FromRow` records (no compile-time `query!`, so no database is needed at
//! build time). Every query is covered by a test on a real SQLite file
//! (`store/tests.rs`). Writes that touch several rows run in one transaction.
//!
//! Migrations (`migrations/*.sql`) are embedded with `sqlx::migrate!` and run
//! at [`Store::open`]. A database whose schema is newer than this binary
//! knows is refused with [`StoreError::NewerSchema`] before anything is
//! written to it.
//!
//! Timestamps are unix milliseconds (UTC, [`now_ms`]); JSON columns are
//! `serde_json::Value` on the Rust side.
//!
//! [`Store`] is a cheap `Clone` handle over a connection pool; SQLite
//! serialises writers, and `busy_timeout` makes concurrent writers wait
//! rather than fail.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

/// `SELECT` of every `dialogue_turns` column a [`TurnRecord`] reads,
/// followed by `$rest` (one literal, so the query stays a `&'static str`).
macro_rules! select_turns {
    ($rest:literal) => {
        concat!(
            "SELECT id, session, role, modality, text, reasoning, intent, area, timings, correlation, audio_path, created_at ",
            $rest
        )
    };
}

/// `needle` for `LIKE ... ESCAPE '\'`: `%`, `_` and `\` match literally.
fn like_escape(needle: &str) -> String {
    needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

mod automations;
mod camera;
pub use camera::CameraEventQuery;
mod commands;
mod embeddings;
pub use automations::{AutomationRun, NewAutomationRun};
mod history;
mod lists;
pub use lists::ListItem;
mod timers;
pub use timers::StoredTimer;
#[cfg(test)]
mod tests;

/// The embedded migrations.
static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Unix time in milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("no database at {} (run `hubd migrate` or `hubd run` first)", path.display())]
    Missing { path: PathBuf },
    #[error(
        "database {} has schema version {db_version}, newer than this hubd knows (up to {known}); \
         use the newer hubd that wrote it, or another database file",
        path.display()
    )]
    NewerSchema { path: PathBuf, db_version: i64, known: i64 },
    #[error("database {}: migration failed: {source}", path.display())]
    Migrate {
        path: PathBuf,
        #[source]
        source: MigrateError,
    },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored value could not be read back (hand-edited or corrupted row).
    #[error("corrupt row {id} in `{table}`: {detail}")]
    Corrupt { table: &'static str, id: i64, detail: String },
}

impl StoreError {
    /// The disk holding the database is full: SQLite's `SQLITE_FULL` (what
    /// its VFS makes of `ENOSPC`), or `ENOSPC` itself from a file operation.
    /// The failed statement's transaction was rolled back.
    pub fn is_disk_full(&self) -> bool {
        let e = match self {
            StoreError::Db(e) | StoreError::Open { source: e, .. } => e,
            _ => return false,
        };
        match e {
            // Extended result codes keep the primary code in the low byte.
            sqlx::Error::Database(d) => d.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == 13),
            sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------
// Enumerations (TEXT columns with CHECK constraints)
// ---------------------------------------------------------------------------

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        #[sqlx(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err(format!(
                        "unknown {} `{s}`, expected one of {}",
                        stringify!($name),
                        [$($s),+].join(", ")
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// Who spoke a dialogue turn.
    Role { User = "user", Assistant = "assistant", System = "system", Tool = "tool" }
);
text_enum!(
    /// How a turn arrived.
    Modality { Text = "text", Voice = "voice", Api = "api" }
);
text_enum!(
    /// Outbox row status. `pending` -> `sent` -> `acked`; `failed`, `expired`
    /// and `superseded` (a newer command to the same device and attribute made
    /// it stale) are terminal too. Only `pending`/`sent` rows change.
    CommandStatus {
        Pending = "pending",
        Sent = "sent",
        Acked = "acked",
        Failed = "failed",
        Expired = "expired",
        Superseded = "superseded",
    }
);
text_enum!(
    /// Event kind.
    EventKind { Camera = "camera", Motion = "motion", Detection = "detection", Device = "device", System = "system" }
);

impl CommandStatus {
    /// Pending or sent: still to be acknowledged.
    pub fn is_open(self) -> bool {
        matches!(self, CommandStatus::Pending | CommandStatus::Sent)
    }
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// One status change of an outbox row (see [`Store::apply_command_updates`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandUpdate {
    pub id: i64,
    pub status: CommandStatus,
    pub attempts: u32,
    pub reason: Option<String>,
}

/// A dialogue turn to insert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTurn {
    pub session: String,
    pub role: Role,
    pub modality: Modality,
    pub text: String,
    pub reasoning: Option<String>,
    /// The understanding (intent, slots, ...) as JSON.
    pub intent: Option<serde_json::Value>,
    pub area: Option<String>,
    /// Per-stage latencies in ms, e.g. `{"asr": 120, "nlu": 3}`.
    pub timings: Option<serde_json::Value>,
    /// Shared by a user turn, its commands and the reply.
    pub correlation: Option<String>,
    /// The utterance's WAV when recordings are kept (voice turns).
    #[serde(default)]
    pub audio_path: Option<String>,
}

impl NewTurn {
    /// A turn with only the required fields set.
    pub fn new(session: impl Into<String>, role: Role, modality: Modality, text: impl Into<String>) -> Self {
        NewTurn {
            session: session.into(),
            role,
            modality,
            text: text.into(),
            reasoning: None,
            intent: None,
            area: None,
            timings: None,
            correlation: None,
            audio_path: None,
        }
    }
}

/// A stored dialogue turn.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DialogueTurn {
    pub id: i64,
    pub session: String,
    pub role: Role,
    pub modality: Modality,
    pub text: String,
    pub reasoning: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub intent: Option<serde_json::Value>,
    pub area: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub timings: Option<serde_json::Value>,
    pub correlation: Option<String>,
    pub audio_path: Option<String>,
    pub created_at: i64,
}

/// One MQTT message to enqueue in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCommand {
    pub device_id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    /// The `DeviceCommand` (or `Action`) this message carries, as JSON.
    pub action: serde_json::Value,
    /// Do not (re)publish after this instant (unix ms).
    pub expires_at: Option<i64>,
    pub correlation: Option<String>,
}

/// A stored outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandRow {
    pub id: i64,
    pub device_id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub action: serde_json::Value,
    pub status: CommandStatus,
    pub attempts: u32,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
    pub acked_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub error: Option<String>,
    pub correlation: Option<String>,
}

/// Number of outbox rows per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CommandCounts {
    pub pending: u64,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub expired: u64,
    pub superseded: u64,
}

/// An event to insert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub kind: EventKind,
    /// Camera id or device id.
    pub source: String,
    pub label: Option<String>,
    pub score: Option<f64>,
    pub zone: Option<String>,
    pub snapshot_path: Option<String>,
    pub data: Option<serde_json::Value>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub kind: EventKind,
    pub source: String,
    pub label: Option<String>,
    pub score: Option<f64>,
    pub zone: Option<String>,
    pub snapshot_path: Option<String>,
    pub data: Option<serde_json::Value>,
    pub created_at: i64,
}

/// Last known state of one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceStateRow {
    pub device_id: String,
    pub state: serde_json::Value,
    pub updated_at: i64,
}

/// Rows removed by a retention purge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub turns: u64,
    pub commands: u64,
    pub events: u64,
    pub automation_runs: u64,
    /// Files the purged rows pointed to (utterance recordings, event
    /// snapshots), for the caller to delete: the store does no file I/O
    /// beyond the database.
    pub files: Vec<PathBuf>,
}

impl PurgeReport {
    /// Rows removed, all tables together.
    pub fn rows(&self) -> u64 {
        self.turns + self.commands + self.events + self.automation_runs
    }

    /// Add another purge's counts and files to this one.
    pub fn merge(&mut self, other: PurgeReport) {
        self.turns += other.turns;
        self.commands += other.commands;
        self.events += other.events;
        self.automation_runs += other.automation_runs;
        self.files.extend(other.files);
    }
}

// Records as read by sqlx; JSON columns are text here and parsed on the way out.

#[derive(FromRow)]
struct TurnRecord {
    id: i64,
    session: String,
    role: Role,
    modality: Modality,
    text: String,
    reasoning: Option<String>,
    intent: Option<String>,
    area: Option<String>,
    timings: Option<String>,
    correlation: Option<String>,
    audio_path: Option<String>,
    created_at: i64,
}

#[derive(FromRow)]
struct CommandRecord {
    id: i64,
    device_id: String,
    topic: String,
    payload: Vec<u8>,
    retain: bool,
    action: String,
    status: CommandStatus,
    attempts: i64,
    created_at: i64,
    updated_at: i64,
    sent_at: Option<i64>,
    acked_at: Option<i64>,
    expires_at: Option<i64>,
    error: Option<String>,
    correlation: Option<String>,
}

#[derive(FromRow)]
struct EventRecord {
    id: i64,
    kind: EventKind,
    source: String,
    label: Option<String>,
    score: Option<f64>,
    zone: Option<String>,
    snapshot_path: Option<String>,
    data: Option<String>,
    created_at: i64,
}

#[derive(FromRow)]
struct StateRecord {
    device_id: String,
    state: String,
    updated_at: i64,
}

fn json(table: &'static str, id: i64, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { table, id, detail: format!("invalid JSON: {e}") })
}

fn opt_json(table: &'static str, id: i64, text: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|t| json(table, id, &t)).transpose()
}

impl TryFrom<TurnRecord> for DialogueTurn {
    type Error = StoreError;
    fn try_from(r: TurnRecord) -> Result<Self, StoreError> {
        Ok(DialogueTurn {
            intent: opt_json("dialogue_turns", r.id, r.intent)?,
            timings: opt_json("dialogue_turns", r.id, r.timings)?,
            id: r.id,
            session: r.session,
            role: r.role,
            modality: r.modality,
            text: r.text,
            reasoning: r.reasoning,
            area: r.area,
            correlation: r.correlation,
            audio_path: r.audio_path,
            created_at: r.created_at,
        })
    }
}

impl TryFrom<CommandRecord> for CommandRow {
    type Error = StoreError;
    fn try_from(r: CommandRecord) -> Result<Self, StoreError> {
        Ok(CommandRow {
            action: json("commands", r.id, &r.action)?,
            attempts: u32::try_from(r.attempts).map_err(|_| StoreError::Corrupt {
                table: "commands",
                id: r.id,
                detail: format!("attempts {} out of range", r.attempts),
            })?,
            id: r.id,
            device_id: r.device_id,
            topic: r.topic,
            payload: r.payload,
            retain: r.retain,
            status: r.status,
            created_at: r.created_at,
            updated_at: r.updated_at,
            sent_at: r.sent_at,
            acked_at: r.acked_at,
            expires_at: r.expires_at,
            error: r.error,
            correlation: r.correlation,
        })
    }
}

impl TryFrom<EventRecord> for EventRow {
    type Error = StoreError;
    fn try_from(r: EventRecord) -> Result<Self, StoreError> {
        Ok(EventRow {
            data: opt_json("events", r.id, r.data)?,
            id: r.id,
            kind: r.kind,
            source: r.source,
            label: r.label,
            score: r.score,
            zone: r.zone,
            snapshot_path: r.snapshot_path,
            created_at: r.created_at,
        })
    }
}

impl TryFrom<StateRecord> for DeviceStateRow {
    type Error = StoreError;
    fn try_from(r: StateRecord) -> Result<Self, StoreError> {
        let state = serde_json::from_str(&r.state).map_err(|e| StoreError::Corrupt {
            table: "device_state",
            id: 0,
            detail: format!("device `{}`: invalid JSON: {e}", r.device_id),
        })?;
        Ok(DeviceStateRow { device_id: r.device_id, state, updated_at: r.updated_at })
    }
}

fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

fn limit(n: u32) -> i64 {
    i64::from(n)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

/// Handle to the database. Cheap to clone (a pool inside).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Open (creating if missing) the database at `path`, switch it to WAL,
    /// and apply pending migrations. Refuses a database whose schema is newer
    /// than this binary knows ([`StoreError::NewerSchema`]).
    pub async fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_inner(path.as_ref(), true).await
    }

    /// Like [`Store::open`], but fails with [`StoreError::Missing`] when no
    /// database file exists yet (for read-only CLI commands).
    pub async fn open_existing(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_inner(path.as_ref(), false).await
    }

    async fn open_inner(path: &Path, create: bool) -> Result<Store, StoreError> {
        if !create && !path.exists() {
            return Err(StoreError::Missing { path: path.to_path_buf() });
        }
        // Transcripts and command history are private: a missing directory
        // is created 0700 and the file 0600 before SQLite opens it (SQLite
        // gives its -wal and -shm files the database file's mode); files
        // left wider by an older hubd are narrowed.
        let private = || -> std::io::Result<()> {
            if create && !path.exists() {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    crate::private_fs::create_dir(dir, false)?;
                }
                crate::private_fs::create_file(path)?;
            }
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                crate::private_fs::tighten_file(Path::new(&p))?;
            }
            Ok(())
        };
        private().map_err(|e| StoreError::Open { path: path.to_path_buf(), source: sqlx::Error::Io(e) })?;
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?;
        let store = Store { pool, path: path.to_path_buf() };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let known = Self::known_schema_version();
        // Check before migrating, so a newer database is never touched.
        if let Some(db_version) = self.applied_version().await?
            && db_version > known
        {
            return Err(StoreError::NewerSchema { path: self.path.clone(), db_version, known });
        }
        MIGRATOR.run(&self.pool).await.map_err(|source| match source {
            MigrateError::VersionMissing(v) => {
                StoreError::NewerSchema { path: self.path.clone(), db_version: v, known }
            }
            source => StoreError::Migrate { path: self.path.clone(), source },
        })
    }

    /// Highest successfully applied migration, None for a fresh file.
    async fn applied_version(&self) -> Result<Option<i64>, StoreError> {
        let has_table: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
                .fetch_one(&self.pool)
                .await
                .map_err(|source| StoreError::Open { path: self.path.clone(), source })?;
        if has_table == 0 {
            return Ok(None);
        }
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(v)
    }

    /// The schema version this binary migrates to (its newest migration).
    pub fn known_schema_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The database's schema version (after `open`, equal to
    /// [`Store::known_schema_version`]).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.applied_version().await?.unwrap_or(0))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close the pool, waiting for connections to finish (checkpoints the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Run `f` in one transaction on a connection of its own and commit.
    /// On any error the connection is closed instead of going back to the
    /// pool: after a failed statement or COMMIT (a full disk), SQLite can
    /// leave the transaction open on that connection, which then keeps the
    /// write lock (every other writer waits out `busy_timeout` and fails)
    /// and takes later "committed" writes into a transaction that never
    /// commits. Closing it rolls back whatever is open and frees the lock.
    pub(crate) async fn write_tx<T>(
        &self,
        f: impl AsyncFnOnce(&mut sqlx::SqliteConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let res = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let out = f(&mut tx).await?;
            tx.commit().await?;
            Ok(out)
        }
        .await;
        if res.is_err() {
            conn.close_on_drop();
        }
        res
    }

    // -- dialogue ---------------------------------------------------------

    /// Insert one turn; returns its id.
    pub async fn insert_turn(&self, t: &NewTurn) -> Result<i64, StoreError> {
        let ids = self.insert_turns(std::slice::from_ref(t)).await?;
        // insert_turns returns exactly one id per turn it was given.
        Ok(ids.first().copied().unwrap_or_default())
    }

    /// Merge `timings` (a JSON object) into a stored turn's timings: what a
    /// voice turn learns after it was stored (when its spoken reply began).
    pub async fn merge_turn_timings(&self, id: i64, timings: &serde_json::Value) -> Result<(), StoreError> {
        let patch = timings.to_string();
        self.write_tx(async |tx| {
            sqlx::query("UPDATE dialogue_turns SET timings = json_patch(COALESCE(timings, '{}'), ?) WHERE id = ?")
                .bind(&patch)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
        .await
    }

    /// Insert several turns (e.g. a user turn and its reply) in one
    /// transaction; returns their ids in order.
    pub async fn insert_turns(&self, turns: &[NewTurn]) -> Result<Vec<i64>, StoreError> {
        self.write_tx(async |tx| {
            let now = now_ms();
            let mut ids = Vec::with_capacity(turns.len());
            for t in turns {
                let res = sqlx::query(
                    "INSERT INTO dialogue_turns
                        (session, role, modality, text, reasoning, intent, area, timings, correlation, audio_path, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&t.session)
                .bind(t.role)
                .bind(t.modality)
                .bind(&t.text)
                .bind(&t.reasoning)
                .bind(t.intent.as_ref().map(|v| v.to_string()))
                .bind(&t.area)
                .bind(t.timings.as_ref().map(|v| v.to_string()))
                .bind(&t.correlation)
                .bind(&t.audio_path)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                ids.push(res.last_insert_rowid());
            }
            Ok(ids)
        })
        .await
    }

    /// The newest `limit` turns of all sessions, newest first.
    pub async fn recent_turns(&self, limit_n: u32) -> Result<Vec<DialogueTurn>, StoreError> {
        let rows: Vec<TurnRecord> = sqlx::query_as(select_turns!("FROM dialogue_turns ORDER BY id DESC LIMIT ?"))
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await?;
        convert(rows)
    }

    /// The last `limit` turns of one session, oldest first (conversation context).
    pub async fn session_turns(&self, session: &str, limit_n: u32) -> Result<Vec<DialogueTurn>, StoreError> {
        let rows: Vec<TurnRecord> = sqlx::query_as(concat!(
            "SELECT * FROM (",
            select_turns!("FROM dialogue_turns WHERE session = ? ORDER BY id DESC LIMIT ?"),
            ") ORDER BY id ASC"
        ))
        .bind(session)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    /// Turns whose text contains `needle` (case-insensitive for ASCII),
    /// newest first. `%`, `_` and `\` in `needle` match literally.
    pub async fn search_turns(&self, needle: &str, limit_n: u32) -> Result<Vec<DialogueTurn>, StoreError> {
        let rows: Vec<TurnRecord> = sqlx::query_as(select_turns!(
            "FROM dialogue_turns WHERE text LIKE '%' || ? || '%' ESCAPE '\\' ORDER BY id DESC LIMIT ?"
        ))
        .bind(like_escape(needle))
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    /// Turns sharing a correlation id, in order.
    pub async fn turns_for_correlation(&self, correlation: &str) -> Result<Vec<DialogueTurn>, StoreError> {
        let rows: Vec<TurnRecord> =
            sqlx::query_as(select_turns!("FROM dialogue_turns WHERE correlation = ? ORDER BY id ASC"))
                .bind(correlation)
                .fetch_all(&self.pool)
                .await?;
        convert(rows)
    }

    // -- device state -----------------------------------------------------

    /// Replace the last known state of a device.
    pub async fn upsert_device_state(&self, device_id: &str, state: &serde_json::Value) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO device_state (device_id, state, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(device_id)
        .bind(state.to_string())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn device_state(&self, device_id: &str) -> Result<Option<DeviceStateRow>, StoreError> {
        let row: Option<StateRecord> =
            sqlx::query_as("SELECT device_id, state, updated_at FROM device_state WHERE device_id = ?")
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(DeviceStateRow::try_from).transpose()
    }

    /// Every stored device state, by device id.
    pub async fn device_states(&self) -> Result<Vec<DeviceStateRow>, StoreError> {
        let rows: Vec<StateRecord> =
            sqlx::query_as("SELECT device_id, state, updated_at FROM device_state ORDER BY device_id")
                .fetch_all(&self.pool)
                .await?;
        convert(rows)
    }

    // -- events -----------------------------------------------------------

    pub async fn insert_event(&self, e: &NewEvent) -> Result<i64, StoreError> {
        let res = sqlx::query(
            "INSERT INTO events (kind, source, label, score, zone, snapshot_path, data, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.kind)
        .bind(&e.source)
        .bind(&e.label)
        .bind(e.score)
        .bind(&e.zone)
        .bind(&e.snapshot_path)
        .bind(e.data.as_ref().map(|v| v.to_string()))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(res.last_insert_rowid())
    }

    /// Newest first, optionally of one kind.
    pub async fn recent_events(&self, kind: Option<EventKind>, limit_n: u32) -> Result<Vec<EventRow>, StoreError> {
        let rows: Vec<EventRecord> = sqlx::query_as(
            "SELECT id, kind, source, label, score, zone, snapshot_path, data, created_at
             FROM events WHERE (?1 IS NULL OR kind = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(kind)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    // -- retention --------------------------------------------------------

    /// Delete finished rows created before `cutoff` (unix ms), in one
    /// transaction: dialogue turns, events, automation runs and commands
    /// that are no longer open. Open commands (pending/sent) and device state
    /// are never purged. The report lists the files the rows pointed to.
    pub async fn purge_older_than(&self, cutoff: i64) -> Result<PurgeReport, StoreError> {
        self.write_tx(async |tx| {
            let mut files: Vec<String> = sqlx::query_scalar(
                "SELECT audio_path FROM dialogue_turns WHERE created_at < ? AND audio_path IS NOT NULL",
            )
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await?;
            let snapshots: Vec<String> = sqlx::query_scalar(
                "SELECT snapshot_path FROM events WHERE created_at < ? AND snapshot_path IS NOT NULL",
            )
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await?;
            files.extend(snapshots);
            let turns = sqlx::query("DELETE FROM dialogue_turns WHERE created_at < ?")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let commands =
                sqlx::query("DELETE FROM commands WHERE created_at < ? AND status NOT IN ('pending', 'sent')")
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            let events = sqlx::query("DELETE FROM events WHERE created_at < ?")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let automation_runs = sqlx::query("DELETE FROM automation_runs WHERE created_at < ?")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let files = files.into_iter().map(PathBuf::from).collect();
            Ok(PurgeReport { turns, commands, events, automation_runs, files })
        })
        .await
    }

    /// Bytes the database's live pages take (page size x pages in use; pages
    /// freed by deletes are reused by SQLite before the file grows again).
    pub async fn used_bytes(&self) -> Result<u64, StoreError> {
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&self.pool).await?;
        let free: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&self.pool).await?;
        let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&self.pool).await?;
        Ok(count(pages.saturating_sub(free)).saturating_mul(count(size)))
    }

    /// Size cap (`[store] max_db_mb`): while the database uses more than
    /// `max_bytes`, purge the oldest finished rows first (by creation time
    /// across all purgeable tables). Each step removes about the share of
    /// rows by which the database is over the cap (at most `max_batch`), so a
    /// slightly-too-big database loses a few old rows, not everything. Stops
    /// when it fits or only rows that are never purged are left.
    pub async fn purge_to_size(&self, max_bytes: u64, max_batch: u32) -> Result<PurgeReport, StoreError> {
        macro_rules! purgeable {
            () => {
                "(SELECT created_at FROM dialogue_turns
                  UNION ALL SELECT created_at FROM events
                  UNION ALL SELECT created_at FROM automation_runs
                  UNION ALL SELECT created_at FROM commands WHERE status NOT IN ('pending', 'sent'))"
            };
        }
        let mut report = PurgeReport::default();
        loop {
            let used = self.used_bytes().await?;
            if used <= max_bytes {
                break;
            }
            let rows: i64 =
                sqlx::query_scalar(concat!("SELECT COUNT(*) FROM ", purgeable!())).fetch_one(&self.pool).await?;
            let rows = count(rows);
            if rows == 0 {
                break;
            }
            // Rows to drop ~ rows x (excess / used), rounded up.
            let share = (rows as f64 * (used - max_bytes) as f64 / used as f64).ceil() as u64;
            let batch = share.clamp(1, u64::from(max_batch.max(1)));
            // Creation time of the `batch`-th oldest purgeable row: everything
            // up to it goes.
            let nth: Option<i64> = sqlx::query_scalar(concat!(
                "SELECT created_at FROM ",
                purgeable!(),
                " ORDER BY created_at LIMIT 1 OFFSET ?"
            ))
            .bind(i64::try_from(batch - 1).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool)
            .await?;
            let Some(nth) = nth else { break };
            let step = self.purge_older_than(nth.saturating_add(1)).await?;
            let removed = step.rows();
            report.merge(step);
            if removed == 0 {
                break;
            }
        }
        Ok(report)
    }

    /// Test hook: set a row's creation time (retention tests age rows).
    #[cfg(test)]
    pub(crate) async fn set_created_at(&self, table: &str, id: i64, at: i64) -> Result<(), StoreError> {
        let sql = match table {
            "dialogue_turns" => "UPDATE dialogue_turns SET created_at = ? WHERE id = ?",
            "commands" => "UPDATE commands SET created_at = ? WHERE id = ?",
            "events" => "UPDATE events SET created_at = ? WHERE id = ?",
            _ => "UPDATE automation_runs SET created_at = ? WHERE id = ?",
        };
        sqlx::query(sql).bind(at).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Apply `[store] retention_days` (0 keeps everything).
    pub async fn purge_retention(&self, retention_days: u32) -> Result<PurgeReport, StoreError> {
        if retention_days == 0 {
            return Ok(PurgeReport::default());
        }
        let cutoff = now_ms().saturating_sub(i64::from(retention_days).saturating_mul(DAY_MS));
        self.purge_older_than(cutoff).await
    }
}
