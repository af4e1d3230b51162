//! Locking a user takes effect at once on every replica; unlocking lets the user
//! back in.

use reqwest::Method;

use super::{admin, admin_app, ok_json};
use crate::helpers::{problem, Backend, PASSWORD};

/// Lock on one replica: login and refresh stop at once on the other, every
/// session ends, older access tokens are void; unlock lets the user back in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_blocks_login_and_refresh_at_once_on_every_replica() {
    let a = admin_app(Backend::Postgres).await;
    let b = a.replica(|_| {}).await;
    let id = a.create_user("locked").await;
    let t = b.tokens("locked", PASSWORD).await;
    let path = format!("/admin/users/{id}/lock");
    let locked = ok_json(admin(&a, Method::POST, &path, None).await, 200).await;
    assert!(locked["locked_at"].is_string());
    let refused = problem(b.login("locked", PASSWORD).await, 403).await;
    assert_eq!(refused["type"], "urn:authd:problem:account-locked");
    // A wrong password still gets the plain 401: the lock is not revealed to guessers.
    problem(b.login("locked", "wrong password!").await, 401).await;
    problem(b.refresh(&t.refresh_token).await, 401).await;
    problem(b.me(&t.access_token).await, 401).await;
    // Again: unchanged, no second event.
    ok_json(admin(&a, Method::POST, &path, None).await, 200).await;
    let types: Vec<String> = a
        .events_of(&id)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "authd.user.created",
            "authd.session.revoked",
            "authd.user.locked"
        ]
    );
    let event = a.events_of(&id).await.pop().unwrap();
    assert_eq!(event["authdactor"], "admin:ops");

    let unlocked = ok_json(
        admin(&a, Method::POST, &format!("/admin/users/{id}/unlock"), None).await,
        200,
    )
    .await;
    assert!(unlocked["locked_at"].is_null());
    let fresh = b.tokens("locked", PASSWORD).await;
    assert_eq!(b.me(&fresh.access_token).await.status().as_u16(), 200);
    problem(b.me(&t.access_token).await, 401).await;
    assert_eq!(
        a.events_of(&id).await.pop().unwrap()["type"],
        "authd.user.unlocked"
    );
}
