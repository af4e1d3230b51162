//! The login's second step: a code from the authenticator or a recovery code
//! (a passkey: `passkey`), and, with `AUTHD_MFA=required`, the enrolment of a
//! first authenticator. The step's `mfa_token` lives in an HttpOnly cookie.

use super::shown::val;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use serde_json::{json, Value};

use super::cookies::{self, MFA};
use super::entry::{after_login, destination};
use super::shown::{status_of, Params, Shown};
use super::visit::{Submitted, Visit};
use super::Ui;

/// Back to the login page when the step's cookie is gone (expired, or never).
fn no_step(ui: &Ui, mut visit: Visit) -> Response {
    visit.set_cookie(cookies::clear(MFA));
    visit.redirect(ui, "/ui/login?notice=step_expired")
}

pub async fn mfa_page(State(ui): State<Ui>, visit: Visit, Query(q): Query<Params>) -> Response {
    if visit.mfa.is_none() {
        return no_step(&ui, visit);
    }
    let page = context! { return_to => q.return_to, shown => Shown::default().ctx() };
    visit.render(&ui, StatusCode::OK, "mfa.html", page)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
    return_to: Option<String>,
}

impl CodeForm {
    /// `code` or `recovery_code`, whichever the person filled in.
    fn proof(&self) -> Value {
        let (code, recovery) = (self.code.trim(), self.recovery_code.trim());
        let mut proof = json!({});
        if !code.is_empty() || recovery.is_empty() {
            proof["code"] = json!(code);
        }
        if !recovery.is_empty() {
            proof["recovery_code"] = json!(recovery);
        }
        proof
    }
}

pub async fn mfa(
    State(ui): State<Ui>,
    visit: Visit,
    Submitted(form): Submitted<CodeForm>,
) -> Response {
    let Some(mfa_token) = visit.mfa.clone() else {
        return no_step(&ui, visit);
    };
    let mut body = form.proof();
    body["mfa_token"] = json!(mfa_token);
    let answer = visit.as_nobody(&ui, "/auth/login/mfa", body).await;
    if answer.kind() == "invalid-mfa-token" {
        return no_step(&ui, visit);
    }
    let return_to = form.return_to.clone();
    after_login(
        &ui,
        visit,
        answer,
        form.return_to.as_deref(),
        |visit, shown, status| {
            let page = context! { return_to => return_to, shown => shown.ctx() };
            visit.render(&ui, status, "mfa.html", page)
        },
    )
}

/// AUTHD_MFA=required and no factor yet: a new authenticator to scan, for the
/// step's `mfa_token` (each visit starts a new one, replacing the last).
pub async fn enrol_page(State(ui): State<Ui>, visit: Visit, Query(q): Query<Params>) -> Response {
    let Some(mfa_token) = visit.mfa.clone() else {
        return no_step(&ui, visit);
    };
    let answer = visit
        .as_nobody(&ui, "/auth/mfa/totp", json!({ "mfa_token": mfa_token }))
        .await;
    if answer.kind() == "invalid-mfa-token" {
        return no_step(&ui, visit);
    }
    let page = context! {
        return_to => q.return_to,
        enrolment => answer.ok().then(|| enrolment(&answer.body)),
        action => "/ui/login/enrol",
        shown => if answer.ok() { Shown::default() } else { Shown::of(&ui, &answer) }.ctx(),
    };
    visit.render(&ui, status_of(&answer), "enrol.html", page)
}

/// The secret and QR code of a new authenticator, for the page.
pub fn enrolment(body: &Value) -> minijinja::Value {
    use base64::Engine;
    let svg = body["qr_svg"].as_str().unwrap_or_default();
    let qr = base64::engine::general_purpose::STANDARD.encode(svg);
    context! {
        secret => body["secret"].as_str(),
        uri => body["otpauth_uri"].as_str(),
        qr => format!("data:image/svg+xml;base64,{qr}"),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    code: String,
    return_to: Option<String>,
}

/// The first code of the new authenticator finishes the login: the tokens, and
/// the recovery codes shown this once.
pub async fn enrol_confirm(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(form): Submitted<ConfirmForm>,
) -> Response {
    let Some(mfa_token) = visit.mfa.clone() else {
        return no_step(&ui, visit);
    };
    let body = json!({ "mfa_token": mfa_token, "code": form.code.trim() });
    let answer = visit.as_nobody(&ui, "/auth/mfa/totp/confirm", body).await;
    if answer.kind() == "invalid-mfa-token" {
        return no_step(&ui, visit);
    }
    if !answer.ok() {
        let page = context! {
            return_to => form.return_to, action => "/ui/login/enrol",
            shown => Shown::of(&ui, &answer).ctx(),
        };
        return visit.render(&ui, status_of(&answer), "enrol.html", page);
    }
    visit.sign_in(&ui, &answer.body["tokens"]);
    let page = context! {
        codes => answer.body["recovery_codes"].as_array().cloned().map(val),
        next => destination(&ui, form.return_to.as_deref()),
    };
    visit.render(&ui, StatusCode::OK, "codes.html", page)
}
