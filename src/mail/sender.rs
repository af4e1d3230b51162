//! The sender every replica runs: it claims due mails from the outbox (a lease
//! per mail), delivers them a batch at a time, and reschedules failures.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::transport::Transport;
use super::MailConfig;
use crate::clock::Clock;
use crate::metrics::{MAIL_FAILED_TOTAL, MAIL_SENT_TOTAL};
use crate::store::{QueuedMail, Store};

/// Mails claimed per pass, and sent at once (over up to lettre's pool of 10 SMTP
/// connections): one at a time, a mail server's round trips bound the rate.
const BATCH: i64 = 16;
/// How long a claimed mail is this sender's; past it another sender may take it.
const LEASE: Duration = Duration::from_secs(120);
/// A look at the outbox when no wake-up came (mails of other replicas, retries).
const POLL: Duration = Duration::from_secs(1);
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(600);

/// How long after its `attempts`-th failure a mail is tried again.
pub fn retry_after(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts).unwrap_or(0).min(20);
    RETRY_MIN.saturating_mul(1 << doublings).min(RETRY_MAX)
}

pub struct Sender {
    pub(super) store: Store,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) config: MailConfig,
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
            if mail.kind.anyone_may_ask() {
                // Counted as if sent: /metrics must not tell a stranger which
                // addresses have an account.
                metrics::counter!(MAIL_SENT_TOTAL, "kind" => mail.kind.as_str()).increment(1);
            }
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
}
