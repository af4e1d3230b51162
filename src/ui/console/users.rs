//! The console's users: the search, one user's page, its actions, the import.

use crate::ui::shown::val;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use serde_json::Value;

use super::{admin_of, sign_in_page};
use crate::ui::api::{Acting, Answer, Payload};
use crate::ui::cookies;
use crate::ui::shown::{status_of, Shown};
use crate::ui::visit::{urlencode, Submitted, Visit};
use crate::ui::Ui;

async fn call(
    ui: &Ui,
    visit: &Visit,
    admin: &str,
    method: Method,
    path: &str,
    payload: Payload,
) -> Answer {
    ui.api
        .send(&visit.caller, Acting::Admin(admin), method, path, payload)
        .await
}

#[derive(Deserialize, Default)]
pub struct SearchParams {
    q: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

/// The users whose username or email starts with `q`, 50 a page.
pub async fn search(
    State(ui): State<Ui>,
    headers: HeaderMap,
    visit: Visit,
    Query(p): Query<SearchParams>,
) -> Response {
    let Some(admin) = admin_of(&ui, &headers) else {
        return sign_in_page(&ui, visit, StatusCode::OK, Shown::default());
    };
    let q = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let mut path = String::from("/admin/users?limit=50");
    if let Some(q) = q {
        path.push_str(&format!("&q={}", urlencode(q)));
    }
    if let Some(after) = p.after.as_deref() {
        path.push_str(&format!("&after={}", urlencode(after)));
    }
    let answer = call(&ui, &visit, &admin, Method::GET, &path, Payload::None).await;
    let shown = if answer.ok() {
        Shown::default()
    } else {
        Shown::of(&ui, &answer)
    };
    let notice = p
        .notice
        .as_deref()
        .and_then(|n| ui.config.texts.0.get(&format!("notice_{n}")).cloned());
    let page = context! {
        admin => admin, q => q, console => true, notice => notice,
        users => val(&answer.body["users"]),
        next => answer.body["next"].as_str().map(|after| {
            format!("/admin/ui/?q={}&after={}", urlencode(q.unwrap_or_default()), urlencode(after))
        }),
        shown => shown.ctx(),
    };
    visit.render(&ui, status_of(&answer), "admin_users.html", page)
}

/// A UUID, or nothing the API would mistake for a path of its own.
fn id_of(raw: &str) -> Option<String> {
    uuid::Uuid::parse_str(raw).ok().map(|id| id.to_string())
}

/// One user: the account, its sessions, factors, passkeys and events.
pub async fn user(
    State(ui): State<Ui>,
    headers: HeaderMap,
    visit: Visit,
    Path(id): Path<String>,
    Query(p): Query<SearchParams>,
) -> Response {
    let Some(admin) = admin_of(&ui, &headers) else {
        return sign_in_page(&ui, visit, StatusCode::OK, Shown::default());
    };
    let Some(id) = id_of(&id) else {
        let page =
            context! { shown => Shown::message(&ui, "problem_not_found").ctx(), console => true };
        return visit.render(&ui, StatusCode::NOT_FOUND, "message.html", page);
    };
    let mut got: Vec<Value> = Vec::new();
    for part in ["", "/sessions", "/factors", "/events"] {
        let answer = call(
            &ui,
            &visit,
            &admin,
            Method::GET,
            &format!("/admin/users/{id}{part}"),
            Payload::None,
        )
        .await;
        if !answer.ok() && (part.is_empty() || answer.status != StatusCode::NOT_FOUND) {
            let page = context! { shown => Shown::of(&ui, &answer).ctx(), console => true };
            return visit.render(&ui, status_of(&answer), "message.html", page);
        }
        got.push(answer.body);
    }
    let notice = p
        .notice
        .as_deref()
        .and_then(|n| ui.config.texts.0.get(&format!("notice_{n}")).cloned());
    let page = context! {
        admin => admin, console => true, notice => notice,
        user => val(&got[0]),
        sessions => val(&got[1]),
        factors => val(&got[2]),
        events => val(&got[3]),
        shown => Shown::default().ctx(),
    };
    visit.render(&ui, StatusCode::OK, "admin_user.html", page)
}

/// lock, unlock, logout (every session), remove-factors.
pub async fn act(
    State(ui): State<Ui>,
    headers: HeaderMap,
    visit: Visit,
    Path((id, action)): Path<(String, String)>,
    Submitted(_): Submitted<crate::ui::entry::Empty>,
) -> Response {
    let Some(admin) = admin_of(&ui, &headers) else {
        return sign_in_page(&ui, visit, StatusCode::UNAUTHORIZED, Shown::default());
    };
    let (Some(id), Some((method, part, notice))) = (id_of(&id), action_of(&action)) else {
        let page =
            context! { shown => Shown::message(&ui, "problem_not_found").ctx(), console => true };
        return visit.render(&ui, StatusCode::NOT_FOUND, "message.html", page);
    };
    let answer = call(
        &ui,
        &visit,
        &admin,
        method,
        &format!("/admin/users/{id}{part}"),
        Payload::None,
    )
    .await;
    if !answer.ok() {
        let page = context! { shown => Shown::of(&ui, &answer).ctx(), console => true };
        return visit.render(&ui, status_of(&answer), "message.html", page);
    }
    visit.redirect(&ui, &format!("/admin/ui/users/{id}?notice={notice}"))
}

fn action_of(action: &str) -> Option<(Method, &'static str, &'static str)> {
    Some(match action {
        "lock" => (Method::POST, "/lock", "user_locked"),
        "unlock" => (Method::POST, "/unlock", "user_unlocked"),
        "logout" => (Method::POST, "/logout", "sessions_ended"),
        "remove-factors" => (Method::DELETE, "/factors", "factors_removed"),
        _ => return None,
    })
}

/// A file of JSON lines (as `authd users import` reads), sent as a form with
/// its CSRF field: the admin API's import, and its report.
pub async fn import(
    State(ui): State<Ui>,
    headers: HeaderMap,
    visit: Visit,
    request: Request,
) -> Response {
    let Some(admin) = admin_of(&ui, &headers) else {
        return sign_in_page(&ui, visit, StatusCode::UNAUTHORIZED, Shown::default());
    };
    let refused = |visit: Visit, status: StatusCode, key: &str| {
        let page = context! { shown => Shown::message(&ui, key).ctx(), console => true };
        visit.render(&ui, status, "message.html", page)
    };
    let Ok(mut form) = Multipart::from_request(request, &ui).await else {
        return refused(visit, StatusCode::BAD_REQUEST, "form_malformed");
    };
    let (mut csrf, mut file) = (None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("csrf") => csrf = field.text().await.ok(),
                Some("file") => match field.bytes().await {
                    Ok(bytes) => file = Some(bytes.to_vec()),
                    Err(_) => {
                        return refused(visit, StatusCode::PAYLOAD_TOO_LARGE, "form_too_large")
                    }
                },
                _ => {}
            },
            Ok(None) => break,
            Err(_) => return refused(visit, StatusCode::BAD_REQUEST, "form_malformed"),
        }
    }
    if !cookies::csrf_ok(&headers, csrf.as_deref()) {
        return refused(visit, StatusCode::FORBIDDEN, "form_expired");
    }
    let payload = Payload::Raw("application/x-ndjson", file.unwrap_or_default());
    let answer = call(
        &ui,
        &visit,
        &admin,
        Method::POST,
        "/admin/users/import",
        payload,
    )
    .await;
    let shown = if answer.ok() {
        Shown::default()
    } else {
        Shown::of(&ui, &answer)
    };
    let page = context! {
        admin => admin, console => true, shown => shown.ctx(),
        report => answer.ok().then(|| val(&answer.body)),
        users => val(Vec::<Value>::new()),
    };
    visit.render(&ui, status_of(&answer), "admin_users.html", page)
}
