-- Sessions people can see and end: where each login came from, when it was last
-- refreshed, and why it ended. users.not_before: access tokens issued before it
-- are void (password change, lock, delete), for authd and for every verifier.
ALTER TABLE refresh_families
    ADD COLUMN last_used_at   timestamptz,
    ADD COLUMN client_address text,
    ADD COLUMN user_agent     text,
    ADD COLUMN revoked_reason text;
ALTER TABLE users ADD COLUMN not_before timestamptz;
