//! Signing keys shared by every replica through the database.
//!
//! Exactly one key is current and signs new tokens. `authd keys rotate` retires it
//! and makes a new one current; a retired key stays published (JWKS) and accepted
//! until every token it may have signed has expired, then the hourly prune deletes
//! it. `authd keys rotate --revoke-old` (a key that leaked) deletes every other key
//! at once: the JWKS stops listing them within a second, and every replica stops
//! accepting their tokens within its reload interval. Each replica caches the ring
//! and reloads it every `refresh`, or at once when a token names a key it lacks.
//! Seeds are stored sealed (`sealing`) when a secrets key is configured.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use anyhow::Context;

use super::sealing::SecretsKey;
use crate::store::{Store, StoredKey};

/// A key in JWK form (RFC 8037), as `/.well-known/jwks.json` publishes it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// The JWK thumbprint (RFC 7638) of an Ed25519 public key: a `kid` any verifier
/// can recompute from the key itself.
pub fn thumbprint(public: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(public.as_bytes());
    // Members in lexicographic order, no whitespace, as RFC 7638 requires.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A fresh key from the OS's random source, its seed sealed with `secrets`.
pub fn generate(now: DateTime<Utc>, secrets: Option<&SecretsKey>) -> anyhow::Result<StoredKey> {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let signing = SigningKey::from_bytes(&seed);
    let public = signing.verifying_key();
    let kid = thumbprint(&public);
    let private_key = match secrets {
        Some(secrets) => secrets.seal(&seed, &kid)?,
        None => seed.to_vec(),
    };
    Ok(StoredKey {
        kid,
        private_key,
        public_key: public.as_bytes().to_vec(),
        created_at: now,
        retired_at: None,
    })
}

/// The keys of one load: the current signer and every key that may verify.
pub struct KeyRing {
    pub kid: String,
    pub signer: SigningKey,
    pub verifiers: Vec<(String, VerifyingKey)>,
}

impl KeyRing {
    fn from_stored(keys: Vec<StoredKey>, secrets: Option<&SecretsKey>) -> anyhow::Result<Self> {
        let mut verifiers = Vec::with_capacity(keys.len());
        let mut current = None;
        for key in keys {
            let seed = SecretsKey::open(secrets, &key.private_key, &key.kid)
                .with_context(|| format!("opening signing key {}", key.kid))?;
            let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| {
                anyhow::anyhow!("signing key {} is not a 32-byte Ed25519 seed", key.kid)
            })?;
            let signer = SigningKey::from_bytes(&seed);
            verifiers.push((key.kid.clone(), signer.verifying_key()));
            if key.retired_at.is_none() {
                current = Some((key.kid, signer));
            }
        }
        let (kid, signer) =
            current.ok_or_else(|| anyhow::anyhow!("there is no current signing key"))?;
        Ok(Self {
            kid,
            signer,
            verifiers,
        })
    }

    pub fn verifier(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifiers
            .iter()
            .find_map(|(k, key)| (k == kid).then_some(key))
    }

    pub fn jwks(&self) -> Vec<Jwk> {
        self.verifiers
            .iter()
            .map(|(kid, key)| Jwk {
                kty: "OKP",
                crv: "Ed25519",
                x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
                kid: kid.clone(),
                alg: super::jwt::ALG,
                use_: "sig",
            })
            .collect()
    }
}

/// A replica's cached view of the shared keys.
pub struct Keys {
    store: Store,
    secrets: Option<Arc<SecretsKey>>,
    /// How long a retired key stays published: the access-token lifetime plus the
    /// reload interval (a replica may sign with a key for that long after rotation).
    publish_for: chrono::Duration,
    refresh: Duration,
    ring: RwLock<(Arc<KeyRing>, Instant)>,
    /// One reload at a time; holds when the last reload forced by an unknown `kid`
    /// ran, to allow one a second (random `kid`s must not hammer the database).
    reloading: tokio::sync::Mutex<Instant>,
}

impl Keys {
    /// The key-encryption key that seals secrets at rest, when one is configured
    /// (the TOTP secrets are sealed with it too).
    pub fn secrets(&self) -> Option<&SecretsKey> {
        self.secrets.as_deref()
    }

    /// Makes sure a current key exists (the first replica creates it) and loads the ring.
    pub async fn load(
        store: Store,
        secrets: Option<Arc<SecretsKey>>,
        now: DateTime<Utc>,
        access_ttl: Duration,
        refresh: Duration,
    ) -> anyhow::Result<Self> {
        if store
            .add_first_key(&generate(now, secrets.as_deref())?)
            .await?
        {
            tracing::info!("created the first signing key");
        }
        let publish_for = chrono::Duration::from_std(access_ttl + refresh)?;
        let stored = store.signing_keys(now - publish_for).await?;
        let ring = KeyRing::from_stored(stored, secrets.as_deref())?;
        Ok(Self {
            store,
            secrets,
            publish_for,
            refresh,
            ring: RwLock::new((Arc::new(ring), Instant::now())),
            reloading: tokio::sync::Mutex::new(
                Instant::now()
                    .checked_sub(Duration::from_secs(1))
                    .unwrap_or_else(Instant::now),
            ),
        })
    }

