-- Fewer index writes per sign-up and per published event (issue 14).
--
-- Username and email compare byte-wise (COLLATE "C"): their unique indexes then
-- serve the admin API's prefix search (LIKE 'abc%') too, and the two
-- text_pattern_ops indexes that did, written on every insert, go. Equality, and
-- so uniqueness, is the same under every deterministic collation; only ORDER BY
-- username would change, and nothing orders by it.
ALTER TABLE users ALTER COLUMN username TYPE text COLLATE "C",
                  ALTER COLUMN email TYPE text COLLATE "C";
DROP INDEX users_username_prefix_idx;
DROP INDEX users_email_prefix_idx;

-- published_at only grows as rows arrive, and it is only read by the retention
-- purge (published_at < cut-off): a BRIN index, a few pages for millions of rows
-- and almost nothing to maintain per insert, instead of a B-tree.
DROP INDEX event_history_published_idx;
CREATE INDEX event_history_published_idx ON event_history USING brin (published_at);

-- The outbox is written by every change and emptied by the relays: two indexes
-- instead of four. The lane index serves the relays; the admin API finds a user's
-- waiting events through it too (a user's events all share its lane). Event ids
-- are UUIDv7 made by authd, and event_history's primary key keeps them unique
-- where they are kept.
DROP INDEX outbox_aggregate_seq_idx;
ALTER TABLE outbox DROP CONSTRAINT outbox_id_key;
