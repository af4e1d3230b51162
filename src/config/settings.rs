//! The service's settings, from flags and `AUTHD_*` variables (clap), checked once
//! at start-up into a `Config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::mail_settings::MailSettings;
use super::mfa_settings::SecondFactorSettings;
use crate::hashing::{Engine, HashParams};

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

    /// The argon2 engine: fast (argon2-rust: the reference C's algorithm with SIMD
    /// chosen at run time, ~2x the reference crate here) or reference (RustCrypto's
    /// argon2). Both compute the same bytes; every start checks the chosen one
    /// against RFC 9106's vectors and the reference, and refuses to serve otherwise.
    #[arg(long, env = "AUTHD_ARGON2_ENGINE", value_enum, default_value_t = Engine::Fast, global = true)]
    pub argon2_engine: Engine,

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

    /// librdkafka properties for TLS and SASL (or any other), as key=value pairs
    /// separated by commas: e.g. security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512,
    /// sasl.username=authd,ssl.ca.location=/etc/kafka/ca.pem. Checked at start.
    #[arg(long, env = "AUTHD_KAFKA_PROPERTIES", global = true)]
    pub kafka_properties: Option<String>,

    /// A file (a mounted secret) of more librdkafka properties, one key=value per
    /// line: where sasl.password belongs, never in an environment variable.
    #[arg(long, env = "AUTHD_KAFKA_PROPERTIES_FILE", global = true)]
    pub kafka_properties_file: Option<PathBuf>,

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

    /// The longest a session lasts from its login, in seconds: past it the refresh
    /// token is refused however often it was refreshed (each refresh gives a new
    /// token of AUTHD_REFRESH_TOKEN_TTL_SECS, never past this).
    #[arg(long, env = "AUTHD_SESSION_MAX_AGE_SECS", default_value_t = 90 * 86_400,
          value_parser = clap::value_parser!(u64).range(60..=31_622_400), global = true)]
    pub session_max_age_secs: u64,

    /// How recent a login (the access token's auth_time) must be, in seconds, for
    /// a sensitive change (an email change) without the current password.
    #[arg(long, env = "AUTHD_REAUTH_MAX_AGE_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(10..=86_400), global = true)]
    pub reauth_max_age_secs: u64,

    /// Second factors: the policy, TOTP, passkeys.
    #[command(flatten)]
    pub second_factors: SecondFactorSettings,

    /// A file (a mounted secret) of the key-encryption key that seals secrets at
    /// rest (the signing keys' seeds): 64 hex digits or base64 of 32 bytes per
    /// line, the first sealing, every one opening (rotation: put a new key first,
    /// run `authd keys reseal`, then drop the old line). Unset: with the embedded
    /// store, secrets.key beside the database (made at the first start); with
    /// Postgres, secrets are stored unencrypted (a warning says so).
    #[arg(long, env = "AUTHD_SECRETS_KEY_FILE", global = true)]
    pub secrets_key_file: Option<PathBuf>,

    /// How often a replica reloads the shared signing keys, in milliseconds (a token
    /// naming an unknown key also triggers a reload).
    #[arg(long, env = "AUTHD_KEYS_REFRESH_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000), global = true)]
    pub keys_refresh_ms: u64,

    /// Failed logins of one account from one client address (an IPv6 /64) before
    /// the account is locked for that address (429 with Retry-After).
    #[arg(long, env = "AUTHD_LOGIN_MAX_FAILURES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub login_max_failures: u32,

    /// Failed logins of one account from anywhere before it is locked for client
    /// addresses that have had no session of it (a guesser spread over many
    /// addresses; the owner's own addresses are not held back by it).
    #[arg(long, env = "AUTHD_LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub login_max_failures_per_account: u32,

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

    /// Requests with an Idempotency-Key one client address may have running at once;
    /// past it, 429 with Retry-After.
    #[arg(long, env = "AUTHD_IDEMPOTENCY_MAX_RUNNING_PER_CLIENT", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub idempotency_max_running_per_client: u32,

    /// Answered Idempotency-Keys kept in all (an answer is kept 24 h); the hourly
    /// prune forgets the oldest past this many (a running request keeps its key).
    #[arg(long, env = "AUTHD_IDEMPOTENCY_MAX_KEYS", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub idempotency_max_keys: u64,

    /// Passwords refused at sign-up, password change and admin create: `builtin`
    /// (common passwords), `off`, or a file of plain passwords and/or SHA-1 hashes in
    /// the Have I Been Pwned download format (`HEX40[:COUNT]` lines), read at start.
    #[arg(
        long,
        env = "AUTHD_PASSWORD_DENYLIST",
        default_value = "builtin",
        global = true
    )]
    pub password_denylist: String,

    /// Where clients reach authd (e.g. https://auth.example.com): the iss of every
    /// access token, the issuer and jwks_uri of /.well-known/openid-configuration,
    /// and the base of mail links (unless AUTHD_APP_URL). Unset: http:// and
    /// AUTHD_LISTEN (an unspecified IP read as 127.0.0.1), for a run on one machine;
    /// nothing a request says (Host, X-Forwarded-*) is ever used instead.
    #[arg(long, env = "AUTHD_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Serve the admin API (users, locks, sessions, event history; /admin/...) on
    /// this separate address, which nginx never exposes. Unset: no admin API.
    /// Needs AUTHD_ADMIN_TOKENS_FILE.
    #[arg(long, env = "AUTHD_ADMIN_LISTEN", global = true)]
    pub admin_listen: Option<SocketAddr>,

    /// The admin API's credentials: a file (a mounted secret) of `name:token` lines,
    /// tokens of 32 or more printable characters, sent as `Authorization: Bearer
    /// <token>`. Read once at start; tokens are never logged, names are (events say
    /// `admin:<name>`).
    #[arg(long, env = "AUTHD_ADMIN_TOKENS_FILE", global = true)]
    pub admin_tokens_file: Option<std::path::PathBuf>,

    /// Days a user's events are kept after publishing, for the admin API's event
    /// history (0: not kept once published).
    #[arg(long, env = "AUTHD_EVENT_HISTORY_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(0..=36_500), global = true)]
    pub event_history_days: u32,

    /// Mail: verification, the mail server, templates, links.
    #[command(flatten)]
    pub mail: MailSettings,

    /// The hosted pages and the admin console.
    #[command(flatten)]
    pub ui: super::ui_settings::UiSettings,

    /// On SIGTERM, drain for this many milliseconds: refuse new connections (a proxy
    /// retries them elsewhere), serve the open ones, each closing after its next
    /// response, and answer /readyz with 503. Then in-flight requests finish.
    #[arg(long, env = "AUTHD_SHUTDOWN_DRAIN_MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=600_000), global = true)]
    pub shutdown_drain_ms: u64,

    /// The longest the request line and headers may take to arrive, in
    /// milliseconds; a slower client's connection is closed (408 when possible).
    #[arg(long, env = "AUTHD_HEADER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000), global = true)]
    pub header_timeout_ms: u64,

    /// The longest a request body may take to arrive, in milliseconds (408 past it).
    #[arg(long, env = "AUTHD_BODY_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000), global = true)]
    pub body_timeout_ms: u64,

    /// Connections this replica serves at once; further ones wait in the kernel's
    /// backlog until one closes.
    #[arg(long, env = "AUTHD_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub max_connections: u32,

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
