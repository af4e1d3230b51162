//! The public signing keys, for services that verify access tokens themselves.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

/// How long verifiers may cache the key set. A verifier that meets an unknown
/// `kid` should fetch again; rotation keeps old keys published meanwhile.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=300");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(discovery))
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "The public keys that may verify a live access token \
        (Cache-Control: public, max-age=300)", body = crate::http::openapi::Jwks)))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let keys = state.tokens.jwks(state.clock.now()).await;
    (
        [(header::CACHE_CONTROL, CACHE_CONTROL)],
        Json(json!({ "keys": keys })),
    )
}

/// What JWT middleware reads to configure itself from the issuer: where the keys
/// are and which algorithm signs. authd is not an OpenID Provider (no authorize
/// endpoint, no ID tokens); this is the discovery subset token verifiers use.
#[derive(Serialize, ToSchema)]
pub struct Discovery {
    /// `AUTHD_PUBLIC_URL`: the `iss` of every access token, and the URL this
    /// document is served under (clients compare the two).
    issuer: String,
    /// `AUTHD_PUBLIC_URL` + `/.well-known/jwks.json`.
    jwks_uri: String,
    id_token_signing_alg_values_supported: [&'static str; 1],
    /// The algorithms of the access tokens (RFC 9068's name for the field).
    access_token_signing_alg_values_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
}

/// Every URL in it comes from configuration, none from the request (a Host or
/// X-Forwarded-* header), so a shared cache may keep it.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "keys",
    responses((status = 200, description = "issuer (AUTHD_PUBLIC_URL, the tokens' iss), jwks_uri \
        and the signing algorithm, for JWT middleware that discovers its settings from the \
        issuer (Cache-Control: public, max-age=300)", body = Discovery)))]
async fn discovery(State(state): State<AppState>) -> impl IntoResponse {
    let base = state.public_url.trim_end_matches('/');
    (
        [(header::CACHE_CONTROL, CACHE_CONTROL)],
        Json(Discovery {
            issuer: state.tokens.config.issuer.clone(),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            id_token_signing_alg_values_supported: [crate::tokens::ALG],
            access_token_signing_alg_values_supported: [crate::tokens::ALG],
            subject_types_supported: ["public"],
        }),
    )
}
