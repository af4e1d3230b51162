//! Housekeeping every replica may run: deleting what can no longer decide anything.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::dialect::{on_pool, Dialect};
use super::Store;
use crate::clock::Clock;

/// How often each replica prunes.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

impl Store {
    /// Deletes what can no longer decide anything: expired or orphaned refresh tokens, families
    /// left without tokens, login counters whose window and lock have passed,
    /// expired idempotency keys (and the oldest past the cap), expired verification
    /// and reset tokens, and signing keys retired longer than any token lives. Spent
    /// refresh tokens that have not expired stay: they detect reuse. Idempotent, so
    /// every replica may run it. Returns the rows deleted.
    pub async fn prune(&self, now: DateTime<Utc>, window_ms: i64) -> anyhow::Result<u64> {
        let now_ms = now.timestamp_millis();
        let deleted: sqlx::Result<u64> = on_pool!(self, pool => async {
            let expired = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
                .bind(pool.time(now))
                .execute(pool)
                .await?
                .rows_affected();
            // On Postgres, a token whose family went while it was being issued (no
            // foreign key holds them together there): a statement of its own, so
            // that it is planned as one anti-join, not a look-up per token.
            let orphans = sqlx::query(
                "DELETE FROM refresh_tokens WHERE NOT EXISTS \
                 (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id)",
            )
            .execute(pool)
            .await?
            .rows_affected();
            let tokens = expired + orphans;
            let families = sqlx::query(
                "DELETE FROM refresh_families WHERE NOT EXISTS \
                 (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id)",
            )
            .execute(pool)
            .await?
            .rows_affected();
            let counters = sqlx::query(
                "DELETE FROM login_throttle WHERE last_failure_ms < $1 \
                 AND (locked_until_ms IS NULL OR locked_until_ms <= $2)",
            )
            .bind(now_ms - window_ms)
            .bind(now_ms)
            .execute(pool)
            .await?
            .rows_affected();
            let keys = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
                .bind(pool.time(now))
                .execute(pool)
                .await?
                .rows_affected();
            let kept_until = chrono::Duration::from_std(self.history_retention)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            let history = sqlx::query("DELETE FROM event_history WHERE published_at < $1")
                .bind(pool.time(kept_until))
                .execute(pool)
                .await?
                .rows_affected();
            let account_tokens = sqlx::query("DELETE FROM account_tokens WHERE expires_at <= $1")
                .bind(pool.time(now))
                .execute(pool)
                .await?
                .rows_affected();
            // The oldest answered keys past the cap (a client whose requests each do
            // work can still fill the table, at the price of that work): a bound on
            // storage. A running request's key stays (forgotten, its request would
            // answer 409 with nobody else holding it); those are bounded per client.
            let over_cap = sqlx::query(
                "DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key \
                 FROM idempotency_keys WHERE status IS NOT NULL \
                 ORDER BY expires_at DESC LIMIT $1 OFFSET $2)",
            )
            .bind(i64::MAX)
            .bind(i64::try_from(self.max_idempotency_keys).unwrap_or(i64::MAX))
            .execute(pool)
            .await?
            .rows_affected();
            let retired_before = now
                - chrono::Duration::from_std(self.key_retention).unwrap_or(chrono::Duration::days(1));
            let retired = sqlx::query(
                "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at <= $1",
            )
            .bind(pool.time(retired_before))
            .execute(pool)
            .await?
            .rows_affected();
            // Second steps and WebAuthn ceremonies nobody finished, and pending authenticators never
            // confirmed within a day.
            let challenges = sqlx::query("DELETE FROM mfa_challenges WHERE expires_at <= $1")
                .bind(pool.time(now))
                .execute(pool)
                .await?
                .rows_affected();
            let challenges = challenges
                + sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1")
                    .bind(pool.time(now))
                    .execute(pool)
                    .await?
                    .rows_affected();
            let pending = sqlx::query(
                "DELETE FROM mfa_factors WHERE confirmed_at IS NULL AND created_at <= $1",
            )
            .bind(pool.time(now - chrono::Duration::days(1)))
            .execute(pool)
            .await?
            .rows_affected();
            Ok(tokens + families + counters + keys + history + account_tokens + over_cap + retired
                + challenges + pending)
        }.await);
        deleted.context("pruning expired sessions, counters, idempotency keys and event history")
    }

    /// Prunes once an hour until `stop` changes; `window` is the login counters'.
    pub async fn prune_periodically(
        self,
        clock: Arc<dyn Clock>,
        window: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => match self.prune(clock.now(), window.as_millis() as i64).await {
                    Ok(0) => {}
                    Ok(rows) => tracing::info!(rows, "pruned expired refresh tokens and login counters"),
                    Err(err) => tracing::warn!(error = format!("{err:#}"), "pruning failed"),
                },
            }
        }
    }
}
