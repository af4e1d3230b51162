//! The password factor: a login by name and password, and the current-password
//! check of the endpoints that change an account. Both are guarded by the shared
//! throttle and verify on the bounded hashing pool.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::attempt::Attempt;
use super::policy::Verification;
use super::throttle::{client_net, AttemptKeys};
use crate::domain::Password;
use crate::hashing::phc_params;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::Account;

/// Login: throttle check, then one argon2 verification on the bounded pool, against
/// the user's hash or, for an unknown login, a dummy hash of the same cost: both
/// failures take as long and answer the same 401. The account that logged in.
pub async fn login(
    state: &AppState,
    login: &str,
    password: Password,
    client: IpAddr,
    now: DateTime<Utc>,
) -> Result<Account, ApiError> {
    // A full hashing queue refuses now, before the look-ups below.
    let _admission = state.hasher.admit(&client_net(client))?;
    let found = state
        .store
        .account_by_login(login, &client.to_string())
        .await?;
    let (account, known_client) = found.unzip();
    let user = account.as_ref().map(|a| a.user.id);
    let keys = AttemptKeys::login(user, login, client, known_client.unwrap_or(false));
    let attempt = Attempt::begin(state, keys, now).await?;
    let phc = account
        .as_ref()
        .map_or_else(|| state.dummy_hash.to_string(), |a| a.password_hash.clone());
    let matches = match state.hasher.verify(password.clone(), phc).await {
        Ok(matches) => matches,
        Err(err) => {
            attempt.abandoned().await;
            return Err(err.into());
        }
    };
    let Some(account) = account.filter(|_| matches) else {
        attempt.failed();
        tracing::info!("login failed");
        return Err(ApiError::InvalidCredentials);
    };
    attempt.succeeded().await?;
    // Only once the password matched: a locked account is not revealed to guessers.
    if account.locked_at.is_some() {
        tracing::info!(user_id = %account.user.id, "login refused: the account is locked");
        return Err(ApiError::Locked);
    }
    if state.verification == Verification::Required && !account.user.email_verified {
        tracing::info!(user_id = %account.user.id, "login refused: the email is not verified");
        return Err(ApiError::EmailNotVerified);
    }
    rehash_if_outdated(state, &account, password).await;
    Ok(account)
}

/// Checks `password` against the account, counted like a login: guessing the
/// password through these endpoints is throttled the same way.
pub async fn confirm(
    state: &AppState,
    account: &Account,
    client: IpAddr,
    password: Password,
) -> Result<(), ApiError> {
    // A full hashing queue refuses now, before anything is counted.
    let _admission = state.hasher.admit(&client_net(client))?;
    // Counted against the account's total too, as a login is: a stolen token used
    // from many addresses must not buy more guesses of the password than a login
    // would; and, as for a login, the owner at an address the account has had a
    // session from is not held back by guessing from elsewhere.
    let known = state
        .store
        .known_client(account.user.id, &client.to_string())
        .await?;
    let keys = AttemptKeys::login(Some(account.user.id), &account.user.username, client, known);
    let attempt = Attempt::begin(state, keys, state.clock.now()).await?;
    let verified = state
        .hasher
        .verify(password, account.password_hash.clone())
        .await;
    match verified {
        Ok(true) => attempt.succeeded().await,
        Ok(false) => {
            attempt.failed();
            Err(ApiError::WrongPassword)
        }
        Err(err) => {
            attempt.abandoned().await;
            Err(err.into())
        }
    }
}

/// DESIGN: rehash on login when the configured parameters changed. Best effort: a
/// failure here must not fail a correct login.
async fn rehash_if_outdated(state: &AppState, account: &Account, password: Password) {
    if phc_params(&account.password_hash) == Some(state.hasher.params()) {
        return;
    }
    let outcome = match state.hasher.hash(password).await {
        Ok(new) => state
            .store
            .rehash(account.user.id, &account.password_hash, &new)
            .await
            .map_err(|e| format!("{e:#}")),
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(_) => {
            tracing::info!(user_id = %account.user.id, "password rehashed with the configured parameters")
        }
        Err(error) => tracing::warn!(user_id = %account.user.id, error, "rehash on login failed"),
    }
}
