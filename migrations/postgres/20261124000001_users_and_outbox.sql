CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    username      text        NOT NULL CONSTRAINT users_username_key UNIQUE,
    -- lower-cased by the application, so this is case-insensitive uniqueness
    email         text        NOT NULL CONSTRAINT users_email_key UNIQUE,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Transactional outbox: written in the same transaction as the change it describes.
-- seq orders one user's events: they are written by transactions that lock the user
-- row, so seq order is commit order per user. lane (0..31, from the user id) is the
-- unit relays lock, so one user's events are relayed by one replica at a time.
CREATE TABLE outbox (
    seq          bigserial   PRIMARY KEY,
    id           uuid        NOT NULL CONSTRAINT outbox_id_key UNIQUE,
    aggregate_id uuid        NOT NULL,
    lane         smallint    NOT NULL CHECK (lane BETWEEN 0 AND 31),
    event_type   text        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX outbox_aggregate_seq_idx ON outbox (aggregate_id, seq);
CREATE INDEX outbox_lane_seq_idx ON outbox (lane, seq);
