-- Sessions people can see and end: see the Postgres migration of the same name.
ALTER TABLE refresh_families ADD COLUMN last_used_at TEXT;
ALTER TABLE refresh_families ADD COLUMN client_address TEXT;
ALTER TABLE refresh_families ADD COLUMN user_agent TEXT;
ALTER TABLE refresh_families ADD COLUMN revoked_reason TEXT;
ALTER TABLE users ADD COLUMN not_before TEXT;
