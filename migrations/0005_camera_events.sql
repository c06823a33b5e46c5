-- hubd schema, version 5: camera events (Frigate's event objects), one row
-- per tracked object, updated on every `update` and at `end`.
CREATE TABLE camera_events (
    id            TEXT    PRIMARY KEY,
    camera        TEXT    NOT NULL,
    label         TEXT    NOT NULL,
    sub_label     TEXT,
    score         REAL    NOT NULL,
    top_score     REAL    NOT NULL,
    start_time    REAL    NOT NULL,
    end_time      REAL,
    entered_zones TEXT    NOT NULL DEFAULT '[]',
    has_snapshot  INTEGER NOT NULL DEFAULT 0 CHECK (has_snapshot IN (0, 1)),
    box           TEXT    NOT NULL,
    -- The whole `after` object as last published.
    data          TEXT    NOT NULL
);
CREATE INDEX camera_events_start ON camera_events (start_time DESC);
CREATE INDEX camera_events_camera_label ON camera_events (camera, label, start_time DESC);
