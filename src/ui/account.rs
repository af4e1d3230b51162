//! The account page: the profile, the email and the password, the sessions, the
//! factors (`factors`), deleting the account; and the re-authentication that
//! the API asks for before some of them.

use super::shown::val;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{Answer, Payload};
use super::shown::{status_of, Params, Shown};
use super::visit::{Submitted, Visit};
use super::Ui;

/// An action's outcome for the account page.
pub enum Outcome {
    /// Back to the page with this notice.
    Done(&'static str),
    /// The page again, `shown` by the form of `section`.
    Refused(&'static str, Answer),
}

/// The account page, with `shown` by the form of `section` when an action was
/// refused.
pub async fn show(
    ui: &Ui,
    mut visit: Visit,
    status: StatusCode,
    notice: Option<String>,
    section: &str,
    shown: Shown,
) -> Response {
    let get = |path: &'static str| (Method::GET, path);
    let mut got: Vec<Value> = Vec::new();
    for (method, path) in [
        get("/auth/me"),
        get("/auth/sessions"),
        get("/auth/mfa"),
        get("/auth/passkeys"),
    ] {
        if path == "/auth/passkeys" && ui.app.mfa.webauthn.is_none() {
            got.push(json!([]));
            continue;
        }
        match visit.as_user(ui, method, path, Payload::None).await {
            Some(answer) if answer.ok() => got.push(answer.body),
            Some(answer) if answer.status != StatusCode::UNAUTHORIZED => {
                let page = context! { shown => Shown::of(ui, &answer).ctx() };
                return visit.render(ui, status_of(&answer), "message.html", page);
            }
            _ => return visit.send_to_login(ui, "/ui/account"),
        }
    }
    let page = context! {
        user => val(&got[0]),
        sessions => val(&got[1]),
        mfa => val(&got[2]),
        passkey_list => val(&got[3]),
        notice => notice, section => section, shown => shown.ctx(),
        verification => ui.app.verification != crate::authn::Verification::Off,
    };
    visit.render(ui, status, "account.html", page)
}

pub async fn page(State(ui): State<Ui>, visit: Visit, Query(q): Query<Params>) -> Response {
    if !visit.signed_in() {
        return visit.send_to_login(&ui, "/ui/account");
    }
    let notice = q.notice(&ui);
    show(&ui, visit, StatusCode::OK, notice, "", Shown::default()).await
}

/// Calls the API as the user for an action of the page and answers it: back to
/// the page with its notice, to the re-authentication the API asks for, to the
/// login when the session is gone, or the page with the refusal by its form.
pub async fn act(
    ui: &Ui,
    mut visit: Visit,
    method: Method,
    path: &str,
    body: Payload,
    section: &'static str,
    notice: &'static str,
) -> Response {
    match visit.as_user(ui, method, path, body).await {
        None => visit.send_to_login(ui, "/ui/account"),
        Some(answer) => finish(ui, visit, Outcome::from(answer, section, notice)).await,
    }
}

impl Outcome {
    pub fn from(answer: Answer, section: &'static str, notice: &'static str) -> Outcome {
        if answer.ok() {
            Outcome::Done(notice)
        } else {
            Outcome::Refused(section, answer)
        }
    }
}

pub async fn finish(ui: &Ui, visit: Visit, outcome: Outcome) -> Response {
    match outcome {
        Outcome::Done(notice) => visit.redirect(ui, &format!("/ui/account?notice={notice}")),
        Outcome::Refused(_, answer) if answer.kind() == "reauthentication-required" => {
            visit.redirect(ui, "/ui/reauth?return_to=/ui/account")
        }
        Outcome::Refused(section, answer) => {
            let shown = Shown::of(ui, &answer);
            show(ui, visit, status_of(&answer), None, section, shown).await
        }
    }
}

/// The user's id (the first call of every action that names it).
async fn user_id(ui: &Ui, visit: &mut Visit) -> Option<String> {
    let me = visit
        .as_user(ui, Method::GET, "/auth/me", Payload::None)
        .await?;
    me.body["id"].as_str().map(str::to_string)
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    current_password: String,
}

/// PATCH /auth/user/{id} with what changed.
pub async fn profile(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(form): Submitted<ProfileForm>,
) -> Response {
    let Some(me) = visit
        .as_user(&ui, Method::GET, "/auth/me", Payload::None)
        .await
        .filter(Answer::ok)
    else {
        return visit.send_to_login(&ui, "/ui/account");
    };
    let mut body = json!({});
    let (username, email) = (form.username.trim(), form.email.trim());
    if username != me.text("username") {
        body["username"] = json!(username);
    }
    if !email.eq_ignore_ascii_case(&me.text("email")) {
        body["email"] = json!(email);
        if !form.current_password.is_empty() {
            body["current_password"] = json!(form.current_password);
        }
    }
    if body.as_object().is_some_and(|b| b.is_empty()) {
        return visit.redirect(&ui, "/ui/account");
    }
    let path = format!("/auth/user/{}", me.text("id"));
    act(
        &ui,
        visit,
        Method::PATCH,
        &path,
        Payload::Json(body),
        "profile",
        "profile_saved",
    )
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn password(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(form): Submitted<PasswordForm>,
) -> Response {
    let Some(id) = user_id(&ui, &mut visit).await else {
        return visit.send_to_login(&ui, "/ui/account");
    };
    let body =
        json!({ "current_password": form.current_password, "new_password": form.new_password });
    let path = format!("/auth/user/{id}/password");
    act(
        &ui,
        visit,
        Method::PUT,
        &path,
        Payload::Json(body),
        "password",
        "password_changed",
    )
    .await
}

/// A new verification mail to the account's address.
pub async fn verify_resend(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(_): Submitted<super::entry::Empty>,
) -> Response {
    let Some(me) = visit
        .as_user(&ui, Method::GET, "/auth/me", Payload::None)
        .await
        .filter(Answer::ok)
    else {
        return visit.send_to_login(&ui, "/ui/account");
    };
    let answer = visit
        .as_nobody(
            &ui,
            "/auth/verify/resend",
            json!({ "email": me.text("email") }),
        )
        .await;
    finish(&ui, visit, Outcome::from(answer, "verify", "check_mail")).await
}

#[derive(Deserialize)]
pub struct SessionForm {
    #[serde(default)]
    id: String,
}

pub async fn end_session(
    State(ui): State<Ui>,
    visit: Visit,
    Submitted(form): Submitted<SessionForm>,
) -> Response {
    let id: String = form
        .id
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    let path = format!("/auth/sessions/{id}");
    act(
        &ui,
        visit,
        Method::DELETE,
        &path,
        Payload::None,
        "sessions",
        "session_ended",
    )
    .await
}

pub async fn end_others(
    State(ui): State<Ui>,
    visit: Visit,
    Submitted(_): Submitted<super::entry::Empty>,
) -> Response {
    act(
        &ui,
        visit,
        Method::DELETE,
        "/auth/sessions",
        Payload::None,
        "sessions",
        "sessions_ended",
    )
    .await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    password: String,
}

/// DELETE /auth/user/{id}: the account and every session, this one too.
pub async fn delete(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(form): Submitted<DeleteForm>,
) -> Response {
    let Some(id) = user_id(&ui, &mut visit).await else {
        return visit.send_to_login(&ui, "/ui/account");
    };
    let body = Payload::Json(json!({ "password": form.password }));
    match visit
        .as_user(&ui, Method::DELETE, &format!("/auth/user/{id}"), body)
        .await
    {
        None => visit.send_to_login(&ui, "/ui/account"),
        Some(answer) if answer.ok() => {
            visit.sign_out();
            visit.redirect(&ui, "/ui/login?notice=deleted")
        }
        Some(answer) => finish(&ui, visit, Outcome::Refused("delete", answer)).await,
    }
}
