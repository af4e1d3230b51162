//! The lease of a running keyed request on its key, and the heartbeat that
//! renews it while the request runs.

use crate::http::state::AppState;
use crate::store::{HeldKey, KeyLease};

/// A running request leases its key for this long, renewed every `RENEW_EVERY`
/// while it runs and until its answer is kept (a heartbeat beside the work: an
/// UPDATE of the key's row). A key whose lease ran out unfinished was abandoned
/// (its replica was killed or hangs): the next request with it does the work, so
/// a client's retry waits about a second (409 "in progress" meanwhile), and
/// nginx's keyed retry after its 2 s read timeout finds the lease of a hung
/// replica gone (`nginx/templates`). A holder whose key was taken over (it hung,
/// or could not renew for a second) writes nothing when it goes on: a sign-up
/// writes its user only with its answer under its own claim (`store::create_user`),
/// a change of a user only while its claim holds (`store::user_changes`), and it
/// answers 409 "in progress", so its client retries into the retry's answer.
/// A logout done twice ends nothing more. The lease is written from the
/// replica's clock and read against another's: clocks must agree to well under
/// a second. Renewals are counted (`authd_idempotency_lease_renewals_total`).
pub(super) const LEASE: chrono::Duration = chrono::Duration::milliseconds(1000);
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_millis(300);
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
