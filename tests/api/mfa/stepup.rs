//! Step-up: each sensitive endpoint wants a recent authentication at the user's
//! highest level (aal2 once they have a factor); POST /auth/reauthenticate gives
//! it without ending the session. The policy that requires a factor, the admin's
//! view and removal, and a separate verifier reading amr and acr.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use reqwest::Method;
use serde_json::{json, Value};

use super::{code_now, enrolled, enrolled_now, login_with_code, mfa_token, second_step};
use crate::admin::{admin, with_admin};
use crate::both_stores;
use crate::helpers::{
    child_command, claims_of, problem, target_dir, Backend, TestApp, Tokens, PASSWORD,
};

both_stores!(
    sensitive_endpoints_want_a_recent_second_factor,
    a_required_policy_makes_a_user_enrol_before_any_token,
    a_required_policy_keeps_the_last_authenticator,
    an_admin_sees_and_removes_a_users_factors,
);

async fn sensitive_endpoints_want_a_recent_second_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A session from before the factor: recent, but one factor only.
    app.create_user("alice").await;
    let before = app.tokens("alice", PASSWORD).await;
    let id = claims_of(&before.access_token)["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = {
        let t = &before.access_token;
        let s: Value = app
            .authed(Method::POST, "/auth/mfa/totp", t, Some(json!({})))
            .await
            .json()
            .await
            .unwrap();
        let secret = s["secret"].as_str().unwrap().to_string();
        let confirm = json!({ "code": code_now(&app, &secret, 0) });
        assert_eq!(
            app.authed(Method::POST, "/auth/mfa/totp/confirm", t, Some(confirm))
                .await
                .status(),
            200
        );
        secret
    };
    app.clock.advance(chrono::Duration::seconds(90));
    let sensitive = [
        (
            Method::PATCH,
            format!("/auth/user/{id}"),
            Some(json!({ "email": "new@example.com" })),
        ),
        (Method::DELETE, "/auth/sessions".to_string(), None),
        (Method::POST, "/auth/mfa/recovery-codes".to_string(), None),
        (Method::DELETE, "/auth/mfa/totp".to_string(), None),
        (Method::POST, "/auth/mfa/totp".to_string(), Some(json!({}))),
    ];
    for (method, path, body) in &sensitive {
        let refused = app
            .authed(method.clone(), path, &before.access_token, body.clone())
            .await;
        let challenge = refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.contains(r#"acr_values="aal2""#),
            "{path}: {challenge}"
        );
        let body = problem(refused, 401).await;
        assert_eq!(
            body["type"], "urn:authd:problem:reauthentication-required",
            "{path}"
        );
    }
    // A login with the code five minutes ago is too old too.
    let mfa = login_with_code(&app, "alice", &code_now(&app, &secret, 0)).await;
    app.clock.advance(chrono::Duration::minutes(6));
    let (method, path, body) = &sensitive[1];
    problem(
        app.authed(method.clone(), path, &mfa.access_token, body.clone())
            .await,
        401,
    )
    .await;
    // Re-authenticating: the password alone is not enough for a user with a factor.
    let reauth = |body: Value| {
        app.authed(
            Method::POST,
            "/auth/reauthenticate",
            &mfa.access_token,
            Some(body),
        )
    };
    let alone = problem(reauth(json!({ "password": PASSWORD })).await, 401).await;
    assert_eq!(alone["type"], "urn:authd:problem:reauthentication-required");
    let wrong = reauth(json!({ "password": PASSWORD, "code": code_now(&app, &secret, 4) })).await;
    problem(wrong, 401).await;
    let fresh = reauth(json!({ "password": PASSWORD, "code": code_now(&app, &secret, 0) })).await;
    assert_eq!(fresh.status(), 200);
    let fresh: Value = fresh.json().await.unwrap();
    let access = fresh["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(
        (claims["acr"].clone(), claims["sid"].clone()),
        (json!("aal2"), claims_of(&mfa.access_token)["sid"].clone())
    );
    for (method, path, body) in &sensitive[..3] {
        let done = app.authed(method.clone(), path, access, body.clone()).await;
        assert!(done.status().is_success(), "{path}: {}", done.status());
    }
    // The session's refreshes carry the new authentication on.
    let refreshed: Tokens = app.refresh(&mfa.refresh_token).await.json().await.unwrap();
    assert_eq!(
        claims_of(&refreshed.access_token)["auth_time"],
        claims["auth_time"]
    );
    let removed = app
        .authed(
            Method::DELETE,
            "/auth/mfa/totp",
            &refreshed.access_token,
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let types: Vec<Value> = app
        .events_of(&id)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(
        types.contains(&json!("authd.user.mfa_disabled")),
        "{types:?}"
    );
    let plain: Value = app.login("alice", PASSWORD).await.json().await.unwrap();
    assert!(
        plain["access_token"].is_string(),
        "no factor, no second step: {plain}"
    );
}

