//! Enrolment (a pending factor, confirmed by its first code), the login's second
//! step, and the claims of what it gives.

use authd::clock::Clock;
use reqwest::Method;
use serde_json::{json, Value};

use super::{code_now, enrolled, login_with_code, mfa_token, second_step};
use crate::both_stores;
use crate::helpers::{claims_of, problem, Backend, TestApp, Tokens, PASSWORD};

both_stores!(
    an_authenticator_is_enrolled_confirmed_and_then_guards_the_login,
    a_refresh_keeps_the_logins_methods_and_level,
    the_secret_is_sealed_at_rest,
);

async fn an_authenticator_is_enrolled_confirmed_and_then_guards_the_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("alice").await;
    let token = app.tokens("alice", PASSWORD).await.access_token;
    let claims = claims_of(&token);
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd"]), json!("aal1"))
    );
    let started = app
        .authed(Method::POST, "/auth/mfa/totp", &token, Some(json!({})))
        .await;
    assert_eq!(started.status(), 201);
    assert_eq!(started.headers()["cache-control"], "no-store");
    let started: Value = started.json().await.unwrap();
    let secret = started["secret"].as_str().unwrap();
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/authd:alice?"), "{uri}");
    assert!(
        uri.contains(&format!("secret={secret}")) && uri.contains("issuer=authd"),
        "{uri}"
    );
    assert!(started["qr_svg"].as_str().unwrap().starts_with("<?xml"));
    // Pending: the login is not guarded yet, and a wrong code confirms nothing.
    let status: Value = app
        .authed(Method::GET, "/auth/mfa", &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["enabled"], false);
    assert_eq!(status["factors"][0]["confirmed"], false);
    assert_eq!(app.tokens("alice", PASSWORD).await.token_type, "Bearer");
    let wrong = json!({ "code": code_now(&app, secret, 5) });
    let refused = app
        .authed(Method::POST, "/auth/mfa/totp/confirm", &token, Some(wrong))
        .await;
    assert_eq!(
        problem(refused, 401).await["type"],
        "urn:authd:problem:wrong-code"
    );
    let right = json!({ "code": code_now(&app, secret, 0) });
    let confirmed = app
        .authed(Method::POST, "/auth/mfa/totp/confirm", &token, Some(right))
        .await;
    assert_eq!(confirmed.status(), 200);
    let codes: Value = confirmed.json().await.unwrap();
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);
    let status: Value = app
        .authed(Method::GET, "/auth/mfa", &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            status["enabled"].clone(),
            status["recovery_codes_left"].clone()
        ),
        (json!(true), json!(10))
    );
    let types: Vec<Value> = app
        .events_of(&id)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(
        types.contains(&json!("authd.user.mfa_enabled")),
        "{types:?}"
    );
    // Now the password step gives an mfa_token, not tokens; a wrong password the
    // same 401 as ever.
    problem(app.login("alice", "not the password").await, 401).await;
    app.clock.advance(chrono::Duration::seconds(30));
    let answer: Value = app.login("alice", PASSWORD).await.json().await.unwrap();
    assert_eq!(answer["step"], "login");
    assert_eq!(answer["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(answer["expires_in"], 300);
    let done = second_step(
        &app,
        answer["mfa_token"].as_str().unwrap(),
        json!({ "code": code_now(&app, secret, 0) }),
    )
    .await;
    assert_eq!(done.status(), 200);
    assert_eq!(done.headers()["cache-control"], "no-store");
    let tokens: Tokens = done.json().await.unwrap();
    let claims = claims_of(&tokens.access_token);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "aal2");
    assert_eq!(claims["auth_time"], app.clock.now().timestamp());
    assert_eq!(app.me(&tokens.access_token).await.status(), 200);
}

async fn a_refresh_keeps_the_logins_methods_and_level(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = enrolled(&app, "alice").await;
    let tokens = login_with_code(&app, "alice", &code_now(&app, &alice.secret, 0)).await;
    let login_time = claims_of(&tokens.access_token)["auth_time"].clone();
    app.clock.advance(chrono::Duration::minutes(20));
    let refreshed: Tokens = app
        .refresh(&tokens.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let claims = claims_of(&refreshed.access_token);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "aal2");
    assert_eq!(
        claims["auth_time"], login_time,
        "the login's time, not the refresh's"
    );
    // A session from before the factor stays what it was.
    let bob = app.create_user("bob").await;
    let _ = bob;
    let old = app.tokens("bob", PASSWORD).await;
    let claims = claims_of(
        &app.refresh(&old.refresh_token)
            .await
            .json::<Tokens>()
            .await
            .unwrap()
            .access_token,
    );
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd"]), json!("aal1"))
    );
}

async fn the_secret_is_sealed_at_rest(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        // Postgres has no key file by default; give it one, as compose does.
        if c.tokens.secrets == authd::tokens::SecretsSource::None {
            let dir = std::env::temp_dir().join(format!("authd-kek-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("secrets.key");
            std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
            c.tokens.secrets = authd::tokens::SecretsSource::File(path);
        }
    })
    .await;
    let alice = enrolled(&app, "alice").await;
    let raw = base32_decode(&alice.secret);
    let stored = app.bytes("SELECT secret FROM mfa_factors").await;
    assert!(
        !stored.windows(raw.len()).any(|w| w == raw),
        "the secret is stored in the clear"
    );
    // And it works: the sealed secret opens for the login.
    let token = mfa_token(&app, "alice").await;
    let done = second_step(
        &app,
        &token,
        json!({ "code": code_now(&app, &alice.secret, 0) }),
    )
    .await;
    assert_eq!(done.status(), 200);
}

/// RFC 4648 base32 (no padding), as the test reads the secret an app would.
fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.chars() {
        buffer = (buffer << 5) | alphabet.find(c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
