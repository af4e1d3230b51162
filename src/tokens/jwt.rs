//! Compact JWS with EdDSA: one implementation, in the `authd-verify` crate, which
//! other services use to verify authd's tokens the same way authd does.

pub use authd_verify::jws::*;
