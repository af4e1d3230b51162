//! `Store::apply`, the one way a user changes: the row, its event in the outbox and
//! the relays' wake-up, in one transaction.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dialect::{on_pool, Dialect};
use super::mail::{insert_mail, MailKind, NewMail};
use super::outbox::{insert_event, lane_of, OUTBOX_CHANNEL};
use super::sessions::{not_before, revoke_sessions};
use super::users::{account, AccountRow, NewUser, WriteError, ACCOUNT_COLUMNS, INSERT_USER};
use super::{Backend, Store};
use crate::domain::{Email, PublicUser, Username};
use crate::events::envelope::{done_by, user_event, OutboxEvent, RevokeReason, UserEventKind};

const KEEP_ANSWER: &str = "UPDATE idempotency_keys SET status = $1, response_headers = $2, \
                           response_body = $3, lease_until = NULL \
                           WHERE scope = $4 AND key = $5 AND claim = $6";

/// A change to a user; `Store::apply` writes it with its event.
#[derive(Debug)]
pub enum UserChange<'a> {
    /// Sign-up: `authd.user.created`.
    Create(NewUser),
    /// New username and/or email: `authd.user.updated`.
    Update {
        id: Uuid,
        username: Option<&'a Username>,
        email: Option<&'a Email>,
    },
    /// A new hash, if the stored one is still `expected` (the one the current
    /// password was verified against); every refresh-token family is revoked:
    /// `authd.user.password_changed`.
    ChangePassword {
        id: Uuid,
        expected: &'a str,
        new_hash: &'a str,
    },
    /// The user and its sessions (by cascade), if the hash is still `expected`:
    /// `authd.user.deleted`.
    Delete { id: Uuid, expected: &'a str },
    /// The user and its sessions, whatever its hash (the admin API):
    /// `authd.user.deleted`.
    Remove { id: Uuid },
    /// No login, no refresh; every session ends and older access tokens are void
    /// (`not_before`): `authd.user.locked`. Nothing when already locked.
    Lock { id: Uuid },
    /// `authd.user.unlocked`. Nothing when not locked.
    Unlock { id: Uuid },
}

/// In one transaction of `$pool`: `$before` (with `$tx`), `$query` (an UPDATE or
/// DELETE that returns the account row), then `$then` (with `$tx`), then the event
/// of `$kind` done by `$actor`. Returns early with `Ok(None)` (nothing kept) when no row matched.
macro_rules! change {
    ($store:ident, $pool:ident, $tx:ident, $kind:expr, $now:expr, $actor:expr, before $before:block, $query:expr, $then:block) => {{
        let mut $tx = $pool.begin().await?;
        $before
        let row: Option<AccountRow> = $query.fetch_optional(&mut *$tx).await?;
        let Some(row) = row else { return Ok(None) };
        let user = account(row)?.user;
        $then
        insert_event!($store, $pool, $tx, &done_by($store.event($kind, &user, $now), $actor));
        $tx.commit().await?;
        Ok::<_, WriteError>(Some(user))
    }};
    ($store:ident, $pool:ident, $tx:ident, $kind:expr, $now:expr, $actor:expr, $query:expr, $then:block) => {
        change!($store, $pool, $tx, $kind, $now, $actor, before {}, $query, $then)
    };
}

