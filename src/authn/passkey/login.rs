//! Assertions: a passkey as the second step of a login (after the password),
//! and a login with a passkey alone.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential,
    RequestChallengeResponse, WebauthnError,
};

use super::{credential, keep, keep_under, refused, relying, spend, AMR_PASSKEY};
use crate::authn::attempt::Attempt;
use crate::authn::session::{self, TokenResponse};
use crate::authn::throttle::AttemptKeys;
use crate::authn::Verification;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::{SessionOrigin, StoredPasskey, UserChange};

/// Starts a passkey as the second step of `user`'s login (or step-up), under
/// `ceremony` (the digest of the `mfa_token` it finishes): the options for
/// `navigator.credentials.get`, allowing the user's passkeys.
pub async fn start_second_factor(
    state: &AppState,
    user: Uuid,
    ceremony: &[u8; 32],
    client: IpAddr,
    now: DateTime<Utc>,
) -> Result<RequestChallengeResponse, ApiError> {
    let webauthn = relying(state)?;
    let passkeys = state
        .store
        .passkeys(user)
        .await?
        .iter()
        .map(credential)
        .collect::<Result<Vec<_>, _>>()?;
    if passkeys.is_empty() {
        return Err(ApiError::FactorState("this account has no passkey"));
    }
    let (options, authentication) = webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("starting an assertion: {e}")))?;
    let purpose = (ceremony, "second_factor");
    keep_under(state, purpose, Some(user), &authentication, client, now).await?;
    Ok(options)
}

/// Whether `answer` proves a passkey of `user` for the second-factor ceremony
/// `ceremony` (spent either way).
pub async fn second_factor(
    state: &AppState,
    user: Uuid,
    ceremony: &[u8; 32],
    answer: &PublicKeyCredential,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let webauthn = relying(state)?;
    let Some(kept) = state
        .store
        .take_ceremony(ceremony, "second_factor", now)
        .await?
    else {
        return Ok(false);
    };
    if kept.user_id != Some(user) {
        return Ok(false);
    }
    let authentication: PasskeyAuthentication =
        serde_json::from_str(&kept.state).map_err(anyhow::Error::from)?;
    let stored = state
        .store
        .passkey_by_credential(answer.raw_id.as_ref())
        .await?;
    let Some(stored) = stored.filter(|p| p.user_id == user) else {
        return Ok(false);
    };
    let result = webauthn.finish_passkey_authentication(answer, &authentication);
    accepted(state, &stored, result, now).await
}

/// A counter that went back: refused, and written as an event. The passkey
/// stays: an honest race (a login finished in one tab after a later one in
/// another, a passkey synced between providers) looks the same, and removing
/// it would shut its owner out; whoever reads the event (or the admin API)
/// decides.
async fn clone_suspected(
    state: &AppState,
    stored: &StoredPasskey,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    tracing::warn!(user_id = %stored.user_id, factor_id = %stored.id,
        "a passkey's counter went back: refused (a cloned authenticator?)");
    let change = UserChange::PasskeyCloneSuspected { id: stored.user_id };
    state.store.apply(change, now).await?;
    Ok(false)
}

/// Records an assertion's result on `stored`: a counter that went back is an
/// event and a refusal; the new counter is written only over the one it was
/// checked against.
async fn accepted(
    state: &AppState,
    stored: &StoredPasskey,
    result: Result<AuthenticationResult, WebauthnError>,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let result = match result {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            return clone_suspected(state, stored, now).await;
        }
        Err(err) => {
            tracing::info!(error = %err, "a passkey's assertion was refused");
            return Ok(false);
        }
    };
    // The counter against the row as read now, not only the ceremony's copy (a
    // second factor's ceremony holds the counter of its start, up to 5 minutes
    // old): a counter that did not go up since is a clone's too.
    let counter = i64::from(result.counter());
    if counter != 0 && counter <= stored.sign_count {
        return clone_suspected(state, stored, now).await;
    }
    let mut passkey = credential(stored)?;
    passkey.update_credential(&result);
    let json = serde_json::to_string(&passkey).map_err(anyhow::Error::from)?;
    let recorded = state
        .store
        .record_passkey_use(
            stored.id,
            stored.sign_count,
            counter.max(stored.sign_count),
            &json,
            now,
        )
        .await?;
    if !recorded {
        tracing::warn!(user_id = %stored.user_id, "a passkey was used twice at once: one refused");
    }
    Ok(recorded)
}

