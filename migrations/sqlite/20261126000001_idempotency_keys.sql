-- Idempotency-Key: see the Postgres migration of the same name. Times as text.
CREATE TABLE idempotency_keys (
    scope            TEXT    NOT NULL,
    key              TEXT    NOT NULL,
    fingerprint      BLOB    NOT NULL,
    status           INTEGER,
    response_headers TEXT,
    response_body    BLOB,
    created_at       TEXT    NOT NULL,
    expires_at       TEXT    NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
