//! A smoke run of authd-load: a few hundred sign-ups, then --verify against the
//! real Postgres and broker (the full benchmark is scripts/bench, not a test).

use serde_json::Value;

use crate::broker::Broker;
use crate::helpers::{child_command, free_port, relay_to, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authd_load_reports_every_request_and_verifies_rows_and_events() {
    let broker = Broker::start();
    let relay = relay_to(&broker, 500);
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.hash_pool.queue_bound = Some(1024);
        relay(c);
    })
    .await;
    let database_url = app.pg.as_ref().unwrap().url.clone();
    let base = format!("http://{}", app.addr);
    let load = tokio::task::spawn_blocking(move || {
        child_command(load_binary())
            .args([
                "--url",
                &base,
                "--requests",
                "300",
                "--concurrency",
                "16",
                "--json",
                "--verify",
            ])
            .args([
                "--database-url",
                &database_url,
                "--brokers",
                &broker.brokers(),
                "--verify-idle",
                "5",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    let report: Value = serde_json::from_slice(&load.stdout).unwrap();
    assert_eq!(report["requests"], 300);
    assert_eq!(report["statuses"]["201"], 300);
    assert_eq!(report["transport_errors_total"], 0);
    assert_eq!(report["verify"]["created"], 300);
    assert_eq!(report["verify"]["lost"], 0);
    assert!(report["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert_eq!(
        report["created_per_second"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        300
    );
    assert_eq!(app.users().await, 300);
}

#[test]
fn authd_load_counts_transport_errors_instead_of_hiding_them() {
    let port = free_port();
    let out = child_command(load_binary())
        .args([
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--requests",
            "20",
            "--concurrency",
            "4",
            "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["requests"], 20);
    assert_eq!(report["transport_errors"]["connect"], 20);
    assert_eq!(report["statuses"], serde_json::json!({}));
}

/// Runs authd-load against `app` and returns its JSON report (panics on failure).
async fn load_json(app: &TestApp, args: &[&str]) -> Value {
    let base = format!("http://{}", app.addr);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        child_command(load_binary())
            .args(["--url", &base, "--json"])
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authd_load_login_and_refresh_modes_log_in_a_pool_and_rotate_tokens() {
    let app =
        TestApp::spawn_with(Backend::Postgres, |c| c.hash_pool.queue_bound = Some(1024)).await;
    let login = load_json(
        &app,
        &[
            "--mode",
            "login",
            "--users",
            "20",
            "--requests",
            "100",
            "--concurrency",
            "8",
        ],
    )
    .await;
    assert_eq!(login["mode"], "login");
    assert_eq!(login["statuses"]["200"], 100);
    assert_eq!(login["transport_errors_total"], 0);
    assert_eq!(app.users().await, 20, "the pool, signed up once");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM refresh_families").await,
        100
    );

    let refresh = load_json(
        &app,
        &[
            "--mode",
            "refresh",
            "--requests",
            "200",
            "--concurrency",
            "4",
        ],
    )
    .await;
    assert_eq!(refresh["statuses"]["200"], 200);
    assert_eq!(app.users().await, 24);
    // Each refresh spends exactly one token; the four chains end on a live one.
    let spent = app
        .scalar("SELECT COUNT(*) FROM refresh_tokens WHERE rotated_at IS NOT NULL")
        .await;
    assert_eq!(spent, 200);
}

/// authd-load is its own crate in the workspace: its binary sits beside this
/// test's target directory (scripts/test builds it first).
fn load_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = dir.join("authd-load");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p authd-load` (scripts/test does)",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authd_load_retry_resends_timed_out_sign_ups_with_their_key_and_creates_each_once() {
    let broker = Broker::start();
    // One hashing thread at ~100 ms a hash behind 4 clients: an attempt abandoned
    // after 50 ms is still being served when it is sent again with its key.
    let relay = relay_to(&broker, 500);
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.hash = authd::hashing::HashParams {
            iterations: 10,
            ..authd::hashing::HashParams::OWASP
        };
        c.hash_pool.workers = 1;
        c.hash_pool.queue_bound = Some(64);
        relay(c);
    })
    .await;
    let database_url = app.pg.as_ref().unwrap().url.clone();
    let report = load_json(
        &app,
        &[
            "--requests",
            "20",
            "--concurrency",
            "4",
            "--retry",
            "--attempt-timeout",
            "0.05",
            "--timeout",
            "60",
            "--prefix",
            "retried",
            "--verify",
            "--database-url",
            &database_url,
            "--brokers",
            &broker.brokers(),
            "--verify-idle",
            "5",
        ],
    )
    .await;
    assert_eq!(report["statuses"]["201"], 20, "{report}");
    assert_eq!(report["transport_errors_total"], 0, "{report}");
    assert!(
        report["retried_errors"]["timeout"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(report["verify"]["created"], 20);
    assert_eq!(report["verify"]["lost"], 0);
    assert_eq!(
        report["verify"]["unconfirmed"], 0,
        "a retry created nothing twice"
    );
    assert_eq!(app.users().await, 20);
}
