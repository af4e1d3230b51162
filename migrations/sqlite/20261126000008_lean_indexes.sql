-- See the Postgres migration of the same name (byte-wise username and email, a
-- BRIN index for event_history's purge). SQLite already compares text byte-wise
-- (BINARY) and has no BRIN: nothing to change. This keeps both stores' versions in step.
SELECT 1;
