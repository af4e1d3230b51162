//! Mail: the sender that runs in every replica and empties the mail outbox, over
//! SMTP (lettre; STARTTLS or TLS and credentials from `AUTHD_SMTP_URL`) or, with
//! no SMTP configured, into `.eml` files (development mode, said at start-up).
//!
//! A mail row holds no secret. The sender makes the token as it sends: it stores
//! the token's hash (replacing older ones of the same purpose), renders the
//! template with the link, hands the mail to the server, then deletes the row. A
//! failed attempt waits (1 s, doubling up to 10 min) and is tried again, however
//! long the server is away; a mail the server refuses for good (5xx) is dropped
//! and counted.
//!
//! - `sender`: the loop that claims due mails and delivers each.
//! - `compose`: one mail's message, with its fresh token.
//! - `transport`: SMTP or files.
//! - `templates`: the texts, built in or from `AUTHD_MAIL_TEMPLATES`.

mod compose;
mod sender;
pub mod templates;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;

use crate::authn::Verification;
pub use sender::{retry_after, Sender};
pub use templates::Templates;

/// Where mails go.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic]` (STARTTLS) or
    /// `smtps://...` (TLS from the first byte). Never logged: it may hold a password.
    Smtp { url: String },
    /// Development mode: each mail becomes `<id>.eml` in this directory.
    Files { dir: PathBuf },
}

#[derive(Clone)]
pub struct MailConfig {
    pub delivery: Delivery,
    pub from: Mailbox,
    /// Where the links of mails point: `{app_url}/verify-email?token=...` and
    /// `{app_url}/reset-password?token=...`.
    pub app_url: String,
    /// `{app_url}/{page}#token=...` (the hosted pages) instead of `?token=`.
    pub token_in_fragment: bool,
    pub templates: Arc<Templates>,
    pub verification: Verification,
    pub verify_ttl: Duration,
    pub reset_ttl: Duration,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let delivery = match &self.delivery {
            Delivery::Smtp { .. } => "smtp (url redacted)".to_string(),
            Delivery::Files { dir } => format!("files in {}", dir.display()),
        };
        f.debug_struct("MailConfig")
            .field("delivery", &delivery)
            .field("from", &self.from.to_string())
            .field("app_url", &self.app_url)
            .field("verification", &self.verification)
            .field("verify_ttl", &self.verify_ttl)
            .field("reset_ttl", &self.reset_ttl)
            .finish()
    }
}

/// Says at start-up where mails go; the development mode says so loudly.
pub fn announce(config: &MailConfig) {
    match &config.delivery {
        Delivery::Smtp { .. } => tracing::info!(
            from = %config.from,
            verification = ?config.verification,
            "sending mail over SMTP (AUTHD_SMTP_URL)"
        ),
        Delivery::Files { dir } => tracing::warn!(
            dir = %dir.display(),
            verification = ?config.verification,
            "mail development mode: no AUTHD_SMTP_URL, so mails are written to files \
             in this directory and nobody receives them"
        ),
    }
}

/// Checks an SMTP URL without connecting (settings are read); the development
/// directory is made when the sender starts.
pub fn check(config: &MailConfig) -> anyhow::Result<()> {
    match &config.delivery {
        Delivery::Smtp { url } => transport::smtp_builder(url).map(drop),
        Delivery::Files { .. } => Ok(()),
    }
}

/// "24 hours", "1 hour", "30 minutes".
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs.is_multiple_of(3600) && secs >= 3600 {
        (secs / 3600, "hour")
    } else if secs.is_multiple_of(60) && secs >= 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_as_people_say_them() {
        assert_eq!(human(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(human(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(human(Duration::from_secs(90)), "90 seconds");
    }
}
