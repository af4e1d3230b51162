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

pub mod templates;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{watch, Notify};

use crate::clock::Clock;
use crate::metrics::{MAIL_FAILED_TOTAL, MAIL_SENT_TOTAL};
use crate::store::{MailKind, QueuedMail, Store, TokenPurpose};
use crate::tokens::refresh;
pub use templates::Templates;

/// What sign-up does about the email address (`AUTHD_EMAIL_VERIFICATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verification {
    /// No verification mail; an email change applies at once.
    Off,
    /// A verification mail at sign-up; login works before it is confirmed, and an
    /// email change waits for the new address to confirm.
    Optional,
    /// As optional, and login answers 403 until the email is confirmed.
    Required,
}

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

/// Mails claimed per pass, and sent at once (over up to lettre's pool of 10 SMTP
/// connections): one at a time, a mail server's round trips bound the rate.
const BATCH: i64 = 16;
/// How long a claimed mail is this sender's; past it another sender may take it.
const LEASE: Duration = Duration::from_secs(120);
/// A look at the outbox when no wake-up came (mails of other replicas, retries).
const POLL: Duration = Duration::from_secs(1);
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(600);
/// The longest one SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long after its `attempts`-th failure a mail is tried again.
pub fn retry_after(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts).unwrap_or(0).min(20);
    RETRY_MIN.saturating_mul(1 << doublings).min(RETRY_MAX)
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Why a mail was not handed over.
struct SendError {
    message: String,
    /// The server refused it for good: trying again cannot help.
    permanent: bool,
}

impl Transport {
    fn new(delivery: &Delivery) -> anyhow::Result<Self> {
        Ok(match delivery {
            // Builds the connection pool: within a Tokio runtime.
            Delivery::Smtp { url } => {
                Transport::Smtp(smtp_builder(url)?.timeout(Some(SMTP_TIMEOUT)).build())
            }
            Delivery::Files { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    anyhow::anyhow!("creating the mail directory {}: {e}", dir.display())
                })?;
                Transport::Files(AsyncFileTransport::new(dir))
            }
        })
    }

    async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            }),
            Transport::Files(files) => files.send(message).await.map(drop).map_err(|e| SendError {
                permanent: false,
                message: e.to_string(),
            }),
        }
    }
}

fn smtp_builder(url: &str) -> anyhow::Result<lettre::transport::smtp::AsyncSmtpTransportBuilder> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        // The URL is a secret: say what is wrong, not what it is.
        .map_err(|e| anyhow::anyhow!("AUTHD_SMTP_URL: {e}"))
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
        Delivery::Smtp { url } => smtp_builder(url).map(drop),
        Delivery::Files { .. } => Ok(()),
    }
}

pub struct Sender {
    store: Store,
    clock: Arc<dyn Clock>,
    config: MailConfig,
    wake: Arc<Notify>,
}

