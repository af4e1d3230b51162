//! The account page's factors: an authenticator app (add, confirm, remove),
//! new recovery codes, removing a passkey (adding one: `passkey`, it needs the
//! script). What the API asks first (a recent login) goes through /ui/reauth.

use super::shown::val;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::account::{act, finish, Outcome};
use super::api::Payload;
use super::entry::Empty;
use super::second::enrolment;
use super::shown::Shown;
use super::visit::{Submitted, Visit};
use super::Ui;

/// A new (pending) authenticator: its QR code and a form for its first code.
pub async fn totp_start(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(_): Submitted<Empty>,
) -> Response {
    let Some(answer) = visit
        .as_user(
            &ui,
            Method::POST,
            "/auth/mfa/totp",
            Payload::Json(json!({})),
        )
        .await
    else {
        return visit.send_to_login(&ui, "/ui/account");
    };
    if !answer.ok() {
        return finish(&ui, visit, Outcome::Refused("factors", answer)).await;
    }
    let page = context! {
        enrolment => enrolment(&answer.body), action => "/ui/account/totp/confirm",
        shown => Shown::default().ctx(),
    };
    visit.render(&ui, StatusCode::OK, "enrol.html", page)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// The first code confirms the authenticator: the recovery codes, shown once.
pub async fn totp_confirm(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(form): Submitted<CodeForm>,
) -> Response {
    let body = Payload::Json(json!({ "code": form.code.trim() }));
    let Some(answer) = visit
        .as_user(&ui, Method::POST, "/auth/mfa/totp/confirm", body)
        .await
    else {
        return visit.send_to_login(&ui, "/ui/account");
    };
    if !answer.ok() {
        let page = context! { action => "/ui/account/totp/confirm", shown => Shown::of(&ui, &answer).ctx() };
        return visit.render(&ui, super::shown::status_of(&answer), "enrol.html", page);
    }
    codes(&ui, visit, &answer.body)
}

fn codes(ui: &Ui, visit: Visit, body: &serde_json::Value) -> Response {
    let page = context! {
        codes => val(&body["recovery_codes"]),
        next => "/ui/account?notice=codes_saved",
    };
    visit.render(ui, StatusCode::OK, "codes.html", page)
}

pub async fn totp_remove(
    State(ui): State<Ui>,
    visit: Visit,
    Submitted(_): Submitted<Empty>,
) -> Response {
    act(
        &ui,
        visit,
        Method::DELETE,
        "/auth/mfa/totp",
        Payload::None,
        "factors",
        "totp_removed",
    )
    .await
}

/// Ten new recovery codes (the old ones stop working).
pub async fn new_codes(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(_): Submitted<Empty>,
) -> Response {
    let body = Payload::Json(json!({}));
    let Some(answer) = visit
        .as_user(&ui, Method::POST, "/auth/mfa/recovery-codes", body)
        .await
    else {
        return visit.send_to_login(&ui, "/ui/account");
    };
    if !answer.ok() {
        return finish(&ui, visit, Outcome::Refused("factors", answer)).await;
    }
    codes(&ui, visit, &answer.body)
}

#[derive(Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    id: String,
}

pub async fn passkey_remove(
    State(ui): State<Ui>,
    visit: Visit,
    Submitted(form): Submitted<PasskeyForm>,
) -> Response {
    let id: String = form
        .id
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    let path = format!("/auth/passkeys/{id}");
    act(
        &ui,
        visit,
        Method::DELETE,
        &path,
        Payload::None,
        "factors",
        "passkey_removed",
    )
    .await
}
