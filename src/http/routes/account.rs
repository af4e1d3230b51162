//! The account lifecycle on `/auth/user/{id}`: read, change username/email, change
//! password, delete. Only the token's own user; each change writes its event to the
//! outbox in the same transaction.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::PublicUser;
use crate::domain::{Email, FieldError, Password, Username};
use crate::http::auth::Bearer;
use crate::http::client::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::{JsonObject, UserId};
use crate::http::routes::session::too_many;
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{Account, UserChange};
use crate::throttle::{AttemptKeys, Throttle};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read, update, delete))
        .routes(routes!(change_password))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn fields(errors: Vec<Option<FieldError>>) -> ApiError {
    ApiError::Invalid(errors.into_iter().flatten().collect())
}

#[utoipa::path(get, path = "/auth/user/{id}", tag = "users", security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user id (the token's sub)")),
    responses(
        (status = 200, description = "The user", body = PublicUser),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 400, description = "The id is not a UUID, or malformed JSON", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token belongs to another user", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn read(
    State(state): State<AppState>,
    bearer: Bearer,
    UserId(id): UserId,
) -> Result<Json<PublicUser>, ApiError> {
    Ok(Json(bearer.own(&state, id).await?.user))
}

/// PATCH `{username?, email?}`: at least one; any other field is refused (the
/// password has its own endpoint). Unchanged values write nothing.
#[utoipa::path(patch, path = "/auth/user/{id}", tag = "users", security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user id (the token's sub)")),
    request_body = crate::http::openapi::PatchUserRequest,
    responses(
        (status = 200, description = "The updated user; authd.user.updated written when something changed", body = PublicUser),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 400, description = "The id is not a UUID, or malformed JSON", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token belongs to another user", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username or email is taken", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, unknown or no fields", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn update(
    State(state): State<AppState>,
    bearer: Bearer,
    UserId(id): UserId,
    mut body: JsonObject,
) -> Result<Json<PublicUser>, ApiError> {
    let account = bearer.own(&state, id).await?;
    let username = body.optional_string("username").and_then(|s| {
        s.map(|s| Username::parse(&s).map_err(|why| FieldError::new("username", why)))
            .transpose()
    });
    let email = body.optional_string("email").and_then(|s| {
        s.map(|s| Email::parse(&s).map_err(|why| FieldError::new("email", why)))
            .transpose()
    });
    let unknown: Vec<&str> = body.remaining().collect();
    let unknown = (!unknown.is_empty()).then(|| {
        FieldError::new(
            "body",
            format!(
                "unknown field(s) {}: only username and email can be changed here",
                unknown.join(", ")
            ),
        )
    });
    let (username, email) = match (username, email, unknown) {
        (Ok(None), Ok(None), None) => {
            return Err(fields(vec![Some(FieldError::new(
                "body",
                "send username and/or email",
            ))]))
        }
        (Ok(u), Ok(e), None) => (u, e),
        (u, e, unknown) => return Err(fields(vec![u.err(), e.err(), unknown])),
    };
    let current = &account.user;
    let username = username.filter(|u| u.as_str() != current.username);
    let email = email.filter(|e| e.as_str() != current.email);
    if username.is_none() && email.is_none() {
        return Ok(Json(account.user));
    }
    let change = UserChange::Update {
        id,
        username: username.as_ref(),
        email: email.as_ref(),
    };
    let user = state
        .store
        .apply(change, state.clock.now())
        .await?
        .ok_or(ApiError::Unauthorized(Some("the user no longer exists")))?;
    tracing::info!(user_id = %id, "user updated");
    Ok(Json(user))
}

/// Checks `password` against the account, counted like a login: guessing the
/// password through these endpoints is throttled the same way.
async fn confirm_password(
    state: &AppState,
    account: &Account,
    client: std::net::IpAddr,
    password: Password,
) -> Result<(), ApiError> {
    let keys = AttemptKeys::new(Some(account.user.id), "", client);
    let throttle = Throttle {
        store: &state.store,
        config: state.throttle,
    };
    let now = state.clock.now();
    if let Some(wait) = throttle.locked(&keys, now).await? {
        return Err(too_many(wait));
    }
    if state
        .hasher
        .verify(password, account.password_hash.clone())
        .await?
    {
        throttle.succeeded(&keys).await?;
        Ok(())
    } else {
        throttle.failed(&keys, now).await?;
        Err(ApiError::WrongPassword)
    }
}

/// PUT `{current_password, new_password}`: revokes every refresh token of the user.
#[utoipa::path(put, path = "/auth/user/{id}/password", tag = "users", security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user id (the token's sub)")),
    request_body = crate::http::openapi::ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; every refresh token revoked; authd.user.password_changed written"),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 400, description = "The id is not a UUID, or malformed JSON", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token belongs to another user", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing fields, or the new password is too short or too long", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong current passwords; Retry-After", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The hashing queue is full; Retry-After", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn change_password(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    bearer: Bearer,
    UserId(id): UserId,
    mut body: JsonObject,
) -> Result<StatusCode, ApiError> {
    let account = bearer.own(&state, id).await?;
    let current = body.string("current_password").and_then(|s| {
        Password::presented(s).map_err(|why| FieldError::new("current_password", why))
    });
    let new = body
        .string("new_password")
        .and_then(|s| Password::parse(s).map_err(|why| FieldError::new("new_password", why)));
    let (current, new) = match (current, new) {
        (Ok(c), Ok(n)) => (c, n),
        (c, n) => return Err(fields(vec![c.err(), n.err()])),
    };
    confirm_password(&state, &account, client, current).await?;
    let new_hash = state.hasher.hash(new).await?;
    let change = UserChange::ChangePassword {
        id,
        expected: &account.password_hash,
        new_hash: &new_hash,
    };
    state
        .store
        .apply(change, state.clock.now())
        .await?
        // Changed by another request since we verified: the current password was not.
        .ok_or(ApiError::WrongPassword)?;
    tracing::info!(user_id = %id, "password changed; refresh tokens revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE `{password}`: the user, its sessions, and an `authd.user.deleted` event.
#[utoipa::path(delete, path = "/auth/user/{id}", tag = "users", security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user id (the token's sub)")),
    request_body = crate::http::openapi::DeleteUserRequest,
    responses(
        (status = 204, description = "Deleted with its sessions; authd.user.deleted written"),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 400, description = "The id is not a UUID, or malformed JSON", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token belongs to another user", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No password", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords; Retry-After", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The hashing queue is full; Retry-After", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn delete(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    bearer: Bearer,
    UserId(id): UserId,
    mut body: JsonObject,
) -> Result<StatusCode, ApiError> {
    let account = bearer.own(&state, id).await?;
    let password = body
        .string("password")
        .and_then(|s| Password::presented(s).map_err(|why| FieldError::new("password", why)))
        .map_err(|e| fields(vec![Some(e)]))?;
    confirm_password(&state, &account, client, password).await?;
    let change = UserChange::Delete {
        id,
        expected: &account.password_hash,
    };
    state
        .store
        .apply(change, state.clock.now())
        .await?
        .ok_or(ApiError::WrongPassword)?;
    tracing::info!(user_id = %id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}
