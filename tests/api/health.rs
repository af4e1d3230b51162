//! Health and readiness, request ids, problem answers for unknown routes, and
//! what happens around a stop and a database outage.

use std::time::{Duration, Instant};

use crate::both_stores;
use crate::helpers::{eventually, problem, Backend, TestApp, PASSWORD};

both_stores!(
    healthz_and_readyz_answer_200_when_migrated,
    readyz_is_503_when_migrations_are_missing,
    request_ids_are_kept_or_generated,
    unknown_routes_and_methods_are_problems,
);

async fn healthz_and_readyz_answer_200_when_migrated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

async fn readyz_is_503_when_migrations_are_missing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.execute("DELETE FROM _sqlx_migrations").await;
    let response = app.get("/readyz").await;
    assert_eq!(response.headers()["retry-after"], "1");
    problem(response, 503).await;
    assert_eq!(
        app.get("/healthz").await.status().as_u16(),
        200,
        "alive all the same"
    );
}

async fn request_ids_are_kept_or_generated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let kept = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "nginx-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "nginx-abc-123");
    let made = app.get("/healthz").await;
    let made = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(made.parse::<uuid::Uuid>().is_ok(), "{made}");
    let forged = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "two words")
        .send()
        .await
        .unwrap();
    assert_ne!(forged.headers()["x-request-id"], "two words");
}

async fn unknown_routes_and_methods_are_problems(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    problem(app.get("/nope").await, 404).await;
    problem(app.get("/auth/user").await, 405).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_postgres_is_down() {
    let mut app = TestApp::spawn(Backend::Postgres).await;
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
    app.pg.as_mut().unwrap().stop();
    problem(app.get("/readyz").await, 503).await;
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_replica_refuses_new_connections_and_serves_open_ones() {
    let drain = Duration::from_millis(1500);
    let mut app = TestApp::spawn_with(Backend::Sqlite, |c| c.shutdown_drain = drain).await;
    // Two clients, each holding a kept-alive connection opened before the stop.
    let (a, b) = (reqwest::Client::new(), reqwest::Client::new());
    for client in [&a, &b] {
        let ready = client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status().as_u16(), 200);
        assert!(ready.headers().get("connection").is_none());
    }
    let asked = Instant::now();
    app.request_stop();
    // A new connection is refused (a proxy retries it elsewhere), within the drain.
    let url = app.url("/healthz");
    eventually(1, "a new connection is refused once stopping", || {
        let url = url.clone();
        async move { reqwest::Client::new().get(url).send().await.is_err() }
    })
    .await;
    let ready = a.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.headers()["connection"], "close");
    problem(ready, 503).await;
    let body = serde_json::json!({
        "username": "drainer", "email": "drainer@example.com", "password": PASSWORD
    });
    let created = b
        .post(app.url("/auth/user"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status().as_u16(),
        201,
        "an open connection is still served"
    );
    assert_eq!(created.headers()["connection"], "close");
    app.stop().await.unwrap();
    assert!(asked.elapsed() >= drain, "stopped before the drain ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_down_requests_get_503_and_service_resumes_without_a_restart() {
    let mut app = TestApp::spawn(Backend::Postgres).await;
    app.create_user("before").await;
    let tokens: crate::helpers::Tokens = app.login("before", PASSWORD).await.json().await.unwrap();
    app.pg.as_mut().unwrap().stop();
    let signed_up = app.sign_up("during", "during@example.com", PASSWORD).await;
    assert_eq!(signed_up.headers()["retry-after"], "1");
    let body = problem(signed_up, 503).await;
    assert_eq!(body["type"], "urn:authd:problem:database-unavailable");
    problem(app.login("before", PASSWORD).await, 503).await;
    problem(app.me(&tokens.access_token).await, 503).await;
    problem(app.get("/readyz").await, 503).await;
    assert_eq!(
        app.get("/healthz").await.status().as_u16(),
        200,
        "alive all the same"
    );

    app.pg.as_mut().unwrap().restart().await;
    // Back within seconds, with no restart of authd. Not necessarily at the first
    // request: on a loaded machine (CI once, with builds beside it) the first
    // connection after the restart can miss the 1 s acquire timeout.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ready = app.get("/readyz").await;
        if ready.status().as_u16() == 200 {
            break;
        }
        let body = ready.text().await.unwrap_or_default();
        assert!(
            std::time::Instant::now() < deadline,
            "not ready 10 s after Postgres came back: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(app.me(&tokens.access_token).await.status().as_u16(), 200);
    let again = app.sign_up("after", "after@example.com", PASSWORD).await;
    assert_eq!(again.status().as_u16(), 201);
    assert_eq!(
        app.users().await,
        2,
        "nothing was written during the outage"
    );
}
