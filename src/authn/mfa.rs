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
use super::enrolment;
use super::policy::MfaPolicy;
use super::recovery_codes;
use super::session::{self, TokenResponse};
use super::throttle::{client_net, AttemptKeys};
use super::totp;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::{Account, Challenge, ChallengePurpose, SessionOrigin, UserChange};
use crate::tokens::refresh;

/// How long an `mfa_token` lives.
pub const MFA_TOKEN_TTL_SECS: i64 = 300;
/// Wrong codes that end an `mfa_token`.
pub const MAX_WRONG_CODES: i32 = 3;
/// Wrong one-time codes in a row that block an authenticator until a recovery
/// code (or an administrator) frees it: however slowly someone who has the
/// password guesses, and from however many addresses, this is all they get
/// (20 guesses of 3 codes each: 6 in 100,000).
pub const MAX_WRONG_CODES_IN_A_ROW: i32 = 20;
/// What a login with a second factor says it used (RFC 8176).
pub const AMR_MFA: [&str; 3] = ["pwd", "otp", "mfa"];

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
    /// What finishes it: `totp`, `recovery_code`.
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

/// A second factor as presented.
pub enum Proof {
    Totp(String),
    Recovery(String),
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
    let (purpose, methods) = if state.store.has_factor(user).await? {
        (ChallengePurpose::Login, vec!["totp", "recovery_code"])
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
    finish(state, hash, &AMR_MFA, now).await
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
