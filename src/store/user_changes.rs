//! `Store::apply`, the one way a user changes: the row, its event in the outbox and
//! the relays' wake-up, in one transaction.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dialect::{on_pool, Dialect};
use super::outbox::{insert_event, lane_of, OUTBOX_CHANNEL};
use super::users::{account, AccountRow, NewUser, WriteError, ACCOUNT_COLUMNS, INSERT_USER};
use super::{Backend, Store};
use crate::domain::{Email, PublicUser, Username};
use crate::events::envelope::{user_event, OutboxEvent, UserEventKind};

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
}

/// In one transaction of `$pool`: `$query` (an UPDATE or DELETE that returns the
/// account row and so takes its lock first), then `$then` (with `$tx`), then the
/// event of `$kind`. Returns early with `Ok(None)` when no row matched.
macro_rules! change {
    ($store:ident, $pool:ident, $tx:ident, $kind:expr, $now:expr, $query:expr, $then:block) => {{
        let mut $tx = $pool.begin().await?;
        let row: Option<AccountRow> = $query.fetch_optional(&mut *$tx).await?;
        let Some(row) = row else { return Ok(None) };
        let user = account(row)?.user;
        $then
        insert_event!($pool, $tx, &$store.event($kind, &user, $now));
        $tx.commit().await?;
        Ok::<_, WriteError>(Some(user))
    }};
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
        let written = match change {
            UserChange::Create(user) => self.create(user).await.map(Some),
            UserChange::Update {
                id,
                username,
                email,
            } => {
                let sql = format!(
                    "UPDATE users SET username = COALESCE($2, username), \
                     email = COALESCE($3, email), updated_at = $4 \
                     WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}"
                );
                on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Updated, now,
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
                    "UPDATE users SET password_hash = $3, updated_at = $4 \
                     WHERE id = $1 AND password_hash = $2 RETURNING {ACCOUNT_COLUMNS}"
                );
                on_pool!(self, pool => change!(self, pool, tx, UserEventKind::PasswordChanged, now,
                sqlx::query_as(&sql)
                    .bind(pool.id(id))
                    .bind(expected)
                    .bind(new_hash)
                    .bind(pool.time(now)),
                {
                    sqlx::query(super::sessions::REVOKE_ALL_OF_USER)
                        .bind(pool.id(id))
                        .bind(pool.time(now))
                        .execute(&mut *tx)
                        .await?;
                }))
            }
            UserChange::Delete { id, expected } => {
                let sql = format!(
                    "DELETE FROM users WHERE id = $1 AND password_hash = $2 \
                     RETURNING {ACCOUNT_COLUMNS}"
                );
                on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Deleted, now,
                    sqlx::query_as(&sql).bind(pool.id(id)).bind(expected),
                    {}))
            }
        }?;
        if written.is_some() {
            self.wake.notify_one();
        }
        Ok(written)
    }

    async fn create(&self, user: NewUser) -> Result<PublicUser, WriteError> {
        let public = PublicUser {
            id: user.id,
            username: user.username.to_string(),
            email: user.email.to_string(),
            created_at: user.created_at,
        };
        let event = self.event(UserEventKind::Created, &public, user.created_at);
        match &self.backend {
            // The user row, its outbox event and the relays' wake-up in one
            // statement: a single statement is its own transaction, so this is
            // atomic in one round trip (and one commit) instead of five.
            Backend::Postgres(pool) => {
                sqlx::query(
                    "WITH new_user AS ( \
                         INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)), \
                     new_event AS ( \
                         INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at) \
                         VALUES ($6, $1, $7, $8, $9, $5)) \
                     SELECT pg_notify($10, '')",
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
                .execute(pool)
                .await?;
            }
            // SQLite has no INSERT inside WITH: two statements in a transaction.
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(INSERT_USER)
                    .bind(pool.id(user.id))
                    .bind(user.username.as_str())
                    .bind(user.email.as_str())
                    .bind(&user.password_hash)
                    .bind(pool.time(user.created_at))
                    .execute(&mut *tx)
                    .await?;
                insert_event!(pool, tx, &event);
                tx.commit().await?;
            }
        }
        Ok(public)
    }

    fn event(&self, kind: UserEventKind, user: &PublicUser, now: DateTime<Utc>) -> OutboxEvent {
        user_event(kind, user, &self.event_source, now)
    }
}
