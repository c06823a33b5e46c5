-- hubd schema, version 7: lists (the shopping list and named to-do lists
-- of Home Assistant's list intents). An item checked off stays, complete.
CREATE TABLE list_items (
    id           INTEGER PRIMARY KEY,
    list         TEXT    NOT NULL,
    item         TEXT    NOT NULL,
    complete     INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),
    created_at   INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX list_items_list ON list_items (list COLLATE NOCASE, complete, id);
