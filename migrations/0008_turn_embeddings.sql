-- hubd schema, version 8: sentence embeddings of dialogue turns and device names, for search
-- by meaning (`hubd history --search`, the dashboard's history search).
-- One row per turn, written by the search index after the turn is stored;
-- `model` names the encoder that made it (vectors of another encoder are
-- not compared and get replaced). A purged turn takes its row with it.
CREATE TABLE turn_embeddings (
    turn_id INTEGER PRIMARY KEY REFERENCES dialogue_turns (id) ON DELETE CASCADE,
    model   TEXT    NOT NULL,
    -- L2-normalised f32 values, little-endian.
    vector  BLOB    NOT NULL
);
CREATE INDEX turn_embeddings_model ON turn_embeddings (model);

-- Embeddings of the texts devices are known by ("Desk Lamp (light, Office)"),
-- computed the first time a search needs them and kept for the next.
CREATE TABLE name_embeddings (
    text   TEXT NOT NULL,
    model  TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (text, model)
);
