//! What only Postgres does: connect and migrate, the one-statement sign-up, and the
//! relay's lane locks.

use std::time::Duration;

use rand::seq::SliceRandom;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Json;
use sqlx::PgPool;

use super::outbox::{lane_of, OUTBOX_CHANNEL, PENDING_COLUMNS};
use super::users::NewUser;
use super::PendingEvent;
use crate::events::OutboxEvent;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.application_name("authd"))
        .await?)
}

/// The user row, its outbox event and the relays' wake-up in one statement: a
/// single statement is its own transaction, so this is atomic in one round trip
/// (and one commit) instead of five. SQLite has no INSERT inside WITH, so there
/// the same rows are written by two statements in a transaction.
pub async fn create_user(pool: &PgPool, user: &NewUser, event: &OutboxEvent) -> sqlx::Result<()> {
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
    .bind(Json(&event.payload))
    .bind(OUTBOX_CHANNEL)
    .execute(pool)
    .await?;
    Ok(())
}

/// Advisory-lock namespace of the outbox lanes ("authd" in ASCII, 0x61757468).
const LANE_LOCK_SPACE: i32 = 0x6175_7468;

/// Locks lanes that hold the oldest waiting rows, then claims rows of those lanes.
/// Transaction-scoped locks: a relay that dies releases its lanes with its connection.
/// Of the free lanes it takes about half, so that several relays share a backlog.
pub async fn claim(
    tx: &mut sqlx::PgConnection,
    limit: i64,
) -> sqlx::Result<(Vec<PendingEvent>, bool)> {
    let mut lanes: Vec<i16> = sqlx::query_scalar(
        "SELECT DISTINCT lane FROM (SELECT lane FROM outbox ORDER BY seq LIMIT $1) head",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if lanes.is_empty() {
        return Ok((Vec::new(), false));
    }
    lanes.shuffle(&mut rand::thread_rng());
    let wanted = lanes.len().div_ceil(2);
    let held: Vec<i16> = sqlx::query_scalar(
        "SELECT lane FROM unnest($1::smallint[]) AS lane \
         WHERE pg_try_advisory_xact_lock($2, lane)",
    )
    .bind(&lanes[..wanted])
    .bind(LANE_LOCK_SPACE)
    .fetch_all(&mut *tx)
    .await?;
    let contended = held.len() < lanes.len();
    if held.is_empty() {
        return Ok((Vec::new(), contended));
    }
    // A fresh snapshot, taken after the lane locks: rows the previous holder
    // deleted are gone. SKIP LOCKED guards the rest.
    let events = sqlx::query_as(&format!(
        "SELECT {PENDING_COLUMNS} FROM outbox WHERE lane = ANY($1) \
         ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind(&held)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    Ok((events, contended))
}

pub async fn delete(tx: &mut sqlx::PgConnection, seqs: &[i64]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM outbox WHERE seq = ANY($1)")
        .bind(seqs)
        .execute(tx)
        .await?;
    Ok(())
}
