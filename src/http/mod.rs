//! The HTTP edge: state, the one error type, extractors, bearer auth, client
//! address, request ids, the OpenAPI document and the routes (one module per
//! resource). `startup` assembles them; nothing here imports `startup`.

pub mod admin;
pub mod auth;
pub mod client_ip;
pub mod error;
mod error_from;
pub mod extract;
pub mod idempotency;
pub mod listener;
pub mod openapi;
pub mod problem;
pub mod request_id;
pub mod routes;
pub mod serve;
pub mod state;

/// Largest accepted request body (applied with `DefaultBodyLimit`).
pub const BODY_LIMIT: usize = 16 * 1024;
