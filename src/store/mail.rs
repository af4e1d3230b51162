//! Mail waiting to be sent (`mail_outbox`), and the single-use account tokens the
//! mails carry (`account_tokens`, kept only as SHA-256).
//!
//! A mail row is written in the transaction of what causes it and holds no secret:
//! the sender makes the token when it sends. Senders of every replica claim rows
//! with `SKIP LOCKED` and push `next_attempt_at` ahead as a lease, so a mail is sent
//! by one replica; a replica that dies mid-send leaves it to another once the lease
//! ends.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use super::dialect::{on_pool, uuid, Dialect};
use super::outbox::insert_event;
use super::sessions::{not_before, revoke_sessions};
use super::users::{account, AccountRow, WriteError, ACCOUNT_COLUMNS};
use super::{Backend, Store};
use crate::domain::PublicUser;
use crate::events::envelope::{RevokeReason, UserEventKind};

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

/// What a token proves once presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    Verify,
    EmailChange,
    Reset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Verify => "verify",
            TokenPurpose::EmailChange => "email_change",
            TokenPurpose::Reset => "reset",
        }
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

/// What presenting a verification token did.
#[derive(Debug, Clone)]
pub enum Verified {
    /// The email is verified.
    Email(PublicUser),
    /// The email moved to the confirmed address; the old one is told.
    EmailChanged { user: PublicUser, old_email: String },
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
        self.mail_wake.notify_one();
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

    /// The account whose email is `email` (case-folded).
    pub async fn account_by_email(&self, email: &str) -> anyhow::Result<Option<super::Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE email = $1");
        let row: Option<AccountRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(email.to_lowercase()).fetch_optional(pool).await
        })
        .context("looking up the email")?;
        Ok(row.map(account).transpose()?)
    }

    /// Stores a token of `purpose` for `user_id`; older ones of that purpose stop
    /// working.
    pub async fn issue_account_token(
        &self,
        user_id: Uuid,
        purpose: TokenPurpose,
        new_email: Option<&str>,
        token_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let done: sqlx::Result<()> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2")
                .bind(pool.id(user_id))
                .bind(purpose.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO account_tokens (token_hash, user_id, purpose, new_email, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token_hash)
            .bind(pool.id(user_id))
            .bind(purpose.as_str())
            .bind(new_email)
            .bind(pool.time(now))
            .bind(pool.time(expires_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }.await);
        done.context("storing an account token")
    }

    /// Spends a live verification or email-change token: the email is verified
    /// (`authd.user.verified`), or replaced by the confirmed one
    /// (`authd.user.email_changed`, and a notice queued to the old address).
    /// `None`: unknown, expired or spent.
    pub async fn verify_email(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<Verified>, WriteError> {
        let verified: Result<Option<Verified>, WriteError> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            // The DELETE takes the row: two requests with one token, one wins.
            let spent: Option<(String, String, Option<String>)> = sqlx::query_as(
                "DELETE FROM account_tokens WHERE token_hash = $1 AND expires_at > $2 \
                   AND purpose IN ('verify', 'email_change') \
                 RETURNING CAST(user_id AS TEXT), purpose, new_email",
            )
            .bind(token_hash)
            .bind(pool.time(now))
            .fetch_optional(&mut *tx)
            .await?;
            let Some((user_id, purpose, new_email)) = spent else {
                return Ok(None);
            };
            let user_id = uuid(&user_id)?;
            let (sql, kind) = match new_email.as_deref() {
                Some(_) if purpose == "email_change" => (
                    format!("UPDATE users SET email = $3, email_verified_at = $2, updated_at = $2 \
                             WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}"),
                    UserEventKind::EmailChanged,
                ),
                _ => (
                    format!("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), \
                             updated_at = $2 WHERE id = $1 AND ($3 IS NULL OR $3 = email) \
                             RETURNING {ACCOUNT_COLUMNS}"),
                    UserEventKind::Verified,
                ),
            };
            let old_email: Option<String> =
                sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
                    .bind(pool.id(user_id))
                    .fetch_optional(&mut *tx)
                    .await?;
            let row: Option<AccountRow> = sqlx::query_as(&sql)
                .bind(pool.id(user_id))
                .bind(pool.time(now))
                .bind(new_email.as_deref())
                .fetch_optional(&mut *tx)
                .await?;
            let (Some(row), Some(old_email)) = (row, old_email) else {
                return Ok(None);
            };
            let user = account(row)?.user;
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose IN ('verify', 'email_change')")
                .bind(pool.id(user_id))
                .execute(&mut *tx)
                .await?;
            insert_event!(self, pool, tx, &self.event(kind, &user, now));
            let outcome = if kind == UserEventKind::EmailChanged {
                let notice = NewMail {
                    kind: MailKind::EmailChanged,
                    user_id: Some(user_id),
                    recipient: Some(old_email.clone()),
                    new_email: Some(user.email.clone()),
                };
                insert_mail!(pool, tx, &notice, now);
                Verified::EmailChanged { user, old_email }
            } else {
                Verified::Email(user)
            };
            tx.commit().await?;
            Ok(Some(outcome))
        }.await);
        let verified = verified?;
        if let Some(outcome) = &verified {
            self.wake.notify_one();
            if matches!(outcome, Verified::EmailChanged { .. }) {
                self.mail_wake.notify_one();
            }
        }
        Ok(verified)
    }

    /// Spends a live reset token: the new hash, every session ended
    /// (`password_reset`), older access tokens void, the email counted as verified
    /// (the link reached it), `authd.user.password_reset`. `None`: unknown, expired
    /// or spent.
    pub async fn reset_password(
        &self,
        token_hash: &[u8],
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PublicUser>, WriteError> {
        let reset: Result<Option<PublicUser>, WriteError> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let spent: Option<String> = sqlx::query_scalar(
                "DELETE FROM account_tokens WHERE token_hash = $1 AND expires_at > $2 \
                   AND purpose = 'reset' RETURNING CAST(user_id AS TEXT)",
            )
            .bind(token_hash)
            .bind(pool.time(now))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(user_id) = spent else {
                return Ok(None);
            };
            let user_id = uuid(&user_id)?;
            let sql = format!(
                "UPDATE users SET password_hash = $2, updated_at = $3, not_before = $4, \
                     email_verified_at = COALESCE(email_verified_at, $3) \
                 WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}"
            );
            let row: Option<AccountRow> = sqlx::query_as(&sql)
                .bind(pool.id(user_id))
                .bind(new_hash)
                .bind(pool.time(now))
                .bind(pool.time(not_before(now)))
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let user = account(row)?.user;
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose = 'reset'")
                .bind(pool.id(user_id))
                .execute(&mut *tx)
                .await?;
            revoke_sessions!(self, pool, tx, RevokeReason::PasswordReset, now, None,
                "user_id = $3", pool.id(user_id));
            insert_event!(self, pool, tx, &self.event(UserEventKind::PasswordReset, &user, now));
            tx.commit().await?;
            Ok(Some(user))
        }.await);
        let reset = reset?;
        if reset.is_some() {
            self.wake.notify_one();
        }
        Ok(reset)
    }
}
