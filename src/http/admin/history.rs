//! What an operator reads about one user: its live sessions and its events.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::users::{user_id, IdPath};
use super::Admin;
use crate::http::error::ApiError;
use crate::http::routes::sessions::SessionView;
use crate::http::state::AppState;
use crate::store::HistoryEvent;

#[utoipa::path(get, path = "/admin/users/{id}/sessions", tag = "admin",
    params(("id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user's live sessions, newest first", body = [SessionView]),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 404, description = "No such user"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn sessions(
    State(state): State<AppState>,
    _admin: Admin,
    id: IdPath,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let id = user_id(id)?;
    state
        .store
        .admin_user(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let sessions = state.store.sessions_of(id).await?;
    Ok(Json(sessions.into_iter().map(SessionView::from).collect()))
}

/// An event written for the user.
#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    created_at: DateTime<Utc>,
    /// When the broker acknowledged it; null while it waits in the outbox.
    #[schema(required = true)]
    published_at: Option<DateTime<Utc>>,
    /// The CloudEvents envelope, as consumers get it.
    #[schema(value_type = Object)]
    event: Value,
}

impl From<HistoryEvent> for HistoryEntry {
    fn from(e: HistoryEvent) -> Self {
        HistoryEntry {
            id: e.id,
            event_type: e.event_type,
            created_at: e.created_at,
            published_at: e.published_at,
            event: e.payload,
        }
    }
}

#[utoipa::path(get, path = "/admin/users/{id}/events", tag = "admin",
    params(("id" = Uuid, Path, description = "The user id (a deleted user's too)")),
    responses(
        (status = 200, description = "Every event written for the user, oldest first: those waiting in the outbox and those published within AUTHD_EVENT_HISTORY_DAYS", body = [HistoryEntry]),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn events(
    State(state): State<AppState>,
    _admin: Admin,
    id: IdPath,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let id = user_id(id)?;
    let events = state.store.history_of(id).await?;
    Ok(Json(events.into_iter().map(HistoryEntry::from).collect()))
}
