//! Waiting for a condition, with a deadline, instead of sleeping for a guess: a
//! test goes on as soon as what it needs has happened, and says what never did.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every 10 ms until it holds; panics after `secs` with `what`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
