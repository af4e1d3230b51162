//! Pages for a browser: sign up, log in (a password and a second factor, or a
//! passkey), verify an email, forget and reset a password, and an account page
//! (`/ui/`, `AUTHD_UI`); and the admin console (`console`, `/admin/ui/` on the
//! admin listener). Server-rendered from templates compiled into the binary; the
//! one script is what WebAuthn needs and what reads a mail link's fragment. Every
//! action calls the API in process (`api`): the pages hold no logic of their own
//! about users, sessions or factors.

mod account;
pub mod api;
pub mod config;
pub mod console;
mod cookies;
mod entry;
mod factors;
mod passkey;
mod reauth;
mod recovery;
mod second;
mod shown;
mod visit;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::Environment;

use crate::http::state::AppState;
use api::Api;
use config::UiConfig;

/// What every page handler has.
#[derive(Clone)]
pub struct Ui {
    pub app: AppState,
    pub api: Api,
    pub config: Arc<UiConfig>,
    pub templates: Arc<Environment<'static>>,
    /// The Content-Security-Policy of every answer.
    pub csp: HeaderValue,
    /// Where the style, script, theme and logo are served (`/ui/static`).
    pub assets: &'static str,
}

const STYLE: &str = include_str!("static/ui.css");
const SCRIPT: &str = include_str!("static/ui.js");

/// The templates, by name (the `.html` ones are escaped automatically).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("signup.html", include_str!("templates/signup.html")),
    ("login.html", include_str!("templates/login.html")),
    ("mfa.html", include_str!("templates/mfa.html")),
    ("enrol.html", include_str!("templates/enrol.html")),
    ("codes.html", include_str!("templates/codes.html")),
    ("message.html", include_str!("templates/message.html")),
    ("verify.html", include_str!("templates/verify.html")),
    ("forgot.html", include_str!("templates/forgot.html")),
    ("reset.html", include_str!("templates/reset.html")),
    ("reauth.html", include_str!("templates/reauth.html")),
    ("account.html", include_str!("templates/account.html")),
    (
        "admin_login.html",
        include_str!("templates/admin_login.html"),
    ),
    (
        "admin_users.html",
        include_str!("templates/admin_users.html"),
    ),
    ("admin_user.html", include_str!("templates/admin_user.html")),
];

pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
}

impl Ui {
    pub fn new(
        app: AppState,
        api: axum::Router,
        config: Arc<UiConfig>,
        assets: &'static str,
    ) -> Ui {
        // A form may send a person on to a configured origin (a redirect after
        // a POST is held to form-action too).
        let mut form_action = String::from("'self'");
        for origin in &config.return_origins {
            form_action.push(' ');
            form_action.push_str(origin);
        }
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; \
             base-uri 'none'"
        );
        Ui {
            app,
            api: Api(api),
            config,
            templates: Arc::new(templates()),
            csp: HeaderValue::from_str(&csp).expect("origins are checked ASCII"),
            assets,
        }
    }
}

/// The pages at /ui/, calling `api` (the service's own routes) in process.
pub fn router(app: AppState, api: axum::Router, config: Arc<UiConfig>) -> Router {
    let ui = Ui::new(app, api, config, "/ui/static");
    Router::new()
        .route("/ui", get(entry::index))
        .route("/ui/", get(entry::index))
        .route("/ui/signup", get(entry::signup_page).post(entry::signup))
        .route("/ui/login", get(entry::login_page).post(entry::login))
        .route("/ui/login/mfa", get(second::mfa_page).post(second::mfa))
        .route(
            "/ui/login/enrol",
            get(second::enrol_page).post(second::enrol_confirm),
        )
        .route("/ui/login/passkey/options", post(passkey::login_options))
        .route("/ui/login/passkey", post(passkey::login))
        .route("/ui/login/mfa/passkey/options", post(passkey::mfa_options))
        .route("/ui/login/mfa/passkey", post(passkey::mfa))
        .route("/ui/logout", post(entry::logout))
        .route(
            "/ui/verify-email",
            get(recovery::verify_page).post(recovery::verify),
        )
        .route(
            "/ui/forgot-password",
            get(recovery::forgot_page).post(recovery::forgot),
        )
        .route(
            "/ui/reset-password",
            get(recovery::reset_page).post(recovery::reset),
        )
        .route(
            "/ui/reauth",
            get(reauth::reauth_page).post(reauth::reauthenticate),
        )
        .route("/ui/account", get(account::page))
        .route("/ui/account/profile", post(account::profile))
        .route("/ui/account/password", post(account::password))
        .route("/ui/account/verify-resend", post(account::verify_resend))
        .route("/ui/account/sessions/end", post(account::end_session))
        .route("/ui/account/sessions/end-others", post(account::end_others))
        .route("/ui/account/delete", post(account::delete))
        .route("/ui/account/totp", post(factors::totp_start))
        .route("/ui/account/totp/confirm", post(factors::totp_confirm))
        .route("/ui/account/totp/remove", post(factors::totp_remove))
        .route("/ui/account/recovery-codes", post(factors::new_codes))
        .route("/ui/account/passkeys/options", post(passkey::add_options))
        .route("/ui/account/passkeys", post(passkey::add))
        .route("/ui/account/passkeys/remove", post(factors::passkey_remove))
        .merge(assets("/ui/static"))
        .with_state(ui)
}

/// The style, script, theme and logo under `at`.
pub fn assets(at: &str) -> Router<Ui> {
    Router::new()
        .route(&format!("{at}/style.css"), get(style))
        .route(&format!("{at}/ui.js"), get(script))
        .route(&format!("{at}/theme.css"), get(theme))
        .route(&format!("{at}/logo"), get(logo))
}

/// The headers every answer of the pages carries: no framing, no sniffing, no
/// referrer (a page's URL never leaves), nothing cached, a strict CSP.
pub fn secure_headers(csp: &HeaderValue, response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

fn asset(ui: &Ui, content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response();
    secure_headers(&ui.csp, &mut response);
    response
}

async fn style(State(ui): State<Ui>) -> Response {
    asset(&ui, "text/css; charset=utf-8", STYLE)
}

async fn script(State(ui): State<Ui>) -> Response {
    asset(&ui, "text/javascript; charset=utf-8", SCRIPT)
}

async fn theme(State(ui): State<Ui>) -> Response {
    let css = ui.config.theme.clone().unwrap_or_default();
    asset(&ui, "text/css; charset=utf-8", css)
}

async fn logo(State(ui): State<Ui>) -> Response {
    match &ui.config.logo {
        Some((kind, bytes)) => asset(&ui, kind, bytes.clone()),
        None => {
            let mut response = StatusCode::NOT_FOUND.into_response();
            secure_headers(&ui.csp, &mut response);
            response
        }
    }
}

#[cfg(test)]
mod tests;
