//! Users, sessions, signing keys, login counters and the outbox, in Postgres
//! (shared by replicas) or SQLite (embedded default).
//!
//! One file per aggregate, one SQL text per statement for both backends
//! (`dialect` converts what is bound). `postgres` and `sqlite` keep connecting,
//! migrations and what truly differs: the one-statement sign-up and the relay's
//! lane locks on Postgres, array-less deletes on SQLite. The pools are private:
//! nothing outside this module knows which backend it talks to.

mod account_tokens;
mod admin;
mod commit;
mod create_user;
mod dialect;
mod idempotency;
mod keys;
mod login_counters;
mod mail;
mod maintenance;
mod mfa;
mod mfa_changes;
mod outbox;
mod passkey_changes;
mod passkeys;
mod postgres;
mod revocation;
mod rotation;
mod sessions;
mod sqlite;
mod user_changes;
mod user_import;
mod users;

pub use account_tokens::{NewAccountToken, TokenPurpose, Verified};
pub use admin::{AdminUser, HistoryEvent};
pub use idempotency::{Claimed, HeldKey, IdempotencyLimits, KeyLease, StoredResponse};
pub use keys::StoredKey;
pub use login_counters::{LockPolicy, NewLock};
pub use mail::{MailKind, NewMail, QueuedMail};
pub use mfa::{Challenge, ChallengePurpose, Factor};
pub use outbox::{lane_of, Claim, PendingEvent, LANES, OUTBOX_CHANNEL};
pub use passkeys::{Ceremony, NewPasskey, StoredPasskey};
pub use rotation::{Rotation, LAST_USED_GRANULARITY};
pub use sessions::{SessionInfo, SessionOrigin};
pub use user_changes::UserChange;
pub use user_import::{ImportOutcome, ImportRow};
pub use users::{Account, NewUser, Taken, WriteError};

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Notify;

/// Where users live.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Postgres { url: String },
    Sqlite { path: PathBuf },
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Notified after a commit wrote to the outbox (the relay waits on it).
    wake: Arc<Notify>,
    /// Notified after a commit queued a mail (the sender waits on it).
    mail_wake: Arc<Notify>,
    /// Postgres: NOTIFY every replica's relay when a commit wrote events. Off in a
    /// process that runs a relay itself: its own relay is woken in-process and
    /// publishes its rows, and one NOTIFY per commit woke every relay for rows it
    /// mostly could not take (lanes held by the writer's relay).
    notify_commits: bool,
    /// CloudEvents `source` of the events this store writes.
    event_source: Arc<str>,
    /// How long published events stay in `event_history` (the admin API reads
    /// it); zero: they are dropped once published.
    history_retention: std::time::Duration,
    /// How long a retired signing key is kept (its tokens may still be live).
    key_retention: std::time::Duration,
    /// The most Idempotency-Keys kept; the prune forgets the oldest past it.
    max_idempotency_keys: u64,
}

#[derive(Clone)]
pub(crate) enum Backend {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl Store {
    /// Opens the pool; the SQLite file and its directory are created when missing.
    pub async fn connect(config: &StoreConfig, pool_size: u32) -> anyhow::Result<Self> {
        let backend = match config {
            StoreConfig::Postgres { url } => {
                Backend::Postgres(postgres::connect(url, pool_size).await?)
            }
            StoreConfig::Sqlite { path } => {
                Backend::Sqlite(sqlite::connect(path, pool_size).await?)
            }
        };
        Ok(Self {
            backend,
            wake: Arc::new(Notify::new()),
            mail_wake: Arc::new(Notify::new()),
            notify_commits: true,
            event_source: "authd".into(),
            history_retention: std::time::Duration::from_secs(90 * 86_400),
            key_retention: std::time::Duration::from_secs(86_400),
            max_idempotency_keys: 1_000_000,
        })
    }

    /// The same store, pruning retired signing keys `key_retention` after they were
    /// retired and Idempotency-Keys past `max_idempotency_keys`.
    pub fn with_retention(
        mut self,
        key_retention: std::time::Duration,
        max_idempotency_keys: u64,
    ) -> Self {
        self.key_retention = key_retention;
        self.max_idempotency_keys = max_idempotency_keys;
        self
    }

    /// The same store, keeping published events in `event_history` this long.
    pub fn with_event_history(mut self, retention: std::time::Duration) -> Self {
        self.history_retention = retention;
        self
    }

    /// The same store, without the cross-replica NOTIFY at commits (for a process
    /// whose own relay publishes what it writes).
    pub fn without_commit_notifications(mut self) -> Self {
        self.notify_commits = false;
        self
    }

    /// The same store, writing events with CloudEvents `source` = `source`.
    pub fn with_event_source(mut self, source: &str) -> Self {
        self.event_source = source.into();
        self
    }

    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// Applies pending migrations. On Postgres sqlx holds an advisory lock meanwhile,
    /// so replicas that start together apply them once.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Postgres(pool) => postgres::MIGRATOR.run(pool).await,
            Backend::Sqlite(pool) => sqlite::MIGRATOR.run(pool).await,
        }
        .context("applying migrations")
    }

    /// Ready means: the database answers and every migration this binary knows is applied.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Postgres(_) => &postgres::MIGRATOR,
            Backend::Sqlite(_) => &sqlite::MIGRATOR,
        };
        let sql = "SELECT version FROM _sqlx_migrations WHERE success = $1";
        let applied: Vec<i64> = dialect::on_pool!(self, pool => {
            let mut conn = pool.acquire().await.context("connecting to the database")?;
            sqlx::query_scalar(sql).bind(true).fetch_all(&mut *conn).await
        })
        .context("reading applied migrations")?;
        match migrator.iter().find(|m| !applied.contains(&m.version)) {
            Some(m) => anyhow::bail!("migration {} ({}) is not applied", m.version, m.description),
            None => Ok(()),
        }
    }

    /// (open connections, idle connections, maximum) of this replica's pool.
    pub fn pool_status(&self) -> (u32, usize, u32) {
        dialect::on_pool!(self, p => (p.size(), p.num_idle(), p.options().get_max_connections()))
    }

    /// How long acquiring a connection takes right now; `None` when it fails.
    pub async fn probe_acquire(&self) -> Option<std::time::Duration> {
        let started = std::time::Instant::now();
        let acquired = dialect::on_pool!(self, p => p.acquire().await.map(drop));
        acquired.ok().map(|()| started.elapsed())
    }

    pub async fn close(&self) {
        dialect::on_pool!(self, pool => pool.close().await)
    }
}

/// Whether a store error means the database has no room left to write (its disk
/// is full): nothing was written, and a retry may succeed once an operator made
/// room.
pub fn is_full(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .filter_map(|err| err.as_database_error())
        // SQLITE_FULL (13); Postgres disk_full (53100).
        .any(|db| matches!(db.code().as_deref(), Some("13" | "53100")))
}

/// Whether `err` (or a cause of it) says the database cannot be reached right now,
/// rather than that a statement failed: no connection within the acquire timeout,
/// a broken connection, or Postgres refusing connections or shutting down (SQLSTATE
/// classes 08 and 57P, and 53300 too_many_connections).
pub fn is_unavailable(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .any(|err| match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("08") || code.starts_with("57P") || code == "53300"
            }),
            _ => false,
        })
}
