//! Single-use account tokens (`account_tokens`, kept only as SHA-256), which the
//! mails carry, and the user changes that spending one makes: a verified email, a
//! confirmed new email, a password set by a reset link. Each change writes its
//! event in the transaction that spends the token, and ends in `commit`.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, uuid, Dialect};
use super::mail::{insert_mail, MailKind, NewMail};
use super::outbox::insert_event;
use super::sessions::{not_before, revoke_sessions};
use super::users::{account, AccountRow, WriteError, ACCOUNT_COLUMNS};
use super::Store;
use crate::domain::PublicUser;
use crate::events::envelope::{RevokeReason, UserEventKind};

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

/// What presenting a verification token did.
#[derive(Debug, Clone)]
pub enum Verified {
    /// The email is verified.
    Email(PublicUser),
    /// The email moved to the confirmed address; the old one is told.
    EmailChanged { user: PublicUser, old_email: String },
}

impl Store {
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
            self.commit(tx, Queued::NOTHING).await
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
            let notice = matches!(outcome, Verified::EmailChanged { .. });
            self.commit(tx, Queued::EVENTS.and_mail_if(notice)).await?;
            Ok(Some(outcome))
        }.await);
        verified
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
            self.commit(tx, Queued::EVENTS).await?;
            Ok(Some(user))
        }.await);
        reset
    }
}
