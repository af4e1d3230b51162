//! A user's passkeys, for support: list them, remove one (a lost or stolen
//! device), with the admin's name on the event.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use uuid::Uuid;

use super::users::{user_id, IdPath};
use super::Admin;
use crate::http::error::ApiError;
use crate::http::routes::passkeys::PasskeyView;
use crate::http::state::AppState;
use crate::store::UserChange;

#[utoipa::path(get, path = "/admin/users/{id}/passkeys", tag = "admin", operation_id = "admin_list_passkeys",
    params(("id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user's passkeys, oldest first", body = Vec<PasskeyView>),
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
) -> Result<Json<Vec<PasskeyView>>, ApiError> {
    let id = user_id(id)?;
    state.store.account(id).await?.ok_or(ApiError::NotFound)?;
    let passkeys = state.store.passkeys(id).await?;
    Ok(Json(passkeys.into_iter().map(PasskeyView::from).collect()))
}

type TwoIds = Result<Path<(Uuid, Uuid)>, axum::extract::rejection::PathRejection>;

#[utoipa::path(delete, path = "/admin/users/{id}/passkeys/{passkey}", tag = "admin", operation_id = "admin_remove_passkey",
    params(
        ("id" = Uuid, Path, description = "The user id"),
        ("passkey" = Uuid, Path, description = "A passkey id from GET /admin/users/{id}/passkeys"),
    ),
    responses(
        (status = 204, description = "The passkey is removed (authd.user.passkey_removed, with the admin's name); the recovery codes go with the last factor"),
        (status = 400, description = "An id is not a UUID"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 404, description = "No such user, or no such passkey of the user"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    ids: TwoIds,
) -> Result<StatusCode, ApiError> {
    let Path((id, passkey)) =
        ids.map_err(|_| ApiError::BadPath("the user and passkey ids must be UUIDs".into()))?;
    let actor = admin.actor();
    let change = UserChange::RemovePasskey {
        id,
        passkey,
        keep_one: false,
    };
    state
        .store
        .apply_as(change, state.clock.now(), Some(&actor))
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(user_id = %id, factor_id = %passkey, admin = admin.0, "admin removed a passkey");
    Ok(StatusCode::NO_CONTENT)
}
