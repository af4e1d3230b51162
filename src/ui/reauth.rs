//! The re-authentication the API asks for before some actions (a recent login):
//! the password, and a code when the user has a factor, for a fresh access
//! token of the same session.

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::api::Payload;
use super::cookies::{self, ACCESS};
use super::entry::destination;
use super::shown::{status_of, Params, Shown};
use super::visit::{Submitted, Visit};
use super::Ui;

pub async fn reauth_page(State(ui): State<Ui>, visit: Visit, Query(q): Query<Params>) -> Response {
    if !visit.signed_in() {
        return visit.send_to_login(&ui, "/ui/account");
    }
    let page = context! { return_to => q.return_to, shown => Shown::default().ctx() };
    visit.render(&ui, StatusCode::OK, "reauth.html", page)
}

#[derive(Deserialize)]
pub struct ReauthForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
    return_to: Option<String>,
}

/// The password (and a code, when the user has a factor) again: a fresh access
/// token of the same session, for the actions that want a recent login.
pub async fn reauthenticate(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(form): Submitted<ReauthForm>,
) -> Response {
    let mut body = json!({ "password": form.password });
    if !form.code.trim().is_empty() {
        body["code"] = json!(form.code.trim());
    }
    if !form.recovery_code.trim().is_empty() {
        body["recovery_code"] = json!(form.recovery_code.trim());
    }
    let Some(answer) = visit
        .as_user(
            &ui,
            Method::POST,
            "/auth/reauthenticate",
            Payload::Json(body),
        )
        .await
    else {
        return visit.send_to_login(&ui, "/ui/account");
    };
    if !answer.ok() {
        let page = context! { return_to => form.return_to, shown => Shown::of(&ui, &answer).ctx() };
        return visit.render(&ui, status_of(&answer), "reauth.html", page);
    }
    let age = answer.body["expires_in"]
        .as_u64()
        .unwrap_or(60)
        .saturating_sub(5);
    visit.set_cookie(cookies::ui(ACCESS, &answer.text("access_token"), age));
    let to = destination(&ui, form.return_to.as_deref());
    visit.redirect(&ui, &to)
}
