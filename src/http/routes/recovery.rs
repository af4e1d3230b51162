//! Email verification and password recovery: the requests that queue a mail
//! (`/auth/verify/resend`, `/auth/password/forgot`) and the ones that spend the
//! token the mail carried (`/auth/verify`, `/auth/password/reset`).
//!
//! A request that names an address answers 202 with the same body whether or not
//! an account has it, and does the same work either way: it counts itself in the
//! shared throttle and queues one mail row. Only the sender, later and in the
//! background, looks the address up.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authn::{client_net, Attempt, AttemptKeys, Verification};
use crate::domain::{Email, Password, PublicUser, TOKEN_MAX_CHARS};
use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields};
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{MailKind, NewMail, Verified};
use crate::tokens::refresh;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(resend))
        .routes(routes!(forgot))
        .routes(routes!(reset))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// `{token}`: the code or the `token` parameter of the link a mail carried.
#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    token: Option<Value>,
}

/// `{email}`: the address to write to, if an account has it.
#[derive(Deserialize, ToSchema)]
pub struct EmailRequest {
    /// An ASCII address.
    #[schema(value_type = String, required = true, format = "email", max_length = 254)]
    email: Option<Value>,
}

/// `{token, password}`.
#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    token: Option<Value>,
    /// 8 to 1024 characters, not a common or breached password.
    #[schema(value_type = String, required = true, min_length = 8, max_length = 1024)]
    password: Option<Value>,
}

/// The one answer to a request that names an address.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    status: &'static str,
    detail: &'static str,
}

/// The stored hash of a presented token; a string that cannot be a token is one
/// that matches nothing.
fn token_hash(fields: &mut Fields, value: Option<Value>) -> Option<[u8; 32]> {
    let token = fields.required("token", value, |s| {
        if s.chars().count() > TOKEN_MAX_CHARS {
            Err(format!("must be at most {TOKEN_MAX_CHARS} characters"))
        } else {
            Ok(s)
        }
    })?;
    Some(refresh::hash_of(token.trim()).unwrap_or([0; 32]))
}

#[utoipa::path(post, path = "/auth/verify", tag = "recovery",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The email is verified (authd.user.verified), or the account moved to the confirmed new address (authd.user.email_changed; the old address is told by mail)", body = PublicUser),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "The token is unknown, expired, used or replaced by a newer one (invalid-token)"),
        (status = 409, description = "The confirmed new address was taken by another account meanwhile"),
        (status = 415, description = "Not a JSON content type"),
        (status = 422, description = "No token"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn verify(
    State(state): State<AppState>,
    Body(body): Body<VerifyRequest>,
) -> Result<Json<PublicUser>, ApiError> {
    let mut fields = Fields::default();
    let Some(hash) = token_hash(&mut fields, body.token) else {
        return Err(fields.into_error());
    };
    match state.store.verify_email(&hash, state.clock.now()).await? {
        Some(Verified::Email(user)) => {
            tracing::info!(user_id = %user.id, "email verified");
            Ok(Json(user))
        }
        Some(Verified::EmailChanged { user, .. }) => {
            tracing::info!(user_id = %user.id, "email changed after confirmation");
            Ok(Json(user))
        }
        None => Err(ApiError::InvalidAccountToken),
    }
}

/// Counts the request in the shared throttle, then queues `kind` for `email`.
async fn queue_for_address(
    state: &AppState,
    client: std::net::IpAddr,
    email: Option<Value>,
    kind: MailKind,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let mut fields = Fields::default();
    let Some(email) = fields.required("email", email, |s| Email::parse(&s)) else {
        return Err(fields.into_error());
    };
    let now = state.clock.now();
    // Every request counts, whatever the address: it is the request that is limited.
    Attempt::begin(state, AttemptKeys::mail(email.as_str(), client), now)
        .await?
        .failed();
    let mail = NewMail {
        kind,
        user_id: None,
        recipient: Some(email.to_string()),
        new_email: None,
    };
    state.store.queue_mail(&mail, now).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted",
            detail: "if an account has this address, a mail is on its way to it",
        }),
    ))
}

