//! One module per resource, each with its own `router()`, merged in `startup`.

pub mod account;
pub mod keys;
pub mod login;
pub mod mfa;
pub mod operations;
pub mod passkey_login;
pub mod passkeys;
pub mod reauthenticate;
pub mod recovery;
pub mod sessions;
pub mod signup;
pub mod totp;
