//! The lease of a running keyed request on its key, and the heartbeat that
//! renews it while the request runs.

use tokio::time::Instant;

use super::KEEP;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::{Claimed, HeldKey, KeyLease};

/// A running request leases its key for this long, renewed every `RENEW_EVERY`
/// while it runs and until its answer is kept (a heartbeat beside the work: an
/// UPDATE of the key's row). A key whose lease ran out unfinished was abandoned
/// (its replica was killed or hangs): the next request with it does the work, so
/// a retry that finds the key held waits for the lease to run out (`wait_for`),
/// and nginx's keyed retry after its 1.5 s read timeout takes a hung replica's
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
const POLL: std::time::Duration = std::time::Duration::from_millis(100);
/// A wait at least this long paced its client already (`Retry-After: 0`).
const FULL_WAIT: std::time::Duration = std::time::Duration::from_millis(900);

/// How long a request that found its key held (lease until `until`) waits for
/// the holder, instead of answering 409 at once: until its lease would end, never
/// longer than a lease and the margin (so a lease written from a clock ahead of
/// this one costs that at most).
fn wait_for(
    until: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<std::time::Duration> {
    let wait = (until? + MARGIN).min(now + LEASE + MARGIN) - now;
    wait.to_std().ok().filter(|wait| !wait.is_zero())
}

/// Claims `held` for this request, leased from now.
pub(super) async fn claim(
    state: &AppState,
    held: &HeldKey,
    fingerprint: &[u8],
) -> Result<Claimed, ApiError> {
    let now = state.clock.now();
    let lease = KeyLease {
        claim: held.claim.clone(),
        until: now + LEASE,
    };
    let limit = state.idempotency.max_running_per_client;
    let key = (held.scope.as_str(), held.key.as_str());
    let claimed = state
        .store
        .claim_idempotency_key(key, fingerprint, now, now + KEEP, &lease, limit)
        .await?;
    Ok(claimed)
}

/// A repeat that found its key held waits for the holder (`wait_for`), reading
/// the key every `POLL` (one read, no lock), so it replays the holder's answer as
/// soon as it is kept, and takes the key over when the lease ran out (the
/// holder's replica died or hangs) instead of sending its client away for the
/// 1 s Retry-After. It answers 409 when the holder still renews at the end (with
/// `Retry-After: 0` when this answer waited about a lease, `FULL_WAIT`: a retry
/// waits on the server again, so a client is not sent away for a second more;
/// 1 after a shorter wait), when
/// the key was released meanwhile (a failed holder: a waiter never runs the
/// request again, so 60 copies of a failing request run it once), and at once
/// when `MAX_WAITERS` repeats already wait on this replica.
/// `authd_idempotency_waits_total` counts how waits end.
pub(super) async fn wait_for_holder(
    state: &AppState,
    held: &HeldKey,
    fingerprint: &[u8],
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Claimed, ApiError> {
    let held_on = Claimed::InProgress(until);
    let Some(wait) = wait_for(until, state.clock.now()) else {
        return Ok(held_on);
    };
    let Ok(_waiting) = state.key_waiters.try_acquire() else {
        waited("no_room");
        return Ok(held_on);
    };
    let started = Instant::now();
    let end = started + wait;
    loop {
        tokio::time::sleep(POLL.min(end.saturating_duration_since(Instant::now()))).await;
        let now = state.clock.now();
        let key = (held.scope.as_str(), held.key.as_str());
        let outcome = match state.store.idempotency_key_lease(key).await? {
            None => "released",
            Some((true, _)) => "replayed",
            Some((false, lease)) if lease.is_none_or(|lease| lease < now) => "taken_over",
            Some(_) if Instant::now() >= end => "in_progress",
            Some(_) => continue,
        };
        if matches!(outcome, "released" | "in_progress") {
            waited(outcome);
            if outcome == "released" {
                return Ok(held_on);
            }
            // Retry-After 0 only after a wait of about a lease: a short one (the
            // lease was near its end and then renewed) would send its client
            // straight back, again and again.
            let waited = started.elapsed() >= FULL_WAIT;
            return Err(ApiError::KeyInProgress { waited });
        }
        let claimed = claim(state, held, fingerprint).await?;
        waited(match claimed {
            Claimed::Started | Claimed::Done(_) => outcome,
            Claimed::InProgress(_) => "in_progress", // another repeat took it first
            Claimed::Busy | Claimed::Mismatch => "other",
        });
        return Ok(claimed);
    }
}

fn waited(outcome: &'static str) {
    metrics::counter!(crate::metrics::IDEMPOTENCY_WAITS, "outcome" => outcome).increment(1);
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
