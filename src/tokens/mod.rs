//! Access tokens (EdDSA JWTs), the shared signing keys and refresh tokens.

pub mod jwt;
pub mod keys;
pub mod refresh;
pub mod sealing;

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use jwt::{Claims, TokenError, ALG};
pub use keys::{Jwk, Keys};
pub use sealing::SecretsKey;

use crate::store::Store;

/// How tokens are issued and checked.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// `iss` of every access token, and what verification expects: always
    /// `AUTHD_PUBLIC_URL` (the application sets it from `Config::public_url`).
    pub issuer: String,
    /// `aud` of every access token, and what verification expects.
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How often a replica reloads the signing keys from the database.
    pub keys_refresh: Duration,
    /// The longest a session lasts from its login, however often it is refreshed.
    pub session_max_age: Duration,
    /// How recent a login a sensitive change (an email change) needs, unless the
    /// request proves the password itself.
    pub reauth_max_age: Duration,
    /// Where the key-encryption key of secrets at rest comes from.
    pub secrets: SecretsSource,
}

/// Where the key-encryption key of secrets at rest (`sealing`) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsSource {
    /// `AUTHD_SECRETS_KEY_FILE`, a mounted secret.
    File(std::path::PathBuf),
    /// The embedded store's default: a key file beside the database, made at the
    /// first start (a copy of the database file alone then opens nothing).
    Generated(std::path::PathBuf),
    /// None configured (Postgres without AUTHD_SECRETS_KEY_FILE): stored plain.
    None,
}

impl SecretsSource {
    /// The secrets key, made first when it is to be generated.
    pub fn load(&self) -> anyhow::Result<Option<std::sync::Arc<SecretsKey>>> {
        let path = match self {
            SecretsSource::File(path) => path,
            SecretsSource::Generated(path) => {
                SecretsKey::create_if_missing(path)?;
                path
            }
            SecretsSource::None => return Ok(None),
        };
        Ok(Some(std::sync::Arc::new(SecretsKey::load(path)?)))
    }
}

/// What an access token says of its user and session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: Uuid,
    pub session: Uuid,
    /// Whether the user's email is verified now.
    pub email_verified: bool,
    /// When the login the session came from authenticated (a refresh keeps it).
    pub auth_time: DateTime<Utc>,
    /// How it authenticated, RFC 8176 values (`pwd`; `pwd`, `otp`, `mfa`); a
    /// refresh keeps them.
    pub amr: Vec<String>,
}

impl Grant {
    /// The assurance level the methods reach: `aal2` with a second factor.
    pub fn acr(&self) -> &'static str {
        acr_of(&self.amr)
    }
}

/// `aal2` when `amr` holds a second factor (`mfa`), else `aal1`.
pub fn acr_of(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "mfa") {
        "aal2"
    } else {
        "aal1"
    }
}

/// Tolerated clock difference between replicas for `iat`.
const LEEWAY_SECS: i64 = 60;

/// Issues and verifies access tokens with the shared keys.
pub struct Tokens {
    pub config: TokenConfig,
    pub keys: Keys,
}

impl Tokens {
    pub async fn load(
        store: Store,
        config: TokenConfig,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Self> {
        let secrets = config.secrets.load()?;
        if secrets.is_none() {
            tracing::warn!(
                "no AUTHD_SECRETS_KEY_FILE: the signing keys are stored unencrypted in the database"
            );
        }
        let keys = Keys::load(store, secrets, now, config.access_ttl, config.keys_refresh).await?;
        Ok(Self { config, keys })
    }

    /// A signed access token of `grant`, and its lifetime in seconds.
    pub async fn issue(&self, grant: &Grant, now: DateTime<Utc>) -> (String, u64) {
        let ttl = self.config.access_ttl.as_secs();
        let claims = Claims {
            iss: self.config.issuer.clone(),
            sub: grant.user,
            aud: jwt::Audience::One(self.config.audience.clone()),
            iat: now.timestamp(),
            exp: now.timestamp() + ttl as i64,
            jti: Uuid::new_v4(),
            nbf: None,
            sid: Some(grant.session),
            email_verified: Some(grant.email_verified),
            auth_time: Some(grant.auth_time.timestamp()),
            amr: Some(grant.amr.clone()),
            acr: Some(grant.acr().to_string()),
        };
        let ring = self.keys.ring(now).await;
        (jwt::sign(&ring.signer, &ring.kid, &claims), ttl)
    }

    pub async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let kid = jwt::key_id(token)?;
        let key = self
            .keys
            .verifier(&kid, now)
            .await
            .ok_or(TokenError::UnknownKey)?;
        jwt::verify(
            token,
            &key,
            &jwt::Expect {
                issuer: &self.config.issuer,
                audience: &self.config.audience,
                now: now.timestamp(),
                leeway: LEEWAY_SECS,
            },
        )
    }

    /// The public keys that may verify a live token (a revoked key leaves within
    /// a second).
    pub async fn jwks(&self, now: DateTime<Utc>) -> Vec<Jwk> {
        self.keys.published(now).await.jwks()
    }
}
