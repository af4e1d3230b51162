-- When the user's email was verified (imports carry it; NULL: not verified).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
