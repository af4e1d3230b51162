//! The command line: `authd [serve|migrate|healthcheck]`.

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
    /// Exit 0 when GET <URL>/readyz answers 200 (for container health checks).
    Healthcheck {
        /// Base URL of the replica, e.g. http://127.0.0.1:8080
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
}
