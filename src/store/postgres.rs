//! Connecting to Postgres and its migrations.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// A transaction left open between two statements for this long is ended by
/// Postgres, with its locks: a replica that hangs (SIGSTOP, a stuck VM) in the
/// middle of one, say after claiming an Idempotency-Key and before its COMMIT,
/// would otherwise block the client's retry of that key on every other replica
/// until it woke. authd never waits on anything but the database inside a
/// transaction, except the outbox relay (it awaits the broker's acks: it sets
/// its own, `store::outbox`). Behind PgBouncer in transaction mode a session's SET
/// does not follow the client: set it on the role there
/// (`ALTER ROLE authd SET idle_in_transaction_session_timeout = '1s'`).
const IDLE_IN_TRANSACTION: &str = "1s";

pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    // A request waits at most 1 s for a connection: with the database down,
    // restarting or out of connections, the client gets a 503 with Retry-After at
    // once instead of a timeout. A connection idle for a second or more is pinged
    // before use, so connections broken by a restart are replaced, not handed out.
    // A busy one is not: sqlx's ping before every use was one more round trip per
    // statement. One broken while in use fails its request with 503
    // (database-unavailable), which the client retries.
    Ok(PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(Duration::from_secs(1))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= Duration::from_secs(1) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        // A SET once per connection, not a startup option: PgBouncer refuses
        // startup options it does not track.
        .after_connect(|conn, _| {
            Box::pin(async move {
                let set =
                    format!("SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION}'");
                sqlx::Executor::execute(conn, set.as_str()).await.map(drop)
            })
        })
        .connect_with(options.application_name("authd"))
        .await?)
}
