//! Second factors: TOTP (RFC 6238, `totp`) and recovery codes, and the step
//! between a login's password and its second factor.
//!
//! - A password step that matched, for a user with a factor, answers an
//!   `mfa_token` (256 random bits, kept as SHA-256, 5 minutes, single use, bound to
//!   the user and to that login's address and agent), not tokens. Any replica
//!   finishes it: the state is a row, spent by the DELETE that returns it.
//! - A code is accepted once per time step: the factor's `last_step` moves in one
//!   UPDATE, so the same code sent to two replicas at once logs in once.
//! - A recovery code (80 random bits, kept as SHA-256) is spent by the DELETE that
//!   finds it, with its event.
//! - Every code check reserves a slot in the shared throttle first (per user and
//!   client network, per client network); three wrong codes end the `mfa_token`,
//!   one request at a time checks one; 20 wrong codes in a row, however slow,
//!   block the authenticator until a recovery code frees it.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::attempt::Attempt;
use super::policy::MfaPolicy;
use super::session::{self, TokenResponse};
use super::throttle::{client_net, AttemptKeys};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::{Account, Challenge, ChallengePurpose, SessionOrigin};
use crate::tokens::refresh;

pub use super::second_factor::{verify, Proof, MAX_WRONG_CODES_IN_A_ROW};

/// How long an `mfa_token` lives.
pub const MFA_TOKEN_TTL_SECS: i64 = 300;
/// Wrong codes that end an `mfa_token`.
pub const MAX_WRONG_CODES: i32 = 3;
/// What a login with a second factor says it used (RFC 8176).
pub const AMR_MFA: [&str; 3] = ["pwd", "otp", "mfa"];
/// ... when the second factor was a passkey.
pub const AMR_PASSKEY_MFA: [&str; 3] = ["pwd", "pop", "mfa"];

/// The answer of a password step that needs a second one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MfaChallenge {
    /// Always true: no tokens yet.
    mfa_required: bool,
    /// `login`: finish with `POST /auth/login/mfa`. `enrol` (`AUTHD_MFA=required`,
    /// no factor yet): `POST /auth/mfa/totp` then `POST /auth/mfa/totp/confirm`,
    /// each with this `mfa_token`; the confirmation answers the tokens.
    step: &'static str,
    mfa_token: String,
    /// What finishes it: `totp`, `passkey` (`POST /auth/login/mfa/passkey` for the
    /// options, then the assertion as `passkey`), `recovery_code`.
    methods: Vec<&'static str>,
    /// Seconds the `mfa_token` lives.
    expires_in: i64,
}

/// What a login answers: tokens, or the second step.
pub enum LoginAnswer {
    Tokens(TokenResponse),
    Challenge(MfaChallenge),
}

impl axum::response::IntoResponse for LoginAnswer {
    fn into_response(self) -> axum::response::Response {
        match self {
            LoginAnswer::Tokens(tokens) => tokens.into_response(),
            LoginAnswer::Challenge(challenge) => {
                let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
                (no_store, axum::Json(challenge)).into_response()
            }
        }
    }
}

/// Who presents an `mfa_token`: it works only from the client network and with
/// the user agent of the password step that made it.
#[derive(Debug, Clone)]
pub struct Presenter {
    pub client: IpAddr,
    pub agent: Option<String>,
}

impl Presenter {
    /// The client of a request: its address and its user agent as sessions keep it.
    pub fn of(client: IpAddr, headers: &axum::http::HeaderMap) -> Self {
        let agent = crate::http::client_ip::user_agent(headers);
        Presenter { client, agent }
    }
}

/// After a matching password: the tokens, or an `mfa_token` when the user has a
/// factor (or must enrol one).
pub async fn after_password(
    state: &AppState,
    account: &Account,
    origin: &SessionOrigin<'_>,
    now: DateTime<Utc>,
) -> Result<LoginAnswer, ApiError> {
    let user = account.user.id;
    let kinds: Vec<String> = (state.store.factors(user).await?.into_iter())
        .filter(|f| f.confirmed_at.is_some())
        .map(|f| f.kind)
        .collect();
    let (purpose, methods) = if !kinds.is_empty() {
        let has = |kind: &str| kinds.iter().any(|k| k == kind);
        let methods = [("totp", has("totp")), ("passkey", has("passkey"))];
        let mut methods: Vec<_> = methods.iter().filter(|m| m.1).map(|m| m.0).collect();
        methods.push("recovery_code");
        (ChallengePurpose::Login, methods)
    } else if state.mfa.policy == MfaPolicy::Required {
        (ChallengePurpose::Enrol, vec!["totp"])
    } else {
        let origin = SessionOrigin {
            amr: "pwd",
            ..origin.clone()
        };
        let tokens = session::start(state, &account.user, now, &origin).await?;
        return Ok(LoginAnswer::Tokens(tokens));
    };
    let (token, hash) = refresh::new_token();
    let expires = now + chrono::Duration::seconds(MFA_TOKEN_TTL_SECS);
    state
        .store
        .create_challenge(&hash, user, purpose, now, expires, origin)
        .await?;
    tracing::info!(user_id = %user, step = step_name(purpose), "password matched; a second factor follows");
    Ok(LoginAnswer::Challenge(MfaChallenge {
        mfa_required: true,
        step: step_name(purpose),
        mfa_token: token,
        methods,
        expires_in: MFA_TOKEN_TTL_SECS,
    }))
}

