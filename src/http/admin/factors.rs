//! A user's second factors, for account recovery: list them, remove them (the
//! user then logs in with the password alone and may enrol again).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::users::{user_id, IdPath};
use super::Admin;
use crate::http::error::ApiError;
use crate::http::routes::mfa::{status_of, MfaStatus};
use crate::http::state::AppState;
use crate::store::UserChange;

#[utoipa::path(get, path = "/admin/users/{id}/factors", tag = "admin", operation_id = "list_factors",
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user's factors (confirmed and pending) and recovery codes left", body = MfaStatus),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 404, description = "No such user"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    id: IdPath,
) -> Result<Json<MfaStatus>, ApiError> {
    let id = user_id(id)?;
    state.store.account(id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(status_of(&state, id).await?))
}

#[utoipa::path(delete, path = "/admin/users/{id}/factors", tag = "admin", operation_id = "remove_factors",
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    responses(
        (status = 204, description = "Every factor (the authenticator, passkeys) and recovery code removed; authd.user.mfa_disabled says who (none to remove: nothing written)"),
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
    let change = UserChange::RemoveFactors { id, factor: None };
    let removed = state
        .store
        .apply_as(change, state.clock.now(), Some(&actor))
        .await?;
    if removed.is_none() {
        state.store.account(id).await?.ok_or(ApiError::NotFound)?;
        return Ok(StatusCode::NO_CONTENT);
    }
    tracing::info!(user_id = %id, admin = admin.0, "admin removed a user's second factors");
    Ok(StatusCode::NO_CONTENT)
}
