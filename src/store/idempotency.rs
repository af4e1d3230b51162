//! Idempotency keys: the first answer to a keyed request, shared by every replica.

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::commit::Queued;
use super::dialect::{on_pool, Dialect};
use super::{Backend, Store};

/// How many keys the table may hold.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyLimits {
    /// Keyed requests one client (its address) may have running at once (429 past it).
    pub max_running_per_client: u32,
    /// Answered keys kept in all; the hourly prune forgets the oldest past it.
    pub max_keys: u64,
}

/// A stored answer: status, headers (JSON pairs) and body.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What presenting a key found.
#[derive(Debug)]
pub enum Claimed {
    /// This client already has the most keyed requests running at once.
    Busy,
    /// The key is new (or expired, or abandoned): this request does the work.
    Started,
    /// A request with this key is still running (here or on another replica), its
    /// lease lasting until then.
    InProgress(Option<DateTime<Utc>>),
    /// The key was used for a different request.
    Mismatch,
    /// The key's answer, to replay.
    Done(StoredResponse),
}

/// Keeps the answer of the request that holds a key under its claim (nothing when
/// another request took the key over meanwhile).
pub(super) const KEEP_ANSWER: &str = "UPDATE idempotency_keys SET status = $1, \
     response_headers = $2, response_body = $3, lease_until = NULL \
     WHERE scope = $4 AND key = $5 AND claim = $6";

/// The claim, unless this client has `max_running` keyed requests running (a
/// partial index holds those). A write first: on SQLite a transaction that read
/// before it writes cannot wait for the write lock.
const CLAIM_INSERT: &str = "INSERT INTO idempotency_keys \
     (scope, key, fingerprint, created_at, expires_at, claim, lease_until) \
     SELECT $1, $2, $3, $4, $5, $6, $7 \
     WHERE (SELECT COUNT(*) FROM idempotency_keys \
            WHERE scope = $1 AND status IS NULL AND lease_until > $4) < $8 \
     ON CONFLICT (scope, key) DO NOTHING";
/// Takes over a key that expired, or whose request was abandoned.
const CLAIM_TAKE_OVER: &str = "UPDATE idempotency_keys SET fingerprint = $3, created_at = $4, \
     expires_at = $5, claim = $6, lease_until = $7, status = NULL, \
     response_headers = NULL, response_body = NULL \
     WHERE scope = $1 AND key = $2 AND (expires_at <= $4 \
       OR (status IS NULL AND (lease_until IS NULL OR lease_until < $4)))";
const CLAIM_READ: &str = "SELECT fingerprint, CAST(status AS INTEGER), response_headers, \
     response_body, lease_until FROM idempotency_keys WHERE scope = $1 AND key = $2";

const KEY_LEASE: &str = "SELECT CAST(status AS INTEGER), lease_until FROM idempotency_keys \
     WHERE scope = $1 AND key = $2";

type KeyRow = (
    Vec<u8>,
    Option<i32>,
    Option<String>,
    Option<Vec<u8>>,
    Option<DateTime<Utc>>,
);

/// A key a running request holds: its answer may be kept only under its claim.
#[derive(Debug, Clone)]
pub struct HeldKey {
    pub scope: String,
    pub key: String,
    pub claim: String,
}

/// The request holding a key: its claim id and how long its lease lasts.
#[derive(Debug, Clone)]
pub struct KeyLease {
    pub claim: String,
    pub until: DateTime<Utc>,
}

impl Store {
    /// Claims `key` of `scope` for a request with `fingerprint`, leased to `lease`.
    /// A key whose request never finished and whose lease ran out (its replica died
    /// or hung) is taken over; an expired key starts afresh.
    pub async fn claim_idempotency_key(
        &self,
        (scope, key): (&str, &str),
        fingerprint: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        lease: &KeyLease,
        max_running: u32,
    ) -> anyhow::Result<Claimed> {
        // Some(None): claimed; Some(Some(row)): held by another request or
        // answered; None: neither claimed nor there: the client was busy, or the
        // key's row was there for the INSERT and gone for the read (its holder
        // released it in between: a 5xx, while nginx sent the same key to this
        // replica). Once more, then, before the client is told it is busy.
        let mut found = None;
        for _ in 0..2 {
            found = self
                .try_claim(
                    (scope, key),
                    fingerprint,
                    now,
                    expires_at,
                    lease,
                    max_running,
                )
                .await?;
            if found.is_some() {
                break;
            }
        }
        let row = match found {
            None => return Ok(Claimed::Busy),
            Some(None) => return Ok(Claimed::Started),
            Some(Some(row)) => row,
        };
        let (stored, status, headers, body, lease_until) = row;
        if stored != fingerprint {
            return Ok(Claimed::Mismatch);
        }
        Ok(match status {
            None => Claimed::InProgress(lease_until),
            Some(status) => Claimed::Done(StoredResponse {
                status: status as u16,
                headers: serde_json::from_str(headers.as_deref().unwrap_or("[]"))
                    .context("reading stored headers")?,
                body: body.unwrap_or_default(),
            }),
        })
    }

