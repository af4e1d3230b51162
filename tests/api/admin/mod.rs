//! The admin API on its own listener: credentials, users by prefix and cursor,
//! create, lock and unlock on every replica, ending sessions, delete, and a user's
//! event history, every admin event naming its admin.
//!
//! Who gets in: access.rs; what admins do to users: users.rs, lock.rs; what the
//! history keeps: history.rs. The admin client they share is here.

mod access;
mod history;
mod lock;
mod users;

use authd::config::{AdminConfig, AdminCredentials, Config};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

pub const TOKEN: &str = "ops-token-0123456789abcdef0123456789";
const OTHER: &str = "auditor-token-0123456789abcdef01234567";

pub fn with_admin(c: &mut Config) {
    c.admin = Some(AdminConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        credentials: AdminCredentials::parse(&format!("ops:{TOKEN}\nauditor:{OTHER}\n")).unwrap(),
    });
}

async fn admin_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, with_admin).await
}

pub async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    admin_as(app, TOKEN, method, path, body).await
}

pub async fn admin_as(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let url = format!(
        "http://{}{path}",
        app.admin_addr.expect("an admin listener")
    );
    let mut request = app.client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn ok_json(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    response.json().await.unwrap()
}