impl Store {
    /// Writes `change` and its event in one transaction, then wakes this replica's
    /// relay. Returns the user as it now is (as it was, for a delete); `None` when
    /// the user is gone or its hash is no longer the expected one.
    pub async fn apply(
        &self,
        change: UserChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<PublicUser>, WriteError> {
        self.apply_as(change, now, None).await
    }

    /// `apply`, done by `actor` (`admin:<name>`), which every event it writes names.
    pub async fn apply_as(
        &self,
        change: UserChange<'_>,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        let written = match change {
            UserChange::Create(user) => self.create(user, actor).await.map(Some),
            UserChange::Update {
                id,
                username,
                email,
            } => {
                let sql = format!(
                    "UPDATE users SET username = COALESCE($2, username), \
                     email = COALESCE($3, email), updated_at = $4, \
                     email_verified_at = CASE WHEN $3 IS NULL THEN email_verified_at END \
                     WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}"
                );
                on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Updated, now, actor,
                    sqlx::query_as(&sql)
                        .bind(pool.id(id))
                        .bind(username.map(Username::as_str))
                        .bind(email.map(Email::as_str))
                        .bind(pool.time(now)),
                    {}))
            }
            UserChange::ChangePassword {
                id,
                expected,
                new_hash,
            } => {
                let sql = format!(
                    "UPDATE users SET password_hash = $3, updated_at = $4, not_before = $5 \
                     WHERE id = $1 AND password_hash = $2 RETURNING {ACCOUNT_COLUMNS}"
                );
                on_pool!(self, pool => change!(self, pool, tx, UserEventKind::PasswordChanged, now, actor,
                sqlx::query_as(&sql)
                    .bind(pool.id(id))
                    .bind(expected)
                    .bind(new_hash)
                    .bind(pool.time(now))
                    .bind(pool.time(not_before(now))),
                {
                    revoke_sessions!(self, pool, tx, RevokeReason::PasswordChange, now, actor,
                        "user_id = $3", pool.id(id));
                }))
            }
            UserChange::Delete { id, expected } => {
                let sql = format!(
                    "DELETE FROM users WHERE id = $1 AND password_hash = $2 \
                     RETURNING {ACCOUNT_COLUMNS}"
                );
                // The sessions end (and say so) before the rows go by cascade; if the
                // hash no longer matches, the transaction and its events roll back.
                on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Deleted, now, actor,
                    before {
                        revoke_sessions!(self, pool, tx, RevokeReason::Delete, now, actor,
                            "user_id = $3", pool.id(id));
                    },
                    sqlx::query_as(&sql).bind(pool.id(id)).bind(expected),
                    {}))
            }
            UserChange::Remove { id } => {
                let sql = format!("DELETE FROM users WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}");
                on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Deleted, now, actor,
                    before {
                        revoke_sessions!(self, pool, tx, RevokeReason::Delete, now, actor,
                            "user_id = $3", pool.id(id));
                    },
                    sqlx::query_as(&sql).bind(pool.id(id)),
                    {}))
            }
            UserChange::Lock { id } => {
                let sql = format!(
                    "UPDATE users SET locked_at = $2, not_before = $3, updated_at = $2 \
                     WHERE id = $1 AND locked_at IS NULL RETURNING {ACCOUNT_COLUMNS}"
                );
                on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Locked, now, actor,
                sqlx::query_as(&sql)
                    .bind(pool.id(id))
                    .bind(pool.time(now))
                    .bind(pool.time(not_before(now))),
                {
                    revoke_sessions!(self, pool, tx, RevokeReason::Admin, now, actor,
                        "user_id = $3", pool.id(id));
                }))
            }
            UserChange::Unlock { id } => {
                let sql = format!(
                    "UPDATE users SET locked_at = NULL, updated_at = $2 \
                     WHERE id = $1 AND locked_at IS NOT NULL RETURNING {ACCOUNT_COLUMNS}"
                );
                on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Unlocked, now, actor,
                    sqlx::query_as(&sql).bind(pool.id(id)).bind(pool.time(now)),
                    {}))
            }
        }?;
        if written.is_some() {
            self.wake.notify_one();
        }
        Ok(written)
    }

    async fn create(&self, user: NewUser, actor: Option<&str>) -> Result<PublicUser, WriteError> {
        let public = user.public();
        let event = done_by(
            self.event(UserEventKind::Created, &public, user.created_at),
            actor,
        );
        let (held, answer) = user.answer.unzip();
        let answer_headers = answer
            .as_ref()
            .map(|a| serde_json::to_string(&a.headers))
            .transpose()
            .map_err(|err| WriteError::Other(err.into()))?;
        let (status, body) = answer.map(|a| (i32::from(a.status), a.body)).unzip();
        let (scope, key, claim) = match held {
            Some(h) => (Some(h.scope), Some(h.key), Some(h.claim)),
            None => (None, None, None),
        };
        match &self.backend {
            // The user row, its outbox event, the answer kept with its Idempotency-Key
            // and the relays' wake-up in one statement: a single statement is its
            // own transaction, so this is atomic in one round trip (and one commit)
            // instead of six. Without a key the last UPDATE matches nothing.
            Backend::Postgres(pool) => {
                sqlx::query(
                    "WITH new_user AS ( \
                         INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)), \
                     new_event AS ( \
                         INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at) \
                         VALUES ($6, $1, $7, $8, $9, $5)), \
                     kept AS ( \
                         UPDATE idempotency_keys SET status = $11, response_headers = $12, \
                                response_body = $13, lease_until = NULL \
                         WHERE scope = $14 AND key = $15 AND claim = $16), \
                     new_mail AS ( \
                         INSERT INTO mail_outbox (id, kind, user_id, recipient, next_attempt_at, created_at) \
                         SELECT $17, $18, $1, $3, $5, $5 WHERE $19) \
                     SELECT pg_notify($10, '') WHERE $20",
                )
                .bind(user.id)
                .bind(user.username.as_str())
                .bind(user.email.as_str())
                .bind(&user.password_hash)
                .bind(user.created_at)
                .bind(event.id)
                .bind(lane_of(event.aggregate_id))
                .bind(&event.event_type)
                .bind(pool.json(&event.payload))
                .bind(OUTBOX_CHANNEL)
                .bind(status)
                .bind(&answer_headers)
                .bind(&body)
                .bind(&scope)
                .bind(&key)
                .bind(&claim)
                .bind(Uuid::now_v7())
                .bind(MailKind::Verify.as_str())
                .bind(user.send_verification)
                .bind(self.notify_commits)
                .execute(pool)
                .await?;
            }
            // SQLite has no INSERT inside WITH: statements in a transaction.
            // Statements of their own rather than sqlx's transaction: COMMIT may
            // fail (a full disk) and leave the transaction open with its write
            // lock, which must end here, not whenever the connection is next used.
            Backend::Sqlite(pool) => {
                let mut tx = pool.acquire().await?;
                sqlx::query("BEGIN IMMEDIATE").execute(&mut *tx).await?;
                let written: sqlx::Result<()> = async {
                    sqlx::query(INSERT_USER)
                        .bind(pool.id(user.id))
                        .bind(user.username.as_str())
                        .bind(user.email.as_str())
                        .bind(&user.password_hash)
                        .bind(pool.time(user.created_at))
                        .execute(&mut *tx)
                        .await?;
                    insert_event!(self, pool, tx, &event);
                    if user.send_verification {
                        let mail = NewMail {
                            kind: MailKind::Verify,
                            user_id: Some(user.id),
                            recipient: Some(user.email.to_string()),
                            new_email: None,
                        };
                        insert_mail!(pool, tx, &mail, user.created_at);
                    }
                    if claim.is_some() {
                        sqlx::query(KEEP_ANSWER)
                            .bind(status)
                            .bind(&answer_headers)
                            .bind(&body)
                            .bind(&scope)
                            .bind(&key)
                            .bind(&claim)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query("COMMIT").execute(&mut *tx).await.map(drop)
                }
                .await;
                if let Err(err) = written {
                    let _ = sqlx::query("ROLLBACK").execute(&mut *tx).await;
                    return Err(err.into());
                }
            }
        }
        if user.send_verification {
            self.mail_wake.notify_one();
        }
        Ok(public)
    }

    pub(super) fn event(
        &self,
        kind: UserEventKind,
        user: &PublicUser,
        now: DateTime<Utc>,
    ) -> OutboxEvent {
        user_event(kind, user, &self.event_source, now)
    }
}
