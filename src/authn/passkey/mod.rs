//! Passkeys (WebAuthn, with webauthn-rs): a signed-in user registers one; it
//! then finishes a login after the password (a second factor, like a code) or
//! logs in alone (the browser offers the user's passkeys: no username, no
//! password).
//!
//! - Every ceremony is two requests that any replica may serve: its state (the
//!   challenge, and for a login the credentials it allows) is a row, under the
//!   SHA-256 of an id the client holds, that lives 5 minutes and is spent by the
//!   DELETE that returns it (`store::passkeys`). The client never holds the state,
//!   so a finish cannot be replayed, nor finished with a state of its own.
//! - A passkey is a factor (`mfa_factors`, kind `passkey`): the login's second
//!   step, step-up and `AUTHD_MFA=required` count it like a TOTP factor.
//! - Its signature counter must go up with every assertion (when the
//!   authenticator keeps one): one that went back is refused and written as an
//!   event (`authd.user.passkey_clone_suspected`), and the new counter is written
//!   only if the stored one did not move meanwhile (one use per counter value).
//! - User verification is required (a PIN or a biometric on the authenticator),
//!   so a passkey alone is two factors: `amr` `pop,mfa`, `acr` `aal2`; after a
//!   password, `pwd,pop,mfa`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use webauthn_rs::prelude::{
    Passkey, PasskeyRegistration, RegisterPublicKeyCredential, Webauthn, WebauthnError,
};

use super::throttle::client_net;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::{Account, NewPasskey, StoredPasskey, UserChange};
use crate::tokens::refresh;

mod login;
mod relying_party;

pub use login::{finish_login, second_factor, start_login, start_second_factor};
pub use relying_party::relying_party;

/// How long a started ceremony waits for its finish.
pub const CEREMONY_TTL_SECS: i64 = 300;
/// What a login with a passkey alone says it used (RFC 8176): a key's proof of
/// possession, verified on the authenticator (a second factor itself).
pub const AMR_PASSKEY: &str = "pop,mfa";
/// The longest name a passkey may have.
pub const NAME_MAX_CHARS: usize = 64;

fn relying(state: &AppState) -> Result<&Webauthn, ApiError> {
    state.mfa.webauthn.as_deref().ok_or(ApiError::PasskeysOff)
}

/// Live ceremonies a client network may have (each lives `CEREMONY_TTL_SECS`):
/// past them, 429 (nobody fills the table without an account).
pub const MAX_LIVE_PER_CLIENT: i64 = 100;

/// Keeps a started ceremony's state under `id_hash` for `client`.
async fn keep_under(
    state: &AppState,
    (id_hash, purpose): (&[u8; 32], &str),
    user: Option<Uuid>,
    ceremony: &impl serde::Serialize,
    client: IpAddr,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let json = serde_json::to_string(ceremony).map_err(anyhow::Error::from)?;
    let expires = now + chrono::Duration::seconds(CEREMONY_TTL_SECS);
    let client = (client_net(client), MAX_LIVE_PER_CLIENT);
    let kept = state
        .store
        .keep_ceremony(
            (id_hash, purpose),
            (&client.0, client.1),
            user,
            &json,
            (now, expires),
        )
        .await?;
    if !kept {
        tracing::warn!(client = %client.0, "too many WebAuthn ceremonies started");
        let retry_after_secs = CEREMONY_TTL_SECS as u64;
        return Err(ApiError::TooManyAttempts { retry_after_secs });
    }
    Ok(())
}

/// A ceremony's id for the client, its state kept under the id's digest.
async fn keep(
    state: &AppState,
    purpose: &str,
    user: Option<Uuid>,
    ceremony: &impl serde::Serialize,
    client: IpAddr,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let (token, hash) = refresh::new_token();
    keep_under(state, (&hash, purpose), user, ceremony, client, now).await?;
    Ok(token)
}

