//! The hostile review of multi-factor login (issue 23): an `mfa_token` outlived a
//! password change, a lock and an admin logout (with AUTHD_MFA=required a thief
//! with the old password enrolled their own authenticator after the owner's
//! reset); it worked from any address and agent; guessing codes was bounded per
//! window, not in total, and its per-user counter let a guesser lock the owner
//! out; parallel codes on one token passed its limit of three and spent recovery
//! codes for logins that never happened; a malformed code at reauthentication was
//! ignored.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::{at_once, behind_proxy};
use crate::admin::{admin, with_admin};
use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};
use crate::mfa::{code_now, enrolled, login_with_code, mfa_token, second_step};

both_stores!(
    an_mfa_token_ends_with_the_password_a_lock_or_a_logout,
    a_stale_enrolment_token_enrols_nothing,
    an_mfa_token_works_only_for_the_client_it_was_given_to,
    guessing_codes_is_bounded_in_total_and_spares_the_owners_recovery,
    parallel_codes_on_one_mfa_token_are_checked_one_at_a_time,
    a_malformed_code_at_reauthentication_is_refused,
);

const INVALID: &str = "urn:authd:problem:invalid-mfa-token";

/// The password step of `name` as sent from `client` with user agent `agent`.
async fn token_from(app: &TestApp, client: &str, agent: &str, name: &str) -> String {
    let answer = app
        .client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", client)
        .header("user-agent", agent)
        .json(&json!({ "login": name, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    body["mfa_token"]
        .as_str()
        .expect("an mfa_token")
        .to_string()
}

/// POST /auth/login/mfa as sent from `client` with user agent `agent`.
fn second_from(
    app: &TestApp,
    client: &str,
    agent: &str,
    token: &str,
    proof: Value,
) -> reqwest::RequestBuilder {
    let mut proof = proof;
    proof["mfa_token"] = token.into();
    app.client
        .post(app.url("/auth/login/mfa"))
        .header("x-forwarded-for", client)
        .header("user-agent", agent)
        .json(&proof)
}

async fn an_mfa_token_ends_with_the_password_a_lock_or_a_logout(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    let alice = enrolled(&app, "alice").await;
    let code = |offset| json!({ "code": code_now(&app, &alice.secret, offset) });
    // A thief holds an mfa_token (the leaked password); the owner changes it.
    let stolen = mfa_token(&app, "alice").await;
    let owner = login_with_code(&app, "alice", &code_now(&app, &alice.secret, 0)).await;
    let new_password = "a brand new passphrase";
    let body = json!({ "current_password": PASSWORD, "new_password": new_password });
    let changed = app
        .authed(
            Method::PUT,
            &format!("/auth/user/{}/password", alice.id),
            &owner.access_token,
            Some(body),
        )
        .await;
    assert_eq!(changed.status(), 204);
    let late = second_step(&app, &stolen, code(1)).await;
    assert_eq!(
        problem(late, 401).await["type"],
        INVALID,
        "after a password change"
    );
    // An administrator's lock (then unlock) and logout end pending ones too.
    for (action, undo) in [("lock", Some("unlock")), ("logout", None)] {
        app.clock.advance(chrono::Duration::seconds(90));
        let answer = app.login("alice", new_password).await;
        let body: Value = answer.json().await.unwrap();
        let stolen = body["mfa_token"].as_str().unwrap().to_string();
        let path = format!("/admin/users/{}/{action}", alice.id);
        assert!(admin(&app, Method::POST, &path, None)
            .await
            .status()
            .is_success());
        if let Some(undo) = undo {
            let path = format!("/admin/users/{}/{undo}", alice.id);
            assert!(admin(&app, Method::POST, &path, None)
                .await
                .status()
                .is_success());
        }
        let late = second_step(&app, &stolen, code(0)).await;
        assert_eq!(problem(late, 401).await["type"], INVALID, "after {action}");
    }
}

async fn a_stale_enrolment_token_enrols_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        with_admin(c);
        c.mfa.policy = authd::authn::MfaPolicy::Required;
    })
    .await;
    let id = app.create_user("dave").await;
    // The thief's password step: enrol first.
    let answer: Value = app.login("dave", PASSWORD).await.json().await.unwrap();
    assert_eq!(answer["step"], "enrol");
    let stolen = answer["mfa_token"].as_str().unwrap().to_string();
    let path = format!("/admin/users/{id}/lock");
    assert!(admin(&app, Method::POST, &path, None)
        .await
        .status()
        .is_success());
    let enrol = app
        .post_json("/auth/mfa/totp", &json!({ "mfa_token": stolen }))
        .await;
    assert_eq!(problem(enrol, 401).await["type"], INVALID);
    let factors: i64 = app.scalar("SELECT COUNT(*) FROM mfa_factors").await;
    assert_eq!(factors, 0, "no authenticator of the thief's");
}

