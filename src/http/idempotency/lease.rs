//! The lease of a running keyed request on its key, and the heartbeat that
//! renews it while the request runs.

use crate::http::state::AppState;
use crate::store::{HeldKey, KeyLease};

/// A running request leases its key for this long, renewed every `RENEW_EVERY`
/// while it runs and until its answer is kept (a heartbeat beside the work: an
/// UPDATE of the key's row). A key whose lease ran out unfinished was abandoned
/// (its replica was killed or hangs): the next request with it does the work, so
/// a retry that finds the key held waits for the lease to run out (`wait_for`),
/// and nginx's keyed retry after its 2 s read timeout takes a hung replica's
/// key over (`nginx/templates`). A holder whose key was taken over (it hung,
/// or could not renew for a second) writes nothing when it goes on: a sign-up
/// writes its user only with its answer under its own claim (`store::create_user`),
/// a change of a user only while its claim holds (`store::user_changes`), and it
/// answers 409 "in progress", so its client retries into the retry's answer.
/// A logout done twice ends nothing more. The lease is written from the
/// replica's clock and read against another's: clocks must agree to well under
/// a second. Renewals are counted (`authd_idempotency_lease_renewals_total`).
pub(super) const LEASE: chrono::Duration = chrono::Duration::milliseconds(1000);
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_millis(300);
/// How long past a lease's end a waiting repeat tries the key for the last time.
const MARGIN: chrono::Duration = chrono::Duration::milliseconds(50);
/// How often a waiting repeat looks at the key again.
pub(super) const POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a request that found its key held (lease until `until`) keeps
/// trying it, every `POLL`, instead of answering 409 at once: the holder's answer
/// is replayed as soon as it is kept, and a holder that died or hung loses the key
/// when its lease runs out, within a lease, and the repeat does the work then,
/// without sending its client away for the 1 s Retry-After. A live holder renews
/// its lease meanwhile: past this wait the repeat gets 409. Never longer than a
/// lease and the margin, so a lease written from a clock ahead of this one costs
/// that at most.
pub(super) fn wait_for(
    until: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<std::time::Duration> {
    let wait = (until? + MARGIN).min(now + LEASE + MARGIN) - now;
    wait.to_std().ok().filter(|wait| !wait.is_zero())
}

/// Renews the lease every `RENEW_EVERY` until `stopped` (or the key is no longer
/// held). A failed renewal is not fatal: the work goes on, and writes nothing
/// (sign-up) or keeps no answer if another request took the key over meanwhile.
pub(super) async fn heartbeat(
    state: AppState,
    held: HeldKey,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let start = tokio::time::Instant::now() + RENEW_EVERY;
    let mut renew = tokio::time::interval_at(start, RENEW_EVERY);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = renew.tick() => {}
        }
        metrics::counter!(crate::metrics::IDEMPOTENCY_RENEWALS).increment(1);
        let lease = KeyLease {
            claim: held.claim.clone(),
            until: state.clock.now() + LEASE,
        };
        match state
            .store
            .renew_idempotency_key(&held.scope, &held.key, &lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => return, // taken over, or already settled
            Err(err) => {
                let error = format!("{err:#}");
                tracing::warn!(error, "an idempotency key's lease was not renewed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn a_repeat_waits_for_the_lease_to_end_and_never_longer_than_a_lease() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        let lease = |ms: i64| Some(now + Duration::milliseconds(ms));
        let ms = |ms: u64| Some(std::time::Duration::from_millis(ms));
        assert_eq!(wait_for(lease(400), now), ms(450));
        assert_eq!(wait_for(lease(1000), now), ms(1050));
        assert_eq!(wait_for(lease(30_000), now), ms(1050));
        assert_eq!(wait_for(lease(-20), now), ms(30));
        assert_eq!(wait_for(lease(-50), now), None);
        assert_eq!(wait_for(lease(-1000), now), None);
        assert_eq!(wait_for(None, now), None);
    }
}
