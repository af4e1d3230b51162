//! Authentication: how a user proves who they are, and what that ends in.
//!
//! - `throttle`: the shared failure counters, per account and per client address.
//! - `attempt`: one guarded check against them (`Attempt`).
//! - `password`: the password factor (a login by name, the current-password check).
//! - `session`: a new session and its token pair, the end of every login.
//! - `signup`: a new user with a password (sign-up, the admin API).
//! - `policy`: what a login asks besides its factors (email verification).
//! - `stepup`: what a sensitive change asks (a recent login, or the password).
//! - `mfa`: the second factors (TOTP, recovery codes) and the `mfa_token` between
//!   a login's password step and its second one; `totp`: RFC 6238 itself;
//!   `enrolment`: a new TOTP factor, sealed, confirmed by its first code;
//!   `recovery_codes`: the codes shown once and kept as digests;
//!   `second_factor`: the check of a factor as presented.
//! - `passkey`: WebAuthn passkeys (registration, a second factor, a login alone).
//!
//! A new factor (a one-time code, a passkey) is a module beside `password` that
//! verifies inside an `Attempt` and ends in `session::start`.

pub mod attempt;
pub mod enrolment;
pub mod mfa;
pub mod passkey;
pub mod password;
pub mod policy;
pub mod recovery_codes;
pub mod second_factor;
pub mod session;
pub mod signup;
pub mod stepup;
pub mod throttle;
pub mod totp;

pub use attempt::Attempt;
pub use policy::{MfaConfig, MfaPolicy, Verification};
pub use session::TokenResponse;
pub use throttle::{client_net, AttemptKeys, ThrottleConfig};
