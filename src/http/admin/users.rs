//! /admin/users: the list (by prefix and cursor), one user, and creating one.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::Admin;
use crate::authn::signup::{new_user, Secret};
use crate::domain::{Email, Password, Username};
use crate::hashing::ImportedFormat;
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields};
use crate::http::state::AppState;
use crate::store::{AdminUser, UserChange};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// A user as an administrator sees it: never a password or its hash.
#[derive(Serialize, ToSchema)]
pub struct AdminUserView {
    id: Uuid,
    username: String,
    email: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Set while the account is locked.
    #[schema(required = true)]
    locked_at: Option<DateTime<Utc>>,
    /// When the user confirmed its email; null: not verified.
    #[schema(required = true)]
    email_verified_at: Option<DateTime<Utc>>,
}

impl From<AdminUser> for AdminUserView {
    fn from(u: AdminUser) -> Self {
        AdminUserView {
            id: u.id,
            username: u.username,
            email: u.email,
            created_at: u.created_at,
            updated_at: u.updated_at,
            locked_at: u.locked_at,
            email_verified_at: u.email_verified_at,
        }
    }
}

/// One user, with its live sessions counted.
#[derive(Serialize, ToSchema)]
pub struct AdminUserDetail {
    #[serde(flatten)]
    user: AdminUserView,
    live_sessions: i64,
    /// Whether a second factor guards its login (GET .../factors lists them).
    mfa_enabled: bool,
}

/// A page of users; `next` is the cursor of the following page (absent at the end).
#[derive(Serialize, ToSchema)]
pub struct UserPage {
    users: Vec<AdminUserView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Users whose username or email starts with this (any case).
    #[param(min_length = 1, max_length = 320)]
    q: Option<String>,
    /// The `next` of the previous page (a user id).
    #[param(value_type = Option<Uuid>)]
    after: Option<String>,
    /// Users per page, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// The `{id}` of a user path, as a UUID (400 problem+json otherwise).
pub(super) fn user_id(
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
) -> Result<Uuid, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadPath("the user id must be a UUID".into()))
}

pub(super) type IdPath = Result<Path<Uuid>, axum::extract::rejection::PathRejection>;

#[utoipa::path(get, path = "/admin/users", tag = "admin", params(ListParams),
    responses(
        (status = 200, description = "Users in sign-up order (UUIDv7 ids); a page read with `after` never repeats or skips a user, whatever signs up meanwhile", body = UserPage),
        (status = 400, description = "A malformed query string"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 422, description = "An invalid q, after or limit, all reported"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserPage>, ApiError> {
    let Query(params) =
        params.map_err(|_| ApiError::BadRequest("a malformed query string".into()))?;
    let mut fields = Fields::default();
    let q = match params.q {
        Some(q) if q.is_empty() || q.chars().count() > 320 => {
            fields.refuse("q", "must be 1 to 320 characters")
        }
        q => q,
    };
    let after = match params.after.as_deref().map(Uuid::parse_str) {
        Some(Err(_)) => fields.refuse("after", "must be the next of a previous page"),
        Some(Ok(after)) => Some(after),
        None => None,
    };
    let limit = match params.limit.as_deref().map(str::parse::<u32>) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => fields
            .refuse(
                "limit",
                format!("must be a whole number from 1 to {MAX_PAGE}"),
            )
            .unwrap_or(DEFAULT_PAGE),
    };
    let refused = fields.into_error();
    if matches!(&refused, ApiError::Invalid(errors) if !errors.is_empty()) {
        return Err(refused);
    }
    let users = state
        .store
        .list_users(q.as_deref(), after, i64::from(limit))
        .await?;
    let next = (users.len() == limit as usize)
        .then(|| users.last().map(|u| u.id.to_string()))
        .flatten();
    Ok(Json(UserPage {
        users: users.into_iter().map(AdminUserView::from).collect(),
        next,
    }))
}

#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user", body = AdminUserDetail),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 404, description = "No such user"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn read(
    State(state): State<AppState>,
    _admin: Admin,
    id: IdPath,
) -> Result<Json<AdminUserDetail>, ApiError> {
    let id = user_id(id)?;
    let (user, live_sessions) = state
        .store
        .admin_user(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(AdminUserDetail {
        user: user.into(),
        live_sessions,
        mfa_enabled: state.store.has_factor(id).await?,
    }))
}

/// POST /admin/users: a user with a password, or with a hash made elsewhere (an
/// import; rehashed with the configured parameters at its first login).
#[derive(Deserialize, ToSchema)]
pub struct CreateUserRequest {
    #[schema(value_type = String, required = true, min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]+$")]
    username: Option<Value>,
    #[schema(value_type = String, required = true, format = "email", max_length = 254)]
    email: Option<Value>,
    /// 8 to 1024 characters; or give `password_hash`.
    #[schema(value_type = Option<String>, min_length = 8, max_length = 1024)]
    password: Option<Value>,
    /// A hash made elsewhere: bcrypt, scrypt or PBKDF2-SHA256 (passlib, Django) or
    /// argon2 (PHC); verified at login, then rehashed to argon2id. Or give `password`.
    #[schema(value_type = Option<String>, max_length = 1024)]
    password_hash: Option<Value>,
}

#[utoipa::path(post, path = "/admin/users", tag = "admin",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created; authd.user.created says who created it", body = AdminUserView,
            headers(("location" = String, description = "/admin/users/{id}"))),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 409, description = "The username or email is taken"),
        (status = 422, description = "Invalid fields, or not exactly one of password and password_hash"),
        (status = 503, description = "The hashing queue is full, or the database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Body(body): Body<CreateUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let mut fields = Fields::default();
    let username = fields.required("username", body.username, |s| Username::parse(&s));
    let email = fields.required("email", body.email, |s| Email::parse(&s));
    let password = fields.optional("password", body.password, |s| {
        Password::parse(s).and_then(|p| state.denylist.check(p))
    });
    let hash = fields.optional("password_hash", body.password_hash, |s| {
        ImportedFormat::check(&s).map(|_| s)
    });
    let secret = match (password, hash) {
        (Some(Some(p)), Some(None)) => Some(Ok(p)),
        (Some(None), Some(Some(h))) => Some(Err(h)),
        (Some(Some(_)), Some(Some(_))) => {
            fields.refuse::<()>("password_hash", "give password or password_hash, not both");
            None
        }
        (Some(None), Some(None)) => {
            fields.refuse::<()>("password", "give password or password_hash");
            None
        }
        _ => None,
    };
    let (Some(username), Some(email), Some(secret)) = (username, email, secret) else {
        return Err(fields.into_error());
    };
    let secret = match secret {
        Ok(password) => Secret::Password(password),
        Err(hash) => Secret::Hash(hash),
    };
    // An administrator vouches for the address, or sends a reset link later.
    let user = new_user(&state, username, email, secret, false).await?;
    let now = user.created_at;
    let id = user.id;
    let actor = admin.actor();
    state
        .store
        .apply_as(UserChange::Create(user), now, Some(&actor))
        .await?;
    tracing::info!(user_id = %id, admin = admin.0, "admin created a user");
    let (user, _) = state
        .store
        .admin_user(id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the created user is gone")))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/admin/users/{id}"))],
        Json(AdminUserView::from(user)),
    ))
}
