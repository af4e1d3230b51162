//! Operability: the metrics move when they should, the OpenAPI document is valid
//! and complete, and the logs never carry a secret. Over 300 lines: three
//! end-to-end scenarios, each of them long.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::broker::Broker;
use crate::helpers::{assert_valid_openapi, free_port, sign_up_body, Backend, Replica, TestApp};
use crate::pg::PgServer;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The value of one sample in Prometheus text, e.g. `name{a="b"}`; `None` if absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn scrape(client: &reqwest::Client, port: u16) -> String {
    let response = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

/// Scrapes until `check` holds (panics after `secs`), returning that scrape.
async fn scrape_until(
    client: &reqwest::Client,
    port: u16,
    secs: u64,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = scrape(client, port).await;
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what} within {secs} s:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sign_ups_and_the_outbox_lag_grows_while_the_broker_is_down() {
    let pg = PgServer::start().await;
    let mut broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let admin = free_port();
    let admin_listen = format!("127.0.0.1:{admin}");
    let authd = Replica::start_with(
        "metrics",
        &pg.url,
        Some(&broker.brokers()),
        dir.path(),
        &[("AUTHD_METRICS_LISTEN", &admin_listen)],
    );
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", authd.port);
    for i in 0..7 {
        let r = client
            .post(url("/auth/user"))
            .json(&sign_up_body(&format!("met{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    let r = client
        .post(url("/auth/user"))
        .json(&sign_up_body("met0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);

    let text = scrape_until(&client, admin, 30, "all 7 events published", |t| {
        sample(t, "authd_outbox_published_total") == Some(7.0)
    })
    .await;
    let created = r#"authd_http_requests_total{method="POST",route="/auth/user",status="201"}"#;
    let conflict = r#"authd_http_requests_total{method="POST",route="/auth/user",status="409"}"#;
    assert_eq!(sample(&text, created), Some(7.0));
    assert_eq!(sample(&text, conflict), Some(1.0));
    assert_eq!(
        sample(&text, "authd_hash_duration_seconds_count"),
        Some(7.0),
        "no hash for a known duplicate"
    );
    assert_eq!(sample(&text, "authd_hash_queue_depth"), Some(0.0));
    assert_eq!(sample(&text, "authd_outbox_waiting"), Some(0.0));
    assert_eq!(sample(&text, "authd_outbox_oldest_age_seconds"), Some(0.0));
    assert_eq!(
        sample(&text, r#"authd_db_pool_connections{state="max"}"#),
        Some(10.0)
    );
    assert!(text.contains("authd_build_info{version=\""), "{text}");
    assert!(text.contains(
        "authd_http_request_duration_seconds_bucket{method=\"POST\",route=\"/auth/user\""
    ));
    // The admin port holds /metrics; the service port does not.
    let hidden = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(hidden.status().as_u16(), 404);

    // Broker down: sign-ups still succeed, their events wait, and the lag grows.
    broker.kill();
    for i in 0..3 {
        let r = client
            .post(url("/auth/user"))
            .json(&sign_up_body(&format!("down{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    let first = scrape_until(&client, admin, 10, "3 events waiting", |t| {
        sample(t, "authd_outbox_waiting") == Some(3.0)
    })
    .await;
    let lag = sample(&first, "authd_outbox_oldest_age_seconds").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = sample(
        &scrape(&client, admin).await,
        "authd_outbox_oldest_age_seconds",
    )
    .unwrap();
    assert!(later >= lag + 1.0, "the lag grows: {lag} then {later}");

    // Broker back: the relay drains the outbox and the lag returns to 0.
    broker.restart();
    let text = scrape_until(&client, admin, 60, "the outbox drained", |t| {
        sample(t, "authd_outbox_waiting") == Some(0.0)
    })
    .await;
    assert_eq!(sample(&text, "authd_outbox_oldest_age_seconds"), Some(0.0));
    assert_eq!(sample(&text, "authd_outbox_published_total"), Some(10.0));
}

/// `(METHOD, path)` of every row of the README's endpoint table.
fn readme_endpoints() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(PathBuf::from(ROOT).join("README.md")).unwrap();
    let table = readme
        .split("## Endpoints")
        .nth(1)
        .expect("README has ## Endpoints");
    table
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with("| `"))
        .map(|l| {
            let cell = l.trim_start_matches("| `");
            let (method, rest) = cell.split_once(' ').unwrap();
            let path = rest.split('`').next().unwrap();
            (method.to_string(), path.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_lists_every_route() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    assert_valid_openapi(&doc);

    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            // Every error an operation documents is problem+json, but the 431 that
            // hyper answers before routing, with no body.
            assert!(op["responses"]["431"].is_object(), "{method} {path} 431");
            for (status, r) in op["responses"].as_object().unwrap() {
                if (status.starts_with('4') || status.starts_with('5')) && status != "431" {
                    assert!(
                        r["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    // The router answers every documented operation (not the 404/405 fallbacks).
    for (method, path) in &documented {
        let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&concrete))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(
            status != 405 && !(status == 404 && body.contains("no such resource")),
            "{method} {path}: {status} {body}"
        );
    }
    // The README documents exactly these routes, and no route escapes the document:
    // every handler module registers its routes through `routes!`.
    assert_eq!(
        readme_endpoints(),
        documented,
        "README endpoint table vs /openapi.json"
    );
    for entry in std::fs::read_dir(PathBuf::from(ROOT).join("src/http/routes")).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        assert!(
            !source.contains(".route("),
            "{} registers a route outside routes!",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_login_and_account_changes_leave_no_secret_in_the_logs() {
    let pg = PgServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let authd = Replica::start_with("logs", &pg.url, None, dir.path(), &[("RUST_LOG", "debug")]);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", authd.port);
    let (first, second) = ("first secret passphrase", "second secret passphrase");
    let created: Value = client
        .post(url("/auth/user"))
        .json(&json!({ "username": "lena", "email": "lena@example.com", "password": first }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let wrong = client
        .post(url("/auth/login"))
        .json(&json!({ "login": "lena", "password": "guessed secret" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let tokens: Value = client
        .post(url("/auth/login"))
        .json(&json!({ "login": "lena", "password": first }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refreshed: Value = client
        .post(url("/auth/token"))
        .json(&json!({ "refresh_token": tokens["refresh_token"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = refreshed["access_token"].as_str().unwrap();
    let changed = client
        .put(url(&format!("/auth/user/{id}/password")))
        .bearer_auth(access)
        .json(&json!({ "current_password": first, "new_password": second }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status().as_u16(), 204);
    let hash = {
        let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
        let h: String = sqlx::query_scalar("SELECT password_hash FROM users")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        h
    };
    drop(authd); // SIGKILL: everything written so far is in the file
    let log = std::fs::read_to_string(dir.path().join("logs.log")).unwrap();

    // The log is there and says what happened...
    let finished: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "request finished")
        .collect();
    assert!(finished.len() >= 5, "{log}");
    let line = &finished[0];
    assert!(
        line["status"].is_number() && line["latency_ms"].is_number(),
        "{line}"
    );
    let span = &line["spans"][0];
    for field in ["request_id", "route", "replica", "method"] {
        assert!(span[field].is_string(), "{field} in {line}");
    }
    // ...and never a password, a hash, an access token or a refresh token.
    let signature = |t: &str| t.rsplit('.').next().unwrap().to_string();
    let secrets = [
        first.to_string(),
        second.to_string(),
        "guessed secret".to_string(),
        hash.clone(),
        "$argon2id$".to_string(),
        tokens["access_token"].as_str().unwrap().to_string(),
        signature(tokens["access_token"].as_str().unwrap()),
        signature(access),
        tokens["refresh_token"].as_str().unwrap().to_string(),
        refreshed["refresh_token"].as_str().unwrap().to_string(),
    ];
    for secret in secrets {
        assert!(!log.contains(&secret), "a secret in the log: {secret}");
    }
}
