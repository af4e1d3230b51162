//! The command line: `authd [serve|migrate|events|keys|users|healthcheck]`.

use clap::{Parser, Subcommand};

use crate::config::Settings;

/// authd: sign-up and login service. Users in Postgres (or an embedded SQLite file),
/// user events through a transactional outbox, passwords hashed with argon2id.
#[derive(Debug, Parser)]
#[command(name = "authd", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default): applies migrations, then listens.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// List the events waiting in the outbox, newest first, as JSON lines; or `tail`
    /// the Kafka topic.
    Events {
        #[command(subcommand)]
        action: Option<EventsAction>,
        /// How many waiting events to list.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..))]
        limit: i64,
    },
    /// Manage the Ed25519 keys that sign access tokens (shared by every replica).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Bring users from another system.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Exit 0 when GET <URL>/readyz answers 200 (for container health checks).
    Healthcheck {
        /// Base URL of the replica, e.g. http://127.0.0.1:8080
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Import users from FILE, JSON lines of {id?, username, email, email_verified?,
    /// created_at?, password_hash}; the hash is bcrypt ($2a$/$2b$/$2y$), scrypt
    /// (passlib), PBKDF2-SHA256 (passlib or Django) or argon2, kept as it is and
    /// rehashed to argon2id at the user's first login. Every line is checked on its
    /// own: bad ones are listed on stderr by number and the others imported. A user
    /// already there (same id, or same username and email) is skipped, so a re-run imports nothing twice. Each
    /// imported user writes authd.user.imported. Prints a JSON summary; exits 1 when
    /// a line was refused.
    Import {
        /// The JSON-lines file ("-": standard input).
        file: std::path::PathBuf,
        /// Rows per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Make a new current signing key. The old one stays published (JWKS) and
    /// accepted until the tokens it signed have expired; replicas switch within
    /// AUTHD_KEYS_REFRESH_MS.
    Rotate {
        /// The old keys leaked: delete them at once. The JWKS stops listing them
        /// within a second, replicas refuse their tokens within
        /// AUTHD_KEYS_REFRESH_MS, and every access token they signed is void
        /// (users refresh, or log in again).
        #[arg(long)]
        revoke_old: bool,
    },
    /// Seal every stored secret again with the first key of
    /// AUTHD_SECRETS_KEY_FILE (after a new key was put first); then the old key's
    /// line can go.
    Reseal,
    /// List the keys that may still verify a live token, newest first, as JSON lines
    /// (public parts only). A store without keys gets its first one.
    List,
}

#[derive(Debug, Subcommand)]
pub enum EventsAction {
    /// Consume the events topic and print each event as a JSON line (partition,
    /// offset, key, headers, event), the way a downstream service sees them.
    Tail {
        /// Kafka bootstrap servers.
        #[arg(long, env = "AUTHD_KAFKA_BROKERS")]
        brokers: String,
        /// Topic to read.
        #[arg(long, env = "AUTHD_KAFKA_TOPIC", default_value = "authd.user-events")]
        topic: String,
        /// Start at the oldest retained event instead of the next new one.
        #[arg(long)]
        from_beginning: bool,
        /// Exit after this many events.
        #[arg(long)]
        max: Option<usize>,
        /// Exit after this many seconds without an event (default: run until stopped).
        #[arg(long)]
        idle_timeout: Option<u64>,
    },
}
