//! A code is accepted once: a code one step old is still good, three steps old is
//! not, the same code twice is refused (Kratos and better-auth keep no record),
//! and the same code sent to two replicas at the same instant logs in once.
//! Recovery codes are single use too, and regenerating them voids the old set.

use reqwest::Method;
use serde_json::{json, Value};

use super::{code_now, enrolled, login_with_code, mfa_token, second_step};
use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, Tokens};

both_stores!(
    a_code_is_good_within_the_window_and_only_once,
    recovery_codes_are_single_use_and_regenerating_voids_them,
);

async fn a_code_is_good_within_the_window_and_only_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = enrolled(&app, "alice").await;
    // One step old (a phone 30 s behind): accepted.
    let old = code_now(&app, &alice.secret, -1);
    login_with_code(&app, "alice", &old).await;
    // The same code again, in a new login: refused.
    let token = mfa_token(&app, "alice").await;
    let again = second_step(&app, &token, json!({ "code": old })).await;
    assert_eq!(
        problem(again, 401).await["type"],
        "urn:authd:problem:wrong-code"
    );
    // Three steps old: outside the window.
    let stale = second_step(
        &app,
        &token,
        json!({ "code": code_now(&app, &alice.secret, -3) }),
    )
    .await;
    problem(stale, 401).await;
    // The current step's code: accepted once, then never again.
    let now = code_now(&app, &alice.secret, 0);
    assert_eq!(
        second_step(&app, &token, json!({ "code": now }))
            .await
            .status(),
        200
    );
    let token = mfa_token(&app, "alice").await;
    problem(second_step(&app, &token, json!({ "code": now })).await, 401).await;
    // A step the window still covers, but before the last accepted: refused too
    // (a code is accepted only for a later step than any before).
    problem(
        second_step(
            &app,
            &token,
            json!({ "code": code_now(&app, &alice.secret, -1) }),
        )
        .await,
        401,
    )
    .await;
}

/// Two replicas on one database, two logins, one code sent to both at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_code_on_two_replicas_at_once_logs_in_once() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.replica(|_| {}).await;
    let alice = enrolled(&a, "alice").await;
    for round in 0..5 {
        let (ta, tb) = (mfa_token(&a, "alice").await, mfa_token(&b, "alice").await);
        let code = code_now(&a, &alice.secret, 0);
        let (ra, rb) = tokio::join!(
            second_step(&a, &ta, json!({ "code": code })),
            second_step(&b, &tb, json!({ "code": code })),
        );
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 401], "round {round}");
        a.clock.advance(chrono::Duration::seconds(30));
    }
}

async fn recovery_codes_are_single_use_and_regenerating_voids_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = enrolled(&app, "alice").await;
    let first = &alice.recovery_codes[0];
    // Any spelling of a code: upper case, spaces for dashes.
    let typed = first.to_uppercase().replace('-', " ");
    let token = mfa_token(&app, "alice").await;
    let done = second_step(&app, &token, json!({ "recovery_code": typed })).await;
    assert_eq!(done.status(), 200);
    let tokens: Tokens = done.json().await.unwrap();
    let token = mfa_token(&app, "alice").await;
    let reused = second_step(&app, &token, json!({ "recovery_code": first })).await;
    assert_eq!(
        problem(reused, 401).await["type"],
        "urn:authd:problem:wrong-code"
    );
    let status: Value = app
        .authed(Method::GET, "/auth/mfa", &tokens.access_token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["recovery_codes_left"], 9);
    let types: Vec<Value> = app
        .events_of(&alice.id)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "authd.user.recovery_code_used")
            .count(),
        1
    );
    // New codes (the login was just now, with a second factor): the old set is void.
    let renewed = app
        .authed(
            Method::POST,
            "/auth/mfa/recovery-codes",
            &tokens.access_token,
            None,
        )
        .await;
    assert_eq!(renewed.status(), 200);
    let renewed: Value = renewed.json().await.unwrap();
    let fresh = renewed["recovery_codes"][0].as_str().unwrap().to_string();
    let token = mfa_token(&app, "alice").await;
    problem(
        second_step(
            &app,
            &token,
            json!({ "recovery_code": alice.recovery_codes[1] }),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(
        second_step(&app, &token, json!({ "recovery_code": fresh }))
            .await
            .status(),
        200
    );
    let types: Vec<Value> = app
        .events_of(&alice.id)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(
        types.contains(&json!("authd.user.recovery_codes_regenerated")),
        "{types:?}"
    );
}
