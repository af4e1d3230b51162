//! Typed settings from flags and `AUTHD_*` variables (`settings`), checked once at
//! start-up into a `Config`. Each subsystem owns its config type; this assembles them.

mod admin;
mod mail_settings;
mod mfa_settings;
mod settings;
mod subsystems;
#[cfg(test)]
mod tests;
mod ui_settings;

pub use admin::AdminCredentials;
pub use settings::{LogFormat, Settings};
pub use subsystems::{available_cpus, default_instance_id};

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Command, FromArgMatches};
use ipnet::IpNet;

use crate::authn::{MfaConfig, ThrottleConfig};
use crate::domain::Denylist;
use crate::events::relay::RelayConfig;
use crate::hashing::{Engine, HashParams, PoolConfig};
use crate::mail::{Delivery, MailConfig};
pub use crate::store::StoreConfig;
use crate::tokens::{SecretsSource, TokenConfig};

/// Settings after validation: what the application is built from.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub pool_size: u32,
    pub hash: HashParams,
    /// Which argon2 engine computes the hashes.
    pub hash_engine: Engine,
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
    /// Where clients reach authd, e.g. `https://auth.example.com`: the tokens'
    /// issuer and the base of every URL authd gives out.
    pub public_url: String,
    pub idempotency: crate::store::IdempotencyLimits,
    /// Passwords refused when set.
    pub denylist: std::sync::Arc<Denylist>,
    /// How long published events stay in the event history (zero: not kept).
    pub event_history: Duration,
    pub mail: MailConfig,
    pub mfa: MfaConfig,
    /// The hosted pages and the admin console; `None`: off.
    pub ui: Option<crate::ui::config::UiConfig>,
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
        config.tokens.secrets = match &store {
            StoreConfig::Sqlite { path } => {
                SecretsSource::Generated(path.with_file_name("secrets.key"))
            }
            StoreConfig::Postgres { .. } => SecretsSource::None,
        };
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
            hash_engine: self.argon2_engine,
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
                account_total_failures: self.login_max_failures_per_account,
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
            idempotency: crate::store::IdempotencyLimits {
                max_running_per_client: self.idempotency_max_running_per_client,
                max_keys: self.idempotency_max_keys,
            },
            event_history: Duration::from_secs(u64::from(self.event_history_days) * 86_400),
            mail: self.mail()?,
            ui: self.ui.config()?,
            mfa: MfaConfig {
                policy: self.second_factors.mfa,
                totp_window: self.second_factors.totp_window,
                issuer: self.second_factors.mfa_issuer.trim().to_string(),
                webauthn: self.webauthn()?,
            },
        })
    }
}
