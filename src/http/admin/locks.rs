//! What an operator does to one user's access: lock, unlock, end every session,
//! delete. Each writes its events naming the admin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::users::{user_id, AdminUserView, IdPath};
use super::Admin;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::UserChange;

#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 204, description = "Deleted with its sessions: authd.session.revoked (reason delete) for each live one, then authd.user.deleted, all saying who"),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 404, description = "No such user"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    id: IdPath,
) -> Result<StatusCode, ApiError> {
    let id = user_id(id)?;
    let actor = admin.actor();
    state
        .store
        .apply_as(UserChange::Remove { id }, state.clock.now(), Some(&actor))
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(user_id = %id, admin = admin.0, "admin deleted a user");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/admin/users/{id}/lock", tag = "admin",
    params(("id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "Locked (already locked: unchanged, no event). Login and refresh are refused at once on every replica, every session ends (authd.session.revoked, reason admin) and access tokens issued until now are void (not_before); authd.user.locked", body = AdminUserView),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 404, description = "No such user"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn lock(
    State(state): State<AppState>,
    admin: Admin,
    id: IdPath,
) -> Result<Json<AdminUserView>, ApiError> {
    let id = user_id(id)?;
    change_lock(&state, &admin, UserChange::Lock { id }, id).await
}

#[utoipa::path(post, path = "/admin/users/{id}/unlock", tag = "admin",
    params(("id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "Unlocked (not locked: unchanged, no event); authd.user.unlocked. Sessions ended by the lock stay ended", body = AdminUserView),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 404, description = "No such user"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn unlock(
    State(state): State<AppState>,
    admin: Admin,
    id: IdPath,
) -> Result<Json<AdminUserView>, ApiError> {
    let id = user_id(id)?;
    change_lock(&state, &admin, UserChange::Unlock { id }, id).await
}

async fn change_lock(
    state: &AppState,
    admin: &Admin,
    change: UserChange<'_>,
    id: Uuid,
) -> Result<Json<AdminUserView>, ApiError> {
    let actor = admin.actor();
    let locking = matches!(change, UserChange::Lock { .. });
    let changed = state
        .store
        .apply_as(change, state.clock.now(), Some(&actor))
        .await?
        .is_some();
    let (user, _) = state
        .store
        .admin_user(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if changed {
        let what = if locking { "locked" } else { "unlocked" };
        tracing::info!(user_id = %id, admin = admin.0, what, "admin changed a lock");
    }
    Ok(Json(user.into()))
}

/// How many sessions ended.
#[derive(Serialize, ToSchema)]
pub struct EndedSessions {
    ended: usize,
}

#[utoipa::path(post, path = "/admin/users/{id}/logout", tag = "admin",
    params(("id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "Every session ended (authd.session.revoked, reason admin, each) and access tokens issued until now are void (not_before)", body = EndedSessions),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 404, description = "No such user"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn logout(
    State(state): State<AppState>,
    admin: Admin,
    id: IdPath,
) -> Result<Json<EndedSessions>, ApiError> {
    let id = user_id(id)?;
    let ended = state
        .store
        .end_all_sessions(id, &admin.actor(), state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(user_id = %id, admin = admin.0, ended, "admin ended a user's sessions");
    Ok(Json(EndedSessions { ended }))
}
