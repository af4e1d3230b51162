//! Also found: the admin and metrics listeners had neither the header timeout nor
//! the connection cap of the service port; a resend mailed with verification off;
//! a session refreshed forever (each refresh gave 30 more days).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::admin::with_admin;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_cannot_hold_the_admin_or_metrics_listener() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        with_admin(c);
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        c.header_timeout = Duration::from_millis(300);
    })
    .await;
    assert_ne!(app.metrics_addr, app.addr, "a metrics listener of its own");
    for addr in [app.admin_addr.unwrap(), app.metrics_addr] {
        let closed = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"GET /admin/users HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            // Never finishes the head: the server must close within its timeout.
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let started = Instant::now();
            let mut buf = [0u8; 512];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => return Some(started.elapsed()),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
        })
        .await
        .unwrap();
        assert!(
            closed.is_some(),
            "{addr}: the slow connection stayed open 10 s"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_with_verification_off_sends_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_user("unverified").await;
    let resend = app
        .post_json(
            "/auth/verify/resend",
            &json!({ "email": "unverified@example.com" }),
        )
        .await;
    assert_eq!(
        problem(resend, 409).await["type"],
        "urn:authd:problem:verification-off"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mail_outbox").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_at_its_absolute_lifetime_however_often_refreshed() {
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.tokens.session_max_age = Duration::from_secs(3 * 86_400);
    })
    .await;
    app.create_user("kept").await;
    let mut tokens = app.tokens("kept", PASSWORD).await;
    for _ in 0..2 {
        app.clock.advance(chrono::Duration::days(1));
        tokens = app
            .refresh(&tokens.refresh_token)
            .await
            .json()
            .await
            .unwrap();
    }
    app.clock
        .advance(chrono::Duration::days(1) + chrono::Duration::seconds(1));
    let ended = problem(app.refresh(&tokens.refresh_token).await, 401).await;
    assert_eq!(ended["type"], "urn:authd:problem:invalid-refresh-token");
}
