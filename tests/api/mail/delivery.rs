//! Getting mails out: retried while the server is down, sent once by two
//! replicas, and written to files in development mode.

use std::time::{Duration, Instant};

use authd::authn::Verification;
use authd::mail::Delivery;

use super::smtp::SmtpServer;
use super::{wait_mail_outbox_empty, with_mail};
use crate::both_stores;
use crate::helpers::{free_port, Backend, TestApp};

both_stores!(mail_waits_for_a_server_that_is_down_and_arrives_once);

async fn mail_waits_for_a_server_that_is_down_and_arrives_once(backend: Backend) {
    let mut smtp = SmtpServer::stopped(free_port());
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Optional)).await;
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    let expected: Vec<String> = users.iter().map(|u| format!("{u}@example.com")).collect();
    assert_eq!(smtp.recipients(), expected, "each mail once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_each_mail_once() {
    let smtp = SmtpServer::start();
    let a = TestApp::spawn_with(Backend::Postgres, with_mail(&smtp, Verification::Optional)).await;
    let b = a.replica(with_mail(&smtp, Verification::Optional)).await;
    let mut expected = Vec::new();
    for i in 0..40 {
        let name = format!("twice{i}");
        let app = if i % 2 == 0 { &a } else { &b };
        app.create_user(&name).await;
        expected.push(format!("{name}@example.com"));
    }
    wait_mail_outbox_empty(&a).await;
    // Time for a second sender to send anything twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    expected.sort();
    assert_eq!(smtp.recipients(), expected, "each mail once");
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
