//! What a login asks for besides the password: the email verification policy and
//! the second-factor policy.

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

/// Whether a login needs a second factor (`AUTHD_MFA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MfaPolicy {
    /// Users with a factor need it at login; others log in with the password.
    Optional,
    /// Every user needs one: a user without a factor can only enrol one (the
    /// password step answers with an `mfa_token` to enrol with, not tokens).
    Required,
}

/// How second factors work here.
#[derive(Debug, Clone)]
pub struct MfaConfig {
    pub policy: MfaPolicy,
    /// TOTP steps accepted either side of the current one (clock drift).
    pub totp_window: u32,
    /// The issuer authenticator apps show beside the account.
    pub issuer: String,
    /// The WebAuthn relying party of passkeys; None: passkeys are off.
    pub webauthn: Option<std::sync::Arc<webauthn_rs::Webauthn>>,
}
