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
use super::mfa::CODES_WITHOUT_FACTOR;
use super::outbox::insert_event;
use super::revocation::revoke_sessions;
use super::sessions::not_before;
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

/// A mailed token about to be stored (only its hash is).
#[derive(Debug, Clone, Copy)]
pub struct NewAccountToken<'a> {
    pub user_id: Uuid,
    /// The mail that will carry it: no token for a mail voided meanwhile.
    pub mail_id: Uuid,
    pub purpose: TokenPurpose,
    /// The address it confirms (an email change), or was sent to (verification).
    pub new_email: Option<&'a str>,
    pub token_hash: &'a [u8],
}

/// What presenting a verification token did.
#[derive(Debug, Clone)]
pub enum Verified {
    /// The email is verified.
    Email(PublicUser),
    /// The email moved to the confirmed address; the old one is told.
    EmailChanged { user: PublicUser, old_email: String },
}

/// In transaction `$tx` of `$pool`: every mailed token of user `$id` stops working,
/// the mails that would make one (a verification, an email change) are not sent,
/// and every pending `mfa_token` (a login or an enrolment between its password and
/// its second step) ends. A password change, a reset and a lock end what a thief
/// may have started.
macro_rules! void_account_tokens {
    ($pool:ident, $tx:ident, $id:expr) => {{
        sqlx::query("DELETE FROM account_tokens WHERE user_id = $1")
            .bind($pool.id($id))
            .execute(&mut *$tx)
            .await?;
        sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1")
            .bind($pool.id($id))
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "DELETE FROM mail_outbox WHERE user_id = $1 AND kind IN ('verify', 'email_change')",
        )
        .bind($pool.id($id))
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use void_account_tokens;

impl Store {
    /// Stores a token of `purpose` for `user_id`, to be sent by mail `mail_id`;
    /// older ones of that purpose stop working. `false` (nothing stored) when the
    /// user is gone or the mail was voided meanwhile (a password change, a reset or
    /// a lock voids pending token mails: `void_account_tokens!`). The user's row is
    /// locked first, so a token is either issued before such a change (and voided
    /// by it) or not at all.
    pub async fn issue_account_token(
        &self,
        token: &NewAccountToken<'_>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let NewAccountToken {
            user_id,
            mail_id,
            purpose,
            new_email,
            token_hash,
        } = *token;
        let done: sqlx::Result<bool> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let user = sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(pool.id(user_id))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let mail: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE id = $1")
                .bind(pool.id(mail_id))
                .fetch_one(&mut *tx)
                .await?;
            if user == 0 || mail == 0 {
                return Ok(false);
            }
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
            self.commit(tx, Queued::NOTHING).await?;
            Ok(true)
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
            // A confirmed new address voids every link mailed before, a reset link
            // to the old address too; a verified one voids the other verify links.
            let voided = if kind == UserEventKind::EmailChanged {
                "DELETE FROM account_tokens WHERE user_id = $1"
            } else {
                "DELETE FROM account_tokens WHERE user_id = $1 AND purpose IN ('verify', 'email_change')"
            };
            sqlx::query(voided)
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

    /// Whether `token_hash` is a reset token that could be spent now: checked before
    /// a new password is hashed, so a wrong token costs no hash.
    pub async fn reset_token_live(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let sql = "SELECT COUNT(*) FROM account_tokens \
                   WHERE token_hash = $1 AND purpose = 'reset' AND expires_at > $2";
        let live: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(token_hash).bind(pool.time(now)).fetch_one(pool).await
        })
        .context("looking up a reset token")?;
        Ok(live == 1)
    }

    /// Spends a live reset token: the new hash, every session ended
    /// (`password_reset`), older access tokens void, the email counted as verified
    /// (the link reached it), every passkey removed (`authd.user.passkey_removed`
    /// each, and the recovery codes when no factor is left), then
    /// `authd.user.password_reset`. `None`: unknown, expired or spent.
    ///
    /// A passkey logs in alone, as a password does, so it goes with the password
    /// it may have been registered beside: whoever signed up with someone's email
    /// address before its owner did (verification is off by default) and added a
    /// passkey would otherwise keep the account after the owner's reset. An
    /// authenticator (TOTP) stays: it is a second factor only.
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
            void_account_tokens!(pool, tx, user_id);
            revoke_sessions!(self, pool, tx, RevokeReason::PasswordReset, now, None,
                "user_id = $3", pool.id(user_id));
            let passkeys = sqlx::query(
                "DELETE FROM mfa_factors WHERE user_id = $1 AND kind = 'passkey'",
            )
            .bind(pool.id(user_id))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if passkeys > 0 {
                sqlx::query(CODES_WITHOUT_FACTOR)
                .bind(pool.id(user_id))
                .execute(&mut *tx)
                .await?;
            }
            for _ in 0..passkeys {
                let removed = self.event(UserEventKind::PasskeyRemoved, &user, now);
                insert_event!(self, pool, tx, &removed);
            }
            insert_event!(self, pool, tx, &self.event(UserEventKind::PasswordReset, &user, now));
            self.commit(tx, Queued::EVENTS).await?;
            Ok(Some(user))
        }.await);
        reset
    }
}
