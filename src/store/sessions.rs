//! Sessions: one refresh-token family per login, its first token (its rotation:
//! `rotation.rs`; its end: `revocation.rs`).

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, uuid, Dialect};
use super::{Backend, Store};

pub(super) const INSERT_TOKEN: &str =
    "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, \
     expires_at) VALUES ($1, $2, $3, $4)";

/// A user's refresh tokens ($1: the user). On Postgres no foreign key deletes
/// them with their family (the refresh's insert would check it: the migration
/// refresh_tokens_unbound), so deleting a user runs this first.
pub(super) const DELETE_TOKENS: &str = "DELETE FROM refresh_tokens WHERE family_id IN \
     (SELECT id FROM refresh_families WHERE user_id = $1)";

macro_rules! insert_family {
    () => {
        "INSERT INTO refresh_families (id, user_id, created_at, last_used_at, \
         client_address, user_agent, auth_time, amr) VALUES ($1, $2, $3, $3, $4, $5, $3, $6)"
    };
}

/// Postgres: the family and its first token in one statement (no transaction of
/// its own, one round trip); $7 is the token's hash, $8 its expiry.
const START_PG: &str = concat!(
    "WITH family AS (",
    insert_family!(),
    " RETURNING id) INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) \
     SELECT $7, id, $3, $8 FROM family"
);

/// Where a login happened, as the sessions list shows it, and how it
/// authenticated (RFC 8176 values, comma-separated: `pwd`, `pwd,otp,mfa`).
#[derive(Debug, Clone)]
pub struct SessionOrigin<'a> {
    pub client_address: &'a str,
    pub user_agent: Option<&'a str>,
    pub amr: &'a str,
}

/// A live session, as its user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The last refresh (the login, before any), to `LAST_USED_GRANULARITY`.
    pub last_used_at: DateTime<Utc>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

type SessionRow = (
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
);

impl Store {
    /// A new refresh-token family (one login) with its first token: on Postgres
    /// one statement, on SQLite a transaction.
    pub async fn start_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        token_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        origin: &SessionOrigin<'_>,
    ) -> anyhow::Result<()> {
        if let Backend::Postgres(pool) = &self.backend {
            sqlx::query(START_PG)
                .bind(family_id)
                .bind(user_id)
                .bind(now)
                .bind(origin.client_address)
                .bind(origin.user_agent)
                .bind(origin.amr)
                .bind(token_hash)
                .bind(expires_at)
                .execute(pool)
                .await
                .context("storing the refresh token")?;
            return Ok(());
        }
        let done: sqlx::Result<()> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query(insert_family!())
            .bind(pool.id(family_id))
            .bind(pool.id(user_id))
            .bind(pool.time(now))
            .bind(origin.client_address)
            .bind(origin.user_agent)
            .bind(origin.amr)
            .execute(&mut *tx)
            .await?;
            sqlx::query(INSERT_TOKEN)
                .bind(token_hash)
                .bind(pool.id(family_id))
                .bind(pool.time(now))
                .bind(pool.time(expires_at))
                .execute(&mut *tx)
                .await?;
            self.commit(tx, Queued::NOTHING).await
        }.await);
        done.context("storing the refresh token")
    }

    /// A re-authentication in session `id`: its `auth_time` and `amr` become
    /// these, so its refreshes carry them on.
    pub async fn reauthenticate_session(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        amr: &str,
    ) -> anyhow::Result<()> {
        let sql = "UPDATE refresh_families SET auth_time = $2, amr = $3 \
                   WHERE id = $1 AND revoked_at IS NULL";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(pool.id(id)).bind(pool.time(now)).bind(amr)
                .execute(pool).await.map(drop)
        })
        .context("recording the re-authentication")?;
        Ok(())
    }

    /// Whether session `id` of `user` is live, the user not locked, and an access
    /// token of it issued at `issued_at` not older than the user's `not_before`.
    pub async fn session_live(
        &self,
        id: Uuid,
        user: Uuid,
        issued_at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let sql = "SELECT COUNT(*) FROM refresh_families f JOIN users u ON u.id = f.user_id \
                   WHERE f.id = $1 AND f.user_id = $2 AND f.revoked_at IS NULL \
                     AND u.locked_at IS NULL AND (u.not_before IS NULL OR u.not_before <= $3)";
        let live: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(pool.id(id)).bind(pool.id(user)).bind(pool.time(issued_at))
                .fetch_one(pool).await
        })
        .context("checking the session")?;
        Ok(live == 1)
    }

    /// The live sessions of `user`, newest first.
    pub async fn sessions_of(&self, user: Uuid) -> anyhow::Result<Vec<SessionInfo>> {
        let sql = "SELECT CAST(id AS TEXT), created_at, last_used_at, client_address, user_agent \
                   FROM refresh_families WHERE user_id = $1 AND revoked_at IS NULL \
                   ORDER BY created_at DESC, id DESC";
        let rows: Vec<SessionRow> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(pool.id(user)).fetch_all(pool).await
        })
        .context("listing the sessions")?;
        rows.into_iter()
            .map(
                |(id, created_at, last_used_at, client_address, user_agent)| {
                    Ok(SessionInfo {
                        id: uuid(&id)?,
                        created_at,
                        last_used_at: last_used_at.unwrap_or(created_at),
                        client_address,
                        user_agent,
                    })
                },
            )
            .collect::<sqlx::Result<_>>()
            .context("reading the sessions")
    }
}

/// `not_before` for a user: access tokens carry whole seconds (`iat`), so the
/// instant is floored to its second. A token of the same second as a password
/// change still passes this check, and is refused by its revoked session.
pub fn not_before(now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_before_is_floored_to_the_second_of_iat() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T10:00:00.750Z")
            .unwrap()
            .with_timezone(&Utc);
        let floor = not_before(now);
        assert_eq!(floor.timestamp(), now.timestamp());
        assert_eq!(floor.timestamp_subsec_micros(), 0);
    }
}
