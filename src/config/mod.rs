//! Typed settings from flags and `AUTHD_*` variables (`settings`), checked once at
//! start-up into a `Config`. Each subsystem owns its config type; this assembles them.

mod admin;
mod settings;

pub use admin::AdminCredentials;
pub use settings::{LogFormat, Settings};

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Command, FromArgMatches};
use ipnet::IpNet;

use crate::domain::Denylist;
use crate::events::kafka::KafkaConfig;
use crate::events::relay::RelayConfig;
use crate::hashing::{HashParams, PoolConfig};
use crate::mail::{Delivery, MailConfig, Templates};
pub use crate::store::StoreConfig;
use crate::throttle::ThrottleConfig;
use crate::tokens::TokenConfig;

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
    /// How long a stopping replica keeps serving, with /readyz at 503.
    pub shutdown_drain: Duration,
    /// The longest the request line and headers may take to arrive.
    pub header_timeout: Duration,
    /// The longest a request body may take to arrive.
    pub body_timeout: Duration,
    /// Connections served at once by this replica.
    pub max_connections: usize,
    /// The admin API, when configured.
    pub admin: Option<AdminConfig>,
    /// Where clients reach authd, e.g. `https://auth.example.com`.
    pub public_url: Option<String>,
    /// Passwords refused when set.
    pub denylist: std::sync::Arc<Denylist>,
    /// How long published events stay in the event history (zero: not kept).
    pub event_history: Duration,
    pub mail: MailConfig,
}

/// The admin API's listener and credentials.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub credentials: AdminCredentials,
}

impl Config {
    /// What `authd serve` runs with when nothing is set (no flags, no variables),
    /// over `store`: the defaults are written once, in `Settings`.
    pub fn defaults(store: StoreConfig) -> Config {
        let command = Settings::augment_args(Command::new("authd")).mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["authd"])
            .expect("no arguments parse");
        let mut config = Settings::from_arg_matches(&matches)
            .expect("no arguments parse")
            .validate()
            .expect("the defaults are valid");
        // Development mail goes beside the store, as with --data-dir.
        let mail_dir = match &store {
            StoreConfig::Sqlite { path } => path.with_file_name("mail"),
            StoreConfig::Postgres { .. } => std::env::temp_dir().join("authd-mail"),
        };
        config.mail.delivery = Delivery::Files { dir: mail_dir };
        config.store = store;
        config
    }
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
            shutdown_drain: Duration::from_millis(self.shutdown_drain_ms),
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            max_connections: self.max_connections as usize,
            admin: self.admin()?,
            public_url: self.public_url()?,
            denylist: std::sync::Arc::new(self.denylist()?),
            event_history: Duration::from_secs(u64::from(self.event_history_days) * 86_400),
            mail: self.mail()?,
        })
    }

    fn mail(&self) -> Result<MailConfig, String> {
        let delivery = match self.smtp_url.as_deref().map(str::trim) {
            None | Some("") => Delivery::Files {
                dir: self
                    .mail_dir
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("mail")),
            },
            Some(url) if url.starts_with("smtp://") || url.starts_with("smtps://") => {
                Delivery::Smtp { url: url.into() }
            }
            // Never echo the URL: it may hold a password.
            Some(_) => return Err("AUTHD_SMTP_URL must start with smtp:// or smtps://".into()),
        };
        let from = self
            .mail_from
            .parse()
            .map_err(|e| format!("AUTHD_MAIL_FROM {:?}: {e}", self.mail_from))?;
        let app_url = match &self.app_url {
            Some(url) => http_url("AUTHD_APP_URL", url)?,
            None => match self.public_url()? {
                Some(url) => url,
                None => format!("http://{}", self.listen),
            },
        };
        let config = MailConfig {
            delivery,
            from,
            app_url,
            templates: std::sync::Arc::new(Templates::load(self.mail_templates.as_deref())?),
            verification: self.email_verification,
            verify_ttl: Duration::from_secs(self.verify_token_ttl_secs),
            reset_ttl: Duration::from_secs(self.reset_token_ttl_secs),
        };
        crate::mail::check(&config).map_err(|e| format!("{e:#}"))?;
        Ok(config)
    }

    fn denylist(&self) -> Result<Denylist, String> {
        match self.password_denylist.trim() {
            "builtin" => Ok(Denylist::built_in()),
            "off" => Ok(Denylist::default()),
            path => std::fs::read_to_string(path)
                .map(|text| Denylist::parse(&text))
                .map_err(|e| format!("AUTHD_PASSWORD_DENYLIST {path}: {e}")),
        }
    }

    fn public_url(&self) -> Result<Option<String>, String> {
        let Some(url) = &self.public_url else {
            return Ok(None);
        };
        http_url("AUTHD_PUBLIC_URL", url).map(Some)
    }

    fn admin(&self) -> Result<Option<AdminConfig>, String> {
        match (&self.admin_listen, &self.admin_tokens_file) {
            (None, None) => Ok(None),
            (None, Some(_)) => {
                Err("AUTHD_ADMIN_TOKENS_FILE is set without AUTHD_ADMIN_LISTEN".into())
            }
            (Some(_), None) => {
                Err("AUTHD_ADMIN_LISTEN needs AUTHD_ADMIN_TOKENS_FILE (name:token lines)".into())
            }
            (Some(listen), Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("AUTHD_ADMIN_TOKENS_FILE {}: {e}", path.display()))?;
                let credentials = AdminCredentials::parse(&text)
                    .map_err(|e| format!("AUTHD_ADMIN_TOKENS_FILE {}: {e}", path.display()))?;
                Ok(Some(AdminConfig {
                    listen: *listen,
                    credentials,
                }))
            }
        }
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
/// `url` without its trailing slashes, if it is an http(s) URL.
fn http_url(name: &str, url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.bytes().all(|b| b.is_ascii_graphic())
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(url.to_string())
    } else {
        Err(format!("{name} must be an http(s) URL, not {url:?}"))
    }
}

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

    #[test]
    fn the_defaults_are_what_an_empty_command_line_gives() {
        let store = StoreConfig::Sqlite {
            path: "/tmp/x/authd.sqlite3".into(),
        };
        let mut parsed = parse(&["--data-dir", "/tmp/x"]).unwrap();
        let mut defaults = Config::defaults(store);
        parsed.instance_id.clear();
        defaults.instance_id.clear();
        assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
        assert_eq!(defaults.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(defaults.throttle.account_failures, 5);
    }
}
