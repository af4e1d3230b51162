-- Mail through the outbox: a row written in the transaction of the change that
-- causes it (a sign-up, an email change, a request to reset or to resend), claimed
-- by the sender of any replica (SKIP LOCKED; next_attempt_at doubles as the claim's
-- lease), deleted once the mail server accepted the mail. Rows hold no secret: the
-- sender makes the token when it sends.
CREATE TABLE mail_outbox (
    id              uuid        PRIMARY KEY,
    kind            text        NOT NULL,
    user_id         uuid,
    recipient       text,
    new_email       text,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    last_error      text
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at);

-- Single-use tokens of email verification, email change and password reset: only
-- their SHA-256 is kept. A newer token of the same purpose replaces the older.
CREATE TABLE account_tokens (
    token_hash bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL,
    new_email  text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