#[utoipa::path(post, path = "/auth/verify/resend", tag = "recovery",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "The same answer whether or not an account has this address; a new verification mail goes to it if an unverified account has it (older links stop working)", body = Accepted),
        (status = 400, description = "Malformed JSON"),
        (status = 409, description = "AUTHD_EMAIL_VERIFICATION=off: nothing is verified, so nothing is sent (verification-off)"),
        (status = 415, description = "Not a JSON content type"),
        (status = 422, description = "No email, or not an email address"),
        (status = 429, description = "Too many requests for this address or from this client; Retry-After"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn resend(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Body(body): Body<EmailRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    if state.verification == Verification::Off {
        return Err(ApiError::VerificationOff);
    }
    queue_for_address(&state, client, body.email, MailKind::VerifyRequest).await
}

#[utoipa::path(post, path = "/auth/password/forgot", tag = "recovery",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "The same answer, after the same work, whether or not an account has this address; a reset mail goes to it if one has (older links stop working)", body = Accepted),
        (status = 400, description = "Malformed JSON"),
        (status = 415, description = "Not a JSON content type"),
        (status = 422, description = "No email, or not an email address"),
        (status = 429, description = "Too many requests for this address or from this client; Retry-After"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn forgot(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Body(body): Body<EmailRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    queue_for_address(&state, client, body.email, MailKind::ResetRequest).await
}

#[utoipa::path(post, path = "/auth/password/reset", tag = "recovery",
    request_body = ResetRequest,
    responses(
        (status = 204, description = "The password is set; every session ended (authd.session.revoked, reason password_reset), access tokens issued until now are void; authd.user.password_reset"),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "The token is unknown, expired, used or replaced by a newer one (invalid-token)"),
        (status = 415, description = "Not a JSON content type"),
        (status = 422, description = "No token, or the password is too short, too long or a common one"),
        (status = 429, description = "Too many wrong tokens from this client; Retry-After"),
        (status = 503, description = "The hashing queue is full, or the database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn reset(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Body(body): Body<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    let mut fields = Fields::default();
    let hash = token_hash(&mut fields, body.token);
    let password = fields.required("password", body.password, |s| {
        Password::parse(s).and_then(|p| state.denylist.check(p))
    });
    let (Some(hash), Some(password)) = (hash, password) else {
        return Err(fields.into_error());
    };
    // The token first: a wrong one costs a look-up and counts against the client,
    // never a hash. Then the same admission as sign-up and login.
    let now = state.clock.now();
    let attempt = Attempt::begin(&state, AttemptKeys::token(client), now).await?;
    if !state.store.reset_token_live(&hash, now).await? {
        attempt.failed();
        return Err(ApiError::InvalidAccountToken);
    }
    // One request at a time per token: the others of a burst are refused here,
    // before their hash.
    let single = match Attempt::begin(&state, AttemptKeys::single_use(&hash), now).await {
        Ok(single) => single,
        Err(err) => {
            attempt.abandoned().await;
            return Err(err);
        }
    };
    // Spent meanwhile by the request that held it before: no hash for it.
    match state.store.reset_token_live(&hash, now).await {
        Ok(true) => {}
        live => {
            single.abandoned().await;
            if live.is_err() {
                attempt.abandoned().await;
            } else {
                attempt.failed();
            }
            live?;
            return Err(ApiError::InvalidAccountToken);
        }
    }
    let hashed = match state.hasher.admit(&client_net(client)) {
        Ok(_admission) => state.hasher.hash(password).await,
        Err(err) => Err(err),
    };
    let new_hash = match hashed {
        Ok(new_hash) => new_hash,
        Err(err) => {
            single.abandoned().await;
            attempt.abandoned().await;
            return Err(err.into());
        }
    };
    let user = state
        .store
        .reset_password(&hash, &new_hash, state.clock.now())
        .await;
    single.abandoned().await;
    // Spent by a reset with the same token meanwhile: counted as a wrong token.
    let Some(user) = user? else {
        attempt.failed();
        return Err(ApiError::InvalidAccountToken);
    };
    attempt.succeeded().await?;
    tracing::info!(user_id = %user.id, "password reset; every session ended");
    Ok(StatusCode::NO_CONTENT)
}
