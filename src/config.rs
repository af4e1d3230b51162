//! Typed settings from flags and `AUTHD_*` variables, checked once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::password::HashParams;

/// Every setting of the service. Each flag can also be set by its variable.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "AUTHD_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// Postgres URL (postgres://user:pass@host/db). Unset: an embedded SQLite file in
    /// the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// Directory of the embedded SQLite store, used when no database URL is set.
    #[arg(
        long,
        env = "AUTHD_DATA_DIR",
        default_value = "authd-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Size of the database connection pool of this replica.
    #[arg(long, env = "AUTHD_DB_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub db_pool_size: u32,

    /// argon2id memory cost in KiB.
    #[arg(long, env = "AUTHD_ARGON2_MEMORY_KIB", default_value_t = HashParams::OWASP.memory_kib, global = true)]
    pub argon2_memory_kib: u32,

    /// argon2id iterations (time cost).
    #[arg(long, env = "AUTHD_ARGON2_ITERATIONS", default_value_t = HashParams::OWASP.iterations, global = true)]
    pub argon2_iterations: u32,

    /// argon2id lanes (parallelism).
    #[arg(long, env = "AUTHD_ARGON2_PARALLELISM", default_value_t = HashParams::OWASP.parallelism, global = true)]
    pub argon2_parallelism: u32,

    /// Hashing threads. Default: the CPUs this process may use (cgroup and affinity aware).
    #[arg(long, env = "AUTHD_HASH_WORKERS",
          value_parser = clap::value_parser!(u16).range(1..=1024), global = true)]
    pub hash_workers: Option<u16>,

    /// Hashing jobs that may wait for a thread; past that a sign-up gets 503 at once.
    #[arg(long, env = "AUTHD_HASH_QUEUE", default_value_t = 64, global = true)]
    pub hash_queue: usize,

    /// Log format: pretty for a terminal, json for machines, auto picks by terminal.
    #[arg(long, env = "AUTHD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Pretty,
    Json,
}

/// Where users live.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Postgres { url: String },
    Sqlite { path: PathBuf },
}

/// Settings after validation: what the application is built from.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub pool_size: u32,
    pub hash: HashParams,
    pub hash_workers: usize,
    pub hash_queue: usize,
}

impl Settings {
    /// Checks the settings that clap cannot check alone.
    pub fn validate(&self) -> Result<Config, String> {
        let hash = HashParams {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        };
        hash.validate()?;
        Ok(Config {
            listen: self.listen,
            store: self.store()?,
            pool_size: self.db_pool_size,
            hash,
            hash_workers: self
                .hash_workers
                .map(usize::from)
                .unwrap_or_else(available_cpus),
            hash_queue: self.hash_queue,
        })
    }

    fn store(&self) -> Result<StoreConfig, String> {
        match self.database_url.as_deref().map(str::trim) {
            None | Some("") => Ok(StoreConfig::Sqlite {
                path: self.data_dir.join("authd.sqlite3"),
            }),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreConfig::Postgres { url: url.into() })
            }
            Some(_) => Err("DATABASE_URL must start with postgres:// or postgresql:// \
                 (leave it unset for the embedded SQLite store)"
                .into()),
        }
    }
}

/// CPUs this process may run on; std reads the cgroup quota and the affinity mask.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        settings: Settings,
    }

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["authd"];
        argv.extend_from_slice(args);
        Wrap::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .settings
            .validate()
    }

    #[test]
    fn no_database_url_means_the_embedded_store() {
        let config = parse(&["--data-dir", "/tmp/x"]).unwrap();
        assert!(
            matches!(config.store, StoreConfig::Sqlite { path } if path.ends_with("authd.sqlite3"))
        );
        assert_eq!(config.hash, HashParams::OWASP);
        assert!(config.hash_workers >= 1);
    }

    #[test]
    fn a_postgres_url_selects_postgres() {
        let config = parse(&["--database-url", "postgres://u@h/db"]).unwrap();
        assert!(matches!(config.store, StoreConfig::Postgres { .. }));
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        assert!(parse(&["--database-url", "mysql://x"])
            .unwrap_err()
            .contains("postgres://"));
        assert!(parse(&["--argon2-iterations", "0"])
            .unwrap_err()
            .contains("argon2"));
        assert!(parse(&["--hash-workers", "0"]).is_err());
        assert!(parse(&["--listen", "nowhere"]).is_err());
    }
}
