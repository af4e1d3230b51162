-- What the security review asked of the schema (see the Postgres migration of the
-- same name).
ALTER TABLE refresh_families ADD COLUMN auth_time TEXT;
UPDATE refresh_families SET auth_time = created_at;

ALTER TABLE login_throttle ADD COLUMN threshold INTEGER NOT NULL DEFAULT 0;

CREATE INDEX idempotency_keys_running_idx ON idempotency_keys (scope) WHERE status IS NULL;
