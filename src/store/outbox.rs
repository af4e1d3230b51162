//! The outbox seen from the relay: claim a batch, deliver it, then delete it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{postgres, sqlite, Store};

/// Relays lock lanes, not users: a bounded number of advisory locks however many
/// users are waiting. Fixed forever: a user's rows must stay in one lane.
pub const LANES: u8 = 32;

/// The lane of a user's events (from the random tail of the UUID).
pub fn lane_of(aggregate_id: Uuid) -> i16 {
    let b = aggregate_id.as_bytes();
    (u16::from_be_bytes([b[14], b[15]]) % u16::from(LANES)) as i16
}

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
}

enum ClaimInner {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::SqlitePool),
}

impl Store {
    /// Claims up to `limit` events in `seq` order from lanes no other relay holds.
    pub async fn claim_events(&self, limit: i64) -> anyhow::Result<Claim> {
        match self {
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await.context("outbox: begin")?;
                let (events, contended) = postgres::claim(&mut tx, limit)
                    .await
                    .context("outbox: claim")?;
                Ok(Claim {
                    events,
                    contended,
                    inner: ClaimInner::Postgres(tx),
                })
            }
            // One relay per SQLite file (one process): no lanes to share.
            Store::Sqlite(pool) => Ok(Claim {
                events: sqlite::head(pool, limit).await.context("outbox: read")?,
                contended: false,
                inner: ClaimInner::Sqlite(pool.clone()),
            }),
        }
    }

    /// The newest `limit` events still waiting, newest first (`authd events`).
    pub async fn waiting_events(&self, limit: i64) -> anyhow::Result<Vec<PendingEvent>> {
        match self {
            Store::Postgres(pool) => postgres::newest(pool, limit).await,
            Store::Sqlite(pool) => sqlite::newest(pool, limit).await,
        }
        .context("reading the outbox")
    }
}

impl Claim {
    /// The broker acknowledged every event of the claim: delete them and commit.
    pub async fn delivered(self) -> anyhow::Result<()> {
        let seqs: Vec<i64> = self.events.iter().map(|e| e.seq).collect();
        match self.inner {
            ClaimInner::Postgres(mut tx) => {
                postgres::delete(&mut tx, &seqs).await?;
                tx.commit().await?;
            }
            ClaimInner::Sqlite(pool) => sqlite::delete(&pool, &seqs).await?,
        }
        Ok(())
    }
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
