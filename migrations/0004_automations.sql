-- hubd schema, version 4: automation runs with their traces, and the
-- enabled/disabled switch of each rule that survives restarts.
-- `automations_log` (a placeholder from version 1 that nothing wrote) goes.
DROP TABLE IF EXISTS automations_log;

CREATE TABLE automation_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    automation_id TEXT    NOT NULL,
    -- finished, stopped, condition_failed, already_running, loop_stopped, ...
    outcome       TEXT    NOT NULL,
    -- The `trigger` variable (platform, entity, states, event ...), JSON.
    trigger       TEXT    NOT NULL,
    -- Each condition's result, JSON array.
    conditions    TEXT    NOT NULL,
    -- Each step with its detail and the outbox ids it enqueued, JSON array.
    steps         TEXT    NOT NULL,
    error         TEXT,
    -- The rule whose commands caused the triggering event, JSON.
    cause         TEXT,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX automation_runs_automation ON automation_runs (automation_id, id);
CREATE INDEX automation_runs_created ON automation_runs (created_at);

CREATE TABLE automation_state (
    automation_id TEXT    PRIMARY KEY NOT NULL,
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    updated_at    INTEGER NOT NULL
);
