//! The attempt counters of the throttle (`authn::throttle`), shared by every
//! replica. Times are Unix milliseconds from the application's clock.

use anyhow::Context;

use super::dialect::on_pool;
use super::Store;

/// How the locks of the counters grow: the first lasts `base_ms`, each further
/// failure doubles it, up to `max_ms`; failures older than `window_ms` are forgotten.
#[derive(Debug, Clone, Copy)]
pub struct LockPolicy {
    pub base_ms: i64,
    pub max_ms: i64,
    pub window_ms: i64,
}

/// A counter whose reservation set a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLock {
    pub key: String,
    pub failures: i32,
    pub until_ms: i64,
}

/// The SQL of a reservation of `n` counters: binds `$1..$2n` are (key, threshold)
/// pairs, then now, the start of the window, the base lock and the longest lock.
/// One statement, so that it is atomic on both stores: nothing is counted when any
/// counter is locked, and a counter locked meanwhile by a concurrent reservation
/// (its row lock settles the order) is not counted either. The reservation whose
/// count reaches the threshold sets the lock, which doubles per count past it.
fn reserve_sql(n: usize) -> String {
    let rows: Vec<String> = (0..n)
        .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    let (now, since, base, max) = (2 * n + 1, 2 * n + 2, 2 * n + 3, 2 * n + 4);
    let count = format!(
        "(CASE WHEN login_throttle.last_failure_ms < ${since} THEN 1 \
              ELSE login_throttle.failures + 1 END)"
    );
    let lock = |count: &str, threshold: &str| {
        format!(
            "CASE WHEN {count} < {threshold} THEN NULL \
                  WHEN {count} - {threshold} >= 30 \
                    OR (${base} << ({count} - {threshold})) > ${max} THEN ${now} + ${max} \
                  ELSE ${now} + (${base} << ({count} - {threshold})) END"
        )
    };
    format!(
        "WITH wanted (key, threshold) AS (VALUES {rows}), \
              locked AS (SELECT 1 FROM login_throttle t JOIN wanted w ON w.key = t.key \
                         WHERE t.locked_until_ms > ${now}) \
         INSERT INTO login_throttle (key, failures, last_failure_ms, locked_until_ms, threshold) \
         SELECT key, 1, ${now}, {first_lock}, threshold FROM wanted \
         WHERE NOT EXISTS (SELECT 1 FROM locked) \
         ON CONFLICT (key) DO UPDATE SET \
             failures = {count}, last_failure_ms = ${now}, threshold = excluded.threshold, \
             locked_until_ms = {next_lock} \
         WHERE login_throttle.locked_until_ms IS NULL OR login_throttle.locked_until_ms <= ${now} \
         RETURNING key, failures, locked_until_ms",
        rows = rows.join(", "),
        first_lock = lock("1", "threshold"),
        next_lock = lock(&count, "excluded.threshold"),
    )
}

impl Store {
    /// Reserves a slot in each of `counters` ((key, threshold) pairs), all or none.
    /// `Ok(locks)`: every counter counted this attempt (`locks`: those it locked).
    /// `Err(until_ms)`: refused, a counter is locked until then.
    pub async fn reserve_attempt(
        &self,
        counters: &[(&str, i32)],
        now_ms: i64,
        policy: LockPolicy,
    ) -> anyhow::Result<Result<Vec<NewLock>, i64>> {
        let sql = reserve_sql(counters.len());
        type Row = (String, i32, Option<i64>);
        let rows: Vec<Row> = on_pool!(self, pool => {
            let mut query = sqlx::query_as(&sql);
            for (key, threshold) in counters {
                query = query.bind(*key).bind(*threshold);
            }
            query
                .bind(now_ms)
                .bind(now_ms - policy.window_ms)
                .bind(policy.base_ms)
                .bind(policy.max_ms)
                .fetch_all(pool)
                .await
        })
        .context("reserving an attempt")?;
        if rows.len() < counters.len() {
            let keys: Vec<&str> = counters.iter().map(|(key, _)| *key).collect();
            let until = self.locked_until(&keys, now_ms).await?;
            return Ok(Err(until.unwrap_or(now_ms + 1_000)));
        }
        Ok(Ok(rows
            .into_iter()
            .filter_map(|(key, failures, until)| {
                until.map(|until_ms| NewLock {
                    key,
                    failures,
                    until_ms,
                })
            })
            .collect()))
    }

    /// The latest lock among `keys` that is still in force, in Unix ms.
    async fn locked_until(&self, keys: &[&str], now_ms: i64) -> anyhow::Result<Option<i64>> {
        let marks: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT MAX(locked_until_ms) FROM login_throttle \
             WHERE locked_until_ms > $1 AND key IN ({})",
            marks.join(", ")
        );
        let until: Option<i64> = on_pool!(self, pool => {
            let mut query = sqlx::query_scalar(&sql).bind(now_ms);
            for key in keys {
                query = query.bind(*key);
            }
            query.fetch_one(pool).await
        })
        .context("reading the login counters")?;
        Ok(until)
    }

    /// A reserved attempt succeeded: its slot is given back in each of `keys`
    /// (and a lock that slot set is lifted), and the counters of `reset` start
    /// again from zero.
    pub async fn release_attempt(&self, keys: &[&str], reset: &[&str]) -> anyhow::Result<()> {
        let marks = |from: usize, n: usize| -> String {
            (from..from + n)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let all = marks(1, keys.len());
        let resets = if reset.is_empty() {
            "NULL".to_string()
        } else {
            marks(keys.len() + 1, reset.len())
        };
        let sql = format!(
            "UPDATE login_throttle SET \
                 failures = CASE WHEN key IN ({resets}) OR failures < 1 THEN 0 \
                                 ELSE failures - 1 END, \
                 locked_until_ms = CASE WHEN key IN ({resets}) OR failures - 1 < threshold \
                                        THEN NULL ELSE locked_until_ms END \
             WHERE key IN ({all})"
        );
        on_pool!(self, pool => {
            let mut query = sqlx::query(&sql);
            for key in keys.iter().chain(reset) {
                query = query.bind(*key);
            }
            query.execute(pool).await.map(drop)
        })
        .context("releasing an attempt")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::reserve_sql;

    #[test]
    fn the_reservation_binds_its_counters_then_the_clock_and_the_policy() {
        let sql = reserve_sql(2);
        assert!(sql.contains("VALUES ($1, $2), ($3, $4)"), "{sql}");
        assert!(sql.contains("t.locked_until_ms > $5"), "{sql}");
        assert!(sql.contains("last_failure_ms < $6"), "{sql}");
        assert!(sql.contains("($7 << ") && sql.contains("> $8"), "{sql}");
    }
}
