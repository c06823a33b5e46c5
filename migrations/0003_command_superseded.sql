-- hubd schema, version 3: an outbox row can be `superseded`: a newer command
-- to the same device and attribute made it stale before it was sent (or
-- before its echo came), so it is recorded as such and never (re)sent.
-- SQLite cannot alter a CHECK constraint: the table is rebuilt.
CREATE TABLE commands_v3 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id     TEXT    NOT NULL,
    topic         TEXT    NOT NULL,
    payload       BLOB    NOT NULL,
    retain        INTEGER NOT NULL DEFAULT 0 CHECK (retain IN (0, 1)),
    action        TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'sent', 'acked', 'failed', 'expired', 'superseded')),
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    acked_at      INTEGER,
    expires_at    INTEGER,
    error         TEXT,
    correlation   TEXT
);
INSERT INTO commands_v3 (id, device_id, topic, payload, retain, action, status, attempts, created_at, updated_at,
                         sent_at, acked_at, expires_at, error, correlation)
    SELECT id, device_id, topic, payload, retain, action, status, attempts, created_at, updated_at,
           sent_at, acked_at, expires_at, error, correlation FROM commands;
CREATE TEMP TABLE commands_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'commands';
DROP TABLE commands;
ALTER TABLE commands_v3 RENAME TO commands;
CREATE INDEX commands_open ON commands (status, id) WHERE status IN ('pending', 'sent');
CREATE INDEX commands_device ON commands (device_id, id);
CREATE INDEX commands_created ON commands (created_at);
CREATE INDEX commands_correlation ON commands (correlation) WHERE correlation IS NOT NULL;
-- Keep the id sequence where it was (ids are never reused, even after a purge).
DELETE FROM sqlite_sequence WHERE name = 'commands';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'commands', MAX(COALESCE((SELECT MAX(seq) FROM commands_seq), 0), COALESCE((SELECT MAX(id) FROM commands), 0));
DROP TABLE commands_seq;
