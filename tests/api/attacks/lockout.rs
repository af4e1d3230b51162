//! The second review's lock-outs and oracles: guessing spread over many addresses
//! locked the owner out of their own password-confirmed changes (the check always
//! counted the account's total); five forgot requests from five addresses locked
//! the owner's own forgot and resend; and after five wrong logins as `alice`, the
//! 429 told which candidate email was hers.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{behind_proxy, login_from};
use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};

both_stores!(
    guessing_from_many_addresses_does_not_lock_the_owners_confirmed_changes,
    strangers_cannot_lock_the_owners_forgot,
    a_lock_does_not_tell_which_email_is_the_users,
);

async fn guessing_from_many_addresses_does_not_lock_the_owners_confirmed_changes(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        behind_proxy(c);
        c.throttle.account_failures = 3;
        c.throttle.account_total_failures = 10;
        c.throttle.base_lockout = Duration::from_secs(60);
    })
    .await;
    let id = app.create_user("owner").await;
    let login = json!({ "login": "owner", "password": PASSWORD });
    let sent = app
        .client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", "203.0.113.5");
    let tokens: crate::helpers::Tokens = sent
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for i in 0..12 {
        let status = login_from(&app, &format!("198.51.100.{}", 10 + i), "owner", "guess").await;
        assert!(matches!(status, 401 | 429), "{status}");
    }
    // The account's total is locked for new addresses ...
    assert_eq!(
        login_from(&app, "192.0.2.200", "owner", PASSWORD).await,
        429
    );
    // ... but the owner, at home, still changes the password with it.
    let body = json!({ "current_password": PASSWORD, "new_password": "a new long passphrase" });
    let changed = app
        .client
        .request(Method::PUT, app.url(&format!("/auth/user/{id}/password")))
        .header("x-forwarded-for", "203.0.113.5")
        .bearer_auth(&tokens.access_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
}

async fn strangers_cannot_lock_the_owners_forgot(backend: Backend) {
    let app = TestApp::spawn_with(backend, behind_proxy).await;
    app.create_user("victim").await;
    let forgot = |client: String| {
        app.client
            .post(app.url("/auth/password/forgot"))
            .header("x-forwarded-for", client)
            .json(&json!({ "email": "victim@example.com" }))
            .send()
    };
    for i in 0..5 {
        assert_eq!(
            forgot(format!("198.51.100.{i}")).await.unwrap().status(),
            202
        );
    }
    assert_eq!(
        forgot("203.0.113.5".into()).await.unwrap().status(),
        202,
        "the owner's own request goes through"
    );
    // The address itself is bounded (four times the per-client limit): mail
    // bombing it takes many addresses and still ends.
    let mut statuses = Vec::new();
    for i in 0..20 {
        statuses.push(
            forgot(format!("192.0.2.{i}"))
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

async fn a_lock_does_not_tell_which_email_is_the_users(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        behind_proxy(c);
        c.throttle.account_failures = 5;
    })
    .await;
    app.create_user("alice").await;
    for _ in 0..5 {
        assert_eq!(
            login_from(&app, "198.51.100.3", "alice", "guess").await,
            401
        );
    }
    assert_eq!(
        login_from(&app, "198.51.100.3", "alice", "guess").await,
        429
    );
    // Candidate emails from the same address: hers answers as the others do.
    for candidate in ["alice@example.org", "alice@example.com", "alice@gmail.com"] {
        let status = login_from(&app, "198.51.100.3", candidate, "guess").await;
        assert_eq!(status, 401, "{candidate}");
    }
    let refused = app
        .client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", "198.51.100.3")
        .json(&json!({ "login": "alice", "password": "guess" }))
        .send()
        .await
        .unwrap();
    problem(refused, 429).await;
}
