//! Sessions: one refresh-token family per login, its rotating tokens, revocation.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dialect::{on_pool, uuid, Dialect};
use super::Store;

const INSERT_TOKEN: &str = "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, \
     expires_at) VALUES ($1, $2, $3, $4)";

/// Revokes every live family of a user (`$1` user, `$2` now).
pub(super) const REVOKE_ALL_OF_USER: &str = "UPDATE refresh_families SET revoked_at = $2 \
     WHERE user_id = $1 AND revoked_at IS NULL";

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

impl Store {
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
            sqlx::query(INSERT_TOKEN)
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
                sqlx::query(INSERT_TOKEN)
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
}
