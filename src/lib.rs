//! authd: sign-up and login service. See README.md for the tour.

pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod extract;
pub mod healthcheck;
pub mod password;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
