//! Typed settings from flags and `AUTHD_*` variables, checked once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use ipnet::IpNet;

use crate::events::kafka::KafkaConfig;
use crate::events::relay::RelayConfig;
use crate::hashing::{HashParams, PoolConfig};
pub use crate::store::StoreConfig;
use crate::throttle::ThrottleConfig;
use crate::tokens::TokenConfig;

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

    /// Longest a sign-up may wait for a hashing thread, in milliseconds; one that
    /// would wait longer gets 503 with Retry-After.
    #[arg(long, env = "AUTHD_HASH_QUEUE_WAIT_MS", default_value_t = 1500,
          value_parser = clap::value_parser!(u64).range(1..=60_000), global = true)]
    pub hash_queue_wait_ms: u64,

    /// Hashing jobs that may wait for a thread; past that a sign-up gets 503 at once.
    /// Default: what the wait budget absorbs at the speed measured at start-up.
    #[arg(long, env = "AUTHD_HASH_QUEUE",
          value_parser = clap::value_parser!(u64).range(1..=100_000), global = true)]
    pub hash_queue: Option<u64>,

    /// Kafka bootstrap servers (host:port,...). Unset: publishing is off and events
    /// wait in the outbox (see `authd events`).
    #[arg(long, env = "AUTHD_KAFKA_BROKERS", global = true)]
    pub kafka_brokers: Option<String>,

    /// Topic the user events go to; created at start-up when missing.
    #[arg(
        long,
        env = "AUTHD_KAFKA_TOPIC",
        default_value = "authd.user-events",
        global = true
    )]
    pub kafka_topic: String,

    /// Partitions of the topic when authd creates it.
    #[arg(long, env = "AUTHD_KAFKA_PARTITIONS", default_value_t = 3,
          value_parser = clap::value_parser!(i32).range(1..=10_000), global = true)]
    pub kafka_partitions: i32,

    /// Replication factor of the topic when authd creates it.
    #[arg(long, env = "AUTHD_KAFKA_REPLICATION", default_value_t = 1,
          value_parser = clap::value_parser!(i32).range(1..=100), global = true)]
    pub kafka_replication: i32,

    /// Run the outbox relay in this replica (when brokers are set).
    #[arg(long, env = "AUTHD_RELAY", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub relay: bool,

    /// Outbox rows the relay claims per transaction.
    #[arg(long, env = "AUTHD_RELAY_BATCH", default_value_t = 500,
          value_parser = clap::value_parser!(i64).range(1..=100_000), global = true)]
    pub relay_batch: i64,

    /// Milliseconds between outbox polls when no commit woke the relay (safety net).
    #[arg(long, env = "AUTHD_RELAY_POLL_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(10..), global = true)]
    pub relay_poll_ms: u64,

    /// CloudEvents `source` of the events this service writes.
    #[arg(
        long,
        env = "AUTHD_EVENT_SOURCE",
        default_value = "authd",
        global = true
    )]
    pub event_source: String,

    /// This replica's name, sent as `X-Authd-Instance` and logged. Default: host-pid.
    #[arg(long, env = "AUTHD_INSTANCE_ID", global = true)]
    pub instance_id: Option<String>,

    /// `iss` of the access tokens, and what verification expects.
    #[arg(
        long,
        env = "AUTHD_TOKEN_ISSUER",
        default_value = "authd",
        global = true
    )]
    pub token_issuer: String,

    /// `aud` of the access tokens, and what verification expects.
    #[arg(
        long,
        env = "AUTHD_TOKEN_AUDIENCE",
        default_value = "authd",
        global = true
    )]
    pub token_audience: String,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "AUTHD_ACCESS_TOKEN_TTL_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(10..=86_400), global = true)]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a refresh token, in seconds (each refresh issues a new one).
    #[arg(long, env = "AUTHD_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 86_400,
          value_parser = clap::value_parser!(u64).range(60..=31_622_400), global = true)]
    pub refresh_token_ttl_secs: u64,

    /// How often a replica reloads the shared signing keys, in milliseconds (a token
    /// naming an unknown key also triggers a reload).
    #[arg(long, env = "AUTHD_KEYS_REFRESH_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000), global = true)]
    pub keys_refresh_ms: u64,

    /// Failed logins of one account before it is locked (429 with Retry-After).
    #[arg(long, env = "AUTHD_LOGIN_MAX_FAILURES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub login_max_failures: u32,

    /// Failed logins from one client address before it is locked.
    #[arg(long, env = "AUTHD_LOGIN_MAX_FAILURES_PER_CLIENT", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub login_max_failures_per_client: u32,

    /// The first lock, in milliseconds; each further failure doubles it.
    #[arg(long, env = "AUTHD_LOGIN_LOCKOUT_MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub login_lockout_ms: u64,

    /// The longest lock, in seconds.
    #[arg(long, env = "AUTHD_LOGIN_LOCKOUT_MAX_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub login_lockout_max_secs: u64,

    /// Failed logins older than this many seconds are forgotten.
    #[arg(long, env = "AUTHD_LOGIN_FAILURE_WINDOW_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub login_failure_window_secs: u64,

    /// Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For is believed
    /// when counting failed logins per client. Default: none (the TCP peer counts).
    #[arg(
        long,
        env = "AUTHD_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<String>,

    /// Serve GET /metrics on this separate address (an admin port) instead of on the
    /// service port. Unset: /metrics is on the service port (nginx does not expose it).
    #[arg(long, env = "AUTHD_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

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

