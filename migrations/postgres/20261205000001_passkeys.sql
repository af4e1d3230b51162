-- Passkeys (WebAuthn, src/authn/passkey.rs).
--
-- A passkey is a second factor of kind 'passkey' in mfa_factors, so whatever
-- counts, lists or removes a user's factors (the login's second step, step-up,
-- AUTHD_MFA=required, the admin API) counts, lists and removes passkeys too. Its
-- secret column holds the webauthn-rs credential as JSON (the public key and its
-- algorithm, the transports): public data, not sealed. credential_id is the
-- authenticator's id for it, unique (a credential registered to two accounts
-- would sign in as either); name is the user's label; sign_count the counter of
-- the last assertion (the next must be higher, or the authenticator was cloned).
ALTER TABLE mfa_factors ADD COLUMN credential_id bytea;
ALTER TABLE mfa_factors ADD COLUMN name text;
ALTER TABLE mfa_factors ADD COLUMN sign_count bigint;
CREATE UNIQUE INDEX mfa_factors_credential_idx ON mfa_factors (credential_id);

-- webauthn_ceremonies: a registration or a login between its two requests. The id
-- handed to the client is kept as its SHA-256. The state (the challenge, and for a
-- login the credentials it allows) never leaves the server. The finish spends it
-- with the DELETE that returns it, so a replayed finish finds nothing, on any
-- replica. It lives 5 minutes (the hourly prune forgets expired ones). client is
-- the network that started it: a client network may have 100 live ceremonies,
-- so nobody fills the table without an account.
CREATE TABLE webauthn_ceremonies (
    id_hash    bytea       PRIMARY KEY,
    purpose    text        NOT NULL,
    client     text        NOT NULL,
    user_id    uuid        REFERENCES users (id) ON DELETE CASCADE,
    state      text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry_idx ON webauthn_ceremonies (expires_at);
CREATE INDEX webauthn_ceremonies_client_idx ON webauthn_ceremonies (client, expires_at);
