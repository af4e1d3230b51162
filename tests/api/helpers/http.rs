//! Requests to a `TestApp`, one method per endpoint, and reading what they answer:
//! tokens, problem+json bodies, the claims and header of an access token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::app::TestApp;

impl TestApp {
    pub async fn sign_up(&self, username: &str, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/auth/user",
            &json!({ "username": username, "email": email, "password": password }),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GET `url` (anywhere, with an optional bearer token) and its JSON body.
    pub async fn json_at(&self, url: &str, token: Option<&str>) -> Value {
        let mut request = self.client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    pub async fn login(&self, login: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/auth/login",
            &json!({ "login": login, "password": password }),
        )
        .await
    }

    /// Logs in and returns the token response (panics unless 200).
    pub async fn tokens(&self, login: &str, password: &str) -> Tokens {
        let response = self.login(login, password).await;
        assert_eq!(response.status().as_u16(), 200, "login of {login}");
        response.json().await.unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json("/auth/token", &json!({ "refresh_token": refresh_token }))
            .await
    }

    /// A request with `Authorization: Bearer <token>` and an optional JSON body.
    pub async fn authed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.authed(reqwest::Method::GET, "/auth/me", token, None)
            .await
    }
}

/// What login and refresh answer.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// Parses a problem+json response, checking its content type and status.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    body
}

/// The claims of a JWT, decoded and not verified.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The header of a JWT, decoded and not verified.
pub fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}
