//! The metrics move when they should: sign-ups and conflicts counted, the outbox
//! lag growing while the broker is down and back to 0 once it drained.

use std::time::{Duration, Instant};

use crate::broker::Broker;
use crate::helpers::{free_port, sign_up_body, Replica};
use crate::pg::PgServer;

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
    scrape_until(&client, admin, 10, "the lag grows by a second", |t| {
        sample(t, "authd_outbox_oldest_age_seconds").is_some_and(|later| later >= lag + 1.0)
    })
    .await;

    // Broker back: the relay drains the outbox and the lag returns to 0.
    broker.restart();
    let text = scrape_until(&client, admin, 60, "the outbox drained", |t| {
        sample(t, "authd_outbox_waiting") == Some(0.0)
    })
    .await;
    assert_eq!(sample(&text, "authd_outbox_oldest_age_seconds"), Some(0.0));
    assert_eq!(sample(&text, "authd_outbox_published_total"), Some(10.0));
}
