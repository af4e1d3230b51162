//! The public signing keys, for services that verify access tokens themselves.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

/// How long verifiers may cache the key set. A verifier that meets an unknown
/// `kid` should fetch again; rotation keeps old keys published meanwhile.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=300");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
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
