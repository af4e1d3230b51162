//! One module per resource, each with its own `router()`, merged in `startup`.

pub mod health;
pub mod users;
