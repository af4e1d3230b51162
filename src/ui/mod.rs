//! Pages for a browser. For now the smallest page that registers a passkey and
//! signs in with it (GET /ui/passkeys, when passkeys are on); the hosted pages
//! grow here. Compiled into the binary; a strict Content-Security-Policy (scripts
//! from this origin only, no frames).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::http::error::ApiError;
use crate::http::state::AppState;

const PASSKEYS_HTML: &str = include_str!("passkeys.html");
const PASSKEYS_JS: &str = include_str!("passkeys.js");
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/passkeys", get(page))
        .route("/ui/passkeys.js", get(script))
}

fn served(state: &AppState, content_type: &'static str, body: &'static str) -> Response {
    if state.mfa.webauthn.is_none() {
        return ApiError::PasskeysOff.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page(State(state): State<AppState>) -> Response {
    served(&state, "text/html; charset=utf-8", PASSKEYS_HTML)
}

async fn script(State(state): State<AppState>) -> Response {
    served(&state, "text/javascript; charset=utf-8", PASSKEYS_JS)
}
