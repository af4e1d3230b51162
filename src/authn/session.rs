//! What a successful authentication ends in: a session (a refresh-token family)
//! and its first token pair; and the pair every refresh answers.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::PublicUser;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::SessionOrigin;
use crate::tokens::{refresh, Grant};

/// What login and refresh answer (RFC 6749 section 5.1 field names).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

impl TokenResponse {
    pub fn bearer(access_token: String, expires_in: u64, refresh_token: String) -> Self {
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token,
        }
    }
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        // Tokens must not be cached by anything between us and the client.
        let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
        (no_store, Json(self)).into_response()
    }
}

/// A new refresh-token family for `user` and an access token: the end of every
/// successful login (`origin.amr`: how it authenticated).
pub async fn start(
    state: &AppState,
    user: &PublicUser,
    now: DateTime<Utc>,
    origin: &SessionOrigin<'_>,
) -> Result<TokenResponse, ApiError> {
    let (refresh_token, hash) = refresh::new_token();
    let expires = refresh_expiry(state, now)?;
    let session = Uuid::now_v7();
    state
        .store
        .start_session(user.id, session, &hash, now, expires, origin)
        .await?;
    let grant = Grant {
        user: user.id,
        session,
        email_verified: user.email_verified,
        auth_time: now,
        amr: origin.amr.split(',').map(str::to_string).collect(),
    };
    let (access_token, expires_in) = state.tokens.issue(&grant, now).await;
    Ok(TokenResponse::bearer(
        access_token,
        expires_in,
        refresh_token,
    ))
}

/// When a refresh token issued at `now` expires.
pub fn refresh_expiry(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    Ok(now + chrono::Duration::from_std(state.tokens.config.refresh_ttl)?)
}
