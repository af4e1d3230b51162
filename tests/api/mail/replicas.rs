//! Two replicas send the mail outbox together: each mail once, both really send
//! (each replica has a mail server of its own here, so the test sees who sent
//! what), and a mail leased by a replica that dies in the middle of sending it is
//! sent by the other once the lease runs out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use authd::authn::Verification;
use authd::mail::Delivery;
use tokio::net::TcpListener;

use super::smtp::SmtpServer;
use super::{wait_mail_outbox_empty, with_mail};
use crate::helpers::{eventually, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_replicas_send_and_each_mail_goes_once() {
    let (smtp_a, smtp_b) = (SmtpServer::start(), SmtpServer::start());
    let mut a = TestApp::spawn_with(
        Backend::Postgres,
        with_mail(&smtp_a, Verification::Optional),
    )
    .await;
    let mut b = a.replica(with_mail(&smtp_b, Verification::Optional)).await;
    let mut expected = Vec::new();
    for i in 0..40 {
        let name = format!("both{i}");
        let app = if i % 2 == 0 { &a } else { &b };
        app.create_user(&name).await;
        expected.push(format!("{name}@example.com"));
    }
    wait_mail_outbox_empty(&a).await;
    // Stopped, each sender has finished what it held: a second send would be in.
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    let (sent_a, sent_b) = (smtp_a.recipients(), smtp_b.recipients());
    assert!(
        !sent_a.is_empty() && !sent_b.is_empty(),
        "a sent {}, b sent {}",
        sent_a.len(),
        sent_b.len()
    );
    let mut all: Vec<String> = sent_a.into_iter().chain(sent_b).collect();
    all.sort();
    expected.sort();
    assert_eq!(all, expected, "each mail once, by one of them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_leased_by_a_replica_that_dies_is_sent_by_another() {
    // A's mail server accepts the connection and never says a word: A's sender
    // holds the mail's lease, mid-send, when A dies.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("smtp://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let mut a = TestApp::spawn_with(Backend::Postgres, |c| {
        c.mail.delivery = Delivery::Smtp { url: silent_url };
        c.mail.verification = Verification::Optional;
        c.mail.app_url = "https://app.example.com".into();
        c.mail.token_in_fragment = false;
    })
    .await;
    a.create_user("orphan").await;
    let accepted = &accepted;
    eventually(
        20,
        "A's sender connected to its mail server",
        || async move { accepted.load(Ordering::SeqCst) > 0 },
    )
    .await;
    // B starts now: the mail is A's, under lease.
    let smtp = SmtpServer::start();
    let b = a.replica(with_mail(&smtp, Verification::Optional)).await;
    a.kill();
    assert_eq!(
        a.scalar("SELECT COUNT(*) FROM mail_outbox").await,
        1,
        "the mail waits, leased"
    );
    // The lease (2 minutes) runs out on the shared clock; B's next pass takes it.
    a.clock.advance(chrono::Duration::seconds(121));
    smtp.wait_for("orphan@example.com", 1).await;
    wait_mail_outbox_empty(&b).await;
    let mut b = b;
    b.stop().await.unwrap();
    assert_eq!(smtp.recipients(), ["orphan@example.com"], "sent once, by B");
}
