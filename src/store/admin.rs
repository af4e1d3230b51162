//! What only the admin API reads or does: users by prefix and cursor, one user in
//! full, ending every session of a user, and a user's event history.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, uuid, Dialect};
use super::outbox::lane_of;
use super::revocation::revoke_sessions;
use super::sessions::not_before;
use super::{Backend, Store};
use crate::events::envelope::RevokeReason;

/// A user as an administrator sees it: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub locked_at: Option<DateTime<Utc>>,
    /// When the user confirmed its email (`None`: not verified).
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// One event written for a user: still waiting in the outbox, or published.
#[derive(Debug, Clone)]
pub struct HistoryEvent {
    pub id: Uuid,
    pub event_type: String,
    /// The CloudEvents envelope as published.
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

type AdminUserRow = (
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

const ADMIN_USER_COLUMNS: &str =
    "CAST(id AS TEXT), username, email, created_at, updated_at, locked_at, email_verified_at";

fn admin_user(row: AdminUserRow) -> sqlx::Result<AdminUser> {
    let (id, username, email, created_at, updated_at, locked_at, email_verified_at) = row;
    Ok(AdminUser {
        id: uuid(&id)?,
        username,
        email,
        created_at,
        updated_at,
        locked_at,
        email_verified_at,
    })
}

/// `prefix` as a LIKE pattern that matches only itself at the start.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// Up to `limit` users in id order (UUIDv7: sign-up order) after `after`, whose
    /// username or email starts with `prefix`. A cursor is the last id seen: users
    /// that sign up meanwhile come after every page already read, none twice.
    pub async fn list_users(
        &self,
        prefix: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> anyhow::Result<Vec<AdminUser>> {
        let pattern = prefix.map(like_prefix);
        // Only the conditions asked for, so that the plan can walk the primary key
        // (no filter) or the unique indexes of username and email (a prefix filter:
        // byte-wise columns, migration 8) instead of the whole table.
        let mut conditions = Vec::new();
        if after.is_some() {
            conditions.push(format!("id > ${}", conditions.len() + 1));
        }
        if pattern.is_some() {
            let n = conditions.len() + 1;
            conditions.push(format!(
                "(username LIKE ${n} ESCAPE '\\' OR email LIKE ${n} ESCAPE '\\')"
            ));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        // `users.id`: a bare `id` would name the output column, the id cast to text,
        // and sort the whole table by it. The limit is written in, not bound: with LIMIT $n a generic plan cannot
        // tell a page from the table and sorts every row (30 ms at 100,000 users).
        let sql = format!(
            "SELECT {ADMIN_USER_COLUMNS} FROM users {filter} ORDER BY users.id LIMIT {}",
            limit.clamp(1, 10_000)
        );
        let rows: Vec<AdminUserRow> = on_pool!(self, pool => {
            let mut query = sqlx::query_as(&sql);
            if let Some(after) = after {
                query = query.bind(pool.id(after));
            }
            if let Some(pattern) = &pattern {
                query = query.bind(pattern.clone());
            }
            query.fetch_all(pool).await
        })
        .context("listing users")?;
        Ok(rows
            .into_iter()
            .map(admin_user)
            .collect::<sqlx::Result<_>>()?)
    }

    /// One user, and how many live sessions it has.
    pub async fn admin_user(&self, id: Uuid) -> anyhow::Result<Option<(AdminUser, i64)>> {
        let sql = format!(
            "SELECT {ADMIN_USER_COLUMNS}, \
                 (SELECT COUNT(*) FROM refresh_families f \
                  WHERE f.user_id = users.id AND f.revoked_at IS NULL) \
             FROM users WHERE id = $1"
        );
        type Row = (
            String,
            String,
            String,
            DateTime<Utc>,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            i64,
        );
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(pool.id(id)).fetch_optional(pool).await
        })
        .context("reading the user")?;
        Ok(row
            .map(
                |(id, username, email, created_at, updated_at, locked_at, verified_at, live)| {
                    let row = (
                        id,
                        username,
                        email,
                        created_at,
                        updated_at,
                        locked_at,
                        verified_at,
                    );
                    admin_user(row).map(|u| (u, live))
                },
            )
            .transpose()?)
    }

    /// Ends every session of `user` (reason `admin`, done by `actor`), voids its
    /// access tokens issued until now (`not_before`) and its pending `mfa_token`s.
    /// `None`: no such user.
    pub async fn end_all_sessions(
        &self,
        user: Uuid,
        actor: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<usize>> {
        let actor = Some(actor);
        let ended: sqlx::Result<Option<usize>> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let found = sqlx::query("UPDATE users SET not_before = $2 WHERE id = $1")
                .bind(pool.id(user))
                .bind(pool.time(not_before(now)))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if found == 0 {
                return Ok(None);
            }
            let ended = revoke_sessions!(self, pool, tx, RevokeReason::Admin, now, actor,
                "user_id = $3", pool.id(user));
            // And the logins still waiting for their second step.
            sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1")
                .bind(pool.id(user))
                .execute(&mut *tx)
                .await?;
            self.commit(tx, Queued::events_if(!ended.is_empty())).await?;
            Ok(Some(ended.len()))
        }.await);
        ended.context("ending the user's sessions")
    }

    /// The events written for `user`, oldest first: those still in the outbox and
    /// those published within the history period. The outbox part goes by the
    /// user's lane (its index serves the relays too).
    pub async fn history_of(&self, user: Uuid) -> anyhow::Result<Vec<HistoryEvent>> {
        let unpublished = match self.backend {
            Backend::Postgres(_) => "CAST(NULL AS timestamptz)",
            Backend::Sqlite(_) => "NULL",
        };
        let sql = format!(
            "SELECT CAST(id AS TEXT), event_type, CAST(payload AS TEXT), created_at, published_at \
             FROM (SELECT id, event_type, payload, created_at, {unpublished} AS published_at \
                   FROM outbox WHERE lane = $2 AND aggregate_id = $1 \
                   UNION ALL \
                   SELECT id, event_type, payload, created_at, published_at \
                   FROM event_history WHERE aggregate_id = $1) AS e \
             ORDER BY created_at, id"
        );
        type Row = (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(pool.id(user)).bind(lane_of(user)).fetch_all(pool).await
        })
        .context("reading the user's events")?;
        rows.into_iter()
            .map(|(id, event_type, payload, created_at, published_at)| {
                Ok(HistoryEvent {
                    id: uuid(&id)?,
                    event_type,
                    payload: serde_json::from_str(&payload).context("an event's payload")?,
                    created_at,
                    published_at,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    #[test]
    fn a_prefix_matches_only_itself() {
        assert_eq!(like_prefix("Ann"), "ann%");
        assert_eq!(like_prefix("a_b%c\\"), "a\\_b\\%c\\\\%");
    }
}
