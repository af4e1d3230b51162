//! The public signing keys, for services that verify access tokens themselves.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::startup::AppState;

/// How long verifiers may cache the key set. A verifier that meets an unknown
/// `kid` should fetch again; rotation keeps old keys published meanwhile.
pub const JWKS_MAX_AGE_SECS: u64 = 300;

pub fn router() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let keys = state.tokens.jwks(state.clock.now()).await;
    let cache = format!("public, max-age={JWKS_MAX_AGE_SECS}");
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::try_from(cache).expect("ASCII"),
        )],
        Json(json!({ "keys": keys })),
    )
}
