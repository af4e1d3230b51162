-- Idempotency-Key leases: see the Postgres migration of the same name.
ALTER TABLE idempotency_keys ADD COLUMN claim TEXT;
ALTER TABLE idempotency_keys ADD COLUMN lease_until TEXT;
