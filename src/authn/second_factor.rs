//! The check of a second factor as presented (a TOTP code, a recovery code, a
//! passkey's assertion), in the shared throttle: a login's second step
//! (`mfa::finish_login`) and step-up (`POST /auth/reauthenticate`) both use it.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::attempt::Attempt;
use super::throttle::AttemptKeys;
use super::{enrolment, passkey, recovery_codes, totp};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::UserChange;

/// Wrong one-time codes in a row that block an authenticator until a recovery
/// code (or an administrator) frees it: however slowly someone who has the
/// password guesses, and from however many addresses, this is all they get
/// (20 guesses of 3 codes each: 6 in 100,000).
pub const MAX_WRONG_CODES_IN_A_ROW: i32 = 20;

/// A second factor as presented.
pub enum Proof {
    Totp(String),
    Recovery(String),
    /// An assertion for the passkey ceremony kept under `ceremony` (the digest
    /// of the `mfa_token` it finishes).
    Passkey {
        answer: Box<webauthn_rs::prelude::PublicKeyCredential>,
        ceremony: [u8; 32],
    },
}

/// A second factor of `user`, checked in the shared throttle: a TOTP code is
/// accepted once per step, a recovery code is spent. `WrongCode` otherwise.
pub async fn verify(
    state: &AppState,
    user: Uuid,
    client: IpAddr,
    proof: &Proof,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let attempt = Attempt::begin(state, AttemptKeys::second_factor(user, client), now).await?;
    let matched = match proof {
        Proof::Totp(code) => match state
            .store
            .reserve_code_guess(user, MAX_WRONG_CODES_IN_A_ROW)
            .await
        {
            Ok(true) => accept_code(state, user, code, now).await,
            Ok(false) => {
                attempt.abandoned().await;
                tracing::warn!(user_id = %user, "a one-time code for a blocked authenticator");
                return Err(ApiError::FactorState(
                    "this authenticator is blocked after too many wrong codes in a row: \
                     use a recovery code, which frees it",
                ));
            }
            Err(err) => Err(err.into()),
        },
        Proof::Recovery(code) => spend_recovery_code(state, user, code, now).await,
        Proof::Passkey { answer, ceremony } => {
            passkey::second_factor(state, user, ceremony, answer, now).await
        }
    };
    match matched {
        Ok(true) => {
            attempt.succeeded().await?;
            Ok(())
        }
        Ok(false) => {
            attempt.failed();
            tracing::info!(user_id = %user, "a wrong second-factor code");
            Err(ApiError::WrongCode { ended: false })
        }
        Err(err) => {
            attempt.abandoned().await;
            Err(err)
        }
    }
}

/// Whether `code` is the code of a confirmed TOTP factor of `user` for a step of
/// the window later than any accepted before (which it now is).
async fn accept_code(
    state: &AppState,
    user: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    for factor in state.store.factors(user).await? {
        if factor.kind != "totp" || factor.confirmed_at.is_none() {
            continue;
        }
        let secret = enrolment::open_secret(state, factor.id, &factor.secret)?;
        let step = totp::matching_step(&secret, code, now.timestamp(), state.mfa.totp_window);
        if let Some(step) = step {
            return Ok(state.store.accept_totp_step(factor.id, step, now).await?);
        }
    }
    Ok(false)
}

async fn spend_recovery_code(
    state: &AppState,
    user: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let Some(digest) = recovery_codes::digest(code) else {
        return Ok(false);
    };
    let change = UserChange::UseRecoveryCode {
        id: user,
        code: &digest,
    };
    Ok(state.store.apply(change, now).await?.is_some())
}
