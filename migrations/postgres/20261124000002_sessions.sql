-- Login, tokens and brute-force counters: everything a replica decides a request
-- with lives here, so that any replica decides it the same way.

-- Ed25519 signing keys shared by every replica. private_key is the 32-byte seed.
-- Exactly one key is current (retired_at IS NULL); retired keys stay published
-- until the tokens they signed have expired.
CREATE TABLE signing_keys (
    kid         text        PRIMARY KEY,
    private_key bytea       NOT NULL,
    public_key  bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;

-- One family per login; every refresh rotates the token within its family.
-- Revoking the family (logout, reuse of a rotated token, password change) ends it.
CREATE TABLE refresh_families (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX refresh_families_user_idx ON refresh_families (user_id);

-- Only the SHA-256 of a refresh token is stored, never the token.
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY,
    family_id  uuid        NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- Failed logins per account and per client address, shared by every replica.
-- Times are Unix milliseconds, computed by the application's clock.
CREATE TABLE login_throttle (
    key             text    PRIMARY KEY,
    failures        integer NOT NULL,
    last_failure_ms bigint  NOT NULL,
    locked_until_ms bigint
);
