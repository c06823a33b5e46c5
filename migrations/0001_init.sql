-- hubd schema, version 1.
--
-- Conventions: timestamps are INTEGER unix milliseconds (UTC); JSON columns
-- hold serde_json text; enumerations are TEXT with CHECK constraints so a bad
-- value fails at the write, not at a later read.

-- One utterance or reply in a conversation.
CREATE TABLE dialogue_turns (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Conversation id (dashboard chat, voice session, API conversation).
    session       TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    modality      TEXT    NOT NULL CHECK (modality IN ('text', 'voice', 'api')),
    text          TEXT    NOT NULL,
    -- Decoder reasoning (`<think>`), stored, returned only when asked.
    reasoning     TEXT,
    -- Understanding (intent, slots, entities, source) as JSON.
    intent        TEXT,
    -- Area the request came from (satellite / dashboard context).
    area          TEXT,
    -- Per-stage latencies in ms as a JSON object, e.g. {"asr":120,"nlu":3}.
    timings       TEXT,
    -- Correlates a user turn, its commands and the assistant reply.
    correlation   TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX dialogue_turns_session ON dialogue_turns (session, id);
CREATE INDEX dialogue_turns_created ON dialogue_turns (created_at);
CREATE INDEX dialogue_turns_correlation ON dialogue_turns (correlation) WHERE correlation IS NOT NULL;

-- The command outbox: a row is committed (pending) before its MQTT publish.
CREATE TABLE commands (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id     TEXT    NOT NULL,
    topic         TEXT    NOT NULL,
    payload       BLOB    NOT NULL,
    retain        INTEGER NOT NULL DEFAULT 0 CHECK (retain IN (0, 1)),
    -- The DeviceCommand / Action this message carries, as JSON.
    action        TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'sent', 'acked', 'failed', 'expired')),
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    acked_at      INTEGER,
    -- Not to be (re)published after this instant; NULL = no deadline.
    expires_at    INTEGER,
    error         TEXT,
    correlation   TEXT
);
CREATE INDEX commands_open ON commands (status, id) WHERE status IN ('pending', 'sent');
CREATE INDEX commands_device ON commands (device_id, id);
CREATE INDEX commands_created ON commands (created_at);
CREATE INDEX commands_correlation ON commands (correlation) WHERE correlation IS NOT NULL;

-- Camera, motion and detection events (and other things worth a timeline).
CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL CHECK (kind IN ('camera', 'motion', 'detection', 'device', 'system')),
    -- Camera id or device id that produced it.
    source        TEXT    NOT NULL,
    label         TEXT,
    score         REAL,
    zone          TEXT,
    snapshot_path TEXT,
    -- Anything else (boxes, motion area, ...), JSON.
    data          TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_kind ON events (kind, id);

-- Last known state of each device (fold of its state patches), JSON.
CREATE TABLE device_state (
    device_id     TEXT    PRIMARY KEY NOT NULL,
    state         TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Automation runs (fired, skipped by a condition or cooldown, failed).
CREATE TABLE automations_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    automation_id TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('fired', 'skipped', 'failed')),
    -- What triggered it (event id, state change, time), JSON.
    trigger       TEXT,
    detail        TEXT,
    correlation   TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX automations_log_automation ON automations_log (automation_id, id);
CREATE INDEX automations_log_created ON automations_log (created_at);
