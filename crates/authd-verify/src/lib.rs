//! Verify authd's access tokens in another Rust service, without calling authd per
//! request:
//!
//! - [`jws`]: the EdDSA compact-JWS checks authd itself uses (algorithm pinned,
//!   signature, issuer, audience, expiry, not-before).
//! - [`Verifier`] (feature `verifier`, on by default): the public keys from authd's
//!   JWKS, cached and refetched when a token names an unknown `kid`; and the
//!   revocations authd publishes to Kafka (`authd.session.revoked`, and the
//!   `not_before` of `authd.user.password_changed`, `.locked`, `.deleted`), heard
//!   within about a second of the logout, the lock or the password change.
//!
//! ```no_run
//! # async fn run() -> Result<(), authd_verify::StartError> {
//! let verifier = authd_verify::Verifier::start(authd_verify::VerifierConfig::new(
//!     "http://authd:8080/.well-known/jwks.json",
//!     "authd",
//!     "authd",
//!     Some("kafka:9092".into()),
//! ))
//! .await?;
//! match verifier.verify("eyJ...").await {
//!     Ok(claims) => println!("user {} in session {:?}", claims.sub, claims.sid),
//!     Err(refused) => println!("401: {refused}"),
//! }
//! # Ok(()) }
//! ```

pub mod jws;

#[cfg(feature = "verifier")]
mod jwks;
#[cfg(feature = "verifier")]
mod revocations;
#[cfg(feature = "verifier")]
mod verifier;

#[cfg(feature = "verifier")]
pub use revocations::Revocations;
#[cfg(feature = "verifier")]
pub use verifier::{StartError, Verifier, VerifierConfig, VerifyError};
