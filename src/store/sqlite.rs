use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::{NewUser, OutboxEvent, PendingEvent};
use crate::domain::{Email, Username};

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

pub async fn taken(
    pool: &SqlitePool,
    username: &Username,
    email: &Email,
) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT username, email FROM users WHERE username = $1 OR email = $2 LIMIT 1")
        .bind(username.as_str())
        .bind(email.as_str())
        .fetch_optional(pool)
        .await
}

/// SQLite keeps ids and times as text, so the row reads the same in any client.
pub async fn create_user(
    pool: &SqlitePool,
    user: &NewUser,
    event: &OutboxEvent,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(user.id.to_string())
    .bind(user.username.as_str())
    .bind(user.email.as_str())
    .bind(&user.password_hash)
    .bind(text_time(user.created_at))
    .execute(&mut *tx)
    .await?;
    insert_event(&mut tx, event).await?;
    tx.commit().await
}

pub async fn insert_event(
    conn: &mut sqlx::SqliteConnection,
    event: &OutboxEvent,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.id.to_string())
    .bind(event.aggregate_id.to_string())
    .bind(event.lane)
    .bind(&event.event_type)
    .bind(event.payload.to_string())
    .bind(text_time(event.created_at))
    .execute(conn)
    .await?;
    Ok(())
}

const PENDING_COLUMNS: &str = "seq, id, aggregate_id, event_type, payload, created_at";

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

pub async fn newest(pool: &SqlitePool, limit: i64) -> sqlx::Result<Vec<PendingEvent>> {
    sqlx::query_as(&format!(
        "SELECT {PENDING_COLUMNS} FROM outbox ORDER BY seq DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}

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

/// RFC 3339 in UTC with microseconds: sorts as text and matches Postgres' precision.
pub(super) fn text_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
