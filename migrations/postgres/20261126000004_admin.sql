-- The admin API: locked accounts, and the events of each user kept after they were
-- published (the outbox row moves here when the relay deletes it) for an audit
-- period (AUTHD_EVENT_HISTORY_DAYS).
ALTER TABLE users ADD COLUMN locked_at timestamptz;
CREATE TABLE event_history (
    id           uuid        PRIMARY KEY,
    aggregate_id uuid        NOT NULL,
    event_type   text        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz NOT NULL
);
CREATE INDEX event_history_aggregate_idx ON event_history (aggregate_id, created_at);
CREATE INDEX event_history_published_idx ON event_history (published_at);
