//! authd's public keys, from its JWKS: cached for as long as the answer's
//! `Cache-Control: max-age` says (5 minutes when it says nothing), then fetched
//! again before the next use, so a key authd stopped publishing (an emergency
//! rotation) is dropped; and fetched at once when a token names a `kid` the cache
//! does not have (a key rotation), at most once per `min_refetch` so that tokens
//! with made-up kids cannot make the verifier hammer authd.

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
    /// Until when the cached set may be used without asking again.
    fresh_until: RwLock<Option<Instant>>,
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
            fresh_until: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(None),
            min_refetch,
            fetches: Default::default(),
        }
    }

    /// The key `kid`, from the cache while it is fresh; else, or when missing,
    /// from a fresh JWKS. A stale cache whose refetch fails is still used (authd
    /// may be briefly away), and the failure reported.
    pub async fn key(&self, kid: &str) -> Result<Option<VerifyingKey>, String> {
        if let Some(key) = self.cached(kid).filter(|_| self.fresh()) {
            return Ok(Some(key));
        }
        let mut last = self.fetching.lock().await;
        // Another caller may have fetched meanwhile.
        if self.fresh() {
            if let Some(key) = self.cached(kid) {
                return Ok(Some(key));
            }
            if last.is_some_and(|at| at.elapsed() < self.min_refetch) {
                return Ok(None);
            }
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(()) => Ok(self.cached(kid)),
            Err(err) => match self.cached(kid) {
                Some(key) => {
                    tracing::warn!(
                        error = err,
                        "the JWKS could not be refreshed; the cached keys stay"
                    );
                    Ok(Some(key))
                }
                None => Err(err),
            },
        }
    }

    fn fresh(&self) -> bool {
        self.fresh_until
            .read()
            .expect("jwks lock")
            .is_some_and(|until| Instant::now() < until)
    }

    fn cached(&self, kid: &str) -> Option<VerifyingKey> {
        self.keys.read().expect("jwks lock").get(kid).copied()
    }

    /// Replaces the cache with the keys authd publishes now: a key it no longer
    /// lists is dropped.
    pub async fn fetch(&self) -> Result<(), String> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("fetching {}: {e}", self.url))?;
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE);
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| format!("reading {}: {e}", self.url))?;
        let keys = parse(set);
        *self.keys.write().expect("jwks lock") = keys;
        *self.fresh_until.write().expect("jwks lock") = Some(Instant::now() + max_age);
        Ok(())
    }
}

/// How long a JWKS without `max-age` is used before it is asked for again.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// The longest a JWKS is used without asking again, whatever it says.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(3600);

/// The `max-age` of a Cache-Control value (`no-store`/`no-cache`: none), capped.
fn max_age(cache_control: &str) -> Option<Duration> {
    let mut age = None;
    for directive in cache_control.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = directive.strip_prefix("max-age=") {
            age = secs
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age.map(|a| a.min(LONGEST_MAX_AGE))
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

    #[test]
    fn max_age_is_read_capped_and_defeated_by_no_store() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("max-age=999999"), Some(LONGEST_MAX_AGE));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }

    /// A key authd stops publishing is dropped once the set's max-age has passed,
    /// even while tokens with that kid keep coming (before, it was kept forever).
    #[tokio::test]
    async fn a_key_no_longer_published_is_dropped_after_max_age() {
        use std::sync::{Arc, Mutex};
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        let published = Arc::new(Mutex::new(serde_json::json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "leaked" },
        ]})));
        let set = Arc::clone(&published);
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let set = set.lock().unwrap().clone();
                async move { ([("cache-control", "public, max-age=1")], axum::Json(set)) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let jwks = Jwks::new(url, Duration::from_secs(60));
        assert_eq!(jwks.key("leaked").await.unwrap(), Some(key));
        *published.lock().unwrap() = serde_json::json!({ "keys": [] });
        let deadline = Instant::now() + Duration::from_secs(10);
        while jwks.key("leaked").await.unwrap().is_some() {
            assert!(
                Instant::now() < deadline,
                "the unpublished key is still used"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
