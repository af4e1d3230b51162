//! The account lifecycle on `/auth/user/{id}`: read, change username/email, change
//! password, delete. Only the token's own user; each change writes its event to the
//! outbox in the same transaction.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authn::{password, stepup};
use crate::authn::{Attempt, AttemptKeys, Verification};
use crate::domain::{Email, Password, PublicUser, Username};
use crate::http::auth::Bearer;
use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields, UserId};
use crate::http::idempotency::NothingDone;
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{HeldKey, MailKind, NewMail, Taken, UserChange};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read, update, delete))
        .routes(routes!(change_password))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// PATCH /auth/user/{id}: at least one field; no other field is accepted.
#[derive(Deserialize, ToSchema)]
pub struct PatchUserRequest {
    /// 3 to 32 of `a-z 0-9 _ . -`, case-folded.
    #[schema(value_type = Option<String>, min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]+$")]
    username: Option<Value>,
    /// An ASCII address, stored lower-cased. A new email needs a recent login
    /// (`AUTHD_REAUTH_MAX_AGE_SECS`) or `current_password`.
    #[schema(value_type = Option<String>, format = "email", max_length = 254)]
    email: Option<Value>,
    /// The current password: proves a new email comes from the user when the login
    /// is not recent. Checked like a login (throttled).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1024)]
    current_password: Option<Value>,
    /// Any other field: refused (the password has its own endpoint).
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// PUT /auth/user/{id}/password.
#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    current_password: Option<Value>,
    /// 8 to 1024 characters.
    #[schema(value_type = String, required = true, min_length = 8, max_length = 1024)]
    new_password: Option<Value>,
}

/// DELETE /auth/user/{id}.
#[derive(Deserialize, ToSchema)]
pub struct DeleteUserRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    password: Option<Value>,
}

