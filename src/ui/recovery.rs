//! Recovery without a session: verify an email (the mail's link), ask for a
//! password reset, reset it. A mail's link carries its token in the fragment
//! (`#token=`), which browsers never send: no server's log keeps it; the page's
//! script puts it into the form (without script, the person pastes it).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::shown::{status_of, Params, Shown};
use super::visit::{Submitted, Visit};
use super::Ui;

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

pub async fn verify_page(State(ui): State<Ui>, visit: Visit) -> Response {
    let page = context! { shown => Shown::default().ctx() };
    visit.render(&ui, StatusCode::OK, "verify.html", page)
}

pub async fn verify(
    State(ui): State<Ui>,
    visit: Visit,
    Submitted(form): Submitted<TokenForm>,
) -> Response {
    let answer = visit
        .as_nobody(&ui, "/auth/verify", json!({ "token": form.token.trim() }))
        .await;
    if answer.ok() {
        let to = if visit.signed_in() {
            "/ui/account?notice=verified"
        } else {
            "/ui/login?notice=verified"
        };
        return visit.redirect(&ui, to);
    }
    let page = context! { shown => Shown::of(&ui, &answer).ctx() };
    visit.render(&ui, status_of(&answer), "verify.html", page)
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

pub async fn forgot_page(State(ui): State<Ui>, visit: Visit, Query(q): Query<Params>) -> Response {
    let page = context! { notice => q.notice(&ui), shown => Shown::default().ctx() };
    visit.render(&ui, StatusCode::OK, "forgot.html", page)
}

/// One answer whether or not an account has the address (the API's own).
pub async fn forgot(
    State(ui): State<Ui>,
    visit: Visit,
    Submitted(form): Submitted<EmailForm>,
) -> Response {
    let answer = visit
        .as_nobody(
            &ui,
            "/auth/password/forgot",
            json!({ "email": form.email.trim() }),
        )
        .await;
    if answer.ok() {
        return visit.redirect(&ui, "/ui/forgot-password?notice=reset_sent");
    }
    let page = context! { email => form.email, shown => Shown::of(&ui, &answer).ctx() };
    visit.render(&ui, status_of(&answer), "forgot.html", page)
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

pub async fn reset_page(State(ui): State<Ui>, visit: Visit) -> Response {
    let page = context! { shown => Shown::default().ctx() };
    visit.render(&ui, StatusCode::OK, "reset.html", page)
}

/// A new password; every session of the account ends (the API's rule), this
/// browser's too.
pub async fn reset(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(form): Submitted<ResetForm>,
) -> Response {
    let body = json!({ "token": form.token.trim(), "password": form.password });
    let answer = visit.as_nobody(&ui, "/auth/password/reset", body).await;
    if answer.ok() {
        visit.sign_out();
        return visit.redirect(&ui, "/ui/login?notice=password_reset");
    }
    let page = context! { token => form.token, shown => Shown::of(&ui, &answer).ctx() };
    visit.render(&ui, status_of(&answer), "reset.html", page)
}