    fn cached(&self) -> (Arc<KeyRing>, Instant) {
        let guard = self.ring.read().expect("key ring lock");
        (Arc::clone(&guard.0), guard.1)
    }

    /// The ring, reloaded first when older than the reload interval. A failed
    /// reload keeps the cached ring (the database may be briefly away).
    pub async fn ring(&self, now: DateTime<Utc>) -> Arc<KeyRing> {
        let (ring, loaded) = self.cached();
        if loaded.elapsed() < self.refresh {
            return ring;
        }
        self.reload(now, false).await.unwrap_or(ring)
    }

    /// The verifier for `kid`; a `kid` this replica has not seen forces a reload
    /// (another replica may have rotated), at most once a second.
    pub async fn verifier(&self, kid: &str, now: DateTime<Utc>) -> Option<VerifyingKey> {
        let ring = self.ring(now).await;
        if let Some(key) = ring.verifier(kid) {
            return Some(*key);
        }
        let ring = self.reload(now, true).await?;
        ring.verifier(kid).copied()
    }

    async fn reload(&self, now: DateTime<Utc>, forced: bool) -> Option<Arc<KeyRing>> {
        let asked = Instant::now();
        let mut last_forced = self.reloading.lock().await;
        let (ring, loaded) = self.cached();
        // Someone else reloaded while we waited for the lock.
        if loaded >= asked {
            return Some(ring);
        }
        if forced {
            if last_forced.elapsed() < Duration::from_secs(1) {
                return Some(ring);
            }
            *last_forced = Instant::now();
        }
        let fresh = self
            .store
            .signing_keys(now - self.publish_for)
            .await
            .and_then(|keys| KeyRing::from_stored(keys, self.secrets.as_deref()));
        match fresh {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.ring.write().expect("key ring lock") = (Arc::clone(&fresh), Instant::now());
                Some(fresh)
            }
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "reloading signing keys failed");
                None
            }
        }
    }

    /// Retires the current key and makes a new one current; with `revoke_old`,
    /// every other key is deleted at once instead (it leaked).
    pub async fn rotate(
        store: &Store,
        secrets: Option<&SecretsKey>,
        now: DateTime<Utc>,
        revoke_old: bool,
    ) -> anyhow::Result<String> {
        let key = generate(now, secrets)?;
        store.rotate_key(&key, revoke_old).await?;
        Ok(key.kid)
    }

    /// Seals every stored seed with the current secrets key (after a new key was
    /// put first in AUTHD_SECRETS_KEY_FILE); returns how many were sealed again.
    pub async fn reseal(store: &Store, secrets: &SecretsKey) -> anyhow::Result<usize> {
        let mut resealed = 0;
        for key in store.all_signing_keys().await? {
            if secrets.is_current(&key.private_key) {
                continue;
            }
            let seed = SecretsKey::open(Some(secrets), &key.private_key, &key.kid)?;
            let sealed = secrets.seal(&seed, &key.kid)?;
            store
                .replace_private_key(&key.kid, &key.private_key, &sealed)
                .await?;
            resealed += 1;
        }
        Ok(resealed)
    }

    /// The ring as the JWKS publishes it: reloaded when older than a second (or
    /// the reload interval, if shorter), so a revoked key leaves the set at once
    /// (one reload a second at most).
    pub async fn published(&self, now: DateTime<Utc>) -> Arc<KeyRing> {
        let (ring, loaded) = self.cached();
        if loaded.elapsed() < self.refresh.min(Duration::from_secs(1)) {
            return ring;
        }
        self.reload(now, false).await.unwrap_or(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its Ed25519 example key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        assert_eq!(
            thumbprint(&key),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn a_sealed_seed_signs_only_with_its_secrets_key() {
        let now = SystemClock.now();
        let secrets = SecretsKey::parse(&"ab".repeat(32)).unwrap();
        let key = generate(now, Some(&secrets)).unwrap();
        assert_ne!(key.private_key.len(), 32, "stored sealed, not as the seed");
        let ring = KeyRing::from_stored(vec![key.clone()], Some(&secrets)).unwrap();
        assert_eq!(ring.kid, key.kid);
        assert!(KeyRing::from_stored(vec![key], None).is_err());
    }

    #[test]
    fn the_ring_signs_with_the_current_key_and_verifies_with_all() {
        let now = SystemClock.now();
        let mut old = generate(now, None).unwrap();
        old.retired_at = Some(now);
        let current = generate(now, None).unwrap();
        let ring = KeyRing::from_stored(vec![current.clone(), old.clone()], None).unwrap();
        assert_eq!(ring.kid, current.kid);
        assert!(ring.verifier(&old.kid).is_some());
        let kids: Vec<_> = ring.jwks().into_iter().map(|j| j.kid).collect();
        assert_eq!(kids, [current.kid.clone(), old.kid.clone()]);
        assert!(
            KeyRing::from_stored(vec![old], None).is_err(),
            "no current key"
        );
    }
}
