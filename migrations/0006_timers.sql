-- hubd schema, version 6: timers (HassStartTimer and friends), kept so a
-- restart does not lose them. A running timer has `ends_at` (Unix ms); a
-- paused one has `paused_left_ms` instead. `fired_at` is set when it
-- finished and its sentence (`command`) is being run; the row is deleted
-- when that is done, so a restart in between runs the sentence only if no
-- command with the timer's correlation was stored.
CREATE TABLE timers (
    id             INTEGER PRIMARY KEY,
    name           TEXT,
    area           TEXT,
    start_secs     INTEGER NOT NULL CHECK (start_secs > 0),
    ends_at        INTEGER,
    paused_left_ms INTEGER NOT NULL DEFAULT 0,
    command        TEXT,
    created_at     INTEGER NOT NULL,
    fired_at       INTEGER
);
