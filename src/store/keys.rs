//! Ed25519 signing keys shared by every replica.

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::commit::Queued;
use super::dialect::{on_pool, Dialect};
use super::Store;

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

    /// Retires the current key and makes `key` current, atomically; with
    /// `revoke_old`, deletes every other key instead (they may no longer verify).
    pub async fn rotate_key(&self, key: &StoredKey, revoke_old: bool) -> anyhow::Result<()> {
        let done: sqlx::Result<()> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            if revoke_old {
                sqlx::query("DELETE FROM signing_keys").execute(&mut *tx).await?;
            } else {
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(pool.time(key.created_at))
                    .execute(&mut *tx)
                    .await?;
            }
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
            self.commit(tx, Queued::NOTHING).await
        }.await);
        done.context("rotating the signing key")
    }

    /// Every stored key, whatever its age (`keys reseal`).
    pub async fn all_signing_keys(&self) -> anyhow::Result<Vec<StoredKey>> {
        self.signing_keys(DateTime::UNIX_EPOCH).await
    }

    /// Replaces the stored seed of `kid`, if it is still `old` (`keys reseal`).
    pub async fn replace_private_key(
        &self,
        kid: &str,
        old: &[u8],
        new: &[u8],
    ) -> anyhow::Result<()> {
        let sql = "UPDATE signing_keys SET private_key = $3 WHERE kid = $1 AND private_key = $2";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(kid).bind(old).bind(new).execute(pool).await.map(drop)
        })
        .context("resealing a signing key")
    }
}
