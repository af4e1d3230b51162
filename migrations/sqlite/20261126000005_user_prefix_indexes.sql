-- See the Postgres migration of the same name. SQLite's LIKE is case-insensitive
-- and cannot use a plain index: prefix searches scan, which the embedded store's
-- sizes allow. This migration keeps both stores' versions in step.
SELECT 1;
