//! The outbox: events written in the same transaction as the change they describe,
//! then claimed by a relay, delivered, and deleted.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use super::dialect::{on_pool, Dialect};

use super::commit::Queued;
use super::{Backend, Store};

/// Relays lock lanes, not users: a bounded number of advisory locks however many
/// users are waiting. Fixed forever: a user's rows must stay in one lane.
pub const LANES: u8 = 32;

/// The lane of a user's events (from the random tail of the UUID).
pub fn lane_of(aggregate_id: Uuid) -> i16 {
    let b = aggregate_id.as_bytes();
    (u16::from_be_bytes([b[14], b[15]]) % u16::from(LANES)) as i16
}

/// Wakes the relays of every replica once a transaction that wrote events commits.
pub const OUTBOX_CHANNEL: &str = "authd_outbox";

/// Appends an event; callers have locked the user row first, so seq order is
/// commit order per user.
pub(super) const INSERT_EVENT: &str =
    "INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// What the relay and `authd events` read of a row, as text on both stores.
pub(super) const PENDING_COLUMNS: &str =
    "seq, CAST(id AS TEXT) AS id, CAST(aggregate_id AS TEXT) AS aggregate_id, event_type, \
     CAST(payload AS TEXT) AS payload, created_at";

/// Writes `$event` (an `&OutboxEvent`) inside transaction `$tx`, and on Postgres
/// queues the relays' wake-up for its commit when `$store` notifies commits.
macro_rules! insert_event {
    ($store:expr, $pool:ident, $tx:ident, $event:expr) => {{
        let event: &$crate::events::envelope::OutboxEvent = $event;
        sqlx::query($crate::store::outbox::INSERT_EVENT)
            .bind($pool.id(event.id))
            .bind($pool.id(event.aggregate_id))
            .bind($crate::store::outbox::lane_of(event.aggregate_id))
            .bind(&event.event_type)
            .bind($pool.json(&event.payload))
            .bind($pool.time(event.created_at))
            .execute(&mut *$tx)
            .await?;
        if let Some(notify) = $pool.notify().filter(|_| $store.notify_commits) {
            sqlx::query(notify)
                .bind($crate::store::outbox::OUTBOX_CHANNEL)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(super) use insert_event;

/// An outbox row on its way to Kafka.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingEvent {
    pub seq: i64,
    pub id: String,
    pub aggregate_id: String,
    pub event_type: String,
    /// The CloudEvents JSON envelope.
    pub payload: String,
    /// When the change was made (just before its commit).
    pub created_at: DateTime<Utc>,
}

/// A claimed batch. Its rows stay locked (Postgres) until `delivered` deletes them;
/// dropping it instead rolls back and leaves them for the next claim.
pub struct Claim {
    pub events: Vec<PendingEvent>,
    /// Lanes with waiting rows that another relay held: worth another look soon.
    pub contended: bool,
    inner: ClaimInner,
    /// Move the delivered events to `event_history` instead of dropping them.
    keep: bool,
}

enum ClaimInner {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::SqlitePool),
}

impl Store {
    /// Claims up to `limit` events in `seq` order from lanes no other relay holds.
    pub async fn claim_events(&self, limit: i64) -> anyhow::Result<Claim> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.context("outbox: begin")?;
                let (events, contended) =
                    claim_pg(&mut tx, limit).await.context("outbox: claim")?;
                Ok(Claim {
                    events,
                    contended,
                    inner: ClaimInner::Postgres(tx),
                    keep: !self.history_retention.is_zero(),
                })
            }
            // One relay per SQLite file (one process): no lanes to share.
            Backend::Sqlite(pool) => Ok(Claim {
                events: head_sqlite(pool, limit).await.context("outbox: read")?,
                contended: false,
                inner: ClaimInner::Sqlite(pool.clone()),
                keep: !self.history_retention.is_zero(),
            }),
        }
    }

    /// The newest `limit` events still waiting, newest first (`authd events`).
    pub async fn waiting_events(&self, limit: i64) -> anyhow::Result<Vec<PendingEvent>> {
        let sql = format!("SELECT {PENDING_COLUMNS} FROM outbox ORDER BY seq DESC LIMIT $1");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await)
            .context("reading the outbox")
    }

    /// Events waiting in the outbox, and when the oldest was written.
    pub async fn outbox_stats(&self) -> anyhow::Result<(i64, Option<DateTime<Utc>>)> {
        let sql = "SELECT COUNT(*), MIN(created_at) FROM outbox";
        on_pool!(self, pool => sqlx::query_as(sql).fetch_one(pool).await)
            .context("reading the outbox size")
    }

    /// Notified after this replica commits events (and, with `forward_commits`
    /// running, after any replica does): the relay waits on it.
    pub fn outbox_wakeups(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Wakes this replica's relay when any replica commits an outbox row, so that a
    /// relay holding a lane picks up rows another replica wrote. Postgres only
    /// (LISTEN/NOTIFY); SQLite has one writer process. Returns when `stop` changes.
    pub async fn forward_commits(&self, mut stop: watch::Receiver<bool>) {
        let Backend::Postgres(pool) = &self.backend else {
            return;
        };
        let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "LISTEN unavailable; the relay polls instead");
                return;
            }
        };
        if let Err(err) = listener.listen(OUTBOX_CHANNEL).await {
            tracing::warn!(error = %err, "LISTEN failed; the relay polls instead");
            return;
        }
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                received = listener.recv() => match received {
                    Ok(_) => self.committed(Queued::EVENTS),
                    Err(err) => {
                        // sqlx reconnects on the next recv; meanwhile the poll covers us.
                        tracing::warn!(error = %err, "LISTEN connection lost");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
    }
}

