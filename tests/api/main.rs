//! Black-box tests: the real application over real stores (SQLite and a Postgres 15
//! started here), through HTTP. One binary, so the Postgres template is made once.

mod admin;
mod attacks;
mod bearer;
mod broker;
mod cli;
mod deploy_files;
mod deploy_kubernetes;
mod deploy_security;
mod disk_full;
mod engine;
mod fuzz;
mod gateway;
mod health;
mod helpers;
mod hostile;
mod idempotency;
mod import;
mod isolation;
mod lifecycle;
mod load;
mod mail;
mod mfa;
mod operations;
mod overload;
mod passkeys;
mod pg;
mod relay;
mod replicas;
mod session;
mod sessions;
mod signup;
mod throttle;
mod tokens;
mod ui;
mod verify;
