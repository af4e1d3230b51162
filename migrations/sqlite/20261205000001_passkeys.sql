-- Passkeys (see the Postgres migration of the same name).
ALTER TABLE mfa_factors ADD COLUMN credential_id BLOB;
ALTER TABLE mfa_factors ADD COLUMN name TEXT;
ALTER TABLE mfa_factors ADD COLUMN sign_count INTEGER;
CREATE UNIQUE INDEX mfa_factors_credential_idx ON mfa_factors (credential_id);

CREATE TABLE webauthn_ceremonies (
    id_hash    BLOB NOT NULL PRIMARY KEY,
    purpose    TEXT NOT NULL,
    client     TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    state      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry_idx ON webauthn_ceremonies (expires_at);
CREATE INDEX webauthn_ceremonies_client_idx ON webauthn_ceremonies (client, expires_at);
