//! A refresh: the presented token is spent and its successor stored. On Postgres a
//! live token takes one statement, one round trip and no transaction of its own;
//! a token that is not live (spent, unknown, expired, revoked) takes the
//! transaction that both stores share, where a spent one revokes its family.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, uuid, Dialect};
use super::revocation::revoke_sessions;
use super::sessions::INSERT_TOKEN;
use super::{Backend, Store};
use crate::events::envelope::RevokeReason;
use crate::tokens::Grant;

/// How far `last_used_at` may lag: a refresh moves it only when it is at least
/// this old, so a session refreshed every few seconds does not rewrite its row
/// (a new row version on Postgres) each time. The sessions list is exact to it.
pub const LAST_USED_GRANULARITY: Duration = Duration::seconds(60);

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent and the new one is stored; what the
    /// new access token says (the email as verified now, the original auth_time).
    Rotated(Grant),
    /// The token had already been rotated: its whole family is now revoked.
    Reused { family_id: Uuid },
    /// Unknown, expired or revoked.
    Invalid,
}

/// What the token's session says: family, user, email verified, auth_time, amr.
type GrantRow = (String, String, bool, Option<DateTime<Utc>>, String);

/// Spends the token only if it is live, its session neither revoked nor past its
/// absolute lifetime ($3) and its user not locked. The row lock of this first
/// write settles two concurrent uses of one token.
macro_rules! spend {
    () => {
        "UPDATE refresh_tokens SET rotated_at = $2 \
         WHERE token_hash = $1 AND rotated_at IS NULL AND expires_at > $2 \
           AND family_id IN (SELECT f.id FROM refresh_families f JOIN users u \
               ON u.id = f.user_id WHERE f.revoked_at IS NULL AND u.locked_at IS NULL \
               AND f.created_at > $3)"
    };
}

const SPEND: &str = concat!(spend!(), " RETURNING CAST(family_id AS TEXT)");

/// Postgres: spend, touch the session, store the successor and read the grant in
/// one statement. Every data-modifying CTE runs whether or not it is read; the
/// final SELECT sees the session as it was before (auth_time and amr, which no
/// refresh changes). $6 is `now - LAST_USED_GRANULARITY`.
const ROTATE_PG: &str = concat!(
    "WITH spent AS (",
    spend!(),
    "        RETURNING family_id), \
     touched AS (\
       UPDATE refresh_families SET last_used_at = $2 \
       WHERE id IN (SELECT family_id FROM spent) \
         AND (last_used_at IS NULL OR last_used_at <= $6)), \
     issued AS (\
       INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) \
       SELECT $4, family_id, $2, $5 FROM spent) \
     SELECT CAST(f.id AS TEXT), CAST(f.user_id AS TEXT), u.email_verified_at IS NOT NULL, \
       f.auth_time, f.amr \
     FROM spent JOIN refresh_families f ON f.id = spent.family_id JOIN users u ON u.id = f.user_id"
);

/// Both stores, after the token was spent in the transaction: touch the session
/// (within the granularity, $3) and read the grant.
const TOUCH: &str = "UPDATE refresh_families SET last_used_at = CASE \
       WHEN last_used_at IS NULL OR last_used_at <= $3 THEN $2 ELSE last_used_at END \
     WHERE id = $1 \
     RETURNING CAST(id AS TEXT), CAST(user_id AS TEXT), (SELECT u.email_verified_at IS NOT NULL \
         FROM users u WHERE u.id = refresh_families.user_id), auth_time, amr";

impl Store {
    /// Spends a live refresh token and stores its successor; a token that was
    /// already spent revokes its family (someone else holds a copy). A session
    /// whose login was at or before `born_after` has outlived its absolute
    /// lifetime: its token is invalid however recently it was refreshed.
    pub async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        born_after: DateTime<Utc>,
    ) -> anyhow::Result<Rotation> {
        if let Backend::Postgres(pool) = &self.backend {
            let row = rotate_pg(pool, old_hash, new_hash, now, expires_at, born_after)
                .await
                .context("rotating the refresh token")?;
            if let Some(row) = row {
                return Ok(Rotation::Rotated(grant(row, now)?));
            }
            // Not live: the transaction below finds nothing to spend and tells a
            // spent token from an unknown one.
        }
        let touch_before = now - LAST_USED_GRANULARITY;
        let rotation: sqlx::Result<Rotation> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let spent: Option<String> = sqlx::query_scalar(SPEND)
                .bind(old_hash)
                .bind(pool.time(now))
                .bind(pool.time(born_after))
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(family) = spent {
                let row: GrantRow = sqlx::query_as(TOUCH)
                    .bind(pool.id(uuid(&family)?))
                    .bind(pool.time(now))
                    .bind(pool.time(touch_before))
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(INSERT_TOKEN)
                    .bind(new_hash)
                    .bind(pool.id(uuid(&family)?))
                    .bind(pool.time(now))
                    .bind(pool.time(expires_at))
                    .execute(&mut *tx)
                    .await?;
                self.commit(tx, Queued::NOTHING).await?;
                return Ok(Rotation::Rotated(grant(row, now)?));
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
            let ended = revoke_sessions!(self, pool, tx, RevokeReason::Reuse, now, None, "id = $3", pool.id(family_id));
            self.commit(tx, Queued::events_if(!ended.is_empty())).await?;
            Ok(Rotation::Reused { family_id })
        }.await);
        rotation.context("rotating the refresh token")
    }
}

/// The one-statement rotation: the grant when the token was live, else nothing
/// written.
async fn rotate_pg(
    pool: &PgPool,
    old_hash: &[u8],
    new_hash: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    born_after: DateTime<Utc>,
) -> sqlx::Result<Option<GrantRow>> {
    sqlx::query_as(ROTATE_PG)
        .bind(old_hash)
        .bind(now)
        .bind(born_after)
        .bind(new_hash)
        .bind(expires_at)
        .bind(now - LAST_USED_GRANULARITY)
        .fetch_optional(pool)
        .await
}

fn grant(row: GrantRow, now: DateTime<Utc>) -> sqlx::Result<Grant> {
    let (family, user, email_verified, auth_time, amr) = row;
    Ok(Grant {
        user: uuid(&user)?,
        session: uuid(&family)?,
        email_verified,
        auth_time: auth_time.unwrap_or(now),
        amr: amr.split(',').map(str::to_string).collect(),
    })
}
