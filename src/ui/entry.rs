//! The way in: the index, sign-up, the password login and its second step's
//! dispatch, logout.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::api::Answer;
use super::cookies::{self, MFA};
use super::shown::{status_of, Params, Shown};
use super::visit::{urlencode, Submitted, Visit};
use super::Ui;

pub async fn index(State(ui): State<Ui>, visit: Visit) -> Response {
    let to = if visit.signed_in() {
        "/ui/account"
    } else {
        "/ui/login"
    };
    visit.redirect(&ui, to)
}

/// Where to send a person once signed in: a permitted `return_to`, else the
/// account page.
pub fn destination(ui: &Ui, return_to: Option<&str>) -> String {
    return_to
        .and_then(|r| ui.config.allowed_return(r))
        .unwrap_or_else(|| "/ui/account".into())
}

#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    return_to: Option<String>,
}

pub async fn signup_page(State(ui): State<Ui>, visit: Visit, Query(q): Query<Params>) -> Response {
    let page = context! { return_to => q.return_to, shown => Shown::default().ctx() };
    visit.render(&ui, StatusCode::OK, "signup.html", page)
}

/// POST /auth/user, then the login it allows (or the word that a mail is on its
/// way, when the address must be verified first).
pub async fn signup(
    State(ui): State<Ui>,
    visit: Visit,
    Submitted(form): Submitted<SignUpForm>,
) -> Response {
    let body = json!({ "username": form.username, "email": form.email, "password": form.password });
    let created = visit.as_nobody(&ui, "/auth/user", body).await;
    if !created.ok() {
        let page = context! {
            return_to => form.return_to, username => form.username, email => form.email,
            shown => Shown::of(&ui, &created).ctx(),
        };
        return visit.render(&ui, status_of(&created), "signup.html", page);
    }
    let body = json!({ "login": form.username, "password": form.password });
    let login = visit.as_nobody(&ui, "/auth/login", body).await;
    if login.kind() == "email-not-verified" {
        return visit.redirect(&ui, "/ui/login?notice=check_mail");
    }
    // The account exists either way: a refused login (throttled, say) is the
    // login page's to show.
    after_login(
        &ui,
        visit,
        login,
        form.return_to.as_deref(),
        |visit, shown, status| {
            let page = context! { notice => ui.config.texts.get("notice_signed_up"), shown => shown.ctx() };
            visit.render(&ui, status, "login.html", page)
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    return_to: Option<String>,
}

pub async fn login_page(State(ui): State<Ui>, visit: Visit, Query(q): Query<Params>) -> Response {
    let notice = q.notice(&ui);
    let page =
        context! { return_to => q.return_to, notice => notice, shown => Shown::default().ctx() };
    visit.render(&ui, StatusCode::OK, "login.html", page)
}

pub async fn login(
    State(ui): State<Ui>,
    visit: Visit,
    Submitted(form): Submitted<LoginForm>,
) -> Response {
    let body = json!({ "login": form.login, "password": form.password });
    let answer = visit.as_nobody(&ui, "/auth/login", body).await;
    let return_to = form.return_to.clone();
    after_login(
        &ui,
        visit,
        answer,
        form.return_to.as_deref(),
        |visit, shown, status| {
            let page =
                context! { return_to => return_to, login => form.login, shown => shown.ctx() };
            visit.render(&ui, status, "login.html", page)
        },
    )
}

/// What a login's answer leads to: signed in (to `return_to`), the second step
/// (its `mfa_token` kept in a cookie), or the refusal shown by `refused`.
pub fn after_login(
    ui: &Ui,
    mut visit: Visit,
    answer: Answer,
    return_to: Option<&str>,
    refused: impl FnOnce(Visit, Shown, StatusCode) -> Response,
) -> Response {
    if !answer.ok() {
        let shown = Shown::of(ui, &answer);
        return refused(visit, shown, status_of(&answer));
    }
    let back = urlencode(return_to.unwrap_or_default());
    if answer.body["mfa_required"].as_bool() == Some(true) {
        let age = answer.body["expires_in"].as_u64().unwrap_or(300);
        visit.set_cookie(cookies::ui(MFA, &answer.text("mfa_token"), age));
        let step = if answer.text("step") == "enrol" {
            "enrol"
        } else {
            "mfa"
        };
        return visit.redirect(ui, &format!("/ui/login/{step}?return_to={back}"));
    }
    visit.sign_in(ui, &answer.body);
    let to = destination(ui, return_to);
    visit.redirect(ui, &to)
}

/// Ends the session (its refresh token's family) and forgets the cookies.
pub async fn logout(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(_): Submitted<Empty>,
) -> Response {
    if let Some(refresh) = visit.refresh_token().map(str::to_string) {
        let answer = visit
            .as_nobody(&ui, "/auth/logout", json!({ "refresh_token": refresh }))
            .await;
        if !answer.ok() {
            tracing::warn!(status = %answer.status, "a page's logout was refused");
        }
    }
    visit.sign_out();
    visit.redirect(&ui, "/ui/login?notice=signed_out")
}

/// A form of no fields but its CSRF token.
#[derive(Deserialize)]
pub struct Empty {}
