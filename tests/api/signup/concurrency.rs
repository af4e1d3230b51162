//! Many sign-ups at once: one email, one winner; a full hashing queue answers 503
//! with Retry-After, never a timeout; a shutdown finishes the sign-up in flight.

use std::time::Duration;

use authd::hashing::HashParams;
use serde_json::json;

use super::SIGN_UP_PASSWORD;
use crate::both_stores;
use crate::helpers::{unique, Backend, TestApp};

/// OWASP memory with ten passes: ~100 ms a hash, long enough to overlap requests.
const SLOW_HASH: HashParams = HashParams {
    iterations: 10,
    ..HashParams::OWASP
};

both_stores!(
    concurrent_sign_ups_for_one_email_give_exactly_one_201,
    a_full_hashing_queue_answers_503_with_retry_after_and_no_timeouts,
    shutdown_drains_a_sign_up_in_flight,
);

async fn concurrent_sign_ups_for_one_email_give_exactly_one_201(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let client = app.client.clone();
        let url = app.url("/auth/user");
        tasks.spawn(async move {
            let body = json!({ "username": format!("racer{i}"), "email": "race@example.com", "password": SIGN_UP_PASSWORD });
            client.post(url).json(&body).send().await.unwrap().status().as_u16()
        });
    }
    let mut statuses = tasks.join_all().await;
    statuses.sort();
    assert_eq!(statuses[0], 201);
    assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");
    assert_eq!((app.users().await, app.outbox().await), (1, 1));
}

async fn a_full_hashing_queue_answers_503_with_retry_after_and_no_timeouts(backend: Backend) {
    // One worker, one waiting slot, ~100 ms a hash: 24 at once must overflow.
    let app = TestApp::spawn_with(backend, |c| {
        c.hash = SLOW_HASH;
        c.hash_pool.workers = 1;
        c.hash_pool.queue_bound = Some(1);
    })
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let client = app.client.clone();
        let url = app.url("/auth/user");
        tasks.spawn(async move {
            let body = json!({ "username": format!("load{i}"), "email": format!("load{i}@example.com"), "password": SIGN_UP_PASSWORD });
            // reqwest's 60 s timeout would surface here as an error: none is allowed.
            let response = client.post(url).json(&body).send().await.expect("no timeout, no transport error");
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            (response.status().as_u16(), retry_after)
        });
    }
    let results = tasks.join_all().await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let refused: Vec<_> = results.iter().filter(|(s, _)| *s == 503).collect();
    assert!(created >= 1, "{results:?}");
    assert!(!refused.is_empty(), "{results:?}");
    assert_eq!(created + refused.len(), 24, "only 201 and 503: {results:?}");
    assert!(refused.iter().all(|(_, r)| r.as_deref() == Some("1")));
    assert_eq!(
        app.users().await,
        created as i64,
        "a refused sign-up wrote nothing"
    );
    assert_eq!(app.outbox().await, created as i64);
}

async fn shutdown_drains_a_sign_up_in_flight(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, |c| c.hash = SLOW_HASH).await;
    let client = app.client.clone();
    let url = app.url("/auth/user");
    let in_flight = tokio::spawn(async move {
        let body = json!({ "username": "drain", "email": "drain@example.com", "password": SIGN_UP_PASSWORD });
        client
            .post(url)
            .json(&body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    // stop only once the request is inside the server, hashing
    while app.state.hasher.pending() == 0 {
        assert!(
            !in_flight.is_finished(),
            "the request ended before it was hashed"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    app.stop().await.unwrap();
    assert_eq!(in_flight.await.unwrap().unwrap(), 201);
    assert_eq!(app.users().await, 1);
    let name = unique("after");
    assert!(
        app.client
            .post(app.url("/auth/user"))
            .json(
                &json!({ "username": name, "email": "x@example.com", "password": SIGN_UP_PASSWORD })
            )
            .send()
            .await
            .is_err(),
        "a stopped server accepts nothing"
    );
}
