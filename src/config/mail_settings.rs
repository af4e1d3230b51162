//! The mail settings (`Settings::mail`): whether sign-up verifies the address,
//! how mails leave, what they say and where their links point.

use std::path::PathBuf;

use clap::Args;

use crate::authn::Verification;

/// Mail: `AUTHD_EMAIL_VERIFICATION`, `AUTHD_SMTP_URL`, `AUTHD_MAIL_*`,
/// `AUTHD_APP_URL` and the links' lifetimes.
#[derive(Debug, Clone, Args)]
pub struct MailSettings {
    /// What sign-up does about the email address: off (nothing), optional (a
    /// verification mail; an email change waits for the new address to confirm),
    /// required (as optional, and login answers 403 until confirmed).
    #[arg(long, env = "AUTHD_EMAIL_VERIFICATION", value_enum, default_value_t = Verification::Off, global = true)]
    pub email_verification: Verification,

    /// The mail server: smtp://[user:pass@]host[:port] (plain; add ?tls=required
    /// for STARTTLS, ?tls=opportunistic to use it when offered) or
    /// smtps://[user:pass@]host[:port] (TLS). Never logged. Unset: development
    /// mode, mails are written as .eml files to AUTHD_MAIL_DIR.
    #[arg(long, env = "AUTHD_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// The From of every mail.
    #[arg(
        long,
        env = "AUTHD_MAIL_FROM",
        default_value = "authd <no-reply@localhost>",
        global = true
    )]
    pub mail_from: String,

    /// Development mode (no AUTHD_SMTP_URL): the directory mails are written to.
    /// Default: mail/ in the data directory.
    #[arg(long, env = "AUTHD_MAIL_DIR", global = true)]
    pub mail_dir: Option<PathBuf>,

    /// A directory of mail templates (verify, email_change, email_changed, reset;
    /// NAME.txt with a first 'Subject: ' line, NAME.html) replacing the built-in
    /// ones file by file.
    #[arg(long, env = "AUTHD_MAIL_TEMPLATES", global = true)]
    pub mail_templates: Option<PathBuf>,

    /// Where the links in mails point: {url}/verify-email?token=... and
    /// {url}/reset-password?token=..., pages of your application that POST the
    /// token to /auth/verify or /auth/password/reset. Default: the hosted pages,
    /// {AUTHD_PUBLIC_URL}/ui/verify-email#token=... (the token in the fragment,
    /// which no log keeps); with AUTHD_UI=off, AUTHD_PUBLIC_URL itself.
    #[arg(long, env = "AUTHD_APP_URL", global = true)]
    pub app_url: Option<String>,

    /// How long a verification (or email change) link works, in seconds.
    #[arg(long, env = "AUTHD_VERIFY_TOKEN_TTL_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(60..=2_592_000), global = true)]
    pub verify_token_ttl_secs: u64,

    /// How long a password reset link works, in seconds.
    #[arg(long, env = "AUTHD_RESET_TOKEN_TTL_SECS", default_value_t = 3_600,
          value_parser = clap::value_parser!(u64).range(60..=604_800), global = true)]
    pub reset_token_ttl_secs: u64,
}
