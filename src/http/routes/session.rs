//! Login, refresh, logout and "who am I".

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::domain::PublicUser;
use crate::domain::{FieldError, Password};
use crate::hashing::phc_params;
use crate::http::auth::Bearer;
use crate::http::client::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::JsonObject;
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{Account, Rotation};
use crate::throttle::{AttemptKeys, Throttle};
use crate::tokens::refresh;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh_tokens))
        .routes(routes!(logout))
        .routes(routes!(me))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// What login and refresh answer (RFC 6749 section 5.1 field names).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        // Tokens must not be cached by anything between us and the client.
        let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
        (no_store, Json(self)).into_response()
    }
}

/// Parses a login: `login` (username or email) and `password`.
fn credentials(mut body: JsonObject) -> Result<(String, Password), ApiError> {
    let login = body.string("login").and_then(|s| {
        let s = s.trim().to_string();
        match s.chars().count() {
            0 => Err(FieldError::new("login", "must not be empty")),
            1..=320 => Ok(s),
            _ => Err(FieldError::new("login", "must be at most 320 characters")),
        }
    });
    let password = body
        .string("password")
        .and_then(|s| Password::presented(s).map_err(|why| FieldError::new("password", why)));
    match (login, password) {
        (Ok(login), Ok(password)) => Ok((login, password)),
        (l, p) => Err(ApiError::Invalid(
            [l.err(), p.err()].into_iter().flatten().collect(),
        )),
    }
}

pub(crate) fn too_many(wait: Duration) -> ApiError {
    ApiError::TooManyAttempts {
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}

/// Login: throttle check, then one argon2 verification on the bounded pool, against
/// the user's hash or, for an unknown login, a dummy hash of the same cost: both
/// failures take as long and answer the same 401.
#[utoipa::path(post, path = "/auth/login", tag = "session",
    request_body = crate::http::openapi::LoginRequest,
    responses(
        (status = 200, description = "Tokens (Cache-Control: no-store)", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong login or password (one answer for both)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON content type", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or mistyped fields", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for the account or address; Retry-After", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The hashing queue is full; Retry-After", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    body: JsonObject,
) -> Result<TokenResponse, ApiError> {
    let (login, password) = credentials(body)?;
    let now = state.clock.now();
    let account = state.store.account_by_login(&login).await?;
    let keys = AttemptKeys::new(account.as_ref().map(|a| a.user.id), &login, client);
    let throttle = Throttle {
        store: &state.store,
        config: state.throttle,
    };
    if let Some(wait) = throttle.locked(&keys, now).await? {
        return Err(too_many(wait));
    }
    let phc = account
        .as_ref()
        .map_or_else(|| state.dummy_hash.to_string(), |a| a.password_hash.clone());
    let matches = state.hasher.verify(password.clone(), phc).await?;
    let Some(account) = account.filter(|_| matches) else {
        throttle.failed(&keys, now).await?;
        tracing::info!("login failed");
        return Err(ApiError::InvalidCredentials);
    };
    throttle.succeeded(&keys).await?;
    rehash_if_outdated(&state, &account, password).await;
    tracing::info!(user_id = %account.user.id, "logged in");
    start_session(&state, account.user.id, now).await
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

/// A new refresh-token family and an access token.
async fn start_session(
    state: &AppState,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<TokenResponse, ApiError> {
    let (refresh_token, hash) = refresh::new_token();
    let expires = refresh_expiry(state, now)?;
    let session = Uuid::now_v7();
    state
        .store
        .start_session(user, session, &hash, now, expires)
        .await?;
    let (access_token, expires_in) = state.tokens.issue(user, session, now).await;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token,
    })
}

fn refresh_expiry(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    Ok(now + chrono::Duration::from_std(state.tokens.config.refresh_ttl)?)
}

fn refresh_token_field(mut body: JsonObject) -> Result<String, ApiError> {
    body.string("refresh_token")
        .map_err(|e| ApiError::Invalid(vec![e]))
}

/// Refresh: spends the presented token and returns a new pair. A token that was
/// already spent means two parties hold it: its whole family is revoked.
#[utoipa::path(post, path = "/auth/token", tag = "session",
    request_body = crate::http::openapi::RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or spent refresh token (a spent one revokes its family)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No refresh_token", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn refresh_tokens(
    State(state): State<AppState>,
    body: JsonObject,
) -> Result<TokenResponse, ApiError> {
    let presented = refresh_token_field(body)?;
    let old = refresh::hash_of(&presented).ok_or(ApiError::InvalidRefreshToken)?;
    let now = state.clock.now();
    let (refresh_token, new) = refresh::new_token();
    let expires = refresh_expiry(&state, now)?;
    match state.store.rotate_refresh(&old, &new, now, expires).await? {
        Rotation::Rotated { user_id, family_id } => {
            let (access_token, expires_in) = state.tokens.issue(user_id, family_id, now).await;
            Ok(TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in,
                refresh_token,
            })
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
    request_body = crate::http::openapi::RefreshRequest,
    responses(
        (status = 204, description = "The token's family is revoked (204 for any token, RFC 7009)"),
        (status = 422, description = "No refresh_token", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn logout(State(state): State<AppState>, body: JsonObject) -> Result<StatusCode, ApiError> {
    let presented = refresh_token_field(body)?;
    if let Some(hash) = refresh::hash_of(&presented) {
        if state
            .store
            .revoke_family_of(&hash, state.clock.now())
            .await?
        {
            tracing::info!("logged out");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/auth/me", tag = "session", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's user", body = PublicUser),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn me(State(state): State<AppState>, bearer: Bearer) -> Result<Json<PublicUser>, ApiError> {
    Ok(Json(bearer.account(&state).await?.user))
}
