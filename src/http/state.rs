//! What every handler may use.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::http::HeaderValue;
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::authn::ThrottleConfig;
use crate::clock::Clock;
use crate::config::AdminCredentials;
use crate::domain::Denylist;
use crate::hashing::Hasher;
use crate::store::Store;
use crate::tokens::Tokens;

/// Cheap to clone; nothing in it decides a request that another replica could not
/// decide the same way.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hasher: Hasher,
    /// This replica's name (`X-Authd-Instance`).
    pub instance: HeaderValue,
    pub tokens: Arc<Tokens>,
    pub clock: Arc<dyn Clock>,
    pub throttle: ThrottleConfig,
    pub trusted_proxies: Arc<[IpNet]>,
    /// A hash of a random password with the configured parameters: unknown logins
    /// are verified against it, so they cost what a wrong password costs.
    pub dummy_hash: Arc<str>,
    pub metrics: PrometheusHandle,
    /// The OpenAPI document served at /openapi.json.
    pub openapi: Arc<String>,
    /// Set once shutdown began: /readyz answers 503 and responses close their
    /// connections while the replica drains.
    pub draining: Arc<AtomicBool>,
    /// The longest a request body may take to arrive (408 past it).
    pub body_timeout: std::time::Duration,
    /// Passwords refused (AUTHD_PASSWORD_DENYLIST).
    pub denylist: Arc<Denylist>,
    /// `AUTHD_PUBLIC_URL`: where clients reach authd (the issuer, discovery's
    /// jwks_uri). Configuration only: nothing a request says changes it.
    pub public_url: Arc<str>,
    /// AUTHD_EMAIL_VERIFICATION: whether sign-up queues a verification mail and
    /// login waits for it.
    pub verification: crate::authn::Verification,
    /// How many Idempotency-Keys a client and the table may hold.
    pub idempotency: crate::store::IdempotencyLimits,
    /// Repeats of keyed requests that may wait for their key's holder at once on
    /// this replica (`http::idempotency`); past them a repeat gets 409 at once.
    pub key_waiters: Arc<tokio::sync::Semaphore>,
    /// The admin API's credentials (only its own listener serves it).
    pub admin: Option<Arc<AdminCredentials>>,
    /// Second factors: the policy, the TOTP window, the issuer apps show.
    pub mfa: Arc<crate::authn::MfaConfig>,
    /// The hosted pages and the console (`AUTHD_UI`), when on.
    pub ui: Option<Arc<crate::ui::config::UiConfig>>,
}
