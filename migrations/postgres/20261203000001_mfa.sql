-- Multi-factor login (src/authn/mfa.rs).
--
-- mfa_factors: a user's second factors. A TOTP factor holds its secret sealed with
-- the key-encryption key (AUTHD_SECRETS_KEY_FILE; plain when none is configured,
-- like the signing keys), bound to the factor's id. It counts once confirmed_at is
-- set (the first code proved the authenticator has the secret). last_step is the
-- replay guard: the time step of the last accepted code; a code is accepted only
-- for a later step, in one UPDATE whose row lock settles two replicas receiving
-- the same code at the same instant.
CREATE TABLE mfa_factors (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text        NOT NULL,
    secret       bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint,
    last_used_at timestamptz
);
CREATE INDEX mfa_factors_user_idx ON mfa_factors (user_id);

-- recovery_codes: single-use codes, kept only as SHA-256 digests (80 random bits
-- each); spent by the DELETE that finds one.
CREATE TABLE recovery_codes (
    code_hash  bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);

-- mfa_challenges: a password step that needs a second one (purpose 'login') or an
-- enrolment first (purpose 'enrol', AUTHD_MFA=required). The mfa_token is kept as
-- its SHA-256; it lives 5 minutes, is spent by the DELETE that finishes the login,
-- and ends after a few wrong codes. The session it will start keeps the login's
-- client address, user agent and time.
CREATE TABLE mfa_challenges (
    token_hash     bytea       PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose        text        NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    failures       integer     NOT NULL DEFAULT 0,
    client_address text,
    user_agent     text
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expiry_idx ON mfa_challenges (expires_at);

-- refresh_families.amr: how the login proved who the user is (RFC 8176 values,
-- comma-separated: "pwd", "pwd,otp,mfa"); a refresh keeps it, as it keeps
-- auth_time. Sessions from before this migration were password logins.
ALTER TABLE refresh_families ADD COLUMN amr text NOT NULL DEFAULT 'pwd';