impl Sender {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: MailConfig) -> Self {
        let wake = store.mail_wakeups();
        Self {
            store,
            clock,
            config,
            wake,
        }
    }

    /// Sends until `stop` turns true (the mails in hand are finished first).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        // A directory that cannot be made (a read-only file system): mails wait in
        // the outbox, and the sender tries again.
        let mut backoff = RETRY_MIN;
        let transport = loop {
            match Transport::new(&this.config.delivery) {
                Ok(t) => break Arc::new(t),
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), retry_in = ?backoff, "mail sender cannot start; mails wait in the outbox");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        };
        backoff = RETRY_MIN;
        while !*stop.borrow() {
            let wait = match this.pass(&transport).await {
                Ok(0) => POLL,
                Ok(_) => {
                    backoff = RETRY_MIN;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), retry_in = ?backoff, "mail pass failed; mails stay queued");
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    wait
                }
            };
            tokio::select! {
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        tracing::info!("mail sender stopped");
    }

    /// Claims the due mails and sends each; returns how many it claimed.
    async fn pass(self: &Arc<Self>, transport: &Arc<Transport>) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let lease_until = now + chrono::Duration::from_std(LEASE)?;
        let mails = self.store.claim_mail(now, lease_until, BATCH).await?;
        let claimed = mails.len();
        let mut sending = tokio::task::JoinSet::new();
        for mail in mails {
            let (this, transport) = (Arc::clone(self), Arc::clone(transport));
            sending.spawn(async move { this.deliver(&transport, &mail).await });
        }
        // Every mail finishes (a failed one waits for its lease) before the pass ends.
        let mut outcome = Ok(claimed);
        while let Some(done) = sending.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(err)) => outcome = Err(err),
                Err(err) => outcome = Err(anyhow::Error::new(err).context("a mail task failed")),
            }
        }
        outcome
    }

    async fn deliver(&self, transport: &Transport, mail: &QueuedMail) -> anyhow::Result<()> {
        let now = self.clock.now();
        let Some(message) = self.compose(mail, now).await? else {
            // Nobody to write to (an unknown address, a user gone or verified).
            self.store.mail_done(mail.id).await?;
            return Ok(());
        };
        match transport.send(message).await {
            Ok(()) => {
                self.store.mail_done(mail.id).await?;
                metrics::counter!(MAIL_SENT_TOTAL, "kind" => mail.kind.as_str()).increment(1);
                tracing::info!(mail_id = %mail.id, kind = mail.kind.as_str(), "mail sent");
            }
            Err(err) if err.permanent => {
                self.store.mail_done(mail.id).await?;
                metrics::counter!(MAIL_FAILED_TOTAL, "permanent" => "true").increment(1);
                tracing::error!(mail_id = %mail.id, kind = mail.kind.as_str(), error = err.message, "the mail server refused a mail for good; it is dropped");
            }
            Err(err) => {
                let wait = retry_after(mail.attempts);
                let retry_at = now + chrono::Duration::from_std(wait)?;
                self.store
                    .mail_failed(mail.id, retry_at, &err.message)
                    .await?;
                metrics::counter!(MAIL_FAILED_TOTAL, "permanent" => "false").increment(1);
                tracing::warn!(mail_id = %mail.id, kind = mail.kind.as_str(), attempts = mail.attempts + 1, retry_in = ?wait, error = err.message, "sending a mail failed; it waits");
            }
        }
        Ok(())
    }

    /// The message for `mail`, with a fresh token where it carries one; `None`
    /// when there is nobody to write to.
    async fn compose(
        &self,
        mail: &QueuedMail,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Message>> {
        let account = match (mail.kind, mail.user_id, mail.recipient.as_deref()) {
            (MailKind::Verify | MailKind::EmailChange | MailKind::EmailChanged, Some(id), _) => {
                self.store.account(id).await?
            }
            (MailKind::VerifyRequest | MailKind::ResetRequest, _, Some(email)) => {
                self.store.account_by_email(email).await?
            }
            _ => None,
        };
        let Some(account) = account else {
            return Ok(None);
        };
        let user = &account.user;
        let c = &self.config;
        // (template, recipient, token purpose, page of the link, lifetime)
        let (template, to, purpose) = match mail.kind {
            MailKind::Verify | MailKind::VerifyRequest if user.email_verified => return Ok(None),
            MailKind::Verify | MailKind::VerifyRequest => {
                ("verify", user.email.clone(), Some(TokenPurpose::Verify))
            }
            MailKind::EmailChange => match &mail.new_email {
                Some(new) => ("email_change", new.clone(), Some(TokenPurpose::EmailChange)),
                None => return Ok(None),
            },
            MailKind::EmailChanged => match &mail.recipient {
                Some(old) => ("email_changed", old.clone(), None),
                None => return Ok(None),
            },
            MailKind::ResetRequest => ("reset", user.email.clone(), Some(TokenPurpose::Reset)),
        };
        let (token, link, ttl) = match purpose {
            Some(purpose) => {
                let (ttl, page) = match purpose {
                    TokenPurpose::Reset => (c.reset_ttl, "reset-password"),
                    _ => (c.verify_ttl, "verify-email"),
                };
                let (token, hash) = refresh::new_token();
                // A verification token names the address it was sent to: it cannot
                // verify another one the account has since.
                let bound = match purpose {
                    TokenPurpose::EmailChange => mail.new_email.as_deref(),
                    TokenPurpose::Verify => Some(user.email.as_str()),
                    TokenPurpose::Reset => None,
                };
                let expires = now + chrono::Duration::from_std(ttl)?;
                self.store
                    .issue_account_token(user.id, purpose, bound, &hash, now, expires)
                    .await?;
                let link = format!("{}/{page}?token={token}", c.app_url);
                (token, link, human(ttl))
            }
            None => (String::new(), String::new(), String::new()),
        };
        let new_email = mail.new_email.clone().unwrap_or_default();
        let old_or_current = match mail.kind {
            MailKind::EmailChanged => mail.recipient.clone().unwrap_or_default(),
            _ => user.email.clone(),
        };
        let rendered = c.templates.render(
            template,
            &[
                ("username", &user.username),
                ("email", &old_or_current),
                ("new_email", &new_email),
                ("link", &link),
                ("token", &token),
                ("expires_in", &ttl),
            ],
        );
        let to = match to.parse() {
            Ok(address) => Mailbox::new(Some(user.username.clone()), address),
            Err(err) => {
                tracing::warn!(mail_id = %mail.id, error = %err, "a recipient lettre cannot address; the mail is dropped");
                return Ok(None);
            }
        };
        let message = Message::builder()
            .from(c.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))?;
        Ok(Some(message))
    }
}

/// "24 hours", "1 hour", "30 minutes".
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs % 3600 == 0 && secs >= 3600 {
        (secs / 3600, "hour")
    } else if secs % 60 == 0 && secs >= 60 {
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
    fn retries_start_at_a_second_and_double_up_to_ten_minutes() {
        assert_eq!(retry_after(0), Duration::from_secs(1));
        assert_eq!(retry_after(1), Duration::from_secs(2));
        assert_eq!(retry_after(3), Duration::from_secs(8));
        assert_eq!(retry_after(10), RETRY_MAX);
        assert_eq!(retry_after(10_000), RETRY_MAX, "no overflow");
        assert_eq!(retry_after(-1), Duration::from_secs(1));
    }

    #[test]
    fn lifetimes_read_as_people_say_them() {
        assert_eq!(human(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(human(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(human(Duration::from_secs(90)), "90 seconds");
    }

    #[tokio::test]
    async fn smtp_urls_with_starttls_and_tls_build_a_transport() {
        for url in [
            "smtp://localhost:2525",
            "smtp://user:secret@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:secret@mail.example.com",
        ] {
            let delivery = Delivery::Smtp { url: url.into() };
            assert!(Transport::new(&delivery).is_ok(), "{url}");
        }
        let bad = Delivery::Smtp {
            url: "http://user:secret@mail.example.com".into(),
        };
        let err = Transport::new(&bad)
            .err()
            .expect("not an SMTP URL")
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
