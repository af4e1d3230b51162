//! The admin console at /admin/ui/ on the admin listener: sign in with an admin
//! token (`session`), search users, a user's page (sessions, factors, events),
//! lock, unlock, end sessions, remove factors, import a file (`users`). Every
//! action is a call of the admin API in process, as that admin: its name is on
//! every event, as with a token.

mod session;
mod users;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use serde::Deserialize;

use super::config::UiConfig;
use super::cookies;
use super::shown::Shown;
use super::visit::{Submitted, Visit};
use super::Ui;
use crate::http::state::AppState;

/// The admin listener's router: the admin API, and the console when the pages
/// are on.
pub fn admin_listener(state: AppState) -> Router {
    let routes = crate::http::admin::routes(state.clone());
    let console = state
        .ui
        .as_ref()
        .map(|ui| router(state.clone(), routes.clone(), Arc::clone(ui)));
    crate::http::admin::router(state, routes, console)
}

/// The console, calling `admin_api` (the admin listener's own routes).
pub fn router(app: AppState, admin_api: axum::Router, config: Arc<UiConfig>) -> Router {
    let ui = Ui::new(app, admin_api, config, "/admin/ui/static");
    Router::new()
        .route("/admin/ui", get(users::search))
        .route("/admin/ui/", get(users::search))
        .route("/admin/ui/login", post(login))
        .route("/admin/ui/logout", post(logout))
        .route("/admin/ui/users/{id}", get(users::user))
        .route("/admin/ui/users/{id}/{action}", post(users::act))
        .route(
            "/admin/ui/import",
            post(users::import).layer(DefaultBodyLimit::max(
                crate::http::admin::IMPORT_LIMIT + 64 * 1024,
            )),
        )
        .merge(super::assets("/admin/ui/static"))
        .with_state(ui)
}

/// The admin a visit's console cookie names, if it holds.
pub fn admin_of(ui: &Ui, headers: &axum::http::HeaderMap) -> Option<String> {
    let credentials = ui.app.admin.as_ref()?;
    let value = cookies::read(headers, cookies::ADMIN)?;
    session::check(credentials, value, ui.app.clock.now())
}

/// The sign-in page (every console page without a session shows it).
pub fn sign_in_page(ui: &Ui, visit: Visit, status: StatusCode, shown: Shown) -> Response {
    let page = context! { shown => shown.ctx(), console => true };
    visit.render(ui, status, "admin_login.html", page)
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

/// An admin token, checked as the admin API checks it; a wrong one is logged
/// and refused like one (the tokens are 32+ random characters: no guessing).
async fn login(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(form): Submitted<TokenForm>,
) -> Response {
    let credentials = ui.app.admin.clone();
    let name = credentials
        .as_ref()
        .and_then(|c| c.verify(form.token.trim()).map(str::to_string));
    let cookie = match (&credentials, name) {
        (Some(credentials), Some(name)) => session::issue(credentials, &name, ui.app.clock.now()),
        _ => None,
    };
    let Some(cookie) = cookie else {
        tracing::warn!("admin console: a sign-in with an unknown token");
        let shown = Shown::message(&ui, "problem_not_admin");
        return sign_in_page(&ui, visit, StatusCode::UNAUTHORIZED, shown);
    };
    visit.set_cookie(format!(
        "{}={cookie}; Path=/admin/ui; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        cookies::ADMIN,
        session::SESSION_SECS
    ));
    visit.redirect(&ui, "/admin/ui/")
}

async fn logout(
    State(ui): State<Ui>,
    mut visit: Visit,
    Submitted(_): Submitted<super::entry::Empty>,
) -> Response {
    visit.set_cookie(format!(
        "{}=; Path=/admin/ui; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
        cookies::ADMIN
    ));
    visit.redirect(&ui, "/admin/ui/")
}
