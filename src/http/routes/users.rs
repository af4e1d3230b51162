use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::domain::PublicUser;
use crate::domain::{Email, FieldError, Password, Username};
use crate::http::error::ApiError;
use crate::http::extract::JsonObject;
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{NewUser, UserChange};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
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
#[utoipa::path(post, path = "/auth/user", tag = "users",
    request_body = crate::http::openapi::SignUpRequest,
    responses(
        (status = 201, description = "Created", body = PublicUser,
            headers(("location" = String, description = "/auth/user/{id}"))),
        (status = 400, description = "Malformed JSON", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username or email is taken; errors[0].field says which", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 16 KiB", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON content type", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing, mistyped or invalid fields, all reported", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The hashing queue is full; Retry-After says when to retry", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
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
    let public = state
        .store
        .apply(UserChange::Create(user), now)
        .await?
        .expect("a created user exists");
    tracing::info!(user_id = %public.id, "user signed up");
    let location = format!("/auth/user/{}", public.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(public),
    ))
}
