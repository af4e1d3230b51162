use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Json;
use sqlx::PgPool;

use super::{NewUser, OutboxEvent};
use crate::domain::{Email, Username};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.application_name("authd"))
        .await?)
}

pub async fn taken(
    pool: &PgPool,
    username: &Username,
    email: &Email,
) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT username, email FROM users WHERE username = $1 OR email = $2 LIMIT 1")
        .bind(username.as_str())
        .bind(email.as_str())
        .fetch_optional(pool)
        .await
}

pub async fn create_user(pool: &PgPool, user: &NewUser, event: &OutboxEvent) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(user.id)
    .bind(user.username.as_str())
    .bind(user.email.as_str())
    .bind(&user.password_hash)
    .bind(user.created_at)
    .execute(&mut *tx)
    .await?;
    insert_event(&mut tx, event).await?;
    tx.commit().await
}

pub async fn insert_event(conn: &mut sqlx::PgConnection, event: &OutboxEvent) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, aggregate_id, event_type, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.id)
    .bind(event.aggregate_id)
    .bind(&event.event_type)
    .bind(Json(&event.payload))
    .bind(event.created_at)
    .execute(conn)
    .await?;
    Ok(())
}
