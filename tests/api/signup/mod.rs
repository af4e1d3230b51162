//! Sign-up: validation, duplicates, hashing, rows and events, over both stores.
//!
//! What is accepted and written: accepted.rs; what is refused: refused.rs; many
//! sign-ups at once: concurrency.rs.

mod accepted;
mod concurrency;
mod refused;

/// The sign-ups here send their own password, one word longer than the shared
/// PASSWORD: they never log in with it, and one checks that a near miss of it
/// does not verify.
const SIGN_UP_PASSWORD: &str = "correct horse battery staple";
