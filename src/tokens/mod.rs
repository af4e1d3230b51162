//! Access tokens (EdDSA JWTs), the shared signing keys and refresh tokens.

pub mod jwt;
pub mod keys;
pub mod refresh;

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use jwt::{Claims, TokenError, ALG};
pub use keys::{Jwk, Keys};

use crate::store::Store;

/// How tokens are issued and checked.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// `iss` of every access token, and what verification expects.
    pub issuer: String,
    /// `aud` of every access token, and what verification expects.
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How often a replica reloads the signing keys from the database.
    pub keys_refresh: Duration,
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
        let keys = Keys::load(store, now, config.access_ttl, config.keys_refresh).await?;
        Ok(Self { config, keys })
    }

    /// A signed access token for `user` in session `sid`, and its lifetime in seconds.
    pub async fn issue(
        &self,
        user: Uuid,
        sid: Uuid,
        email_verified: bool,
        now: DateTime<Utc>,
    ) -> (String, u64) {
        let ttl = self.config.access_ttl.as_secs();
        let claims = Claims {
            iss: self.config.issuer.clone(),
            sub: user,
            aud: jwt::Audience::One(self.config.audience.clone()),
            iat: now.timestamp(),
            exp: now.timestamp() + ttl as i64,
            jti: Uuid::new_v4(),
            nbf: None,
            sid: Some(sid),
            email_verified: Some(email_verified),
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

    /// The public keys that may verify a live token.
    pub async fn jwks(&self, now: DateTime<Utc>) -> Vec<Jwk> {
        self.keys.ring(now).await.jwks()
    }
}
