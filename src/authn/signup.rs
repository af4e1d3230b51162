//! A new user with a password, as sign-up and the admin API make one: a known
//! duplicate is refused before the hash is paid for, the password is hashed off the
//! runtime without holding a connection, and the caller writes the user with its
//! event in one transaction (`UserChange::Create`), where the unique constraints
//! settle races.

use uuid::Uuid;

use crate::domain::{Email, Password, Username};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::NewUser;

/// What a new user proves itself with.
pub enum Secret {
    /// A password, hashed here with the configured parameters.
    Password(Password),
    /// A hash made elsewhere (an import format), kept as it is.
    Hash(String),
}

/// The user to insert: not yet written.
pub async fn new_user(
    state: &AppState,
    username: Username,
    email: Email,
    secret: Secret,
    send_verification: bool,
) -> Result<NewUser, ApiError> {
    if let Some(taken) = state.store.taken(&username, &email).await? {
        return Err(ApiError::Conflict(taken));
    }
    let password_hash = match secret {
        Secret::Password(password) => state.hasher.hash(password).await?,
        Secret::Hash(hash) => hash,
    };
    Ok(NewUser {
        id: Uuid::now_v7(),
        username,
        email,
        password_hash,
        created_at: state.clock.now(),
        answer: None,
        send_verification,
    })
}
