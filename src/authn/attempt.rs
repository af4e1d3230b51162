//! One guarded check (a login, a current password, a mail request). It reserves a
//! slot in each of its counters before the caller verifies anything (429 when one
//! is locked), so concurrent attempts cannot buy more verifications than the
//! thresholds allow; then `failed` keeps the reservation as the failure, and
//! `succeeded` gives it back.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::throttle::AttemptKeys;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::LockPolicy;

/// How long a single-use token stays held by a request that never gave it back.
const IN_USE_HOLD: Duration = Duration::from_secs(30);

/// A reserved attempt: settle it with `failed`, `succeeded` or `abandoned`.
pub struct Attempt<'a> {
    state: &'a AppState,
    keys: AttemptKeys,
}

impl<'a> Attempt<'a> {
    /// Reserves the attempt, or refuses it with 429 and `Retry-After` while a
    /// counter is locked.
    pub async fn begin(
        state: &'a AppState,
        keys: AttemptKeys,
        now: DateTime<Utc>,
    ) -> Result<Attempt<'a>, ApiError> {
        let config = state.throttle;
        let mut policy = LockPolicy {
            base_ms: config.base_lockout.as_millis() as i64,
            max_ms: config.max_lockout.as_millis() as i64,
            window_ms: config.window.as_millis() as i64,
        };
        if keys.is_single_use() {
            // A token in use is held until its request gives it back, however long
            // its hash takes on a loaded host; a replica that died holding it
            // frees it after this long.
            policy.base_ms = IN_USE_HOLD.as_millis() as i64;
            policy.max_ms = policy.base_ms;
        }
        let now_ms = now.timestamp_millis();
        let reserved = state
            .store
            .reserve_attempt(&keys.thresholds(&config), now_ms, policy)
            .await?;
        match reserved {
            Ok(locks) => {
                for lock in locks {
                    tracing::warn!(
                        failures = lock.failures,
                        lock_ms = (lock.until_ms - now_ms).max(0) as u64,
                        kind = lock.key.split(':').next(),
                        "attempts locked after repeated failures"
                    );
                }
                Ok(Attempt { state, keys })
            }
            Err(until_ms) => Err(too_many(Duration::from_millis(
                (until_ms - now_ms).max(0) as u64
            ))),
        }
    }

    /// The check failed: the reservation stays, as the failure.
    pub fn failed(self) {}

    /// The check passed: the reservation is given back, and the account's count
    /// from this client starts again.
    pub async fn succeeded(self) -> Result<(), ApiError> {
        let keys = self.keys.keys();
        let reset = self.keys.reset_on_success();
        Ok(self.state.store.release_attempt(&keys, &reset).await?)
    }

    /// The check could not be made (the hashing queue was full, the database
    /// failed): the reservation is given back, counting nothing either way.
    pub async fn abandoned(self) {
        let keys = self.keys.keys();
        if let Err(err) = self.state.store.release_attempt(&keys, &[]).await {
            tracing::warn!(
                error = format!("{err:#}"),
                "an abandoned attempt stays counted"
            );
        }
    }
}

/// The 429 of a locked key, with the wait rounded up to whole seconds.
pub fn too_many(wait: Duration) -> ApiError {
    ApiError::TooManyAttempts {
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}