async fn a_required_policy_makes_a_user_enrol_before_any_token(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.mfa.policy = authd::authn::MfaPolicy::Required
    })
    .await;
    app.create_user("carol").await;
    let answer: Value = app.login("carol", PASSWORD).await.json().await.unwrap();
    assert_eq!(
        (answer["step"].clone(), answer["methods"].clone()),
        (json!("enrol"), json!(["totp"]))
    );
    assert!(answer.get("access_token").is_none());
    let token = answer["mfa_token"].as_str().unwrap();
    // An enrolment token does not finish a login by itself.
    problem(
        second_step(&app, token, json!({ "code": "123456" })).await,
        401,
    )
    .await;
    let started: Value = app
        .post_json("/auth/mfa/totp", &json!({ "mfa_token": token }))
        .await
        .json()
        .await
        .unwrap();
    let secret = started["secret"].as_str().unwrap();
    let confirm = json!({ "mfa_token": token, "code": code_now(&app, secret, 0) });
    let done: Value = app
        .post_json("/auth/mfa/totp/confirm", &confirm)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10);
    let access = done["tokens"]["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["acr"], "aal2");
    assert_eq!(app.me(access).await.status(), 200);
    // Spent with the login it finished.
    problem(
        app.post_json("/auth/mfa/totp", &json!({ "mfa_token": token }))
            .await,
        401,
    )
    .await;
    app.clock.advance(chrono::Duration::seconds(90));
    assert_eq!(mfa_token(&app, "carol").await.len(), 43, "now a login step");
}

/// Under `AUTHD_MFA=required` a user cannot remove their last factor: with none,
/// the next password login would let whoever has the password enrol their own.
async fn a_required_policy_keeps_the_last_authenticator(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.mfa.policy = authd::authn::MfaPolicy::Required
    })
    .await;
    // Enrolled where a factor is optional, then the policy is required.
    let optional = app.replica(|_| {}).await;
    let erin = enrolled(&optional, "erin").await;
    let fresh = login_with_code(&app, "erin", &code_now(&app, &erin.secret, 0)).await;
    let kept = app
        .authed(Method::DELETE, "/auth/mfa/totp", &fresh.access_token, None)
        .await;
    assert_eq!(
        problem(kept, 409).await["type"],
        "urn:authd:problem:factor-state"
    );
    let left = "SELECT COUNT(*) FROM mfa_factors WHERE confirmed_at IS NOT NULL";
    assert_eq!(app.scalar(left).await, 1);
    // Where a factor is optional, it goes.
    let gone = optional
        .authed(Method::DELETE, "/auth/mfa/totp", &fresh.access_token, None)
        .await;
    assert_eq!(gone.status(), 204);
}

async fn an_admin_sees_and_removes_a_users_factors(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    let dave = enrolled(&app, "dave").await;
    let path = format!("/admin/users/{}", dave.id);
    let view: Value = admin(&app, Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["mfa_enabled"], true, "{view}");
    let factors: Value = admin(&app, Method::GET, &format!("{path}/factors"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(factors["factors"][0]["kind"], "totp");
    assert_eq!(factors["recovery_codes_left"], 10);
    let removed = admin(&app, Method::DELETE, &format!("{path}/factors"), None).await;
    assert_eq!(removed.status(), 204);
    let again = admin(&app, Method::DELETE, &format!("{path}/factors"), None).await;
    assert_eq!(again.status(), 204, "none left: nothing to do");
    let events: Vec<_> = app
        .events_of(&dave.id)
        .await
        .into_iter()
        .filter(|e| e["type"] == "authd.user.mfa_disabled")
        .collect();
    assert_eq!(events.len(), 1, "one removal, one event");
    assert_eq!(events[0]["authdactor"], "admin:ops");
    let nobody = format!("/admin/users/{}/factors", uuid::Uuid::now_v7());
    problem(admin(&app, Method::DELETE, &nobody, None).await, 404).await;
    let plain: Value = app.login("dave", PASSWORD).await.json().await.unwrap();
    assert!(plain["access_token"].is_string(), "{plain}");
}

/// authd-verify's example service: `/sensitive` wants acr aal2, and says what it
/// read, from the token alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_verifier_reads_amr_and_acr() {
    // The verifier reads the system clock: this app's clock is not moved.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let erin = enrolled_now(&app, "erin").await;
    app.create_user("frank").await;
    let one = app.tokens("frank", PASSWORD).await.access_token;
    let token = mfa_token(&app, "erin").await;
    let code = json!({ "recovery_code": erin.recovery_codes[0] });
    let two: Tokens = second_step(&app, &token, code).await.json().await.unwrap();
    let two = two.access_token;
    let binary = target_dir().join("debug/examples/protected");
    assert!(
        binary.exists(),
        "{} is missing: run scripts/test",
        binary.display()
    );
    let mut child = child_command(binary)
        .env("AUTHD_JWKS_URL", app.url("/.well-known/jwks.json"))
        .env("AUTHD_TOKEN_ISSUER", app.state.public_url.to_string())
        .env("LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = format!(
        "http://{}",
        line.trim().strip_prefix("listening on ").unwrap()
    );
    let get = |path: &'static str, token: String| {
        let (client, url) = (app.client.clone(), format!("{url}{path}"));
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let hello: Value = get("/hello", two.clone()).await.json().await.unwrap();
    assert!(hello.get("error").is_none(), "{hello}");
    assert_eq!(
        (hello["amr"].clone(), hello["acr"].clone()),
        (json!(["pwd", "otp", "mfa"]), json!("aal2"))
    );
    assert_eq!(get("/sensitive", two).await.status(), 200);
    assert_eq!(get("/sensitive", one.clone()).await.status(), 403);
    assert_eq!(get("/hello", one).await.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}
