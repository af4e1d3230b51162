use axum::body::to_bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authn::signup::{new_user, Secret};
use crate::authn::{client_net, Attempt, AttemptKeys, Verification};
use crate::domain::{Denylist, Email, Password, PublicUser, Username};
use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields};
use crate::http::idempotency::{stored_response, AnswerKept};
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{HeldKey, UserChange};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// POST /auth/user.
#[derive(Deserialize, ToSchema)]
pub struct SignUpRequest {
    /// 3 to 32 of `a-z 0-9 _ . -`, case-folded.
    #[schema(value_type = String, required = true, min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]+$")]
    username: Option<Value>,
    /// An ASCII address, stored lower-cased.
    #[schema(value_type = String, required = true, format = "email", max_length = 254)]
    email: Option<Value>,
    /// 8 to 1024 characters (no composition rules), not on the denylist of
    /// breached and common passwords (AUTHD_PASSWORD_DENYLIST).
    #[schema(value_type = String, required = true, min_length = 8, max_length = 1024)]
    password: Option<Value>,
}

struct SignUp {
    username: Username,
    email: Email,
    password: Password,
}

impl SignUpRequest {
    /// Parses every field and reports every problem at once.
    fn parse(self, denylist: &Denylist) -> Result<SignUp, ApiError> {
        let mut fields = Fields::default();
        let username = fields.required("username", self.username, |s| Username::parse(&s));
        let email = fields.required("email", self.email, |s| Email::parse(&s));
        let password = fields.required("password", self.password, |s| {
            Password::parse(s).and_then(|p| denylist.check(p))
        });
        match (username, email, password) {
            (Some(username), Some(email), Some(password)) => Ok(SignUp {
                username,
                email,
                password,
            }),
            _ => Err(fields.into_error()),
        }
    }
}

/// Sign-up: validate, refuse a known duplicate before paying for the hash, hash off
/// the runtime without holding a connection, then one transaction for the user row
/// and its event. The unique constraints settle races between concurrent sign-ups.
#[utoipa::path(post, path = "/auth/user", tag = "users",
    request_body = SignUpRequest,
    responses(
        (status = 201, description = "Created", body = PublicUser,
            headers(("location" = String, description = "/auth/user/{id}"))),
        (status = 400, description = "Malformed JSON, or a malformed Idempotency-Key"),
        (status = 409, description = "The username or email is taken (errors[0].field says which), or a request with this Idempotency-Key is in progress (Retry-After)"),
        (status = 413, description = "The body is over 16 KiB"),
        (status = 415, description = "Not a JSON content type"),
        (status = 422, description = "Missing, mistyped or invalid fields, all reported, or the Idempotency-Key was used for another request"),
        (status = 429, description = "With email verification on: too many sign-ups mailing this address, or from this client network; Retry-After"),
        (status = 503, description = "The hashing queue is full (or this client holds its share of a busy one), or the database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn sign_up(
    State(state): State<AppState>,
    held: Option<Extension<HeldKey>>,
    ClientIp(client): ClientIp,
    Body(body): Body<SignUpRequest>,
) -> Result<Response, ApiError> {
    let form = body.parse(&state.denylist)?;
    // A full hashing queue, or this client over its share of a busy one, refuses
    // now, before the look-up below.
    let _admission = state.hasher.admit(&client_net(client))?;
    let send_verification = state.verification != Verification::Off;
    if send_verification {
        // A sign-up that mails the address counts like any request that mails
        // one: per address, per client network (429 past the limits).
        Attempt::begin(
            &state,
            AttemptKeys::mail(form.email.as_str(), client),
            state.clock.now(),
        )
        .await?
        .failed();
    }
    let secret = Secret::Password(form.password);
    let mut user = new_user(&state, form.username, form.email, secret, send_verification).await?;
    let now = user.created_at;
    let public = user.public();
    let location = format!("/auth/user/{}", public.id);
    let response = (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(&public),
    )
        .into_response();
    let (mut parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("writing the answer: {err}")))?;
    // With an Idempotency-Key, the answer is kept in the user's own transaction.
    user.answer = held.map(|Extension(held)| {
        (
            held,
            stored_response(parts.status, &parts.headers, body.to_vec()),
        )
    });
    let kept = user.answer.is_some();
    state.store.apply(UserChange::Create(user), now).await?;
    if kept {
        parts.extensions.insert(AnswerKept);
    }
    tracing::info!(user_id = %public.id, "user signed up");
    Ok(Response::from_parts(parts, body.into()))
}
