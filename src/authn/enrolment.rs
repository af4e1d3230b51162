//! Enrolling a TOTP factor: a new secret, sealed with the key-encryption key and
//! bound to its factor, kept as a pending factor until its first code confirms it
//! (which also makes the user's recovery codes).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use uuid::Uuid;

use super::attempt::Attempt;
use super::recovery_codes;
use super::throttle::AttemptKeys;
use super::totp;
use crate::domain::PublicUser;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::{Store, UserChange};
use crate::tokens::SecretsKey;

/// A new TOTP secret for `user`, stored as its pending factor.
pub struct Enrolment {
    pub factor_id: Uuid,
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// Starts a TOTP enrolment (replacing a pending one); 409 when the user has one.
pub async fn begin_totp(
    state: &AppState,
    user: &PublicUser,
    now: DateTime<Utc>,
) -> Result<Enrolment, ApiError> {
    let mut secret = [0u8; totp::SECRET_BYTES];
    OsRng.fill_bytes(&mut secret);
    let factor_id = Uuid::now_v7();
    let stored = seal_secret(state.tokens.keys.secrets(), factor_id, &secret)?;
    if !state
        .store
        .begin_totp(user.id, factor_id, &stored, now)
        .await?
    {
        return Err(ApiError::FactorState(
            "this user has an authenticator already: remove it first (DELETE /auth/mfa/totp)",
        ));
    }
    let otpauth_uri = totp::otpauth_uri(&state.mfa.issuer, &user.username, &secret);
    let qr_svg = totp::qr_svg(&otpauth_uri).map_err(ApiError::Internal)?;
    Ok(Enrolment {
        factor_id,
        secret: totp::base32(&secret),
        otpauth_uri,
        qr_svg,
    })
}

/// Confirms the pending TOTP factor of `user` with its first code: the factor
/// counts from now, and the new recovery codes are returned (shown this once).
pub async fn confirm_totp(
    state: &AppState,
    user: Uuid,
    client: IpAddr,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ApiError> {
    let pending = state
        .store
        .factors(user)
        .await?
        .into_iter()
        .find(|f| f.kind == "totp" && f.confirmed_at.is_none())
        .ok_or(ApiError::FactorState(
            "no authenticator waits for confirmation: start with POST /auth/mfa/totp",
        ))?;
    let attempt = Attempt::begin(state, AttemptKeys::second_factor(user, client), now).await?;
    let secret = open_secret(state, pending.id, &pending.secret)?;
    let Some(step) = totp::matching_step(&secret, code, now.timestamp(), state.mfa.totp_window)
    else {
        attempt.failed();
        return Err(ApiError::WrongCode { ended: false });
    };
    let (codes, digests) = recovery_codes::new();
    let change = UserChange::ConfirmTotp {
        id: user,
        factor: pending.id,
        step,
        codes: &digests,
    };
    match state.store.apply(change, now).await {
        Ok(Some(_)) => {
            attempt.succeeded().await?;
            tracing::info!(user_id = %user, "second factor enabled");
            Ok(codes)
        }
        // Confirmed meanwhile by another request (or replaced).
        Ok(None) => {
            attempt.failed();
            Err(ApiError::WrongCode { ended: false })
        }
        Err(err) => {
            attempt.abandoned().await;
            Err(err.into())
        }
    }
}

/// Seals every stored TOTP secret with the current secrets key (after a new key
/// was put first in AUTHD_SECRETS_KEY_FILE; one stored plain is sealed too);
/// returns how many were sealed again.
pub async fn reseal(store: &Store, secrets: &SecretsKey) -> anyhow::Result<usize> {
    let mut resealed = 0;
    for (factor, stored) in store.all_factor_secrets().await? {
        if secrets.is_current(&stored) {
            continue;
        }
        let context = format!("totp:{factor}");
        let secret = SecretsKey::open(Some(secrets), &stored, &context)?;
        let sealed = secrets.seal(&secret, &context)?;
        store
            .replace_factor_secret(factor, &stored, &sealed)
            .await?;
        resealed += 1;
    }
    Ok(resealed)
}

fn seal_secret(
    secrets: Option<&SecretsKey>,
    factor: Uuid,
    secret: &[u8],
) -> Result<Vec<u8>, ApiError> {
    match secrets {
        Some(key) => key
            .seal(secret, &format!("totp:{factor}"))
            .map_err(ApiError::Internal),
        None => Ok(secret.to_vec()),
    }
}

pub(super) fn open_secret(
    state: &AppState,
    factor: Uuid,
    stored: &[u8],
) -> Result<Vec<u8>, ApiError> {
    SecretsKey::open(
        state.tokens.keys.secrets(),
        stored,
        &format!("totp:{factor}"),
    )
    .map_err(ApiError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_factor() {
        let key = SecretsKey::parse(&"11".repeat(32)).unwrap();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = seal_secret(Some(&key), a, b"secret bytes here!!!").unwrap();
        assert_ne!(&sealed[..], b"secret bytes here!!!");
        let context = format!("totp:{a}");
        assert_eq!(
            SecretsKey::open(Some(&key), &sealed, &context).unwrap(),
            b"secret bytes here!!!"
        );
        assert!(SecretsKey::open(Some(&key), &sealed, &format!("totp:{b}")).is_err());
    }
}