/// Settings after validation: what the application is built from.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub pool_size: u32,
    pub hash: HashParams,
    pub hash_pool: PoolConfig,
    /// The relay, when brokers are configured and the relay is on.
    pub relay: Option<RelayConfig>,
    pub event_source: String,
    /// Printable ASCII (it goes into a header), at most 64 bytes.
    pub instance_id: String,
    pub tokens: TokenConfig,
    pub throttle: ThrottleConfig,
    pub trusted_proxies: Vec<IpNet>,
    /// A separate listener for /metrics; `None`: on the service port.
    pub metrics_listen: Option<SocketAddr>,
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
            hash_pool: PoolConfig {
                workers: self
                    .hash_workers
                    .map(usize::from)
                    .unwrap_or_else(available_cpus),
                queue_bound: self.hash_queue.map(|q| q as usize),
                max_wait: Duration::from_millis(self.hash_queue_wait_ms),
            },
            relay: self.relay_config()?,
            event_source: self.event_source.clone(),
            instance_id: self.instance_id()?,
            tokens: self.tokens()?,
            throttle: ThrottleConfig {
                account_failures: self.login_max_failures,
                client_failures: self.login_max_failures_per_client,
                base_lockout: Duration::from_millis(self.login_lockout_ms),
                max_lockout: Duration::from_secs(self.login_lockout_max_secs),
                window: Duration::from_secs(self.login_failure_window_secs),
            },
            trusted_proxies: self.trusted_proxies()?,
            metrics_listen: self.metrics_listen,
        })
    }

    fn tokens(&self) -> Result<TokenConfig, String> {
        for (name, value) in [
            ("AUTHD_TOKEN_ISSUER", &self.token_issuer),
            ("AUTHD_TOKEN_AUDIENCE", &self.token_audience),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{name} must not be empty"));
            }
        }
        Ok(TokenConfig {
            issuer: self.token_issuer.trim().to_string(),
            audience: self.token_audience.trim().to_string(),
            access_ttl: Duration::from_secs(self.access_token_ttl_secs),
            refresh_ttl: Duration::from_secs(self.refresh_token_ttl_secs),
            keys_refresh: Duration::from_millis(self.keys_refresh_ms),
        })
    }

    fn trusted_proxies(&self) -> Result<Vec<IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("AUTHD_TRUSTED_PROXIES: {s:?} is not an IP address or CIDR")
                    })
            })
            .collect()
    }

    fn instance_id(&self) -> Result<String, String> {
        let id = match &self.instance_id {
            Some(id) => id.trim().to_string(),
            None => default_instance_id(),
        };
        let printable = id.bytes().all(|b| b.is_ascii_graphic());
        if id.is_empty() || id.len() > 64 || !printable {
            return Err(format!(
                "AUTHD_INSTANCE_ID must be 1 to 64 printable ASCII characters, got {id:?}"
            ));
        }
        Ok(id)
    }

    fn relay_config(&self) -> Result<Option<RelayConfig>, String> {
        let brokers = match self.kafka_brokers.as_deref().map(str::trim) {
            None | Some("") => return Ok(None),
            Some(b) => b.to_string(),
        };
        if self.kafka_topic.trim().is_empty() {
            return Err("AUTHD_KAFKA_TOPIC must not be empty".into());
        }
        if !self.relay {
            return Ok(None);
        }
        Ok(Some(RelayConfig {
            kafka: KafkaConfig {
                brokers,
                topic: self.kafka_topic.clone(),
                partitions: self.kafka_partitions,
                replication: self.kafka_replication,
            },
            batch: self.relay_batch,
            poll: Duration::from_millis(self.relay_poll_ms),
        }))
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

/// `host-pid`: unique on a machine, and the container id under Docker.
pub fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(48)
        .collect();
    let host = if host.is_empty() {
        "authd".into()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
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
        assert!(config.hash_pool.workers >= 1);
        assert_eq!(config.hash_pool.queue_bound, None);
        assert!(config
            .instance_id
            .ends_with(&format!("-{}", std::process::id())));
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
        assert!(parse(&["--kafka-partitions", "0"]).is_err());
        assert!(parse(&["--instance-id", "two words"])
            .unwrap_err()
            .contains("AUTHD_INSTANCE_ID"));
    }

    #[test]
    fn the_relay_runs_only_with_brokers_and_when_on() {
        assert!(parse(&[]).unwrap().relay.is_none());
        let relay = parse(&["--kafka-brokers", "k:9092"])
            .unwrap()
            .relay
            .unwrap();
        assert_eq!(relay.kafka.topic, "authd.user-events");
        assert!(parse(&["--kafka-brokers", "k:9092", "--relay", "false"])
            .unwrap()
            .relay
            .is_none());
    }
}

#[cfg(test)]
mod defaults_tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        settings: Settings,
    }

    #[test]
    fn the_defaults_of_help_are_the_library_defaults() {
        let config = Cmd::parse_from(["authd"]).settings.validate().unwrap();
        let (tokens, ours) = (config.tokens, TokenConfig::default());
        assert_eq!(
            (
                tokens.issuer,
                tokens.audience,
                tokens.access_ttl,
                tokens.refresh_ttl,
                tokens.keys_refresh
            ),
            (
                ours.issuer,
                ours.audience,
                ours.access_ttl,
                ours.refresh_ttl,
                ours.keys_refresh
            )
        );
        let (t, d) = (config.throttle, ThrottleConfig::default());
        assert_eq!(
            (
                t.account_failures,
                t.client_failures,
                t.base_lockout,
                t.max_lockout,
                t.window
            ),
            (
                d.account_failures,
                d.client_failures,
                d.base_lockout,
                d.max_lockout,
                d.window
            )
        );
        assert!(config.trusted_proxies.is_empty());
    }
}
