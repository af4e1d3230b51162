//! The caller's sessions: where they are logged in, and ending one or the others.
//! Each end writes `authd.session.revoked` (reason `logout`) with the revocation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::authn::stepup;
use crate::events::envelope::RevokeReason;
use crate::http::auth::Bearer;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::SessionInfo;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, end_others))
        .routes(routes!(end_one))
}

/// A live session (one login and its refreshes), as its user and the admin API
/// show it.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    id: Uuid,
    created_at: DateTime<Utc>,
    /// The last refresh (the login, before any), to the minute: a refresh
    /// within a minute of the last recorded one leaves it.
    last_used_at: DateTime<Utc>,
    /// The client's address at login (as the trusted proxies reported it).
    #[schema(required = true)]
    client_address: Option<String>,
    /// The User-Agent at login, 256 characters at most.
    #[schema(required = true)]
    user_agent: Option<String>,
}

impl From<SessionInfo> for SessionView {
    fn from(s: SessionInfo) -> Self {
        SessionView {
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            client_address: s.client_address,
            user_agent: s.user_agent,
        }
    }
}

/// A live session of the caller.
#[derive(Serialize, ToSchema)]
pub struct Session {
    #[serde(flatten)]
    session: SessionView,
    /// Whether this is the session of the token that asked.
    current: bool,
}

#[utoipa::path(get, path = "/auth/sessions", tag = "session", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's live sessions, newest first", body = [Session]),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Json<Vec<Session>>, ApiError> {
    let account = bearer.account(&state).await?;
    let current = bearer.0.sid;
    let sessions = state.store.sessions_of(account.user.id).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| Session {
                current: Some(s.id) == current,
                session: s.into(),
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "session", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "A session id from GET /auth/sessions (the current one too)")),
    responses(
        (status = 204, description = "The session ended: its refresh token is void, its access tokens are refused by authd at once and by verifiers within a second (authd.session.revoked)"),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer); or, for another session than the caller's, no login within AUTHD_REAUTH_MAX_AGE_SECS (reauthentication-required, RFC 9470)"),
        (status = 404, description = "No live session of the caller has this id"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn end_one(
    State(state): State<AppState>,
    bearer: Bearer,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::BadPath("the session id must be a UUID".into()))?;
    let account = bearer.account(&state).await?;
    let now = state.clock.now();
    // Ending one's own session is a logout; ending another evicts whoever holds
    // it, which a stolen token must not do to the owner.
    if Some(id) != bearer.0.sid {
        stepup::require_recent(&state, &bearer.0, now).await?;
    }
    if !state
        .store
        .revoke_session(account.user.id, id, RevokeReason::Logout, now)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    tracing::info!(user_id = %account.user.id, session_id = %id, "session ended");
    Ok(StatusCode::NO_CONTENT)
}

/// How many sessions ended.
#[derive(Serialize, ToSchema)]
pub struct Ended {
    ended: usize,
}

#[utoipa::path(delete, path = "/auth/sessions", tag = "session", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every other session ended (one authd.session.revoked each); the caller's own goes on", body = Ended),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer); or no login within AUTHD_REAUTH_MAX_AGE_SECS (reauthentication-required, RFC 9470: log in again)"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn end_others(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Json<Ended>, ApiError> {
    let account = bearer.account(&state).await?;
    let now = state.clock.now();
    stepup::require_recent(&state, &bearer.0, now).await?;
    let ended = state
        .store
        .revoke_sessions_of(
            account.user.id,
            bearer.0.sid,
            RevokeReason::Logout,
            now,
            None,
        )
        .await?;
    tracing::info!(user_id = %account.user.id, ended, "other sessions ended");
    Ok(Json(Ended { ended }))
}
