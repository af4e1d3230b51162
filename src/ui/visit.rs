//! One request to a page: its cookies, the CSRF secret, the cookies the answer
//! sets, and how it renders, redirects, and calls the API as its user (refreshing
//! the access token with the refresh cookie when it expired).

use super::shown::val;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::Value as Ctx;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::api::{Acting, Answer, Caller, Payload};
use super::cookies::{self, ACCESS, CSRF, MFA, REFRESH};
use super::Ui;

/// The largest form the pages accept.
const FORM_LIMIT: usize = 16 * 1024;

pub struct Visit {
    pub caller: Caller,
    pub csrf: String,
    /// `Set-Cookie` values of the answer.
    set: Vec<String>,
    access: Option<String>,
    refresh: Option<String>,
    pub mfa: Option<String>,
}

impl FromRequestParts<Ui> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Ui) -> Result<Self, Self::Rejection> {
        let read = |name| cookies::read(&parts.headers, name).map(str::to_string);
        let mut set = Vec::new();
        let csrf = match read(CSRF).filter(|c| c.len() >= 32 && c.len() <= 64) {
            Some(csrf) => csrf,
            None => {
                let csrf = cookies::random_token();
                set.push(cookies::csrf(&csrf));
                csrf
            }
        };
        Ok(Visit {
            caller: Caller::of(parts),
            csrf,
            set,
            access: read(ACCESS),
            refresh: read(REFRESH),
            mfa: read(MFA),
        })
    }
}

/// A form whose CSRF field matched: the request's fields as `T`.
pub struct Submitted<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Ui> for Submitted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, ui: &Ui) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let refused = |status: StatusCode, key: &str| {
            let mut response = (status, ui.config.texts.get(key).to_string()).into_response();
            super::secure_headers(&ui.csp, &mut response);
            response
        };
        let bytes: Bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| refused(StatusCode::PAYLOAD_TOO_LARGE, "form_too_large"))?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| refused(StatusCode::BAD_REQUEST, "form_malformed"))?;
        let field = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        if !cookies::csrf_ok(&parts.headers, field) {
            tracing::warn!("a page's form without its CSRF token (or sent cross-site)");
            return Err(refused(StatusCode::FORBIDDEN, "form_expired"));
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(Submitted)
            .map_err(|_| refused(StatusCode::BAD_REQUEST, "form_malformed"))
    }
}

impl Visit {
    pub fn set_cookie(&mut self, value: String) {
        self.set.push(value);
    }

    /// The answer with its cookies and the pages' headers.
    pub fn finish(self, ui: &Ui, mut response: Response) -> Response {
        for value in self.set {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        super::secure_headers(&ui.csp, &mut response);
        response
    }

    /// Template `name` with `page` and what every page has.
    pub fn render(self, ui: &Ui, status: StatusCode, name: &str, page: Ctx) -> Response {
        let common = context! {
            t => val(&ui.config.texts.0),
            product => &ui.config.product_name,
            logo => ui.config.logo.is_some(),
            theme => ui.config.theme.is_some(),
            csrf => &self.csrf,
            passkeys => ui.app.mfa.webauthn.is_some(),
            assets => ui.assets,
            shown => super::shown::Shown::default().ctx(),
        };
        let html = ui
            .templates
            .get_template(name)
            .and_then(|t| t.render(context! { ..page, ..common }));
        let response = match html {
            Ok(html) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, template = name, "a page failed to render");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        };
        self.finish(ui, response)
    }

    /// 303 to `to` (a form's answer: the browser GETs it, a reload posts nothing).
    pub fn redirect(self, ui: &Ui, to: &str) -> Response {
        let response = match HeaderValue::from_str(to) {
            Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
            Err(_) => StatusCode::BAD_REQUEST.into_response(),
        };
        self.finish(ui, response)
    }

    /// Whether the visit has tokens (it may still find them expired).
    pub fn signed_in(&self) -> bool {
        self.access.is_some() || self.refresh.is_some()
    }

    /// Keeps a login's tokens (the answer of /auth/login, /auth/token, a second
    /// factor or a passkey) in their cookies, ending any second step.
    pub fn sign_in(&mut self, ui: &Ui, tokens: &serde_json::Value) {
        let access = tokens["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refresh = tokens["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let access_age = tokens["expires_in"]
            .as_u64()
            .unwrap_or(60)
            .saturating_sub(5);
        let refresh_age = ui.app.tokens.config.refresh_ttl.as_secs();
        self.set.push(cookies::ui(ACCESS, &access, access_age));
        self.set.push(cookies::ui(REFRESH, &refresh, refresh_age));
        if self.mfa.take().is_some() {
            self.set.push(cookies::clear(MFA));
        }
        self.access = Some(access);
        self.refresh = Some(refresh);
    }

    /// Forgets the tokens (the API call that ends the session is the caller's).
    pub fn sign_out(&mut self) {
        for name in [ACCESS, REFRESH, MFA] {
            self.set.push(cookies::clear(name));
        }
        self.access = None;
        self.refresh = None;
        self.mfa = None;
    }

    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh.as_deref()
    }

    /// A new pair for the refresh cookie; false (and no tokens) when it is spent,
    /// expired or revoked.
    async fn refreshed(&mut self, ui: &Ui) -> bool {
        let Some(refresh) = self.refresh.clone() else {
            return false;
        };
        let body = Payload::Json(json!({ "refresh_token": refresh }));
        let answer = ui
            .api
            .send(
                &self.caller,
                Acting::Nobody,
                Method::POST,
                "/auth/token",
                body,
            )
            .await;
        if answer.ok() {
            self.sign_in(ui, &answer.body);
            return true;
        }
        if answer.status == StatusCode::UNAUTHORIZED {
            self.sign_out();
        }
        false
    }

    /// Calls the API as the signed-in user; `None` when there is no session (the
    /// caller sends the person to the login page). An expired access token is
    /// refreshed once.
    pub async fn as_user(
        &mut self,
        ui: &Ui,
        method: Method,
        path: &str,
        body: Payload,
    ) -> Option<Answer> {
        if self.access.is_none() && !self.refreshed(ui).await {
            return None;
        }
        let body_again = match &body {
            Payload::Json(value) => Payload::Json(value.clone()),
            _ => Payload::None,
        };
        let token = self.access.clone()?;
        let answer = ui
            .api
            .send(
                &self.caller,
                Acting::User(&token),
                method.clone(),
                path,
                body,
            )
            .await;
        // Only an access token the API no longer takes (expired, or its session's
        // keys rotated) is worth a refresh; any other 401 is the call's answer.
        if answer.status != StatusCode::UNAUTHORIZED || answer.kind() != "unauthorized" {
            return Some(answer);
        }
        if !self.refreshed(ui).await {
            return None;
        }
        let token = self.access.clone()?;
        Some(
            ui.api
                .send(&self.caller, Acting::User(&token), method, path, body_again)
                .await,
        )
    }

    /// Calls the API as nobody (sign-up, login, recovery).
    pub async fn as_nobody(&self, ui: &Ui, path: &str, body: serde_json::Value) -> Answer {
        ui.api
            .send(
                &self.caller,
                Acting::Nobody,
                Method::POST,
                path,
                Payload::Json(body),
            )
            .await
    }

    /// To the login page, coming back to `back` afterwards.
    pub fn send_to_login(self, ui: &Ui, back: &str) -> Response {
        let to = format!("/ui/login?return_to={}", urlencode(back));
        self.redirect(ui, &to)
    }
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_string())
        .unwrap_or_default()
}
