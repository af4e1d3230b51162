//! authd's public keys, from its JWKS: cached, and fetched again when a token names
//! a `kid` the cache does not have (a key rotation), at most once per `min_refetch`
//! so that tokens with made-up kids cannot make the verifier hammer authd.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

pub struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, VerifyingKey>>,
    /// Held while fetching: concurrent misses wait for one fetch.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    min_refetch: Duration,
    /// How many times the JWKS was fetched.
    pub fetches: std::sync::atomic::AtomicU64,
}

impl Jwks {
    pub fn new(url: String, min_refetch: Duration) -> Jwks {
        Jwks {
            url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("an HTTP client"),
            keys: RwLock::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(None),
            min_refetch,
            fetches: Default::default(),
        }
    }

    /// The key `kid`, from the cache or, when missing, from a fresh JWKS.
    pub async fn key(&self, kid: &str) -> Result<Option<VerifyingKey>, String> {
        if let Some(key) = self.cached(kid) {
            return Ok(Some(key));
        }
        let mut last = self.fetching.lock().await;
        // Another miss may have fetched meanwhile.
        if let Some(key) = self.cached(kid) {
            return Ok(Some(key));
        }
        if last.is_some_and(|at| at.elapsed() < self.min_refetch) {
            return Ok(None);
        }
        *last = Some(Instant::now());
        self.fetch().await?;
        Ok(self.cached(kid))
    }

    fn cached(&self, kid: &str) -> Option<VerifyingKey> {
        self.keys.read().expect("jwks lock").get(kid).copied()
    }

    /// Replaces the cache with the keys authd publishes now.
    pub async fn fetch(&self) -> Result<(), String> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("fetching {}: {e}", self.url))?
            .json()
            .await
            .map_err(|e| format!("reading {}: {e}", self.url))?;
        let keys = parse(set);
        *self.keys.write().expect("jwks lock") = keys;
        Ok(())
    }
}

/// The Ed25519 keys of a set; others (and malformed ones) are skipped.
fn parse(set: JwkSet) -> HashMap<String, VerifyingKey> {
    set.keys
        .into_iter()
        .filter(|k| k.kty == "OKP" && k.crv.as_deref() == Some("Ed25519"))
        .filter_map(|k| {
            let x = URL_SAFE_NO_PAD.decode(k.x?).ok()?;
            let key = VerifyingKey::from_bytes(&x.try_into().ok()?).ok()?;
            Some((k.kid?, key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ed25519_keys_with_a_kid_are_kept() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        let set: JwkSet = serde_json::from_value(serde_json::json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "good" },
            { "kty": "OKP", "crv": "Ed25519", "x": x },
            { "kty": "RSA", "n": "abc", "e": "AQAB", "kid": "rsa" },
            { "kty": "OKP", "crv": "Ed25519", "x": "not base64!", "kid": "bad" },
        ]}))
        .unwrap();
        let keys = parse(set);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys["good"], key);
    }
}
