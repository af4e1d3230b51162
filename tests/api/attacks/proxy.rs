//! The second review's dual-stack gateway: on a listener bound to `[::]` the
//! gateway's IPv4 address arrives as `::ffff:127.0.0.1`, which did not match its
//! `AUTHD_TRUSTED_PROXIES` entry: every client counted as the gateway, and five
//! wrong passwords from anyone locked every user out.

use serde_json::json;

use super::behind_proxy;
use crate::both_stores;
use crate::helpers::{Backend, TestApp, PASSWORD};

both_stores!(a_dual_stack_listener_still_believes_its_gateway);

async fn a_dual_stack_listener_still_believes_its_gateway(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        behind_proxy(c);
        c.listen = "[::]:0".parse().unwrap();
        c.throttle.client_failures = 3;
    })
    .await;
    // Through IPv4 loopback: the peer is ::ffff:127.0.0.1.
    let url = format!("http://127.0.0.1:{}/auth/login", app.addr.port());
    let login = |client: &str, name: &str, password: &str| {
        app.client
            .post(&url)
            .header("x-forwarded-for", client)
            .json(&json!({ "login": name, "password": password }))
            .send()
    };
    app.create_user("owner").await;
    for i in 0..4 {
        let status = login("203.0.113.1", &format!("nobody{i}"), "guess")
            .await
            .unwrap()
            .status();
        assert!(matches!(status.as_u16(), 401 | 429), "{status}");
    }
    assert_eq!(
        login("203.0.113.1", "owner", PASSWORD)
            .await
            .unwrap()
            .status(),
        429
    );
    // The owner elsewhere is another client, not the gateway.
    assert_eq!(
        login("198.51.100.99", "owner", PASSWORD)
            .await
            .unwrap()
            .status(),
        200
    );
    let sessions = app
        .scalar("SELECT COUNT(*) FROM refresh_families WHERE client_address = '198.51.100.99'")
        .await;
    assert_eq!(
        sessions, 1,
        "the session is recorded under the client's address"
    );
}
