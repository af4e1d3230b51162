-- mfa_factors.wrong_codes: wrong one-time codes in a row for this factor. Every
-- code check reserves one before it is verified (so no burst gets past the limit)
-- and an accepted code (or a spent recovery code) sets it back to 0; time never
-- does. At the limit (authn::mfa::MAX_WRONG_CODES_IN_A_ROW) the authenticator is
-- blocked until a recovery code or an administrator frees it: guessing a code is
-- bounded in total, not per window.
ALTER TABLE mfa_factors ADD COLUMN wrong_codes integer NOT NULL DEFAULT 0;
