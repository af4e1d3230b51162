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

/// The second review: `authd_mail_sent_total{kind="reset_request"}` on the service
/// port went up for an address with an account and not for one without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_do_not_tell_which_addresses_have_an_account() {
    let smtp = crate::mail::smtp::SmtpServer::start();
    let verification = authd::authn::Verification::Off;
    let app =
        TestApp::spawn_with(Backend::Sqlite, crate::mail::with_mail(&smtp, verification)).await;
    app.create_user("bob").await;
    for email in ["nobody@example.com", "bob@example.com"] {
        let before = reset_mails_sent(&app).await;
        let forgot = serde_json::json!({ "email": email });
        assert_eq!(
            app.post_json("/auth/password/forgot", &forgot)
                .await
                .status(),
            202
        );
        // The request is done once its row left the outbox.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while app.scalar("SELECT COUNT(*) FROM mail_outbox").await > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the mail was never handled"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            reset_mails_sent(&app).await > before,
            "{email}: the counter did not move"
        );
    }
}

/// `authd_mail_sent_total{kind="reset_request"}` as /metrics shows it.
async fn reset_mails_sent(app: &TestApp) -> u64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .find(|l| l.starts_with("authd_mail_sent_total{kind=\"reset_request\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or(0)
}
