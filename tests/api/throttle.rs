//! Failed-login throttling: 429 with Retry-After, counted per account and per
//! client address, in the shared store (so across replicas).

use chrono::Duration;
use serde_json::json;

use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};

both_stores!(
    a_failed_login_threshold_gives_429_with_growing_retry_after,
    a_success_resets_the_account_count_from_its_address_and_never_the_address_count,
    forwarded_for_counts_only_behind_a_trusted_proxy,
);

async fn a_failed_login_threshold_gives_429_with_growing_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.throttle.account_failures = 3;
        c.throttle.base_lockout = std::time::Duration::from_secs(10);
    })
    .await;
    app.create_user("grace").await;
    for _ in 0..3 {
        problem(app.login("grace", "wrong password").await, 401).await;
    }
    // Locked: even the right password is refused until the lock ends.
    let locked = app.login("grace", PASSWORD).await;
    assert_eq!(locked.headers()["retry-after"], "10");
    let body = problem(locked, 429).await;
    assert_eq!(body["type"], "urn:authd:problem:too-many-attempts");
    app.clock.advance(Duration::seconds(10));
    problem(app.login("grace", "wrong password").await, 401).await;
    let longer = app.login("grace", "wrong password").await;
    assert_eq!(longer.headers()["retry-after"], "20", "the lock doubles");
    app.clock.advance(Duration::seconds(20));
    // A success resets the account's count.
    app.tokens("grace", PASSWORD).await;
    for _ in 0..2 {
        problem(app.login("grace", "wrong password").await, 401).await;
    }
    // Unknown logins are throttled alike, so a 429 does not reveal an account.
    for _ in 0..3 {
        problem(app.login("nobody", "wrong password").await, 401).await;
    }
    problem(app.login("nobody", "wrong password").await, 429).await;
}

async fn a_success_resets_the_account_count_from_its_address_and_never_the_address_count(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |c| {
        c.throttle.account_failures = 3;
        c.throttle.client_failures = 5;
    })
    .await;
    app.create_user("heidi").await;
    let failures = |key: &'static str| {
        let app = &app;
        async move {
            app.text(
                "SELECT CAST(failures AS TEXT) FROM login_throttle WHERE key = $1",
                key,
            )
            .await
        }
    };
    for _ in 0..2 {
        problem(app.login("heidi", "wrong password").await, 401).await;
    }
    app.tokens("heidi", PASSWORD).await;
    // The address keeps its two failures: the owner's own login must not wipe
    // what a guesser at the same address did.
    assert_eq!(failures("client:127.0.0.1").await.as_deref(), Some("2"));
    // The account from this address starts again: two more failures stay under
    // its threshold of 3 (without the reset, the third would lock it).
    for _ in 0..2 {
        problem(app.login("heidi", "wrong password").await, 401).await;
    }
    // The address's fifth failure locks the address: even heidi's right password
    // is refused from it now.
    problem(app.login("nobody", "wrong password").await, 401).await;
    let locked = app.login("heidi", PASSWORD).await;
    assert!(locked.headers().contains_key("retry-after"));
    let body = problem(locked, 429).await;
    assert_eq!(body["type"], "urn:authd:problem:too-many-attempts");
}

async fn forwarded_for_counts_only_behind_a_trusted_proxy(backend: Backend) {
    let trusted = TestApp::spawn_with(backend, |c| {
        c.throttle.client_failures = 3;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let untrusted = trusted.replica(|c| c.throttle.client_failures = 3).await;
    let attempt = |app: &TestApp, login: String, xff: &'static str| {
        let request = app
            .client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", xff)
            .json(&json!({ "login": login, "password": "wrong password" }));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for i in 0..3 {
        assert_eq!(
            attempt(&trusted, format!("u{i}"), "198.51.100.1").await,
            401
        );
    }
    assert_eq!(attempt(&trusted, "u9".into(), "198.51.100.1").await, 429);
    assert_eq!(
        attempt(&trusted, "u9".into(), "198.51.100.2").await,
        401,
        "another client"
    );
    // Without a trusted proxy the header is ignored: the peer (127.0.0.1) counts,
    // whatever address each request claims.
    for (i, xff) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(attempt(&untrusted, format!("v{i}"), xff).await, 401);
    }
    assert_eq!(attempt(&untrusted, "v9".into(), "203.0.113.4").await, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_spread_over_two_replicas_are_counted_together() {
    let a = TestApp::spawn_with(Backend::Postgres, |c| c.throttle.account_failures = 4).await;
    let b = a.replica(|c| c.throttle.account_failures = 4).await;
    a.create_user("judy").await;
    for app in [&a, &b, &a, &b] {
        problem(app.login("judy", "wrong password").await, 401).await;
    }
    problem(a.login("judy", PASSWORD).await, 429).await;
    problem(b.login("judy", PASSWORD).await, 429).await;
    a.clock.advance(Duration::seconds(1));
    b.tokens("judy", PASSWORD).await;
}
