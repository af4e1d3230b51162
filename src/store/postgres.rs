//! Connecting to Postgres and its migrations.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    // A request waits at most 1 s for a connection: with the database down,
    // restarting or out of connections, the client gets a 503 with Retry-After at
    // once instead of a timeout. Each connection is pinged before use (sqlx's
    // default), so connections broken by a restart are replaced, not handed out.
    Ok(PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(Duration::from_secs(1))
        .connect_with(options.application_name("authd"))
        .await?)
}