fn step_name(purpose: ChallengePurpose) -> &'static str {
    match purpose {
        ChallengePurpose::Login => "login",
        ChallengePurpose::Enrol => "enrol",
    }
}

/// The live challenge of a presented `mfa_token` for `purpose`, and its digest.
/// A token presented from another client network or by another user agent than
/// its password step's is refused like an unknown one (and stays usable by its
/// own client).
pub async fn challenge_of(
    state: &AppState,
    token: &str,
    purpose: ChallengePurpose,
    presenter: &Presenter,
    now: DateTime<Utc>,
) -> Result<(Challenge, [u8; 32]), ApiError> {
    let hash = refresh::hash_of(token.trim()).ok_or(ApiError::InvalidMfaToken)?;
    let challenge = match state.store.challenge(&hash, now).await? {
        Some(challenge) if challenge.purpose == purpose => challenge,
        _ => return Err(ApiError::InvalidMfaToken),
    };
    let made_from = challenge
        .client_address
        .as_deref()
        .and_then(|a| a.parse().ok());
    let same_client = made_from.map(client_net) == Some(client_net(presenter.client));
    if !same_client || challenge.user_agent != presenter.agent {
        tracing::warn!(user_id = %challenge.user_id, "an mfa_token presented by another client");
        return Err(ApiError::InvalidMfaToken);
    }
    Ok((challenge, hash))
}

/// POST /auth/login/mfa: the second factor for a live `mfa_token`, then the
/// session, with the login's address and agent.
/// One request at a time per `mfa_token` (others get 429 meanwhile), so parallel
/// codes cannot pass its limit of wrong codes, nor spend recovery codes for a
/// login that only one of them finishes; a locked account spends nothing.
pub async fn finish_login(
    state: &AppState,
    token: &str,
    proof: Proof,
    presenter: &Presenter,
    now: DateTime<Utc>,
) -> Result<TokenResponse, ApiError> {
    let (challenge, hash) =
        challenge_of(state, token, ChallengePurpose::Login, presenter, now).await?;
    let busy = Attempt::begin(state, AttemptKeys::single_use(&hash), now).await?;
    // The request that held the token before may have spent it: checked again
    // under the hold, before a code is (a recovery code would be spent for nothing).
    let finished = match state.store.challenge(&hash, now).await {
        Ok(Some(_)) => {
            check_then_finish(state, challenge.user_id, &hash, &proof, presenter, now).await
        }
        Ok(None) => Err(ApiError::InvalidMfaToken),
        Err(err) => Err(err.into()),
    };
    busy.abandoned().await;
    finished
}

async fn check_then_finish(
    state: &AppState,
    user: Uuid,
    hash: &[u8; 32],
    proof: &Proof,
    presenter: &Presenter,
    now: DateTime<Utc>,
) -> Result<TokenResponse, ApiError> {
    let account = state
        .store
        .account(user)
        .await?
        .ok_or(ApiError::InvalidMfaToken)?;
    if account.locked_at.is_some() {
        return Err(ApiError::Locked);
    }
    if let Err(err) = verify(state, user, presenter.client, proof, now).await {
        return Err(wrong_code(state, hash, err).await);
    }
    let amr = match proof {
        Proof::Passkey { .. } => AMR_PASSKEY_MFA,
        _ => AMR_MFA,
    };
    finish(state, hash, &amr, now).await
}

/// POST /auth/login/mfa/passkey: the options of a passkey assertion that finishes
/// the live `mfa_token` (one at a time: a new start replaces the last).
pub async fn start_passkey(
    state: &AppState,
    token: &str,
    presenter: &Presenter,
    now: DateTime<Utc>,
) -> Result<webauthn_rs::prelude::RequestChallengeResponse, ApiError> {
    let (challenge, hash) =
        challenge_of(state, token, ChallengePurpose::Login, presenter, now).await?;
    let client = presenter.client;
    super::passkey::start_second_factor(state, challenge.user_id, &hash, client, now).await
}

/// Counts a wrong code against the challenge (which ends at the limit).
async fn wrong_code(state: &AppState, hash: &[u8], err: ApiError) -> ApiError {
    if !matches!(err, ApiError::WrongCode { .. }) {
        return err;
    }
    match state.store.fail_challenge(hash, MAX_WRONG_CODES).await {
        Ok(ended) => ApiError::WrongCode { ended },
        Err(err) => err.into(),
    }
}

/// Spends the challenge and starts the session it was for.
pub async fn finish(
    state: &AppState,
    hash: &[u8],
    amr: &[&str],
    now: DateTime<Utc>,
) -> Result<TokenResponse, ApiError> {
    let challenge = state
        .store
        .spend_challenge(hash, now)
        .await?
        .ok_or(ApiError::InvalidMfaToken)?;
    let account = state
        .store
        .account(challenge.user_id)
        .await?
        .ok_or(ApiError::InvalidMfaToken)?;
    if account.locked_at.is_some() {
        return Err(ApiError::Locked);
    }
    let amr = amr.join(",");
    let origin = SessionOrigin {
        client_address: challenge.client_address.as_deref().unwrap_or(""),
        user_agent: challenge.user_agent.as_deref(),
        amr: &amr,
    };
    tracing::info!(user_id = %account.user.id, "logged in with a second factor");
    session::start(state, &account.user, now, &origin).await
}
