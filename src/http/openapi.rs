//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations: routes are registered through `utoipa_axum::routes!`, so a route
//! and its documentation are one declaration. Served at GET /openapi.json.

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd",
        description = "Sign-up and login service: users, EdDSA access tokens verified by \
                       other services with the JWKS, rotating refresh tokens, and the account \
                       lifecycle. Every error is application/problem+json (RFC 9457)."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "Sign-up and the account lifecycle"),
        (name = "session", description = "Login, refresh, logout"),
        (name = "keys", description = "Public keys for verifying access tokens"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT (EdDSA)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

/// An RFC 9457 problem, as every error is answered.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// A stable URN such as `urn:authd:problem:conflict`, or `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For field problems (409, 422): each field and why.
    pub errors: Option<Vec<ProblemField>>,
}

#[derive(Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub reason: String,
}

/// POST /auth/user.
#[derive(Serialize, ToSchema)]
pub struct SignUpRequest {
    /// 3 to 32 of `a-z 0-9 _ . -`, case-folded.
    pub username: String,
    /// ASCII, stored lower-cased.
    pub email: String,
    /// 8 to 1024 bytes.
    pub password: String,
}

/// POST /auth/login.
#[derive(Serialize, ToSchema)]
pub struct LoginRequest {
    /// The username or the email (any case).
    pub login: String,
    pub password: String,
}

/// POST /auth/token and POST /auth/logout.
#[derive(Serialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// PATCH /auth/user/{id}: at least one field; no other field is accepted.
#[derive(Serialize, ToSchema)]
pub struct PatchUserRequest {
    pub username: Option<String>,
    pub email: Option<String>,
}

/// PUT /auth/user/{id}/password.
#[derive(Serialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8 to 1024 bytes.
    pub new_password: String,
}

/// DELETE /auth/user/{id}.
#[derive(Serialize, ToSchema)]
pub struct DeleteUserRequest {
    pub password: String,
}

/// GET /.well-known/jwks.json.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<crate::tokens::Jwk>,
}
