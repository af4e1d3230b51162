-- Mail through the outbox, and single-use account tokens: see the Postgres
-- migration of the same name.
CREATE TABLE mail_outbox (
    id              TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    user_id         TEXT,
    recipient       TEXT,
    new_email       TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at);

CREATE TABLE account_tokens (
    token_hash BLOB NOT NULL PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    new_email  TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
