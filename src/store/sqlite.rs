//! What only SQLite does: open the file, migrate, write a sign-up in a transaction,
//! and read and delete the outbox without lanes (one process writes the file).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::dialect::Dialect;
use super::outbox::{insert_event, PENDING_COLUMNS};
use super::users::{NewUser, INSERT_USER};
use super::PendingEvent;
use crate::events::OutboxEvent;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub async fn connect(path: &Path, pool_size: u32) -> anyhow::Result<SqlitePool> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the data directory {}", dir.display()))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

/// SQLite keeps ids and times as text, so the row reads the same in any client.
pub async fn create_user(
    pool: &SqlitePool,
    user: &NewUser,
    event: &OutboxEvent,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(INSERT_USER)
        .bind(pool.id(user.id))
        .bind(user.username.as_str())
        .bind(user.email.as_str())
        .bind(&user.password_hash)
        .bind(pool.time(user.created_at))
        .execute(&mut *tx)
        .await?;
    insert_event!(pool, tx, event);
    tx.commit().await
}

/// The oldest waiting events. Writes to one SQLite file are serialised, so seq
/// order is commit order.
pub async fn head(pool: &SqlitePool, limit: i64) -> sqlx::Result<Vec<PendingEvent>> {
    sqlx::query_as(&format!(
        "SELECT {PENDING_COLUMNS} FROM outbox ORDER BY seq LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// SQLite has no arrays: the seqs go in chunks of bound parameters.
pub async fn delete(pool: &SqlitePool, seqs: &[i64]) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    for chunk in seqs.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        let sql = format!("DELETE FROM outbox WHERE seq IN ({marks})");
        let mut query = sqlx::query(&sql);
        for seq in chunk {
            query = query.bind(seq);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}
