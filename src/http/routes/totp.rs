//! An authenticator (TOTP): enrolling it (with an access token after the step-up,
//! or with the enrolment `mfa_token` of a login under `AUTHD_MFA=required`),
//! confirming it with its first code, and removing it.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authn::mfa::{self, Presenter, AMR_MFA};
use crate::authn::{enrolment, stepup, MfaPolicy, TokenResponse};
use crate::domain::PublicUser;
use crate::http::auth::Bearer;
use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields};
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{ChallengePurpose, UserChange};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enrol, remove))
        .routes(routes!(confirm))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// POST /auth/mfa/totp: with an access token, or with the `mfa_token` of a
/// password step that must enrol (`AUTHD_MFA=required`).
#[derive(Deserialize, ToSchema)]
pub struct EnrolRequest {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1024)]
    mfa_token: Option<Value>,
}

/// A new authenticator, shown once: the secret, the URI apps scan, its QR code.
#[derive(Serialize, ToSchema)]
pub struct EnrolmentView {
    factor_id: uuid::Uuid,
    /// Base32, for typing into an app.
    secret: String,
    otpauth_uri: String,
    /// The `otpauth_uri` as a QR code (an SVG document).
    qr_svg: String,
}

/// Who a request that accepts either credential is: the bearer's user (after the
/// step-up), or the user of an enrolment `mfa_token`.
/// A locked account enrols nothing.
async fn enrolling_user(
    state: &AppState,
    bearer: Result<Bearer, ApiError>,
    mfa_token: Option<String>,
    presenter: &Presenter,
    now: DateTime<Utc>,
) -> Result<(PublicUser, Option<[u8; 32]>), ApiError> {
    if let Some(token) = mfa_token {
        let (challenge, hash) =
            mfa::challenge_of(state, &token, ChallengePurpose::Enrol, presenter, now).await?;
        let account = state
            .store
            .account(challenge.user_id)
            .await?
            .ok_or(ApiError::InvalidMfaToken)?;
        if account.locked_at.is_some() {
            return Err(ApiError::Locked);
        }
        return Ok((account.user, Some(hash)));
    }
    let bearer = bearer?;
    let account = bearer.account(state).await?;
    stepup::require_recent(state, &bearer.0, now).await?;
    Ok((account.user, None))
}