#[utoipa::path(get, path = "/auth/user/{id}", tag = "users", security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user id (the token's sub)")),
    responses(
        (status = 200, description = "The user", body = PublicUser),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)"),
        (status = 400, description = "The id is not a UUID, or malformed JSON"),
        (status = 403, description = "The token belongs to another user"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn read(
    State(state): State<AppState>,
    bearer: Bearer,
    UserId(id): UserId,
) -> Result<Json<PublicUser>, ApiError> {
    Ok(Json(bearer.own(&state, id).await?.user))
}

/// PATCH `{username?, email?, current_password?}`: at least one of the first two;
/// any other field is refused (the password has its own endpoint). Unchanged
/// values write nothing; a change needs the step-up.
#[utoipa::path(patch, path = "/auth/user/{id}", tag = "users", security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user id (the token's sub)")),
    request_body = PatchUserRequest,
    responses(
        (status = 200, description = "The updated user; authd.user.updated written when something changed. With AUTHD_EMAIL_VERIFICATION=off a new email applies at once (and is unverified), and the old address is told by mail", body = PublicUser),
        (status = 202, description = "AUTHD_EMAIL_VERIFICATION is optional or required and the email changes: the user as it is now (a new username applied), still with the old email; a confirmation mail goes to the new address, which replaces the old one once POST /auth/verify confirms it", body = PublicUser),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer); or a change without current_password and without a login within AUTHD_REAUTH_MAX_AGE_SECS (reauthentication-required, WWW-Authenticate: Bearer error=\"insufficient_user_authentication\", RFC 9470)"),
        (status = 400, description = "The id is not a UUID, malformed JSON, or a malformed Idempotency-Key"),
        (status = 403, description = "The token belongs to another user, or current_password is wrong (wrong-password)"),
        (status = 409, description = "The username or email is taken, or a request with this Idempotency-Key is in progress (Retry-After)"),
        (status = 422, description = "Invalid, unknown or no fields, or the Idempotency-Key was used for another request"),
        (status = 429, description = "Too many wrong current passwords, too many changes of this user, or too many mails to the new address; Retry-After"),
        (status = 503, description = "The hashing queue is full, or the database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn update(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    bearer: Bearer,
    UserId(id): UserId,
    held: Option<Extension<HeldKey>>,
    Body(body): Body<PatchUserRequest>,
) -> Result<PatchAnswer, ApiError> {
    let account = bearer.own(&state, id).await?;
    let PatchUser {
        username,
        email,
        password,
    } = body.parse()?;
    let current = &account.user;
    let username = username.filter(|u| u.as_str() != current.username);
    let email = email.filter(|e| e.as_str() != current.email);
    if username.is_none() && email.is_none() {
        return Ok((
            StatusCode::OK,
            Some(Extension(NothingDone)),
            Json(account.user),
        ));
    }
    // A new email is how a stolen token becomes a taken account (recovery goes to
    // it), and a new username lets a thief take the old one for an account of
    // their own: either needs the password, or a login recent enough to be the
    // user's own.
    match password {
        Some(password) => password::confirm(&state, &account, client, password).await?,
        None => stepup::require_recent(&state, &bearer.0, state.clock.now()).await?,
    }
    // Each change is an event and may be a mail: counted per user, and a mail to
    // a new address per address and client network, as every mail request is.
    let now = state.clock.now();
    Attempt::begin(&state, AttemptKeys::change(id), now)
        .await?
        .failed();
    if let Some(new) = email
        .as_ref()
        .filter(|_| state.verification != Verification::Off)
    {
        Attempt::begin(&state, AttemptKeys::mail(new.as_str(), client), now)
            .await?
            .failed();
    }
    // With verification on, the new address must confirm before it replaces the
    // old one: only a mail is queued for it now.
    let (email, confirm) = match email {
        Some(new) if state.verification != Verification::Off => {
            if state.store.account_by_email(new.as_str()).await?.is_some() {
                return Err(ApiError::Conflict(Taken::Email));
            }
            (None, Some(new))
        }
        email => (email, None),
    };
    let mut user = account.user;
    if username.is_some() || email.is_some() {
        let change = UserChange::Update {
            id,
            username: username.as_ref(),
            email: email.as_ref(),
            key: held.as_ref().map(|Extension(held)| held),
        };
        user = state
            .store
            .apply(change, now)
            .await?
            .ok_or(ApiError::Unauthorized(Some("the user no longer exists")))?;
        tracing::info!(user_id = %id, "user updated");
    }
    let Some(new_email) = confirm else {
        return Ok((StatusCode::OK, None, Json(user)));
    };
    let mail = NewMail {
        kind: MailKind::EmailChange,
        user_id: Some(id),
        recipient: None,
        new_email: Some(new_email.to_string()),
    };
    state.store.queue_mail(&mail, now).await?;
    tracing::info!(user_id = %id, "email change waits for the new address to confirm");
    Ok((StatusCode::ACCEPTED, None, Json(user)))
}

/// A PATCH's answer: 200 (or 202) with the user, marked when nothing changed.
type PatchAnswer = (StatusCode, Option<Extension<NothingDone>>, Json<PublicUser>);

/// What a PATCH asks: a new username and email (`None`: not sent), and the
/// current password when it proves itself.
struct PatchUser {
    username: Option<Username>,
    email: Option<Email>,
    password: Option<Password>,
}

impl PatchUserRequest {
    /// The new username and email (`None`: not sent) and the current password, or
    /// every problem at once. At least one of username and email; nothing else.
    fn parse(self) -> Result<PatchUser, ApiError> {
        let mut fields = Fields::default();
        let username = fields.optional("username", self.username, |s| Username::parse(&s));
        let email = fields.optional("email", self.email, |s| Email::parse(&s));
        let password = fields.optional(
            "current_password",
            self.current_password,
            Password::presented,
        );
        if !self.other.is_empty() {
            let unknown: Vec<&str> = self.other.keys().map(String::as_str).collect();
            fields.refuse::<()>(
                "body",
                format!(
                    "unknown field(s) {}: only username and email can be changed here",
                    unknown.join(", ")
                ),
            );
        }
        match (username, email, password) {
            (Some(None), Some(None), Some(_)) if self.other.is_empty() => {
                fields.refuse::<()>("body", "send username and/or email");
                Err(fields.into_error())
            }
            (Some(username), Some(email), Some(password)) if self.other.is_empty() => {
                Ok(PatchUser {
                    username,
                    email,
                    password,
                })
            }
            _ => Err(fields.into_error()),
        }
    }
}

/// PUT `{current_password, new_password}`: revokes every refresh token of the user.
#[utoipa::path(put, path = "/auth/user/{id}/password", tag = "users", security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user id (the token's sub)")),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; every refresh token revoked; authd.user.password_changed written"),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)"),
        (status = 400, description = "The id is not a UUID, or malformed JSON"),
        (status = 403, description = "The token belongs to another user"),
        (status = 422, description = "Missing fields, or the new password is too short or too long"),
        (status = 429, description = "Too many wrong current passwords; Retry-After"),
        (status = 503, description = "The hashing queue is full, or the database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn change_password(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    bearer: Bearer,
    UserId(id): UserId,
    Body(body): Body<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let account = bearer.own(&state, id).await?;
    let mut fields = Fields::default();
    let current = fields.required(
        "current_password",
        body.current_password,
        Password::presented,
    );
    let new = fields.required("new_password", body.new_password, |s| {
        Password::parse(s).and_then(|p| state.denylist.check(p))
    });
    let (Some(current), Some(new)) = (current, new) else {
        return Err(fields.into_error());
    };
    password::confirm(&state, &account, client, current).await?;
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
    request_body = DeleteUserRequest,
    responses(
        (status = 204, description = "Deleted with its sessions; authd.user.deleted written"),
        (status = 401, description = "Missing, invalid, expired or revoked access token (WWW-Authenticate: Bearer)"),
        (status = 400, description = "The id is not a UUID, or malformed JSON"),
        (status = 403, description = "The token belongs to another user"),
        (status = 422, description = "No password"),
        (status = 429, description = "Too many wrong passwords; Retry-After"),
        (status = 503, description = "The hashing queue is full, or the database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn delete(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    bearer: Bearer,
    UserId(id): UserId,
    Body(body): Body<DeleteUserRequest>,
) -> Result<StatusCode, ApiError> {
    let account = bearer.own(&state, id).await?;
    let mut fields = Fields::default();
    let Some(password) = fields.required("password", body.password, Password::presented) else {
        return Err(fields.into_error());
    };
    password::confirm(&state, &account, client, password).await?;
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
