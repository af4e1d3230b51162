//! The second-factor settings (`Settings::second_factors`): the policy, TOTP's
//! window and issuer, and the passkeys' relying party.

use clap::Args;

use crate::authn::MfaPolicy;

/// `AUTHD_MFA`, `AUTHD_TOTP_WINDOW`, `AUTHD_MFA_ISSUER`, `AUTHD_WEBAUTHN_*`.
#[derive(Debug, Clone, Args)]
pub struct SecondFactorSettings {
    /// Second factors: optional (users with one need it at login) or required
    /// (a user without one can only enrol one).
    #[arg(long, env = "AUTHD_MFA", value_enum, default_value_t = MfaPolicy::Optional, global = true)]
    pub mfa: MfaPolicy,

    /// TOTP time steps (30 s) accepted either side of the current one, for the
    /// drift between a phone's clock and the server's.
    #[arg(long, env = "AUTHD_TOTP_WINDOW", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(0..=10), global = true)]
    pub totp_window: u32,

    /// The issuer authenticator apps show beside the account name.
    #[arg(long, env = "AUTHD_MFA_ISSUER", default_value = "authd", global = true)]
    pub mfa_issuer: String,

    /// Passkeys: the WebAuthn relying party id, the host of the pages (or a parent
    /// domain of it), as `login.example.com`. Unset: passkeys are off.
    #[arg(
        long,
        env = "AUTHD_WEBAUTHN_RP_ID",
        requires = "webauthn_origins",
        global = true
    )]
    pub webauthn_rp_id: Option<String>,

    /// Passkeys: the origins the pages that call WebAuthn are served from,
    /// comma-separated (`https://login.example.com`); each must fit the RP id.
    #[arg(
        long,
        env = "AUTHD_WEBAUTHN_ORIGINS",
        requires = "webauthn_rp_id",
        global = true
    )]
    pub webauthn_origins: Option<String>,
}
