//! What a login asks for besides the factors: the email verification policy.

/// What sign-up does about the email address (`AUTHD_EMAIL_VERIFICATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verification {
    /// No verification mail; an email change applies at once.
    Off,
    /// A verification mail at sign-up; login works before it is confirmed, and an
    /// email change waits for the new address to confirm.
    Optional,
    /// As optional, and login answers 403 until the email is confirmed.
    Required,
}
