-- Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): the first answer to a
-- request with a key, kept for 24 h so that a retry (on any replica) gets the same
-- answer without the work being done again. status IS NULL: still in progress.
CREATE TABLE idempotency_keys (
    scope            text        NOT NULL,
    key              text        NOT NULL,
    fingerprint      bytea       NOT NULL,
    status           smallint,
    response_headers text,
    response_body    bytea,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
