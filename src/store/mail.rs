//! Mail waiting to be sent (`mail_outbox`). A mail row is written in the
//! transaction of what causes it and holds no secret: the sender makes the token
//! when it sends (`account_tokens`). Senders of every replica claim rows with
//! `SKIP LOCKED` and push `next_attempt_at` ahead as a lease, so a mail is sent by
//! one replica; a replica that dies mid-send leaves it to another once the lease
//! ends.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, uuid, Dialect};
use super::{Backend, Store};

/// What a mail is for; the sender picks the template and the token by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// After a sign-up: a verification link to the user's email.
    Verify,
    /// `POST /auth/verify/resend`: a verification link, if an unverified user has
    /// this email (the request names only the address).
    VerifyRequest,
    /// `POST /auth/password/forgot`: a reset link, if a user has this email.
    ResetRequest,
    /// A PATCH of the email: a confirmation link to the new address.
    EmailChange,
    /// A notice to the old address once a new one was confirmed.
    EmailChanged,
}

impl MailKind {
    /// The kinds a request naming only an address asks for: whether they are
    /// sent must not be visible (it would say whether an account has it).
    pub fn anyone_may_ask(self) -> bool {
        matches!(self, MailKind::VerifyRequest | MailKind::ResetRequest)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Verify => "verify",
            MailKind::VerifyRequest => "verify_request",
            MailKind::ResetRequest => "reset_request",
            MailKind::EmailChange => "email_change",
            MailKind::EmailChanged => "email_changed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            MailKind::Verify,
            MailKind::VerifyRequest,
            MailKind::ResetRequest,
            MailKind::EmailChange,
            MailKind::EmailChanged,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A mail to queue.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub kind: MailKind,
    pub user_id: Option<Uuid>,
    /// The address as the request named it (requests, notices).
    pub recipient: Option<String>,
    /// The address a change would move to.
    pub new_email: Option<String>,
}

/// A claimed mail: the claim's lease lasts until `next_attempt_at` was pushed.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: Uuid,
    pub kind: MailKind,
    pub user_id: Option<Uuid>,
    pub recipient: Option<String>,
    pub new_email: Option<String>,
    /// Failed attempts so far.
    pub attempts: i32,
}

pub(super) const INSERT_MAIL: &str =
    "INSERT INTO mail_outbox (id, kind, user_id, recipient, new_email, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6)";

/// Writes `$mail` (a `&NewMail`) inside transaction `$tx` of `$pool`.
macro_rules! insert_mail {
    ($pool:ident, $tx:ident, $mail:expr, $now:expr) => {{
        let mail: &$crate::store::mail::NewMail = $mail;
        sqlx::query($crate::store::mail::INSERT_MAIL)
            .bind($pool.id(Uuid::now_v7()))
            .bind(mail.kind.as_str())
            .bind(mail.user_id.map(|id| $pool.id(id)))
            .bind(mail.recipient.as_deref())
            .bind(mail.new_email.as_deref())
            .bind($pool.time($now))
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(super) use insert_mail;

const CLAIM_COLUMNS: &str =
    "CAST(id AS TEXT), kind, CAST(user_id AS TEXT), recipient, new_email, attempts";

type MailRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i32,
);

fn queued(row: MailRow) -> anyhow::Result<QueuedMail> {
    let (id, kind, user_id, recipient, new_email, attempts) = row;
    Ok(QueuedMail {
        id: uuid(&id)?,
        kind: MailKind::parse(&kind).with_context(|| format!("unknown mail kind {kind:?}"))?,
        user_id: user_id.as_deref().map(uuid).transpose()?,
        recipient,
        new_email,
        attempts,
    })
}

impl Store {
    /// Queues one mail on its own (a request that changes nothing else).
    pub async fn queue_mail(&self, mail: &NewMail, now: DateTime<Utc>) -> anyhow::Result<()> {
        let done: sqlx::Result<()> = on_pool!(self, pool => async {
            let mut tx = pool.acquire().await?;
            insert_mail!(pool, tx, mail, now);
            Ok(())
        }.await);
        done.context("queueing a mail")?;
        self.committed(Queued {
            mail: true,
            ..Queued::NOTHING
        });
        Ok(())
    }

    /// Notified after this replica queued a mail (its sender waits on it).
    pub fn mail_wakeups(&self) -> Arc<Notify> {
        Arc::clone(&self.mail_wake)
    }

    /// Claims up to `limit` mails that are due, leasing them until `lease_until`.
    pub async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<Vec<QueuedMail>> {
        let rows: Vec<MailRow> = match &self.backend {
            Backend::Postgres(pool) => {
                let sql = format!(
                    "UPDATE mail_outbox SET next_attempt_at = $2 WHERE id IN ( \
                         SELECT id FROM mail_outbox WHERE next_attempt_at <= $1 \
                         ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
                     RETURNING {CLAIM_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(now)
                    .bind(lease_until)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
            }
            // One process writes a SQLite file: the UPDATE alone is the claim.
            Backend::Sqlite(pool) => {
                let sql = format!(
                    "UPDATE mail_outbox SET next_attempt_at = $2 WHERE id IN ( \
                         SELECT id FROM mail_outbox WHERE next_attempt_at <= $1 \
                         ORDER BY next_attempt_at LIMIT $3) \
                     RETURNING {CLAIM_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(pool.time(now))
                    .bind(pool.time(lease_until))
                    .bind(limit)
                    .fetch_all(pool)
                    .await
            }
        }
        .context("claiming mail")?;
        rows.into_iter().map(queued).collect()
    }

    /// The mail server took it (or there was nothing to send): the row goes.
    pub async fn mail_done(&self, id: Uuid) -> anyhow::Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM mail_outbox WHERE id = $1")
            .bind(pool.id(id)).execute(pool).await.map(drop))
        .context("deleting a sent mail")?;
        Ok(())
    }

    /// A failed attempt: the mail waits until `retry_at`.
    pub async fn mail_failed(
        &self,
        id: Uuid,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> anyhow::Result<()> {
        let sql = "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $2, \
                   last_error = $3 WHERE id = $1";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(pool.id(id)).bind(pool.time(retry_at)).bind(error).execute(pool).await.map(drop))
        .context("rescheduling a mail")?;
        Ok(())
    }

    /// Mails waiting (to be sent or retried), and when the oldest was queued.
    pub async fn mail_stats(&self) -> anyhow::Result<(i64, Option<DateTime<Utc>>)> {
        let sql = "SELECT COUNT(*), MIN(created_at) FROM mail_outbox";
        on_pool!(self, pool => sqlx::query_as(sql).fetch_one(pool).await)
            .context("reading the mail outbox")
    }
}
