//! One guarded check (a login, a current password, a mail request): it begins
//! only while none of its keys is locked (429 otherwise), the caller verifies, and
//! `failed` or `succeeded` settles it in the shared counters.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::throttle::{AttemptKeys, Throttle};
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// One guarded attempt of `keys`: opened only while none of them is locked, then
/// settled as a failure (counted) or a success (the account's count cleared).
pub struct Attempt<'a> {
    throttle: Throttle<'a>,
    keys: AttemptKeys,
    now: DateTime<Utc>,
}

impl<'a> Attempt<'a> {
    /// Opens an attempt, or refuses it with 429 and `Retry-After` while the account
    /// or the address is locked.
    pub async fn begin(
        state: &'a AppState,
        keys: AttemptKeys,
        now: DateTime<Utc>,
    ) -> Result<Attempt<'a>, ApiError> {
        let throttle = Throttle {
            store: &state.store,
            config: state.throttle,
        };
        if let Some(wait) = throttle.locked(&keys, now).await? {
            return Err(too_many(wait));
        }
        Ok(Attempt {
            throttle,
            keys,
            now,
        })
    }

    /// The check failed: it counts towards the locks.
    pub async fn failed(self) -> Result<(), ApiError> {
        Ok(self.throttle.failed(&self.keys, self.now).await?)
    }

    /// The check passed: the account's count starts again.
    pub async fn succeeded(self) -> Result<(), ApiError> {
        Ok(self.throttle.succeeded(&self.keys).await?)
    }
}

/// The 429 of a locked key, with the wait rounded up to whole seconds.
pub fn too_many(wait: Duration) -> ApiError {
    ApiError::TooManyAttempts {
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}
