//! Failed-login counters per account and per client address, shared by every
//! replica. Times are Unix milliseconds from the application's clock.

use anyhow::Context;

use super::dialect::on_pool;
use super::Store;

impl Store {
    /// The latest lock among `keys` that is still in force, in Unix ms.
    pub async fn login_locked_until(
        &self,
        keys: [&str; 2],
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        let sql = "SELECT MAX(locked_until_ms) FROM login_throttle \
                   WHERE key IN ($1, $2) AND locked_until_ms > $3";
        let until: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(keys[0]).bind(keys[1]).bind(now_ms).fetch_one(pool).await
        })
        .context("reading the login counters")?;
        Ok(until)
    }

    /// Counts one failure for `key` and returns the failures within the window
    /// (a failure older than the window starts the count again).
    pub async fn count_login_failure(
        &self,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> anyhow::Result<i32> {
        let sql = "INSERT INTO login_throttle (key, failures, last_failure_ms) VALUES ($1, 1, $2) \
                   ON CONFLICT (key) DO UPDATE SET \
                     failures = CASE WHEN login_throttle.last_failure_ms < $3 THEN 1 \
                                     ELSE login_throttle.failures + 1 END, \
                     last_failure_ms = $2 \
                   RETURNING failures";
        let failures: i32 = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(key).bind(now_ms).bind(now_ms - window_ms).fetch_one(pool).await
        })
        .context("counting a failed login")?;
        Ok(failures)
    }

    /// Locks `key` until `until_ms`, unless it is already locked for longer.
    pub async fn lock_login(&self, key: &str, until_ms: i64) -> anyhow::Result<()> {
        let sql = "UPDATE login_throttle SET locked_until_ms = $2 \
                   WHERE key = $1 AND (locked_until_ms IS NULL OR locked_until_ms < $2)";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(key).bind(until_ms).execute(pool).await.map(|_| ())
        })
        .context("locking the login")?;
        Ok(())
    }

    pub async fn clear_login_failures(&self, key: &str) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(pool).await.map(|_| ())
        })
        .context("clearing the login counter")?;
        Ok(())
    }
}