/// Starts a login with a passkey (and, if `login` is given, a username): the
/// options for `navigator.credentials.get` (no credentials listed: the browser
/// offers the user's discoverable passkeys), and the ceremony's id.
pub async fn start_login(
    state: &AppState,
    login: Option<&str>,
    client: IpAddr,
    now: DateTime<Utc>,
) -> Result<(String, RequestChallengeResponse), ApiError> {
    let webauthn = relying(state)?;
    // A login that names its user: the same options whoever it names (listing the
    // user's credentials would tell who has a passkey); the finish then takes only
    // that user's passkey, and a name nobody has takes none.
    let (purpose, user) = match login {
        None => ("login", None),
        Some(login) => {
            let found = state
                .store
                .account_by_login(login, &client.to_string())
                .await?;
            ("login_named", found.map(|(account, _)| account.user.id))
        }
    };
    let (mut options, authentication) = webauthn
        .start_discoverable_authentication()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("starting a login: {e}")))?;
    // A button's modal prompt, not the autofill of conditional mediation.
    options.mediation = None;
    let token = keep(state, purpose, user, &authentication, client, now).await?;
    Ok((token, options))
}

/// Finishes the passkey login `token`: the session, with the login's address and
/// agent. The user is the one the passkey belongs to; the user handle the
/// authenticator returned must name that same user. Refused answers count in
/// the shared throttle, per client network.
pub async fn finish_login(
    state: &AppState,
    token: &str,
    answer: &PublicKeyCredential,
    (client, agent): (IpAddr, Option<&str>),
    now: DateTime<Utc>,
) -> Result<TokenResponse, ApiError> {
    let attempt = Attempt::begin(state, AttemptKeys::passkey(client), now).await?;
    let user = match verify_login(state, token, answer, now).await {
        Ok(user) => user,
        Err(err @ (ApiError::PasskeyRefused | ApiError::InvalidCeremony)) => {
            attempt.failed();
            return Err(err);
        }
        Err(err) => {
            attempt.abandoned().await;
            return Err(err);
        }
    };
    attempt.succeeded().await?;
    let account = state
        .store
        .account(user)
        .await?
        .ok_or(ApiError::PasskeyRefused)?;
    if account.locked_at.is_some() {
        return Err(ApiError::Locked);
    }
    if state.verification == Verification::Required && !account.user.email_verified {
        return Err(ApiError::EmailNotVerified);
    }
    let origin = SessionOrigin {
        client_address: &client.to_string(),
        user_agent: agent,
        amr: AMR_PASSKEY,
    };
    tracing::info!(user_id = %account.user.id, "logged in with a passkey");
    session::start(state, &account.user, now, &origin).await
}

/// The user whose passkey answered the login ceremony `token`.
async fn verify_login(
    state: &AppState,
    token: &str,
    answer: &PublicKeyCredential,
    now: DateTime<Utc>,
) -> Result<Uuid, ApiError> {
    let webauthn = relying(state)?;
    let (named, authentication): (_, DiscoverableAuthentication) =
        match spend(state, token, "login", now).await {
            Err(ApiError::InvalidCeremony) => {
                let (user, kept) = spend(state, token, "login_named", now).await?;
                (Some(user), kept)
            }
            other => other.map(|(_, kept)| (None, kept))?,
        };
    let (handle, credential_id) = webauthn
        .identify_discoverable_authentication(answer)
        .map_err(refused)?;
    let stored = state.store.passkey_by_credential(credential_id).await?;
    let named_right = |p: &StoredPasskey| named.is_none_or(|user| user == Some(p.user_id));
    let Some(stored) = stored.filter(|p| p.user_id == handle && named_right(p)) else {
        tracing::info!("a passkey login with an unknown credential");
        return Err(ApiError::PasskeyRefused);
    };
    let passkey = credential(&stored)?;
    let result = webauthn.finish_discoverable_authentication_v2(answer, authentication, &passkey);
    if !accepted(state, &stored, result, now).await? {
        return Err(ApiError::PasskeyRefused);
    }
    Ok(stored.user_id)
}
