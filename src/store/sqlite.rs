//! Opening the embedded SQLite file and its migrations.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::private_files::{private_dir, private_file};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub async fn connect(path: &Path, pool_size: u32) -> anyhow::Result<SqlitePool> {
    if let Some(dir) = path.parent() {
        private_dir(dir)
            .with_context(|| format!("creating the data directory {}", dir.display()))?;
    }
    // Files an earlier version made with the default umask.
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        private_file(Path::new(&file)).with_context(|| format!("narrowing {}", path.display()))?;
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
