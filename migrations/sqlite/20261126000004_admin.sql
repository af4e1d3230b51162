-- The admin API: see the Postgres migration of the same name.
ALTER TABLE users ADD COLUMN locked_at TEXT;
CREATE TABLE event_history (
    id           TEXT PRIMARY KEY,
    aggregate_id TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    published_at TEXT NOT NULL
);
CREATE INDEX event_history_aggregate_idx ON event_history (aggregate_id, created_at);
CREATE INDEX event_history_published_idx ON event_history (published_at);
