//! Mail, email verification and password recovery, end to end against a real SMTP
//! server (aiosmtpd from PyPI, started here): the flows are driven by reading the
//! mails it received.
//!
//! One flow a file: verification.rs, recovery.rs, delivery.rs and replicas.rs
//! (two senders, one dying mid-send); smtp.rs is the server they read from, and
//! what they share is here.

mod delivery;
mod recovery;
mod replicas;
pub mod smtp;
mod verification;

use std::time::{Duration, Instant};

use authd::authn::Verification;
use authd::mail::Delivery;

use crate::helpers::TestApp;
use smtp::SmtpServer;

/// A config tweak: mail goes to `smtp`, links point at https://app.example.com.
pub fn with_mail(
    smtp: &SmtpServer,
    verification: Verification,
) -> impl FnOnce(&mut authd::config::Config) + '_ {
    move |c| {
        c.mail.delivery = Delivery::Smtp { url: smtp.url() };
        c.mail.verification = verification;
        c.mail.app_url = "https://app.example.com".into();
        c.mail.token_in_fragment = false;
    }
}

/// The types of a user's outbox events, in order.
async fn event_types(app: &TestApp, id: &str) -> Vec<String> {
    app.events_of(id)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the mail outbox is empty (panics after 20 s).
pub async fn wait_mail_outbox_empty(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.scalar("SELECT COUNT(*) FROM mail_outbox").await > 0 {
        assert!(Instant::now() < deadline, "mails still waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