impl Claim {
    /// The broker acknowledged every event of the claim: delete them (into
    /// `event_history`, when kept) and commit.
    pub async fn delivered(self) -> anyhow::Result<()> {
        let seqs: Vec<i64> = self.events.iter().map(|e| e.seq).collect();
        // When the broker acknowledged: real time, as the relay runs on.
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        match self.inner {
            ClaimInner::Postgres(mut tx) => {
                delete_pg(&mut tx, &seqs, self.keep.then_some(now)).await?;
                tx.commit().await?;
            }
            ClaimInner::Sqlite(pool) => {
                delete_sqlite(&pool, &seqs, self.keep.then_some(now)).await?
            }
        }
        Ok(())
    }
}

// What only Postgres does: lanes locked with advisory locks, arrays.

/// Advisory-lock namespace of the outbox lanes ("authd" in ASCII, 0x61757468).
const LANE_LOCK_SPACE: i32 = 0x6175_7468;

/// Locks lanes that hold the oldest waiting rows, then claims rows of those lanes.
/// Transaction-scoped locks: a relay that dies releases its lanes with its connection.
/// Of the free lanes it takes about half, so that several relays share a backlog.
async fn claim_pg(
    tx: &mut sqlx::PgConnection,
    limit: i64,
) -> sqlx::Result<(Vec<PendingEvent>, bool)> {
    // One round trip: the lanes of the oldest waiting rows, about half of them
    // in random order locked (so that several relays share a backlog), and
    // synchronous_commit off for this transaction. The delete need not wait for
    // its WAL flush: if a crash loses it, the events are published again
    // (at-least-once; consumers drop repeats by id); sign-ups still commit durably.
    // No idle-in-transaction limit either (`store::postgres`): the transaction
    // waits for the broker's acks (up to its 10 s message timeout) with its lanes.
    let (waiting, held): (i64, Vec<i16>) = sqlx::query_as(
        "WITH lanes AS (SELECT DISTINCT lane FROM \
                 (SELECT lane FROM outbox ORDER BY seq LIMIT $1) head), \
              picked AS (SELECT lane FROM lanes ORDER BY random() \
                 LIMIT (SELECT (COUNT(*) + 1) / 2 FROM lanes)) \
         SELECT (SELECT COUNT(*) FROM lanes), \
                ARRAY(SELECT lane FROM picked WHERE pg_try_advisory_xact_lock($2, lane)) \
         FROM (SELECT set_config('synchronous_commit', 'off', true), \
                      set_config('idle_in_transaction_session_timeout', '0', true)) AS settings",
    )
    .bind(limit)
    .bind(LANE_LOCK_SPACE)
    .fetch_one(&mut *tx)
    .await?;
    let contended = (held.len() as i64) < waiting;
    if held.is_empty() {
        return Ok((Vec::new(), contended));
    }
    // A fresh snapshot, taken after the lane locks: rows the previous holder
    // deleted are gone. SKIP LOCKED guards the rest.
    let events = sqlx::query_as(&format!(
        "SELECT {PENDING_COLUMNS} FROM outbox WHERE lane = ANY($1) \
         ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind(&held)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    Ok((events, contended))
}

async fn delete_pg(
    tx: &mut sqlx::PgConnection,
    seqs: &[i64],
    keep: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    let query = match keep {
        Some(published_at) => sqlx::query(
            "WITH gone AS (DELETE FROM outbox WHERE seq = ANY($1) \
                 RETURNING id, aggregate_id, event_type, payload, created_at) \
             INSERT INTO event_history \
                 (id, aggregate_id, event_type, payload, created_at, published_at) \
             SELECT id, aggregate_id, event_type, payload, created_at, $2 FROM gone \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(seqs)
        .bind(published_at),
        None => sqlx::query("DELETE FROM outbox WHERE seq = ANY($1)").bind(seqs),
    };
    query.execute(tx).await?;
    Ok(())
}

// SQLite: one process writes the file, so no lanes to share.

/// The oldest waiting events. Writes to one SQLite file are serialised, so seq
/// order is commit order.
async fn head_sqlite(pool: &sqlx::SqlitePool, limit: i64) -> sqlx::Result<Vec<PendingEvent>> {
    sqlx::query_as(&format!(
        "SELECT {PENDING_COLUMNS} FROM outbox ORDER BY seq LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// SQLite has no arrays: the seqs go in chunks of bound parameters.
async fn delete_sqlite(
    pool: &sqlx::SqlitePool,
    seqs: &[i64],
    keep: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    for chunk in seqs.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        if let Some(published_at) = keep {
            let sql = format!(
                "INSERT INTO event_history \
                     (id, aggregate_id, event_type, payload, created_at, published_at) \
                 SELECT id, aggregate_id, event_type, payload, created_at, ? FROM outbox \
                 WHERE seq IN ({marks}) ON CONFLICT (id) DO NOTHING"
            );
            let mut query = sqlx::query(&sql).bind(pool.time(published_at));
            for seq in chunk {
                query = query.bind(seq);
            }
            query.execute(&mut *tx).await?;
        }
        let sql = format!("DELETE FROM outbox WHERE seq IN ({marks})");
        let mut query = sqlx::query(&sql);
        for seq in chunk {
            query = query.bind(seq);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_stable_and_in_range() {
        let mut seen = [false; LANES as usize];
        for _ in 0..2000 {
            let id = Uuid::now_v7();
            let lane = lane_of(id);
            assert_eq!(lane, lane_of(id));
            assert!((0..i16::from(LANES)).contains(&lane));
            seen[lane as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "v7 ids spread over every lane");
    }
}
