//! Passkeys (issue 24): full WebAuthn ceremonies against a software
//! authenticator (webauthn-authenticator-rs' SoftPasskey), never the crate's own
//! verifier talking to itself: the authenticator signs, authd verifies.
//!
//! ceremonies.rs: registration, the second factor, a login alone, on two replicas;
//! attacks.rs: replays, expiry, another origin, a counter that goes back, the
//! last factor under `AUTHD_MFA=required`, a flood of ceremonies;
//! browser.rs: the same in headless Chromium with its virtual authenticator.

mod attacks;
mod browser;
mod ceremonies;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::helpers::{Backend, TestApp, PASSWORD};

/// The relying party of the tests: `localhost`, pages at `http://localhost`.
pub const ORIGIN: &str = "http://localhost";

/// An app with passkeys on.
pub async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        let rp = authd::authn::passkey::relying_party("localhost", ORIGIN).unwrap();
        c.mfa.webauthn = Some(std::sync::Arc::new(rp));
    })
    .await
}

/// An app with passkeys on, listening on `port`, its pages at
/// `http://localhost:{port}` (a browser's origin names its port).
pub async fn app_at(backend: Backend, port: u16) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.listen = ([127, 0, 0, 1], port).into();
        let origin = format!("http://localhost:{port}");
        let rp = authd::authn::passkey::relying_party("localhost", &origin).unwrap();
        c.mfa.webauthn = Some(std::sync::Arc::new(rp));
    })
    .await
}

/// A software passkey (it says it verified its user).
pub fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

/// Registers a passkey of `authenticator` for the holder of `token`, answering
/// from `origin`; the finish's answer.
pub async fn register_from(
    app: &TestApp,
    token: &str,
    authenticator: &mut SoftPasskey,
    origin: &str,
) -> reqwest::Response {
    let started = app
        .authed(Method::POST, "/auth/passkeys/registration", token, None)
        .await;
    assert_eq!(started.status(), 200, "{:?}", started.text().await);
    let started: Value = started.json().await.unwrap();
    let options: CreationChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    let credential = authenticator
        .do_registration(Url::parse(origin).unwrap(), options)
        .expect("the soft authenticator registers");
    let body = json!({
        "ceremony": started["ceremony"],
        "credential": credential,
        "name": "laptop",
    });
    app.authed(Method::POST, "/auth/passkeys", token, Some(body))
        .await
}

/// Signs `name` up and registers a passkey; its user id, a fresh token, the body
/// of the registration.
pub async fn registered(
    app: &TestApp,
    name: &str,
    authenticator: &mut SoftPasskey,
) -> (String, String, Value) {
    let id = app.create_user(name).await;
    let token = app.tokens(name, PASSWORD).await.access_token;
    let done = register_from(app, &token, authenticator, ORIGIN).await;
    assert_eq!(done.status(), 201, "{:?}", done.text().await);
    (id, token, done.json().await.unwrap())
}

/// The options and ceremony of a login with a passkey alone.
pub async fn login_options(app: &TestApp) -> (String, RequestChallengeResponse) {
    let started = app
        .post_json("/auth/login/passkey/options", &json!({}))
        .await;
    assert_eq!(started.status(), 200);
    let started: Value = started.json().await.unwrap();
    let options = serde_json::from_value(started["options"].clone()).unwrap();
    (started["ceremony"].as_str().unwrap().to_string(), options)
}

/// The answer of `authenticator` to a login's `options`, as a browser with a
/// discoverable credential gives it: the soft authenticator keeps no resident
/// keys, so the test lists its credential in the options (the challenge, which
/// authd kept, is unchanged) and adds the user handle the browser would return.
pub fn discoverable_answer(
    authenticator: &mut SoftPasskey,
    mut options: RequestChallengeResponse,
    credential_id: &str,
    user: &str,
    origin: &str,
) -> Value {
    let mut raw = serde_json::to_value(&options).unwrap();
    raw["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": credential_id }]);
    options = serde_json::from_value(raw).unwrap();
    let answer = authenticator
        .do_authentication(Url::parse(origin).unwrap(), options)
        .expect("the soft authenticator signs");
    let mut answer = serde_json::to_value(answer).unwrap();
    let handle = uuid::Uuid::parse_str(user).unwrap();
    answer["response"]["userHandle"] = URL_SAFE_NO_PAD.encode(handle.as_bytes()).into();
    answer
}

/// The credential id (base64url) of the user's only passkey, as the store keeps it.
pub async fn credential_id(app: &TestApp, user: &str) -> String {
    let sql = format!(
        "SELECT credential_id FROM mfa_factors WHERE kind = 'passkey' AND CAST(user_id AS TEXT) = '{user}'"
    );
    URL_SAFE_NO_PAD.encode(app.bytes(&sql).await)
}

/// The types of the events of `user`.
pub async fn event_types(app: &TestApp, user: &str) -> Vec<String> {
    let events = app.events_of(user).await;
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// Finishes the passkey login `ceremony` with `answer`.
pub async fn finish_login(app: &TestApp, ceremony: &str, answer: &Value) -> reqwest::Response {
    app.post_json(
        "/auth/login/passkey",
        &json!({ "ceremony": ceremony, "credential": answer }),
    )
    .await
}
