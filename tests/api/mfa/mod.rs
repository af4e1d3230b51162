//! Multi-factor login (issue 23): codes come from pyotp (PyPI), an independent
//! RFC 6238 implementation, never from the crate under test; the server's clock is
//! the test's, so a code is computed for the instant the server sees.
//!
//! enrol.rs: enrolment, confirmation, the login's second step, claims;
//! replay.rs: the window, replays, two replicas at once, recovery codes;
//! token.rs: the mfa_token's life, the throttle, telling users apart;
//! stepup.rs: the sensitive endpoints, re-authentication, the policy, the admin.

mod enrol;
mod replay;
mod stepup;
mod token;

use authd::clock::Clock;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{child_command, pytool, TestApp, Tokens, PASSWORD};

/// The code pyotp computes for `secret` (base32) at Unix time `unix`.
pub fn code_at(secret: &str, unix: i64) -> String {
    let python = pytool("python", "pyotp");
    let out = child_command(python)
        .args([
            "-c",
            "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &unix.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyotp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The code for the server's now, `offset` steps away.
pub fn code_now(app: &TestApp, secret: &str, offset: i64) -> String {
    code_at(secret, app.clock.now().timestamp() + 30 * offset)
}

/// What a user with an authenticator has: its secret and recovery codes.
pub struct Enrolled {
    pub id: String,
    pub secret: String,
    pub recovery_codes: Vec<String>,
}

/// Signs `name` up, enrols an authenticator with a fresh login and confirms it
/// with pyotp's code; then moves the clock three steps on, so the confirming
/// code's step is out of the window.
pub async fn enrolled(app: &TestApp, name: &str) -> Enrolled {
    let enrolled = enrolled_now(app, name).await;
    app.clock.advance(chrono::Duration::seconds(90));
    enrolled
}

/// `enrolled`, with the clock left where it is (the confirming code's step is
/// the current one, so the next code login needs a later step).
pub async fn enrolled_now(app: &TestApp, name: &str) -> Enrolled {
    let id = app.create_user(name).await;
    let token = app.tokens(name, PASSWORD).await.access_token;
    let started = app
        .authed(Method::POST, "/auth/mfa/totp", &token, Some(json!({})))
        .await;
    assert_eq!(started.status(), 201);
    let started: Value = started.json().await.unwrap();
    let secret = started["secret"].as_str().unwrap().to_string();
    let code = code_now(app, &secret, 0);
    let confirmed = app
        .authed(
            Method::POST,
            "/auth/mfa/totp/confirm",
            &token,
            Some(json!({ "code": code })),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    let confirmed: Value = confirmed.json().await.unwrap();
    let recovery_codes = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    Enrolled {
        id,
        secret,
        recovery_codes,
    }
}

/// The password step of a user with a factor: its mfa_token.
pub async fn mfa_token(app: &TestApp, name: &str) -> String {
    let answer = app.login(name, PASSWORD).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(
        body.get("access_token").is_none(),
        "no tokens before the second step"
    );
    body["mfa_token"].as_str().unwrap().to_string()
}

/// POST /auth/login/mfa with `proof` ({code} or {recovery_code}).
pub async fn second_step(app: &TestApp, token: &str, mut proof: Value) -> reqwest::Response {
    proof["mfa_token"] = token.into();
    app.post_json("/auth/login/mfa", &proof).await
}

/// A full login with a code: the tokens.
pub async fn login_with_code(app: &TestApp, name: &str, code: &str) -> Tokens {
    let token = mfa_token(app, name).await;
    let done = second_step(app, &token, json!({ "code": code })).await;
    assert_eq!(done.status(), 200);
    done.json().await.unwrap()
}
