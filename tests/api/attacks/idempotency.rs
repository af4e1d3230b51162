//! Attack 5: Idempotency-Keys without bound. 1,500 keyed logouts with a junk token,
//! without authentication, left 1,500 stored keys; so did refusals (422).

use authd::clock::Clock;
use serde_json::json;

use crate::both_stores;
use crate::helpers::{sign_up_body, Backend, TestApp};

both_stores!(ten_thousand_keyed_requests_that_do_nothing_keep_no_key);

async fn ten_thousand_keyed_requests_that_do_nothing_keep_no_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let keyed = |key: String, path: &'static str, body: serde_json::Value| {
        app.client
            .post(app.url(path))
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    // Sent 50 at a time, as a client with a pool of connections would.
    for batch in 0..200 {
        let sent: Vec<_> = (0..50)
            .map(|i| {
                let junk = json!({ "refresh_token": format!("junk-{batch}-{i}") });
                keyed(format!("logout-{batch}-{i}"), "/auth/logout", junk)
            })
            .collect();
        for response in sent {
            assert_eq!(response.await.unwrap().status(), 204);
        }
    }
    for i in 0..200 {
        let refused = keyed(format!("bad-{i}"), "/auth/user", json!({ "username": "x" }));
        assert_eq!(refused.await.unwrap().status(), 422);
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM idempotency_keys").await, 0);
    // What does work is kept, once: a retry of a sign-up is replayed.
    let signed_up = keyed("real".into(), "/auth/user", sign_up_body("kept"));
    assert_eq!(signed_up.await.unwrap().status(), 201);
    let again = keyed("real".into(), "/auth/user", sign_up_body("kept"))
        .await
        .unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM idempotency_keys").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_in_flight_and_kept_are_bounded() {
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.idempotency.max_running_per_client = 2;
        c.idempotency.max_keys = 3;
    })
    .await;
    // Two keyed requests of this client still running (say, on a hung replica).
    app.execute(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at, expires_at, claim, lease_until) \
         SELECT '127.0.0.1', 'running-' || n, 'x', now(), now() + interval '1 day', 'c', now() + interval '1 hour' \
         FROM generate_series(1, 2) AS n",
    )
    .await;
    let busy = app
        .client
        .post(app.url("/auth/user"))
        .header("idempotency-key", "third")
        .json(&sign_up_body("busy"))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.headers()["retry-after"], "1");
    let body = crate::helpers::problem(busy, 429).await;
    assert_eq!(body["type"], "urn:authd:problem:idempotency-keys-in-flight");
    app.execute("DELETE FROM idempotency_keys").await;
    for i in 0..5 {
        let response = app
            .client
            .post(app.url("/auth/user"))
            .header("idempotency-key", format!("k{i}"))
            .json(&sign_up_body(&format!("kept{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM idempotency_keys").await, 5);
    // A request still running, its key the oldest of all: the prune keeps it (the
    // hourly prune, racing a sign-up, made that sign-up answer 409 with nobody
    // else holding its key).
    app.execute(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at, expires_at, claim, lease_until) \
         VALUES ('127.0.0.1', 'running', 'x', now(), now() - interval '1 hour' + interval '1 day', 'c', now() + interval '1 hour')",
    )
    .await;
    let window = app.state.throttle.window.as_millis() as i64;
    app.state
        .store
        .prune(app.clock.now(), window)
        .await
        .unwrap();
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM idempotency_keys WHERE status IS NOT NULL")
            .await,
        3,
        "the cap"
    );
    let running = "SELECT COUNT(*) FROM idempotency_keys WHERE key = 'running'";
    assert_eq!(
        app.scalar(running).await,
        1,
        "a running request's key stays"
    );
}
