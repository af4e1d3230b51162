//! Getting mails out: retried while the server is down, dropped and counted when
//! the server refuses them for good, and written to files in development mode
//! (each test app to its own directory). Two replicas sending: replicas.rs.

use std::time::{Duration, Instant};

use authd::authn::Verification;
use authd::mail::Delivery;
use serde_json::json;

use super::smtp::SmtpServer;
use super::{wait_mail_outbox_empty, with_mail};
use crate::both_stores;
use crate::helpers::{free_port, Backend, TestApp};

both_stores!(
    mail_waits_for_a_server_that_is_down_and_arrives_once,
    a_mail_the_server_refuses_for_good_is_dropped_and_counted,
);

async fn mail_waits_for_a_server_that_is_down_and_arrives_once(backend: Backend) {
    let mut smtp = SmtpServer::stopped(free_port());
    let mut app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Optional)).await;
    let users: Vec<String> = (0..5).map(|i| format!("down{i}")).collect();
    for name in &users {
        app.create_user(name).await;
    }
    // Every mail was tried and failed; none is lost.
    let deadline = Instant::now() + Duration::from_secs(20);
    while app
        .scalar("SELECT COUNT(*) FROM mail_outbox WHERE attempts >= 1")
        .await
        < 5
    {
        assert!(Instant::now() < deadline, "mails were not tried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("authd_mail_waiting 5"), "{metrics}");
    assert!(metrics.contains("authd_mail_failed_total{permanent=\"false\"}"));

    smtp.listen();
    // Retries are due once the (test's) clock passed their back-off.
    let deadline = Instant::now() + Duration::from_secs(30);
    while smtp.mails().len() < 5 {
        assert!(Instant::now() < deadline, "{:?}", smtp.mails());
        app.clock.advance(chrono::Duration::seconds(5));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_mail_outbox_empty(&app).await;
    // Stopped, its sender has finished every mail in hand: whatever it would send
    // twice has reached the server by now.
    app.stop().await.unwrap();
    let expected: Vec<String> = users.iter().map(|u| format!("{u}@example.com")).collect();
    assert_eq!(smtp.recipients(), expected, "each mail once");
}

/// The value of a sample of this process's /metrics (every app of the test binary
/// shares one recorder: only this test makes the server refuse mails for good).
async fn sample(app: &TestApp, series: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// A 550 for the recipient: trying again cannot help, so the mail is dropped from
/// the outbox (no retry waits) and counted as a permanent failure.
async fn a_mail_the_server_refuses_for_good_is_dropped_and_counted(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Optional)).await;
    let permanent = r#"authd_mail_failed_total{permanent="true"}"#;
    let before = sample(&app, permanent).await;
    app.create_user("bounce").await;
    app.create_user("kept").await;
    smtp.wait_for("kept@example.com", 1).await;
    wait_mail_outbox_empty(&app).await;
    assert_eq!(
        smtp.recipients(),
        ["kept@example.com"],
        "the refused mail never arrived"
    );
    assert!(
        sample(&app, permanent).await >= before + 1.0,
        "counted as a permanent failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_writes_mails_to_files_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mails = dir.path().join("mail");
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.mail.delivery = Delivery::Files { dir: mails.clone() };
        c.mail.verification = Verification::Optional;
    })
    .await;
    app.create_user("frank").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let eml = loop {
        let files: Vec<_> = std::fs::read_dir(&mails)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        if let Some(file) = files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "eml"))
        {
            break std::fs::read_to_string(file).unwrap();
        }
        assert!(Instant::now() < deadline, "no .eml in {}", mails.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(eml.contains("frank@example.com"), "{eml}");
    assert!(eml.contains("Subject: Confirm your email address"), "{eml}");
}

/// Two apps on Postgres (whose default mail directory is one for the host): each
/// writes its mails, and their live reset tokens, to a directory of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_test_app_writes_development_mail_to_its_own_directory() {
    let apps = [
        TestApp::spawn(Backend::Postgres).await,
        TestApp::spawn(Backend::Postgres).await,
    ];
    for (i, app) in apps.iter().enumerate() {
        app.create_user(&format!("own{i}")).await;
        let forgot = json!({ "email": format!("own{i}@example.com") });
        assert_eq!(
            app.post_json("/auth/password/forgot", &forgot)
                .await
                .status(),
            202
        );
    }
    for (i, app) in apps.iter().enumerate() {
        wait_mail_outbox_empty(app).await;
        let dir = app.mail_dir();
        let mails: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no mail in {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        assert_eq!(mails.len(), 1, "{}: {mails:?}", dir.display());
        assert!(mails[0].contains(&format!("own{i}@example.com")));
    }
}
