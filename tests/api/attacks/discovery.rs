//! Attack 4: the discovery document built its URLs from the Host header and let
//! shared caches keep them, so one request could point every JWT middleware that
//! configures itself from authd at an attacker's keys.

use serde_json::Value;

use crate::helpers::{claims_of, Backend, TestApp, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_discovery_document_ignores_host_and_forwarded_headers() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.public_url = "https://auth.example.com".into();
        // Even behind a trusted proxy, its headers do not name authd's URL.
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let response = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .header("host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(
        doc["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    // The issuer is the URL the document is served under, and the tokens say it.
    assert_eq!(doc["issuer"], "https://auth.example.com");
    app.create_user("somebody").await;
    let token = app.tokens("somebody", PASSWORD).await.access_token;
    assert_eq!(claims_of(&token)["iss"], "https://auth.example.com");
}
