//! A repeat gets the first answer, on any replica; the same key with another
//! request is refused.

use serde_json::Value;

use super::post_keyed;
use crate::both_stores;
use crate::helpers::{problem, sign_up_body, Backend, TestApp};

both_stores!(
    a_retry_with_the_same_key_gets_the_first_answer_and_nothing_is_done_twice,
    the_same_key_with_another_body_is_422_and_a_bad_key_400,
);

async fn a_retry_with_the_same_key_gets_the_first_answer_and_nothing_is_done_twice(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let first = post_keyed(&app, "key-1", &sign_up_body("once")).await;
    assert_eq!(first.status().as_u16(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    let again = post_keyed(&app, "key-1", &sign_up_body("once")).await;
    assert_eq!(
        again.status().as_u16(),
        201,
        "not a 409 for its own first attempt"
    );
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(
        (app.users().await, app.outbox().await),
        (1, 1),
        "one user, one event"
    );
    // Without a key the same body is a new request: 409, as before.
    problem(
        app.post_json("/auth/user", &sign_up_body("once")).await,
        409,
    )
    .await;
    // A refusal changed nothing, so nothing is kept: a retry is refused again, as
    // its own answer (a client cannot fill the table with keys that did nothing).
    let taken = post_keyed(&app, "key-2", &sign_up_body("once")).await;
    assert_eq!(taken.status().as_u16(), 409);
    let again = post_keyed(&app, "key-2", &sign_up_body("once")).await;
    assert!(again.headers().get("idempotent-replayed").is_none());
    problem(again, 409).await;
    assert_eq!(app.scalar("SELECT COUNT(*) FROM idempotency_keys").await, 1);
}

async fn the_same_key_with_another_body_is_422_and_a_bad_key_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        post_keyed(&app, "k", &sign_up_body("first"))
            .await
            .status()
            .as_u16(),
        201
    );
    let other = problem(post_keyed(&app, "k", &sign_up_body("second")).await, 422).await;
    assert_eq!(other["type"], "urn:authd:problem:idempotency-key-reused");
    let long = "k".repeat(256);
    let bad = problem(post_keyed(&app, &long, &sign_up_body("third")).await, 400).await;
    assert_eq!(bad["type"], "urn:authd:problem:invalid-header");
    assert_eq!(
        app.users().await,
        1,
        "neither refused request wrote anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_answered_by_one_replica_is_replayed_by_another() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.replica(|_| {}).await;
    let first = post_keyed(&a, "shared", &sign_up_body("shared")).await;
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    let again = post_keyed(&b, "shared", &sign_up_body("shared")).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(a.users().await, 1);
}