#[utoipa::path(post, path = "/auth/mfa/totp", operation_id = "enrol_totp", tag = "mfa", security(("bearer" = [])),
    request_body(content = EnrolRequest, description = "{} with an access token (a login within AUTHD_REAUTH_MAX_AGE_SECS); {mfa_token} for the enrolment a password step asked for"),
    responses(
        (status = 201, description = "A pending authenticator (replacing a pending one): add it to an app, then confirm a code with POST /auth/mfa/totp/confirm", body = EnrolmentView),
        (status = 401, description = "No valid access token or mfa_token, or no recent login (reauthentication-required)"),
        (status = 409, description = "The user has an authenticator already (factor-state)"),
        (status = 422, description = "mfa_token is not a string"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn enrol(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    bearer: Result<Bearer, ApiError>,
    Body(body): Body<EnrolRequest>,
) -> Result<Response, ApiError> {
    let mut fields = Fields::default();
    let Some(token) = fields.optional("mfa_token", body.mfa_token, Ok) else {
        return Err(fields.into_error());
    };
    let now = state.clock.now();
    let presenter = Presenter::of(client, &headers);
    let (user, _) = enrolling_user(&state, bearer, token, &presenter, now).await?;
    let enrolment = enrolment::begin_totp(&state, &user, now).await?;
    tracing::info!(user_id = %user.id, "authenticator enrolment started");
    let view = EnrolmentView {
        factor_id: enrolment.factor_id,
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg: enrolment.qr_svg,
    };
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    Ok((StatusCode::CREATED, no_store, Json(view)).into_response())
}

/// POST /auth/mfa/totp/confirm.
#[derive(Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// Six digits from the app.
    #[schema(value_type = String, required = true, pattern = "^[0-9]{6}$")]
    code: Option<Value>,
    /// With the enrolment `mfa_token` instead of an access token: the answer also
    /// holds the tokens of the login.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1024)]
    mfa_token: Option<Value>,
}

/// The recovery codes, shown this once; and the login's tokens when it finished one.
#[derive(Serialize, ToSchema)]
pub struct Confirmed {
    recovery_codes: Vec<String>,
    /// The login's tokens, when an enrolment `mfa_token` was confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens: Option<TokenResponse>,
}

#[utoipa::path(post, path = "/auth/mfa/totp/confirm", operation_id = "confirm_totp", tag = "mfa", security(("bearer" = [])),
    request_body = ConfirmRequest,
    responses(
        (status = 200, description = "The authenticator guards the login from now (authd.user.mfa_enabled); ten recovery codes, shown once (older ones are void); with an mfa_token, the login's tokens too", body = Confirmed),
        (status = 401, description = "No valid access token or mfa_token, or the code does not match (wrong-code)"),
        (status = 409, description = "No authenticator waits for confirmation (factor-state)"),
        (status = 422, description = "No code"),
        (status = 429, description = "Too many wrong codes; Retry-After"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn confirm(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    bearer: Result<Bearer, ApiError>,
    Body(body): Body<ConfirmRequest>,
) -> Result<Response, ApiError> {
    let mut fields = Fields::default();
    let code = fields.required("code", body.code, Ok);
    let token = fields.optional("mfa_token", body.mfa_token, Ok);
    let (Some(code), Some(token)) = (code, token) else {
        return Err(fields.into_error());
    };
    let now = state.clock.now();
    // The bearer needs no step-up here: the code proves the enrolment's secret,
    // which only the step-up's caller received.
    let (user, challenge) = match token {
        Some(token) => {
            let presenter = Presenter::of(client, &headers);
            let bearer = Err(ApiError::Unauthorized(None));
            enrolling_user(&state, bearer, Some(token), &presenter, now).await?
        }
        None => (bearer?.account(&state).await?.user, None),
    };
    let recovery_codes = match enrolment::confirm_totp(&state, user.id, client, &code, now).await {
        Ok(codes) => codes,
        Err(err @ ApiError::WrongCode { .. }) if challenge.is_some() => {
            let hash = challenge.expect("checked");
            let ended = state
                .store
                .fail_challenge(&hash, mfa::MAX_WRONG_CODES)
                .await?;
            return Err(if ended {
                ApiError::WrongCode { ended }
            } else {
                err
            });
        }
        Err(err) => return Err(err),
    };
    let tokens = match challenge {
        Some(hash) => Some(mfa::finish(&state, &hash, &AMR_MFA, now).await?),
        None => None,
    };
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    Ok((
        no_store,
        Json(Confirmed {
            recovery_codes,
            tokens,
        }),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/auth/mfa/totp", operation_id = "remove_totp", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 204, description = "The authenticator is removed, with the recovery codes (authd.user.mfa_disabled)"),
        (status = 401, description = "No valid access token, or no recent login with the second factor (reauthentication-required)"),
        (status = 404, description = "The caller has no authenticator"),
        (status = 409, description = "It is the caller's last factor and AUTHD_MFA=required (factor-state)"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn remove(State(state): State<AppState>, bearer: Bearer) -> Result<StatusCode, ApiError> {
    let account = bearer.account(&state).await?;
    let now = state.clock.now();
    stepup::require_recent(&state, &bearer.0, now).await?;
    // The authenticator only: passkeys are factors of their own.
    let factors = state.store.factors(account.user.id).await?;
    let totp = factors
        .iter()
        .find(|f| f.kind == "totp" && f.confirmed_at.is_some())
        .ok_or(ApiError::NotFound)?;
    // As for a passkey: under `AUTHD_MFA=required` the last factor stays, or the
    // next password login would let whoever has the password enrol their own.
    let others = factors
        .iter()
        .filter(|f| f.confirmed_at.is_some() && f.id != totp.id)
        .count();
    if others == 0 && state.mfa.policy == MfaPolicy::Required {
        return Err(ApiError::FactorState(
            "this is your last factor and every account needs one here: add another first",
        ));
    }
    let change = UserChange::RemoveFactors {
        id: account.user.id,
        factor: Some(totp.id),
    };
    state
        .store
        .apply(change, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(user_id = %account.user.id, "second factor removed");
    Ok(StatusCode::NO_CONTENT)
}
