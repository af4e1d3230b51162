//! Users, sessions, signing keys and the outbox, in Postgres (shared by replicas) or SQLite (embedded default).
//!
//! Both backends expose the same functions; `Store` picks one. SQL stays SQL: each
//! backend module holds its own statements, since the column types differ.

mod accounts;
mod outbox;
mod postgres;
mod sqlite;

pub use accounts::{Account, Rotation, StoredKey};
pub use outbox::{lane_of, Claim, PendingEvent, LANES};
pub use postgres::OUTBOX_CHANNEL;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::config::StoreConfig;
use crate::domain::{Email, Username};

/// A user as everyone may see it: never the password hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PublicUser {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

/// A user about to be inserted.
#[derive(Debug)]
pub struct NewUser {
    pub id: Uuid,
    pub username: Username,
    pub email: Email,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// One outbox row: a CloudEvents envelope and the key that orders it.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: Uuid,
    pub aggregate_id: Uuid,
    pub lane: i16,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The unique field a write collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Username,
    Email,
}

impl Taken {
    pub fn field(self) -> &'static str {
        match self {
            Taken::Username => "username",
            Taken::Email => "email",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{} is taken", .0.field())]
    Taken(Taken),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(err: sqlx::Error) -> Self {
        match unique_violation(&err) {
            Some(taken) => WriteError::Taken(taken),
            None => WriteError::Other(anyhow::Error::new(err).context("database write")),
        }
    }
}

/// Maps a unique violation to its field. Postgres names the constraint; SQLite
/// only says `UNIQUE constraint failed: users.email` in its message.
fn unique_violation(err: &sqlx::Error) -> Option<Taken> {
    let db = err.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    let what = db.constraint().unwrap_or_else(|| db.message());
    if what.contains("users_username_key") || what.contains("users.username") {
        Some(Taken::Username)
    } else if what.contains("users_email_key") || what.contains("users.email") {
        Some(Taken::Email)
    } else {
        None
    }
}

#[derive(Clone)]
pub enum Store {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl Store {
    /// Opens the pool; the SQLite file and its directory are created when missing.
    pub async fn connect(config: &StoreConfig, pool_size: u32) -> anyhow::Result<Self> {
        Ok(match config {
            StoreConfig::Postgres { url } => {
                Store::Postgres(postgres::connect(url, pool_size).await?)
            }
            StoreConfig::Sqlite { path } => Store::Sqlite(sqlite::connect(path, pool_size).await?),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Sqlite(_) => "sqlite",
        }
    }

    /// Applies pending migrations. On Postgres sqlx holds an advisory lock meanwhile,
    /// so replicas that start together apply them once.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Store::Postgres(pool) => postgres::MIGRATOR.run(pool).await,
            Store::Sqlite(pool) => sqlite::MIGRATOR.run(pool).await,
        }
        .context("applying migrations")
    }

    /// Ready means: the database answers and every migration this binary knows is applied.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let (applied, migrator) = match self {
            Store::Postgres(pool) => (applied_versions(pool).await?, &postgres::MIGRATOR),
            Store::Sqlite(pool) => (applied_versions(pool).await?, &sqlite::MIGRATOR),
        };
        match migrator.iter().find(|m| !applied.contains(&m.version)) {
            Some(m) => anyhow::bail!("migration {} ({}) is not applied", m.version, m.description),
            None => Ok(()),
        }
    }

    /// Which of the two unique fields is already taken, if any (checked before hashing).
    pub async fn taken(&self, username: &Username, email: &Email) -> anyhow::Result<Option<Taken>> {
        let hit = match self {
            Store::Postgres(pool) => postgres::taken(pool, username, email).await,
            Store::Sqlite(pool) => sqlite::taken(pool, username, email).await,
        }
        .context("looking up taken username/email")?;
        Ok(hit.map(|(name, _)| {
            if name == username.as_str() {
                Taken::Username
            } else {
                Taken::Email
            }
        }))
    }

    /// Inserts the user and its event in one transaction.
    pub async fn create_user(&self, user: &NewUser, event: &OutboxEvent) -> Result<(), WriteError> {
        match self {
            Store::Postgres(pool) => postgres::create_user(pool, user, event).await?,
            Store::Sqlite(pool) => sqlite::create_user(pool, user, event).await?,
        }
        Ok(())
    }

    /// Events waiting in the outbox, and when the oldest was written.
    pub async fn outbox_stats(&self) -> anyhow::Result<(i64, Option<DateTime<Utc>>)> {
        let sql = "SELECT COUNT(*), MIN(created_at) FROM outbox";
        match self {
            Store::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await,
            Store::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        }
        .context("reading the outbox size")
    }

    /// (open connections, idle connections, maximum) of this replica's pool.
    pub fn pool_status(&self) -> (u32, usize, u32) {
        match self {
            Store::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Store::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        }
    }

    /// How long acquiring a connection takes right now; `None` when it fails.
    pub async fn probe_acquire(&self) -> Option<std::time::Duration> {
        let started = std::time::Instant::now();
        let acquired = match self {
            Store::Postgres(p) => p.acquire().await.map(drop),
            Store::Sqlite(p) => p.acquire().await.map(drop),
        };
        acquired.ok().map(|()| started.elapsed())
    }

    pub async fn close(&self) {
        match self {
            Store::Postgres(pool) => pool.close().await,
            Store::Sqlite(pool) => pool.close().await,
        }
    }
}

async fn applied_versions<DB>(pool: &sqlx::Pool<DB>) -> anyhow::Result<Vec<i64>>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    bool: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
{
    let mut conn = pool.acquire().await.context("connecting to the database")?;
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = $1")
        .bind(true)
        .fetch_all(&mut *conn)
        .await
        .context("reading applied migrations")
}
