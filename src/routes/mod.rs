//! One module per resource, each with its own `router()`, merged in `startup`.

pub mod account;
pub mod health;
pub mod keys;
pub mod session;
pub mod users;
