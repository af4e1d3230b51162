//! Idempotency-Key: a retry gets the first answer, never a second user or a
//! confusing 409; a key reused for another request is refused; a key whose request
//! is still running says so; every replica sees the same keys.

use std::time::Duration;

use authd::hashing::HashParams;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{problem, sign_up_body, Backend, TestApp, PASSWORD};

both_stores!(
    a_retry_with_the_same_key_gets_the_first_answer_and_nothing_is_done_twice,
    the_same_key_with_another_body_is_422_and_a_bad_key_400,
    a_repeat_while_the_first_runs_is_409_then_gets_the_answer,
    a_server_error_releases_the_key_so_a_retry_does_the_work,
    a_key_whose_lease_ran_out_unfinished_is_taken_over,
    a_release_after_an_ambiguous_commit_keeps_the_answer,
);

async fn post_keyed(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/auth/user"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

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

async fn a_repeat_while_the_first_runs_is_409_then_gets_the_answer(backend: Backend) {
    // One hashing thread at ~100 ms a hash, three sign-ups queued ahead: the keyed
    // one is still waiting for the pool when its repeat arrives.
    let slow = HashParams {
        iterations: 10,
        ..HashParams::OWASP
    };
    let app = TestApp::spawn_with(backend, |c| {
        c.hash = slow;
        c.hash_pool.workers = 1;
    })
    .await;
    let mut ahead = tokio::task::JoinSet::new();
    for i in 0..3 {
        let (client, url) = (app.client.clone(), app.url("/auth/user"));
        ahead.spawn(async move {
            client
                .post(url)
                .json(&sign_up_body(&format!("ahead{i}")))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let first = {
        let (client, url) = (app.client.clone(), app.url("/auth/user"));
        tokio::spawn(async move {
            client
                .post(url)
                .header("idempotency-key", "slow")
                .json(&sign_up_body("slow"))
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy = post_keyed(&app, "slow", &sign_up_body("slow")).await;
    assert_eq!(busy.headers()["retry-after"], "1");
    let busy = problem(busy, 409).await;
    assert_eq!(
        busy["type"],
        "urn:authd:problem:idempotency-key-in-progress"
    );
    let first = first.await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    ahead.join_all().await;
    let later = post_keyed(&app, "slow", &sign_up_body("slow")).await;
    assert_eq!(later.status().as_u16(), 201);
    assert_eq!(later.json::<Value>().await.unwrap(), first);
    assert_eq!(app.users().await, 4);
}

async fn a_server_error_releases_the_key_so_a_retry_does_the_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The outbox is gone: the sign-up's transaction fails (500) and writes nothing.
    app.execute("ALTER TABLE outbox RENAME TO outbox_away")
        .await;
    let failed = post_keyed(&app, "retry-me", &sign_up_body("retried")).await;
    assert_eq!(failed.status().as_u16(), 500);
    app.execute("ALTER TABLE outbox_away RENAME TO outbox")
        .await;
    let retried = post_keyed(&app, "retry-me", &sign_up_body("retried")).await;
    assert_eq!(retried.status().as_u16(), 201, "the key was released");
    assert!(retried.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.users().await, 1);
}

async fn a_key_whose_lease_ran_out_unfinished_is_taken_over(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = post_keyed(&app, "orphan", &sign_up_body("orphan")).await;
    assert_eq!(first.status().as_u16(), 201);
    // As if the replica that claimed the key had been killed before it did the
    // work: no user, the key unfinished and leased to a claim that will never end.
    app.execute("DELETE FROM outbox").await;
    app.execute("DELETE FROM users").await;
    app.execute(
        "UPDATE idempotency_keys SET status = NULL, response_headers = NULL, \
         response_body = NULL, claim = 'killed', lease_until = '2999-01-01T00:00:00.000000Z'",
    )
    .await;
    let held = post_keyed(&app, "orphan", &sign_up_body("orphan")).await;
    let held = problem(held, 409).await;
    assert_eq!(
        held["type"], "urn:authd:problem:idempotency-key-in-progress",
        "the lease still runs"
    );
    assert_eq!(app.users().await, 0);
    app.execute("UPDATE idempotency_keys SET lease_until = '2000-01-01T00:00:00.000000Z'")
        .await;
    let taken_over = post_keyed(&app, "orphan", &sign_up_body("orphan")).await;
    assert_eq!(
        taken_over.status().as_u16(),
        201,
        "the lease ran out: the work is done"
    );
    assert!(taken_over.headers().get("idempotent-replayed").is_none());
    let replayed = post_keyed(&app, "orphan", &sign_up_body("orphan")).await;
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(app.users().await, 1);
}

/// A sign-up keeps its answer in its own transaction. When the commit succeeds but
/// the replica sees an error (the database went away at that moment), it answers
/// 503 and releases the key: the release must leave the kept answer, so that the
/// client's retry is replayed its 201 instead of redoing the sign-up (409 "taken"
/// for its own user, as a Postgres restart under load once showed in CI).
async fn a_release_after_an_ambiguous_commit_keeps_the_answer(backend: Backend) {
    use authd::clock::Clock;
    use authd::store::{Claimed, KeyLease, Store};
    let app = TestApp::spawn(backend).await;
    let store = Store::connect(&app.store_config, 1).await.unwrap();
    let now = app.clock.now();
    let lease = KeyLease {
        claim: "first".into(),
        until: now + chrono::Duration::seconds(15),
    };
    let claim = |lease| {
        let store = store.clone();
        async move {
            store
                .claim_idempotency_key(
                    ("client", "k"),
                    b"fp",
                    now,
                    now + chrono::Duration::hours(24),
                    &lease,
                    1_000,
                )
                .await
                .unwrap()
        }
    };
    assert!(matches!(claim(lease.clone()).await, Claimed::Started));
    // What the sign-up's transaction wrote before the connection broke.
    app.execute("UPDATE idempotency_keys SET status = 201, response_headers = '[]'")
        .await;
    store
        .release_idempotency_key("client", "k", "first")
        .await
        .unwrap();
    let retry = KeyLease {
        claim: "retry".into(),
        ..lease.clone()
    };
    match claim(retry).await {
        Claimed::Done(answer) => assert_eq!(answer.status, 201),
        other => panic!("the kept answer was released: {other:?}"),
    }
    // A key without an answer is released as before.
    app.execute("DELETE FROM idempotency_keys").await;
    assert!(matches!(claim(lease.clone()).await, Claimed::Started));
    store
        .release_idempotency_key("client", "k", "first")
        .await
        .unwrap();
    assert_eq!(app.scalar("SELECT COUNT(*) FROM idempotency_keys").await, 0);
    store.close().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_answer_is_replayed_only_to_the_same_bearer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let id = app.create_user("owner").await;
    let login = |name: &'static str| {
        let app = &app;
        async move {
            let tokens: crate::helpers::Tokens =
                app.login(name, PASSWORD).await.json().await.unwrap();
            tokens.access_token
        }
    };
    let token = login("owner").await;
    app.create_user("other").await;
    let other = login("other").await;
    let patch = |token: Option<String>| {
        let mut request = app
            .client
            .patch(app.url(&format!("/auth/user/{id}")))
            .header("idempotency-key", "profile")
            .json(&json!({ "email": "owner2@example.com" }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(
        patch(Some(token.clone())).await.unwrap().status().as_u16(),
        200
    );
    let replayed = patch(Some(token)).await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    // No token: the route's own 401, not a replay nor a key error.
    problem(patch(None).await.unwrap(), 401).await;
    // Another token with the same key and body is another request.
    let stolen = problem(patch(Some(other)).await.unwrap(), 422).await;
    assert_eq!(stolen["type"], "urn:authd:problem:idempotency-key-reused");
}