async fn an_mfa_token_works_only_for_the_client_it_was_given_to(backend: Backend) {
    let app = TestApp::spawn_with(backend, behind_proxy).await;
    let bob = enrolled(&app, "bob").await;
    let token = token_from(&app, "203.0.113.7", "VictimBrowser/1.0", "bob").await;
    let right = || json!({ "code": code_now(&app, &bob.secret, 0) });
    for (client, agent) in [
        ("198.51.100.66", "VictimBrowser/1.0"),
        ("203.0.113.7", "EvilAgent/6.6"),
    ] {
        let stolen = second_from(&app, client, agent, &token, right())
            .send()
            .await
            .unwrap();
        assert_eq!(
            problem(stolen, 401).await["type"],
            INVALID,
            "from {client} as {agent}"
        );
    }
    let own = second_from(&app, "203.0.113.7", "VictimBrowser/1.0", &token, right())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200, "its own client still finishes it");
    let sessions: i64 = app
        .scalar("SELECT COUNT(*) FROM refresh_families WHERE client_address = '203.0.113.7'")
        .await;
    assert_eq!(sessions, 1);
}

async fn guessing_codes_is_bounded_in_total_and_spares_the_owners_recovery(backend: Backend) {
    let app = TestApp::spawn_with(backend, behind_proxy).await;
    let carol = enrolled(&app, "carol").await;
    // Someone with the password guesses slowly, from a new address each time,
    // each round after the throttle's window has forgotten the last.
    let mut guesses = 0;
    let blocked = 'guessing: loop {
        for round in 0.. {
            app.clock.advance(chrono::Duration::seconds(901));
            let client = format!("198.51.100.{round}");
            let token = token_from(&app, &client, "guesser", "carol").await;
            for _ in 0..3 {
                let wrong = json!({ "code": code_now(&app, &carol.secret, 9) });
                let answer = second_from(&app, &client, "guesser", &token, wrong)
                    .send()
                    .await
                    .unwrap();
                match answer.status().as_u16() {
                    401 => guesses += 1,
                    409 => break 'guessing problem(answer, 409).await,
                    other => panic!("round {round}: {other}"),
                }
                assert!(
                    guesses <= 20,
                    "guessing goes on past 20 wrong codes in a row"
                );
            }
        }
    };
    assert_eq!(guesses, 20);
    assert_eq!(
        blocked["type"], "urn:authd:problem:factor-state",
        "{blocked}"
    );
    // The authenticator is blocked, even for its owner at home ...
    let token = token_from(&app, "203.0.113.5", "owner", "carol").await;
    let right = json!({ "code": code_now(&app, &carol.secret, 0) });
    let refused = second_from(&app, "203.0.113.5", "owner", &token, right)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    // ... whose recovery code is not held back by the guessing, and frees it.
    let recovery = json!({ "recovery_code": carol.recovery_codes[0] });
    let rescued = second_from(&app, "203.0.113.5", "owner", &token, recovery)
        .send()
        .await
        .unwrap();
    assert_eq!(rescued.status(), 200);
    app.clock.advance(chrono::Duration::seconds(30));
    let token = token_from(&app, "203.0.113.5", "owner", "carol").await;
    let right = json!({ "code": code_now(&app, &carol.secret, 0) });
    let freed = second_from(&app, "203.0.113.5", "owner", &token, right)
        .send()
        .await
        .unwrap();
    assert_eq!(freed.status(), 200, "the authenticator works again");
}

async fn parallel_codes_on_one_mfa_token_are_checked_one_at_a_time(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.throttle.account_failures = 1000;
        c.throttle.client_failures = 1000;
        c.throttle.base_lockout = Duration::from_millis(1);
    })
    .await;
    let erin = enrolled(&app, "erin").await;
    // 30 wrong codes at once on one token: at most three are checked.
    let token = mfa_token(&app, "erin").await;
    let wrong = || {
        let body = json!({ "mfa_token": token, "code": code_now(&app, &erin.secret, 9) });
        app.client.post(app.url("/auth/login/mfa")).json(&body)
    };
    let statuses = at_once((0..30).map(|_| wrong())).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    // Each wrong code checked stays counted in the user's counter from this client.
    let wrong_codes: i64 = app
        .scalar("SELECT CAST(failures AS BIGINT) FROM login_throttle WHERE key LIKE 'otp:%@%'")
        .await;
    assert!(
        wrong_codes <= 3,
        "{wrong_codes} codes checked: {statuses:?} ({checked} answered 401)"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429)),
        "{statuses:?}"
    );
    // Four recovery codes at once on one token: one logs in, one code is spent.
    let token = mfa_token(&app, "erin").await;
    let codes = erin.recovery_codes.clone();
    let statuses = at_once(codes[..4].iter().map(|code| {
        let body = json!({ "mfa_token": token, "recovery_code": code });
        app.client.post(app.url("/auth/login/mfa")).json(&body)
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let left: i64 = app.scalar("SELECT COUNT(*) FROM recovery_codes").await;
    assert_eq!(
        left, 9,
        "only the code that logged in is spent: {statuses:?}"
    );
}

async fn a_malformed_code_at_reauthentication_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("frank").await;
    let token = app.tokens("frank", PASSWORD).await.access_token;
    for code in [json!([]), json!(123456), json!({ "x": 1 })] {
        let body = json!({ "password": PASSWORD, "code": code });
        let answer = app
            .authed(Method::POST, "/auth/reauthenticate", &token, Some(body))
            .await;
        let problem = problem(answer, 422).await;
        assert_eq!(problem["errors"][0]["field"], "code", "{problem}");
    }
}
