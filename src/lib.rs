//! authd: sign-up and login service. See README.md for the tour.

pub mod authn;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod events;
pub mod hashing;
pub mod healthcheck;
pub mod http;
pub mod import;
pub mod mail;
pub mod metrics;
pub mod private_files;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod ui;
