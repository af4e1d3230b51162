//! Connecting to Postgres and its migrations.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.application_name("authd"))
        .await?)
}
