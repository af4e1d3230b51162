//! Accounts, sessions, signing keys and login counters: the state behind login.
//!
//! One SQL text serves both stores. Statements avoid backend-specific syntax
//! (no `FOR UPDATE`: an `UPDATE` or `DELETE` that comes first takes the row lock),
//! ids are read back through `CAST(.. AS TEXT)`, and `Dialect` converts what is
//! bound: Postgres takes uuid, timestamptz and jsonb, SQLite takes text.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgPool, SqlitePool};
use uuid::Uuid;

use super::{OutboxEvent, PublicUser, Store, WriteError, OUTBOX_CHANNEL};
use crate::domain::{Email, Username};

/// Runs `$body` with `$pool` bound to whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Postgres($pool) => $body,
            Store::Sqlite($pool) => $body,
        }
    };
}

/// How values are bound for each store.
trait Dialect {
    type Id;
    type Time;
    type Json;
    fn id(&self, id: Uuid) -> Self::Id;
    fn time(&self, t: DateTime<Utc>) -> Self::Time;
    fn json(&self, v: &Value) -> Self::Json;
    /// A statement that wakes every replica's relay at commit, when the store has one.
    fn notify(&self) -> Option<&'static str>;
}

impl Dialect for PgPool {
    type Id = Uuid;
    type Time = DateTime<Utc>;
    type Json = Json<Value>;
    fn id(&self, id: Uuid) -> Uuid {
        id
    }
    fn time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }
    fn json(&self, v: &Value) -> Json<Value> {
        Json(v.clone())
    }
    fn notify(&self) -> Option<&'static str> {
        Some("SELECT pg_notify($1, '')")
    }
}

impl Dialect for SqlitePool {
    type Id = String;
    type Time = String;
    type Json = String;
    fn id(&self, id: Uuid) -> String {
        id.to_string()
    }
    fn time(&self, t: DateTime<Utc>) -> String {
        super::sqlite::text_time(t)
    }
    fn json(&self, v: &Value) -> String {
        v.to_string()
    }
    fn notify(&self) -> Option<&'static str> {
        None
    }
}

