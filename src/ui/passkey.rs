//! What the pages' script calls for WebAuthn: the options of a ceremony and its
//! answer, as JSON. Each call repeats the CSRF token in `X-CSRF-Token`; the
//! tokens of a passkey login go into the cookies, never to the script.

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::api::{Answer, Payload};
use super::cookies;
use super::entry::destination;
use super::visit::Visit;
use super::Ui;

/// The largest body the script sends (a credential is a few KiB).
const SCRIPT_LIMIT: usize = 16 * 1024;

/// A JSON call of the pages' own script (CSRF token in `X-CSRF-Token`).
pub struct Scripted(pub Value);

impl FromRequest<Ui> for Scripted {
    type Rejection = Response;

    async fn from_request(request: Request, ui: &Ui) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if !cookies::csrf_ok(&parts.headers, token) {
            return Err(problem(ui, StatusCode::FORBIDDEN, "form_expired"));
        }
        let bytes = axum::body::to_bytes(body, SCRIPT_LIMIT)
            .await
            .map_err(|_| problem(ui, StatusCode::PAYLOAD_TOO_LARGE, "form_too_large"))?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|_| problem(ui, StatusCode::BAD_REQUEST, "form_malformed"))?;
        Ok(Scripted(value))
    }
}

fn problem(ui: &Ui, status: StatusCode, key: &str) -> Response {
    let mut response =
        (status, Json(json!({ "detail": ui.config.texts.get(key) }))).into_response();
    super::secure_headers(&ui.csp, &mut response);
    response
}

/// The API's answer, as the script reads it: the body and the status; a
/// refusal's detail in the pages' words.
fn relayed(ui: &Ui, visit: Visit, answer: Answer) -> Response {
    let body = if answer.ok() {
        json!({ "options": answer.body["options"], "ceremony": answer.body["ceremony"] })
    } else if answer.kind() == "reauthentication-required" {
        json!({ "redirect": "/ui/reauth?return_to=/ui/account" })
    } else {
        let shown = super::shown::Shown::of(ui, &answer);
        json!({ "detail": shown.problem })
    };
    let response = (
        answer.status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response();
    visit.finish(ui, response)
}

/// Where the script goes after a login's ceremony: signed in, or the second step.
fn landed(ui: &Ui, mut visit: Visit, answer: Answer, return_to: Option<&str>) -> Response {
    if !answer.ok() {
        return relayed(ui, visit, answer);
    }
    let to = if answer.body["mfa_required"].as_bool() == Some(true) {
        let age = answer.body["expires_in"].as_u64().unwrap_or(300);
        visit.set_cookie(cookies::ui(cookies::MFA, &answer.text("mfa_token"), age));
        "/ui/login/mfa".to_string()
    } else {
        visit.sign_in(ui, &answer.body);
        destination(ui, return_to)
    };
    let response = (StatusCode::OK, Json(json!({ "redirect": to }))).into_response();
    visit.finish(ui, response)
}

pub async fn login_options(State(ui): State<Ui>, visit: Visit, Scripted(_): Scripted) -> Response {
    let answer = visit
        .as_nobody(&ui, "/auth/login/passkey/options", json!({}))
        .await;
    relayed(&ui, visit, answer)
}

pub async fn login(State(ui): State<Ui>, visit: Visit, Scripted(body): Scripted) -> Response {
    let call = json!({ "ceremony": body["ceremony"], "credential": body["credential"] });
    let answer = visit.as_nobody(&ui, "/auth/login/passkey", call).await;
    landed(&ui, visit, answer, body["return_to"].as_str())
}

pub async fn mfa_options(State(ui): State<Ui>, visit: Visit, Scripted(_): Scripted) -> Response {
    let mfa_token = visit.mfa.clone().unwrap_or_default();
    let answer = visit
        .as_nobody(
            &ui,
            "/auth/login/mfa/passkey",
            json!({ "mfa_token": mfa_token }),
        )
        .await;
    relayed(&ui, visit, answer)
}

pub async fn mfa(State(ui): State<Ui>, visit: Visit, Scripted(body): Scripted) -> Response {
    let mfa_token = visit.mfa.clone().unwrap_or_default();
    let call = json!({ "mfa_token": mfa_token, "passkey": body["credential"] });
    let answer = visit.as_nobody(&ui, "/auth/login/mfa", call).await;
    landed(&ui, visit, answer, body["return_to"].as_str())
}

/// The signed-in user's call; 401 for the script when the session is gone.
async fn as_user(ui: &Ui, visit: &mut Visit, path: &str, body: Value) -> Option<Answer> {
    visit
        .as_user(ui, Method::POST, path, Payload::Json(body))
        .await
}

pub async fn add_options(
    State(ui): State<Ui>,
    mut visit: Visit,
    Scripted(_): Scripted,
) -> Response {
    match as_user(&ui, &mut visit, "/auth/passkeys/registration", json!({})).await {
        Some(answer) => relayed(&ui, visit, answer),
        None => problem(&ui, StatusCode::UNAUTHORIZED, "notice_signed_out"),
    }
}

pub async fn add(State(ui): State<Ui>, mut visit: Visit, Scripted(body): Scripted) -> Response {
    let name = body["name"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("passkey");
    let call =
        json!({ "ceremony": body["ceremony"], "credential": body["credential"], "name": name });
    let Some(answer) = as_user(&ui, &mut visit, "/auth/passkeys", call).await else {
        return problem(&ui, StatusCode::UNAUTHORIZED, "notice_signed_out");
    };
    if !answer.ok() {
        return relayed(&ui, visit, answer);
    }
    // Recovery codes made with a first factor are shown on the account page once.
    let codes = answer.body["recovery_codes"].clone();
    let response = (
        StatusCode::OK,
        Json(json!({ "redirect": "/ui/account?notice=passkey_added", "recovery_codes": codes })),
    )
        .into_response();
    visit.finish(&ui, response)
}