    /// What a repeat waiting for a key's holder looks at: whether the key is
    /// still there (None: released), whether it has its answer, and the holder's
    /// lease. One read, no lock: waiting costs the database no write.
    pub async fn idempotency_key_lease(
        &self,
        (scope, key): (&str, &str),
    ) -> anyhow::Result<Option<(bool, Option<DateTime<Utc>>)>> {
        let row: Option<(Option<i32>, Option<DateTime<Utc>>)> = on_pool!(self, pool => {
            sqlx::query_as(KEY_LEASE).bind(scope).bind(key).fetch_optional(pool).await
        })
        .context("reading the idempotency key's lease")?;
        Ok(row.map(|(status, lease)| (status.is_some(), lease)))
    }

    /// One attempt of `claim_idempotency_key`.
    async fn try_claim(
        &self,
        (scope, key): (&str, &str),
        fingerprint: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        lease: &KeyLease,
        max_running: u32,
    ) -> anyhow::Result<Option<Option<KeyRow>>> {
        let (insert, take_over, read) = (CLAIM_INSERT, CLAIM_TAKE_OVER, CLAIM_READ);
        let found: Option<Option<KeyRow>> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(insert)
                .bind(scope).bind(key).bind(fingerprint)
                .bind(pool.time(now)).bind(pool.time(expires_at))
                .bind(&lease.claim).bind(pool.time(lease.until)).bind(i64::from(max_running))
                .execute(&mut *tx).await?.rows_affected() == 1
                || sqlx::query(take_over)
                    .bind(scope).bind(key).bind(fingerprint)
                    .bind(pool.time(now)).bind(pool.time(expires_at))
                    .bind(&lease.claim).bind(pool.time(lease.until))
                    .execute(&mut *tx).await?.rows_affected() == 1;
            let found = if claimed {
                Some(None)
            } else {
                let row: Option<KeyRow> =
                    sqlx::query_as(read).bind(scope).bind(key).fetch_optional(&mut *tx).await?;
                row.map(Some)
            };
            self.commit(tx, Queued::NOTHING).await?;
            Ok::<_, sqlx::Error>(found)
        }.await)
        .context("claiming the idempotency key")?;
        Ok(found)
    }

    /// Extends the lease of a running request; false when the key is no longer its
    /// own (taken over after the lease ran out).
    pub async fn renew_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        lease: &KeyLease,
    ) -> anyhow::Result<bool> {
        // Postgres: without waiting for the WAL flush (synchronous_commit off for
        // this statement). A renewal lost in a crash only shortens a lease, and a
        // key taken over early writes nothing twice (the claim guards); waiting
        // for the flush cost a renewal 0.6 ms of Postgres CPU at 100/s
        // (scripts/bench-pg-floor), several per sign-up under overload.
        let sql = match self.backend {
            Backend::Postgres(_) => {
                "WITH settings AS (SELECT set_config('synchronous_commit', 'off', true)) \
                 UPDATE idempotency_keys SET lease_until = $4 FROM settings \
                 WHERE scope = $1 AND key = $2 AND claim = $3 AND status IS NULL"
            }
            Backend::Sqlite(_) => {
                "UPDATE idempotency_keys SET lease_until = $4 \
                 WHERE scope = $1 AND key = $2 AND claim = $3 AND status IS NULL"
            }
        };
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(scope).bind(key).bind(&lease.claim).bind(pool.time(lease.until))
                .execute(pool).await.map(|done| done.rows_affected() == 1)
        })
        .context("renewing the idempotency key's lease")
    }

    /// Stores the answer of the request that claimed `key` with `claim` (nothing
    /// when another request took the key over meanwhile).
    pub async fn finish_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        claim: &str,
        response: &StoredResponse,
    ) -> anyhow::Result<()> {
        let headers = serde_json::to_string(&response.headers)?;
        on_pool!(self, pool => {
            sqlx::query(KEEP_ANSWER)
                .bind(i32::from(response.status)).bind(&headers).bind(&response.body)
                .bind(scope).bind(key).bind(claim)
                .execute(pool).await.map(drop)
        })
        .context("storing the idempotent answer")
    }

    /// Forgets `key` held by `claim`: its request failed in a way worth retrying.
    /// A key whose answer is kept stays: a sign-up keeps its answer in its own
    /// transaction, and a commit that succeeded while its client saw an error (the
    /// database went away at that moment) must be replayed, not redone.
    pub async fn release_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        claim: &str,
    ) -> anyhow::Result<()> {
        let sql = "DELETE FROM idempotency_keys \
                   WHERE scope = $1 AND key = $2 AND claim = $3 AND status IS NULL";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(scope).bind(key).bind(claim).execute(pool).await.map(drop)
        })
        .context("releasing the idempotency key")
    }
}
