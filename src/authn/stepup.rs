//! Step-up: a sensitive change (the username or email of an account, ending
//! another session, enrolling or removing a factor, new recovery codes) needs
//! proof that the caller is the user right now, not only a token that may have
//! been stolen: a token whose authentication (`auth_time`) is recent and at the
//! user's highest level (`aal2` once they have a second factor), or the current
//! password where the endpoint takes one. A refresh keeps the login's
//! `auth_time` and `amr`, so refreshing does not make a stolen session fresh;
//! `POST /auth/reauthenticate` does, with the password (and a code).

use chrono::{DateTime, Utc};

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::tokens::Claims;

/// Ok when the token's authentication is within `AUTHD_REAUTH_MAX_AGE_SECS` of
/// `now`, and used a second factor when the user has one.
pub async fn require_recent(
    state: &AppState,
    claims: &Claims,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let max_age = state.tokens.config.reauth_max_age.as_secs();
    let has_factor = state.store.has_factor(claims.sub).await?;
    let age = claims.auth_time.map(|t| now.timestamp() - t);
    // (A token from a replica whose clock is ahead is as good as a fresh one.)
    let recent = matches!(age, Some(age) if age <= max_age as i64);
    let level = !has_factor || claims.acr.as_deref() == Some("aal2");
    if recent && level {
        Ok(())
    } else {
        Err(ApiError::ReauthenticationRequired {
            max_age_secs: max_age,
            aal2: has_factor,
        })
    }
}
