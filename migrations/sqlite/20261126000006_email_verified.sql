-- See the Postgres migration of the same name.
ALTER TABLE users ADD COLUMN email_verified_at TEXT;