/// Spends the live ceremony `token` of `purpose`; its user and state.
async fn spend<T: serde::de::DeserializeOwned>(
    state: &AppState,
    token: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<(Option<Uuid>, T), ApiError> {
    let hash = refresh::hash_of(token.trim()).ok_or(ApiError::InvalidCeremony)?;
    let ceremony = state
        .store
        .take_ceremony(&hash, purpose, now)
        .await?
        .ok_or(ApiError::InvalidCeremony)?;
    let kept = serde_json::from_str(&ceremony.state).map_err(anyhow::Error::from)?;
    Ok((ceremony.user_id, kept))
}

fn credential(stored: &StoredPasskey) -> Result<Passkey, ApiError> {
    Ok(serde_json::from_str(&stored.credential).map_err(anyhow::Error::from)?)
}

/// Starts registering a passkey for `account`: the options for
/// `navigator.credentials.create`, and the ceremony's id. The user's passkeys
/// are excluded (an authenticator registers once), and the credential is asked
/// to be discoverable, so it can log in without a username.
pub async fn start_registration(
    state: &AppState,
    account: &Account,
    client: IpAddr,
    now: DateTime<Utc>,
) -> Result<(String, serde_json::Value), ApiError> {
    let webauthn = relying(state)?;
    let user = &account.user;
    let exclude = state
        .store
        .passkeys(user.id)
        .await?
        .iter()
        .map(|p| credential(p).map(|c| c.cred_id().clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (options, registration) = webauthn
        .start_passkey_registration(user.id, &user.username, &user.username, Some(exclude))
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("starting a registration: {e}")))?;
    // A discoverable credential where the authenticator can make one (webauthn-rs
    // asks for none): it logs in without a username. The state does not depend on it.
    let mut options = serde_json::to_value(options).map_err(anyhow::Error::from)?;
    options["publicKey"]["authenticatorSelection"]["residentKey"] = "preferred".into();
    let token = keep(state, "register", Some(user.id), &registration, client, now).await?;
    Ok((token, options))
}

/// A registered passkey, and the recovery codes it made (shown once) when the
/// user had none.
pub struct Registered {
    pub passkey: StoredPasskey,
    pub recovery_codes: Option<Vec<String>>,
}

/// Finishes the registration `token` of `account` with the authenticator's answer.
pub async fn finish_registration(
    state: &AppState,
    account: &Account,
    token: &str,
    name: &str,
    answer: &RegisterPublicKeyCredential,
    now: DateTime<Utc>,
) -> Result<Registered, ApiError> {
    let webauthn = relying(state)?;
    let user = account.user.id;
    let (owner, registration): (_, PasskeyRegistration) =
        spend(state, token, "register", now).await?;
    if owner != Some(user) {
        return Err(ApiError::InvalidCeremony);
    }
    let passkey = webauthn
        .finish_passkey_registration(answer, &registration)
        .map_err(refused)?;
    let json = serde_json::to_string(&passkey).map_err(anyhow::Error::from)?;
    let had_codes = state.store.recovery_codes_left(user).await? > 0;
    let (codes, digests) = super::recovery_codes::new();
    let factor = Uuid::new_v4();
    let change = UserChange::AddPasskey {
        id: user,
        passkey: NewPasskey {
            factor,
            credential_id: passkey.cred_id().as_ref(),
            name,
            credential: &json,
            sign_count: 0,
        },
        codes: &digests,
    };
    state
        .store
        .apply(change, now)
        .await?
        .ok_or(ApiError::FactorState("this passkey is registered already"))?;
    tracing::info!(user_id = %user, factor_id = %factor, "a passkey was registered");
    let passkey = state
        .store
        .passkeys(user)
        .await?
        .into_iter()
        .find(|p| p.id == factor)
        .ok_or(ApiError::InvalidCeremony)?;
    Ok(Registered {
        passkey,
        recovery_codes: (!had_codes).then_some(codes),
    })
}

/// An answer webauthn-rs refused (a wrong origin or RP ID, another challenge,
/// no user verification, a bad signature).
fn refused(err: WebauthnError) -> ApiError {
    tracing::info!(error = %err, "a passkey's answer was refused");
    ApiError::PasskeyRefused
}
