-- What the security review asked of the schema.
--
-- refresh_families.auth_time: when the login that started the session proved who
-- the user is; a refresh keeps it. Step-up checks read it (an email change needs a
-- recent one). Sessions from before this migration count from their start.
ALTER TABLE refresh_families ADD COLUMN auth_time timestamptz;
UPDATE refresh_families SET auth_time = created_at;

-- login_throttle.threshold: the count at which this key locks. An attempt reserves
-- its slot (failures + 1) before it is verified; the reservation that reaches the
-- threshold sets the lock at once, so concurrent attempts past it are refused.
ALTER TABLE login_throttle ADD COLUMN threshold integer NOT NULL DEFAULT 0;

-- Idempotency keys whose request is still running, per client: the bound on keys
-- in flight counts these (kept answers are bounded by the work they record).
CREATE INDEX idempotency_keys_running_idx ON idempotency_keys (scope) WHERE status IS NULL;
