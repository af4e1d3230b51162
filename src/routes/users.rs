use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use uuid::Uuid;

use crate::domain::{Email, FieldError, Password, Username};
use crate::error::ApiError;
use crate::events::{user_event, UserEventKind};
use crate::extract::{JsonObject, BODY_LIMIT};
use crate::startup::AppState;
use crate::store::{NewUser, PublicUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/user", post(sign_up))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

struct SignUp {
    username: Username,
    email: Email,
    password: Password,
}

impl SignUp {
    /// Parses every field and reports every problem at once.
    fn parse(mut body: JsonObject) -> Result<Self, ApiError> {
        let username = body
            .string("username")
            .and_then(|s| Username::parse(&s).map_err(|why| FieldError::new("username", why)));
        let email = body
            .string("email")
            .and_then(|s| Email::parse(&s).map_err(|why| FieldError::new("email", why)));
        let password = body
            .string("password")
            .and_then(|s| Password::parse(s).map_err(|why| FieldError::new("password", why)));
        match (username, email, password) {
            (Ok(username), Ok(email), Ok(password)) => Ok(SignUp {
                username,
                email,
                password,
            }),
            (u, e, p) => Err(ApiError::Invalid(
                [u.err(), e.err(), p.err()].into_iter().flatten().collect(),
            )),
        }
    }
}

/// Sign-up: validate, refuse a known duplicate before paying for the hash, hash off
/// the runtime without holding a connection, then one transaction for the user row
/// and its event. The unique constraints settle races between concurrent sign-ups.
#[tracing::instrument(skip_all)]
async fn sign_up(
    State(state): State<AppState>,
    body: JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let form = SignUp::parse(body)?;
    if let Some(taken) = state.store.taken(&form.username, &form.email).await? {
        return Err(ApiError::Conflict(taken));
    }
    let password_hash = state.hasher.hash(form.password).await?;
    let now = state.clock.now();
    let user = NewUser {
        id: Uuid::now_v7(),
        username: form.username,
        email: form.email,
        password_hash,
        created_at: now,
    };
    let public = PublicUser {
        id: user.id,
        username: user.username.to_string(),
        email: user.email.to_string(),
        created_at: user.created_at,
    };
    let event = user_event(UserEventKind::Created, &public, &state.event_source, now);
    state.store.create_user(&user, &event).await?;
    state.outbox_written.notify_one();
    tracing::info!(user_id = %public.id, "user signed up");
    let location = format!("/auth/user/{}", public.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(public),
    ))
}
