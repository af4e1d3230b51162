-- The admin API searches users by username or email prefix (LIKE 'abc%'): these
-- indexes make that a range scan whatever the database's collation.
CREATE INDEX users_username_prefix_idx ON users (username text_pattern_ops);
CREATE INDEX users_email_prefix_idx ON users (email text_pattern_ops);
