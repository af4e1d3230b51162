//! Login, refresh, logout and "who am I".

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authn::mfa::{self, LoginAnswer, MfaChallenge};
use crate::authn::{password, session, TokenResponse};
use crate::domain::{Password, PublicUser, LOGIN_MAX_CHARS};
use crate::http::auth::Bearer;
use crate::http::client_ip::{user_agent, ClientIp};
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields};
use crate::http::idempotency::NothingDone;
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{Rotation, SessionOrigin};
use crate::tokens::refresh;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh_tokens))
        .routes(routes!(logout))
        .routes(routes!(me))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// POST /auth/login.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The username or the email (any case); surrounding white space is ignored.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 320, pattern = "\\S")]
    login: Option<Value>,
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    password: Option<Value>,
}

impl LoginRequest {
    /// The login (trimmed) and the password, or every problem at once.
    fn parse(self) -> Result<(String, Password), ApiError> {
        let mut fields = Fields::default();
        let login = fields.required("login", self.login, |s| {
            if s.chars().count() > LOGIN_MAX_CHARS {
                return Err(format!("must be at most {LOGIN_MAX_CHARS} characters"));
            }
            let s = s.trim().to_string();
            if s.is_empty() {
                return Err("must not be empty".into());
            }
            Ok(s)
        });
        let password = fields.required("password", self.password, Password::presented);
        match (login, password) {
            (Some(login), Some(password)) => Ok((login, password)),
            _ => Err(fields.into_error()),
        }
    }
}

/// What a login answers: the tokens, or the second step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // the OpenAPI document's description of LoginAnswer
enum LoginOutcome {
    #[schema(title = "Tokens")]
    Tokens(TokenResponse),
    #[schema(title = "SecondStep")]
    SecondStep(MfaChallenge),
}

/// POST /auth/token and POST /auth/logout.
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(value_type = String, required = true)]
    refresh_token: Option<Value>,
}

impl RefreshRequest {
    fn parse(self) -> Result<String, ApiError> {
        let mut fields = Fields::default();
        fields
            .required("refresh_token", self.refresh_token, Ok)
            .ok_or_else(|| fields.into_error())
    }
}

/// Login: throttle check, then one argon2 verification on the bounded pool, against
/// the user's hash or, for an unknown login, a dummy hash of the same cost: both
/// failures take as long and answer the same 401.
#[utoipa::path(post, path = "/auth/login", tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens (Cache-Control: no-store); or, for a user with a second factor (or, with AUTHD_MFA=required, without one yet), the second step: an mfa_token", body = inline(LoginOutcome)),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "Wrong login or password (one answer for both)"),
        (status = 403, description = "The password matched, but an administrator locked the account (account-locked), or AUTHD_EMAIL_VERIFICATION=required and the email is not verified yet (email-not-verified)"),
        (status = 415, description = "Not a JSON content type"),
        (status = 422, description = "Missing or mistyped fields"),
        (status = 429, description = "Too many failed logins for the account or address; Retry-After"),
        (status = 503, description = "The hashing queue is full, or the database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Body(body): Body<LoginRequest>,
) -> Result<LoginAnswer, ApiError> {
    let (login, password) = body.parse()?;
    let now = state.clock.now();
    let account = password::login(&state, &login, password, client, now).await?;
    tracing::info!(user_id = %account.user.id, "logged in");
    let (client_address, agent) = (client.to_string(), user_agent(&headers));
    let origin = SessionOrigin {
        client_address: &client_address,
        user_agent: agent.as_deref(),
        amr: "pwd",
    };
    mfa::after_password(&state, &account, &origin, now).await
}

/// Refresh: spends the presented token and returns a new pair. A token that was
/// already spent means two parties hold it: its whole family is revoked.
#[utoipa::path(post, path = "/auth/token", tag = "session",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or spent refresh token (a spent one revokes its family)"),
        (status = 422, description = "No refresh_token"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn refresh_tokens(
    State(state): State<AppState>,
    Body(body): Body<RefreshRequest>,
) -> Result<TokenResponse, ApiError> {
    let presented = body.parse()?;
    let old = refresh::hash_of(&presented).ok_or(ApiError::InvalidRefreshToken)?;
    let now = state.clock.now();
    let (refresh_token, new) = refresh::new_token();
    let expires = session::refresh_expiry(&state, now)?;
    let max_age = chrono::Duration::from_std(state.tokens.config.session_max_age)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let rotation = state
        .store
        .rotate_refresh(&old, &new, now, expires, now - max_age)
        .await?;
    match rotation {
        Rotation::Rotated(grant) => {
            let (access_token, expires_in) = state.tokens.issue(&grant, now).await;
            Ok(TokenResponse::bearer(
                access_token,
                expires_in,
                refresh_token,
            ))
        }
        Rotation::Reused { family_id } => {
            tracing::warn!(%family_id, "a spent refresh token was presented again; its family is revoked");
            Err(ApiError::InvalidRefreshToken)
        }
        Rotation::Invalid => Err(ApiError::InvalidRefreshToken),
    }
}

/// Logout: revokes the refresh-token family. Answers 204 for any token (RFC 7009),
/// so it reveals nothing about which tokens exist.
#[utoipa::path(post, path = "/auth/logout", tag = "session",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "The token's family is revoked (204 for any token, RFC 7009)"),
        (status = 400, description = "A malformed Idempotency-Key"),
        (status = 409, description = "A request with this Idempotency-Key is in progress (Retry-After)"),
        (status = 422, description = "No refresh_token, or the Idempotency-Key was used for another request"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn logout(
    State(state): State<AppState>,
    Body(body): Body<RefreshRequest>,
) -> Result<Response, ApiError> {
    let presented = body.parse()?;
    let ended = match refresh::hash_of(&presented) {
        Some(hash) => {
            state
                .store
                .revoke_family_of(&hash, state.clock.now())
                .await?
        }
        None => false,
    };
    if !ended {
        // The same 204, but nothing to keep under an Idempotency-Key.
        return Ok((StatusCode::NO_CONTENT, Extension(NothingDone)).into_response());
    }
    tracing::info!("logged out");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/auth/me", tag = "session", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's user", body = PublicUser),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn me(State(state): State<AppState>, bearer: Bearer) -> Result<Json<PublicUser>, ApiError> {
    Ok(Json(bearer.account(&state).await?.user))
}
