//! Brute-force protection that holds across replicas: failed attempts are counted
//! per account and per client address in the shared store. Past a threshold, a key
//! is locked for a time that doubles with each further failure; a success resets the
//! account's count (never the address's: one's own account must not reset it).
//!
//! Every guarded check goes through one `attempt::Attempt`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::Store;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// Failures of one account before it is locked.
    pub account_failures: u32,
    /// Failures from one client address before it is locked.
    pub client_failures: u32,
    /// The first lock; each further failure doubles it.
    pub base_lockout: Duration,
    pub max_lockout: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

/// The counter keys of one login attempt.
pub struct AttemptKeys {
    account: String,
    client: String,
}

impl AttemptKeys {
    /// Unknown logins are counted under their name, so that probing them is
    /// throttled like probing real accounts and the answer reveals nothing.
    pub fn new(user: Option<Uuid>, login: &str, client: std::net::IpAddr) -> Self {
        let account = match user {
            Some(id) => format!("user:{id}"),
            None => format!("login:{}", login.to_lowercase()),
        };
        Self {
            account,
            client: format!("client:{client}"),
        }
    }

    /// The keys of a request that sends mail to `email` (a reset, a resend):
    /// counted per address whether or not an account has it, so the answer and
    /// the throttle reveal nothing, and per client like failed logins.
    pub fn mail(email: &str, client: std::net::IpAddr) -> Self {
        Self {
            account: format!("mail:{}", email.to_lowercase()),
            client: format!("client:{client}"),
        }
    }
}

/// How long a key with `failures` failures stays locked, if at all.
pub fn lockout(failures: i32, threshold: u32, base: Duration, max: Duration) -> Option<Duration> {
    let past = u32::try_from(failures).ok()?.checked_sub(threshold)?;
    let factor = 1u32.checked_shl(past.min(31)).unwrap_or(u32::MAX);
    Some(base.saturating_mul(factor).min(max))
}

/// The counters of one store under one configuration.
pub(super) struct Throttle<'a> {
    pub store: &'a Store,
    pub config: ThrottleConfig,
}

impl Throttle<'_> {
    /// `Some(wait)` when the account or the address is locked.
    pub(super) async fn locked(
        &self,
        keys: &AttemptKeys,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Duration>> {
        let now_ms = now.timestamp_millis();
        let until = self
            .store
            .login_locked_until([&keys.account, &keys.client], now_ms)
            .await?;
        Ok(until.map(|until| Duration::from_millis((until - now_ms).max(0) as u64)))
    }

    pub(super) async fn failed(
        &self,
        keys: &AttemptKeys,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now_ms = now.timestamp_millis();
        let window = self.config.window.as_millis() as i64;
        let c = self.config;
        for (key, threshold) in [
            (&keys.account, c.account_failures),
            (&keys.client, c.client_failures),
        ] {
            let failures = self.store.count_login_failure(key, now_ms, window).await?;
            if let Some(lock) = lockout(failures, threshold, c.base_lockout, c.max_lockout) {
                let until = now_ms + lock.as_millis() as i64;
                self.store.lock_login(key, until).await?;
                tracing::warn!(
                    failures,
                    lock_ms = lock.as_millis() as u64,
                    kind = key.split(':').next(),
                    "login locked after repeated failures"
                );
            }
        }
        Ok(())
    }

    pub(super) async fn succeeded(&self, keys: &AttemptKeys) -> anyhow::Result<()> {
        self.store.clear_login_failures(&keys.account).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_starts_at_the_threshold_and_doubles_up_to_the_cap() {
        let (s, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(lockout(4, 5, s, max), None);
        assert_eq!(lockout(5, 5, s, max), Some(Duration::from_secs(1)));
        assert_eq!(lockout(6, 5, s, max), Some(Duration::from_secs(2)));
        assert_eq!(lockout(10, 5, s, max), Some(Duration::from_secs(32)));
        assert_eq!(lockout(11, 5, s, max), Some(max));
        assert_eq!(lockout(1_000, 5, s, max), Some(max), "no overflow");
        assert_eq!(lockout(-1, 5, s, max), None);
    }

    #[test]
    fn unknown_logins_are_counted_by_name_case_folded() {
        let ip = "10.0.0.1".parse().unwrap();
        let a = AttemptKeys::new(None, "Alice@Example.com", ip);
        assert_eq!(a.account, "login:alice@example.com");
        assert_eq!(a.client, "client:10.0.0.1");
        let id = Uuid::now_v7();
        assert_eq!(
            AttemptKeys::new(Some(id), "x", ip).account,
            format!("user:{id}")
        );
    }
}
