//! authd: sign-up and login service. See README.md for the tour.

pub mod auth;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod extract;
pub mod healthcheck;
pub mod metrics;
pub mod openapi;
pub mod password;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod tokens;
