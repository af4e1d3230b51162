//! Step-up: a sensitive change (the username or email of an account, ending
//! another session) needs proof that the caller is the user right now, not only a token that may have been stolen: the
//! current password, or a token whose login (`auth_time`) is recent. A refresh keeps
//! the login's `auth_time`, so refreshing does not make a stolen session fresh.

use chrono::{DateTime, Utc};

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::tokens::Claims;

/// Ok when the token's login is within `AUTHD_REAUTH_MAX_AGE_SECS` of `now`.
pub fn require_recent(
    state: &AppState,
    claims: &Claims,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let max_age = state.tokens.config.reauth_max_age.as_secs();
    let age = claims.auth_time.map(|t| now.timestamp() - t);
    match age {
        // (A token from a replica whose clock is ahead is as good as a fresh one.)
        Some(age) if age <= max_age as i64 => Ok(()),
        _ => Err(ApiError::ReauthenticationRequired {
            max_age_secs: max_age,
        }),
    }
}
