//! The mfa_token: single use, five minutes, bound to its user; wrong codes end it
//! and count in the shared throttle; and nothing before the password tells an
//! unknown user, a wrong password and a user with a factor apart.

use std::time::Duration;

use serde_json::json;

use super::{code_now, enrolled, mfa_token, second_step};
use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};

both_stores!(
    an_mfa_token_is_single_use_short_lived_and_bound_to_its_user,
    wrong_codes_end_the_mfa_token_and_count_in_the_throttle,
    only_the_right_password_reveals_a_second_factor,
);

async fn an_mfa_token_is_single_use_short_lived_and_bound_to_its_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = enrolled(&app, "alice").await;
    let bob = enrolled(&app, "bob").await;
    // Alice's mfa_token with Bob's code: the code is checked against Alice's factor.
    let token = mfa_token(&app, "alice").await;
    let crossed = second_step(
        &app,
        &token,
        json!({ "code": code_now(&app, &bob.secret, 0) }),
    )
    .await;
    assert_eq!(
        problem(crossed, 401).await["type"],
        "urn:authd:problem:wrong-code"
    );
    let done = second_step(
        &app,
        &token,
        json!({ "code": code_now(&app, &alice.secret, 0) }),
    )
    .await;
    assert_eq!(done.status(), 200);
    // Spent.
    app.clock.advance(chrono::Duration::seconds(30));
    let reused = second_step(
        &app,
        &token,
        json!({ "code": code_now(&app, &alice.secret, 0) }),
    )
    .await;
    assert_eq!(
        problem(reused, 401).await["type"],
        "urn:authd:problem:invalid-mfa-token"
    );
    // Five minutes, no more.
    let token = mfa_token(&app, "alice").await;
    app.clock.advance(chrono::Duration::seconds(301));
    let late = second_step(
        &app,
        &token,
        json!({ "code": code_now(&app, &alice.secret, 0) }),
    )
    .await;
    assert_eq!(
        problem(late, 401).await["type"],
        "urn:authd:problem:invalid-mfa-token"
    );
    // Not a token at all.
    problem(
        second_step(&app, "made-up", json!({ "code": "123456" })).await,
        401,
    )
    .await;
    let both = second_step(
        &app,
        &token,
        json!({ "code": "123456", "recovery_code": "x" }),
    )
    .await;
    problem(both, 422).await;
}

async fn wrong_codes_end_the_mfa_token_and_count_in_the_throttle(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.throttle.account_failures = 4;
        c.throttle.base_lockout = Duration::from_secs(60);
    })
    .await;
    let alice = enrolled(&app, "alice").await;
    let wrong = || json!({ "code": code_now(&app, &alice.secret, 7) });
    let right = || json!({ "code": code_now(&app, &alice.secret, 0) });
    let token = mfa_token(&app, "alice").await;
    for i in 0..2 {
        let body = problem(second_step(&app, &token, wrong()).await, 401).await;
        assert!(
            !body["detail"].as_str().unwrap().contains("ended"),
            "{i}: {body}"
        );
    }
    let third = problem(second_step(&app, &token, wrong()).await, 401).await;
    assert!(
        third["detail"].as_str().unwrap().contains("ended"),
        "{third}"
    );
    let after = problem(second_step(&app, &token, right()).await, 401).await;
    assert_eq!(
        after["type"], "urn:authd:problem:invalid-mfa-token",
        "three wrong codes end it"
    );
    // A new login: the fourth wrong code locks the user's codes from this client,
    // and then even the right one waits.
    let token = mfa_token(&app, "alice").await;
    problem(second_step(&app, &token, wrong()).await, 401).await;
    let locked = second_step(&app, &token, right()).await;
    let retry = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        problem(locked, 429).await["type"],
        "urn:authd:problem:too-many-attempts"
    );
    assert_eq!(retry, "60");
}

async fn only_the_right_password_reveals_a_second_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    enrolled(&app, "alice").await;
    app.create_user("bob").await;
    let mut bodies = Vec::new();
    for login in ["alice", "bob", "nobody"] {
        let answer = problem(app.login(login, "a wrong password").await, 401).await;
        bodies.push(answer);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let with_factor: serde_json::Value = app.login("alice", PASSWORD).await.json().await.unwrap();
    assert_eq!(with_factor["mfa_required"], true);
}