/// Writes `$event` to the outbox inside transaction `$tx` (and wakes the relays at
/// commit). Callers have locked the user row first, so seq order is commit order.
macro_rules! insert_event {
    ($pool:ident, $tx:ident, $event:expr) => {{
        let event: &OutboxEvent = $event;
        sqlx::query(
            "INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($pool.id(event.id))
        .bind($pool.id(event.aggregate_id))
        .bind(event.lane)
        .bind(&event.event_type)
        .bind($pool.json(&event.payload))
        .bind($pool.time(event.created_at))
        .execute(&mut *$tx)
        .await?;
        if let Some(notify) = $pool.notify() {
            sqlx::query(notify)
                .bind(OUTBOX_CHANNEL)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

const ACCOUNT_COLUMNS: &str = "CAST(id AS TEXT), username, email, created_at, password_hash";

type AccountRow = (String, String, String, DateTime<Utc>, String);

/// A user with what login needs: never leaves the server.
#[derive(Clone)]
pub struct Account {
    pub user: PublicUser,
    pub password_hash: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

fn account(row: AccountRow) -> sqlx::Result<Account> {
    let (id, username, email, created_at, password_hash) = row;
    let id = Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Account {
        user: PublicUser {
            id,
            username,
            email,
            created_at,
        },
        password_hash,
    })
}

fn uuid(text: &str) -> sqlx::Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent and the new one is stored.
    Rotated { user_id: Uuid, family_id: Uuid },
    /// The token had already been rotated: its whole family is now revoked.
    Reused { family_id: Uuid },
    /// Unknown, expired or revoked.
    Invalid,
}

/// An Ed25519 signing key as stored.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    /// The 32-byte seed.
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The account whose username or (case-folded) email is `login`.
    pub async fn account_by_login(&self, login: &str) -> anyhow::Result<Option<Account>> {
        let folded = login.to_lowercase();
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE username = $1 OR email = $1");
        let row: Option<AccountRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(&folded).fetch_optional(pool).await
        })
        .context("looking up the login")?;
        Ok(row.map(account).transpose()?)
    }

    pub async fn account(&self, id: Uuid) -> anyhow::Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1");
        let row: Option<AccountRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(pool.id(id)).fetch_optional(pool).await
        })
        .context("reading the account")?;
        Ok(row.map(account).transpose()?)
    }

    /// Replaces a hash made with old parameters; `false` when the hash changed meanwhile.
    pub async fn rehash(&self, id: Uuid, old: &str, new: &str) -> anyhow::Result<bool> {
        let sql = "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2";
        let done = on_pool!(self, pool => {
            sqlx::query(sql).bind(pool.id(id)).bind(old).bind(new).execute(pool).await
                .map(|r| r.rows_affected() == 1)
        })
        .context("storing the rehashed password")?;
        Ok(done)
    }

    /// Changes username and/or email and writes `authd.user.updated`, atomically.
    /// `None` when the user is gone.
    pub async fn update_profile(
        &self,
        id: Uuid,
        username: Option<&Username>,
        email: Option<&Email>,
        now: DateTime<Utc>,
        event: &(dyn Fn(&PublicUser) -> OutboxEvent + Sync),
    ) -> Result<Option<PublicUser>, WriteError> {
        let sql = format!(
            "UPDATE users SET username = COALESCE($2, username), email = COALESCE($3, email), \
             updated_at = $4 WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}"
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<AccountRow> = sqlx::query_as(&sql)
                .bind(pool.id(id))
                .bind(username.map(Username::as_str))
                .bind(email.map(Email::as_str))
                .bind(pool.time(now))
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let user = account(row)?.user;
            insert_event!(pool, tx, &event(&user));
            tx.commit().await?;
            Ok(Some(user))
        })
    }

    /// Sets a new hash if the stored one is still `expected` (the one the current
    /// password was verified against), revokes every refresh-token family and writes
    /// `authd.user.password_changed`, atomically. `None`: the hash changed meanwhile.
    pub async fn change_password(
        &self,
        id: Uuid,
        expected: &str,
        new_hash: &str,
        now: DateTime<Utc>,
        event: &(dyn Fn(&PublicUser) -> OutboxEvent + Sync),
    ) -> Result<Option<PublicUser>, WriteError> {
        let sql = format!(
            "UPDATE users SET password_hash = $3, updated_at = $4 \
             WHERE id = $1 AND password_hash = $2 RETURNING {ACCOUNT_COLUMNS}"
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<AccountRow> = sqlx::query_as(&sql)
                .bind(pool.id(id))
                .bind(expected)
                .bind(new_hash)
                .bind(pool.time(now))
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let user = account(row)?.user;
            sqlx::query(
                "UPDATE refresh_families SET revoked_at = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(pool.id(id))
            .bind(pool.time(now))
            .execute(&mut *tx)
            .await?;
            insert_event!(pool, tx, &event(&user));
            tx.commit().await?;
            Ok(Some(user))
        })
    }

    /// Deletes the user if its hash is still `expected`, with its sessions (by
    /// cascade), and writes `authd.user.deleted`, atomically.
    pub async fn delete_user(
        &self,
        id: Uuid,
        expected: &str,
        event: &(dyn Fn(&PublicUser) -> OutboxEvent + Sync),
    ) -> Result<Option<PublicUser>, WriteError> {
        let sql = format!(
            "DELETE FROM users WHERE id = $1 AND password_hash = $2 RETURNING {ACCOUNT_COLUMNS}"
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<AccountRow> = sqlx::query_as(&sql)
                .bind(pool.id(id))
                .bind(expected)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let user = account(row)?.user;
            insert_event!(pool, tx, &event(&user));
            tx.commit().await?;
            Ok(Some(user))
        })
    }

    /// A new refresh-token family (one login) with its first token.
    pub async fn start_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        token_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let done: sqlx::Result<()> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO refresh_families (id, user_id, created_at) VALUES ($1, $2, $3)")
                .bind(pool.id(family_id))
                .bind(pool.id(user_id))
                .bind(pool.time(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(pool.id(family_id))
            .bind(pool.time(now))
            .bind(pool.time(expires_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }.await);
        done.context("storing the refresh token")
    }

    /// Spends a live refresh token and stores its successor; a token that was
    /// already spent revokes its family (someone else holds a copy).
    pub async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<Rotation> {
        let rotation: sqlx::Result<Rotation> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            // Write first: the row lock settles two concurrent uses of one token.
            let spent: Option<String> = sqlx::query_scalar(
                "UPDATE refresh_tokens SET rotated_at = $2 \
                 WHERE token_hash = $1 AND rotated_at IS NULL AND expires_at > $2 \
                   AND family_id IN (SELECT id FROM refresh_families WHERE revoked_at IS NULL) \
                 RETURNING CAST(family_id AS TEXT)",
            )
            .bind(old_hash)
            .bind(pool.time(now))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(family) = spent {
                let family_id = uuid(&family)?;
                let user: String = sqlx::query_scalar(
                    "SELECT CAST(user_id AS TEXT) FROM refresh_families WHERE id = $1",
                )
                .bind(pool.id(family_id))
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(new_hash)
                .bind(pool.id(family_id))
                .bind(pool.time(now))
                .bind(pool.time(expires_at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(Rotation::Rotated { user_id: uuid(&user)?, family_id });
            }
            let known: Option<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
                "SELECT CAST(family_id AS TEXT), rotated_at FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((family, Some(_rotated))) = known else {
                return Ok(Rotation::Invalid);
            };
            let family_id = uuid(&family)?;
            sqlx::query(
                "UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(pool.id(family_id))
            .bind(pool.time(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Rotation::Reused { family_id })
        }.await);
        rotation.context("rotating the refresh token")
    }

    /// Whether session (refresh-token family) `id` of `user` exists and is not revoked.
    pub async fn session_live(&self, id: Uuid, user: Uuid) -> anyhow::Result<bool> {
        let sql = "SELECT COUNT(*) FROM refresh_families \
                   WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL";
        let live: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(pool.id(id)).bind(pool.id(user)).fetch_one(pool).await
        })
        .context("checking the session")?;
        Ok(live == 1)
    }

    /// Revokes the family of a refresh token (logout); `false` when nothing was live.
    pub async fn revoke_family_of(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let sql = "UPDATE refresh_families SET revoked_at = $2 \
                   WHERE id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) \
                     AND revoked_at IS NULL";
        let done = on_pool!(self, pool => {
            sqlx::query(sql).bind(token_hash).bind(pool.time(now)).execute(pool).await
                .map(|r| r.rows_affected() == 1)
        })
        .context("revoking the refresh-token family")?;
        Ok(done)
    }

    /// The current key and the keys retired after `since`, newest first.
    pub async fn signing_keys(&self, since: DateTime<Utc>) -> anyhow::Result<Vec<StoredKey>> {
        type Row = (
            String,
            Vec<u8>,
            Vec<u8>,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
        );
        let sql = "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys \
                   WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC";
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(pool.time(since)).fetch_all(pool).await
        })
        .context("reading the signing keys")?;
        Ok(rows
            .into_iter()
            .map(
                |(kid, private_key, public_key, created_at, retired_at)| StoredKey {
                    kid,
                    private_key,
                    public_key,
                    created_at,
                    retired_at,
                },
            )
            .collect())
    }

    /// Stores `key` as the current key unless there is one already (replicas that
    /// start together race here; the partial unique index picks one winner).
    pub async fn add_first_key(&self, key: &StoredKey) -> anyhow::Result<bool> {
        let sql = "INSERT INTO signing_keys (kid, private_key, public_key, created_at) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
        let added = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(&key.kid)
                .bind(&key.private_key)
                .bind(&key.public_key)
                .bind(pool.time(key.created_at))
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
        })
        .context("storing the first signing key")?;
        Ok(added)
    }

    /// Retires the current key and makes `key` current, atomically.
    pub async fn rotate_key(&self, key: &StoredKey) -> anyhow::Result<()> {
        let done: sqlx::Result<()> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(pool.time(key.created_at))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, private_key, public_key, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&key.kid)
            .bind(&key.private_key)
            .bind(&key.public_key)
            .bind(pool.time(key.created_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }.await);
        done.context("rotating the signing key")
    }

    /// Deletes what can no longer decide anything: expired refresh tokens, families
    /// left without tokens, and login counters whose window and lock have passed.
    /// Spent tokens that have not expired stay: they detect reuse. Idempotent, so
    /// every replica may run it. Returns the rows deleted.
    pub async fn prune(&self, now: DateTime<Utc>, window_ms: i64) -> anyhow::Result<u64> {
        let now_ms = now.timestamp_millis();
        let deleted: sqlx::Result<u64> = on_pool!(self, pool => async {
            let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
                .bind(pool.time(now))
                .execute(pool)
                .await?
                .rows_affected();
            let families = sqlx::query(
                "DELETE FROM refresh_families WHERE NOT EXISTS \
                 (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id)",
            )
            .execute(pool)
            .await?
            .rows_affected();
            let counters = sqlx::query(
                "DELETE FROM login_throttle WHERE last_failure_ms < $1 \
                 AND (locked_until_ms IS NULL OR locked_until_ms <= $2)",
            )
            .bind(now_ms - window_ms)
            .bind(now_ms)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(tokens + families + counters)
        }.await);
        deleted.context("pruning expired sessions and counters")
    }

    /// The latest lock among `keys` that is still in force, in Unix ms.
    pub async fn login_locked_until(
        &self,
        keys: [&str; 2],
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        let sql = "SELECT MAX(locked_until_ms) FROM login_throttle \
                   WHERE key IN ($1, $2) AND locked_until_ms > $3";
        let until: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(keys[0]).bind(keys[1]).bind(now_ms).fetch_one(pool).await
        })
        .context("reading the login counters")?;
        Ok(until)
    }

    /// Counts one failure for `key` and returns the failures within the window
    /// (a failure older than the window starts the count again).
    pub async fn count_login_failure(
        &self,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> anyhow::Result<i32> {
        let sql = "INSERT INTO login_throttle (key, failures, last_failure_ms) VALUES ($1, 1, $2) \
                   ON CONFLICT (key) DO UPDATE SET \
                     failures = CASE WHEN login_throttle.last_failure_ms < $3 THEN 1 \
                                     ELSE login_throttle.failures + 1 END, \
                     last_failure_ms = $2 \
                   RETURNING failures";
        let failures: i32 = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(key).bind(now_ms).bind(now_ms - window_ms).fetch_one(pool).await
        })
        .context("counting a failed login")?;
        Ok(failures)
    }

    /// Locks `key` until `until_ms`, unless it is already locked for longer.
    pub async fn lock_login(&self, key: &str, until_ms: i64) -> anyhow::Result<()> {
        let sql = "UPDATE login_throttle SET locked_until_ms = $2 \
                   WHERE key = $1 AND (locked_until_ms IS NULL OR locked_until_ms < $2)";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(key).bind(until_ms).execute(pool).await.map(|_| ())
        })
        .context("locking the login")?;
        Ok(())
    }

    pub async fn clear_login_failures(&self, key: &str) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(pool).await.map(|_| ())
        })
        .context("clearing the login counter")?;
        Ok(())
    }
}
