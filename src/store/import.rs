//! Imported users: each batch is one transaction, each row its user and its
//! `authd.user.imported` event, or nothing when it is already there.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dialect::{on_pool, Dialect};
use super::outbox::insert_event;
use super::Store;
use crate::domain::{Email, PublicUser, Username};
use crate::events::envelope::{done_by, user_event, UserEventKind};

/// One user of an import, checked.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// Its line in the import, for the report.
    pub line: usize,
    pub id: Uuid,
    pub username: Username,
    pub email: Email,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// bcrypt, scrypt, PBKDF2-SHA256 or argon2, as brought.
    pub password_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported,
    /// Already there (an earlier run: the same id, or the same username and
    /// email): left as it is.
    Skipped,
    /// Another user has the username or the email.
    Taken,
}

impl Store {
    /// Imports `rows` in one transaction; the outcome of each, by line.
    pub async fn import_users(
        &self,
        rows: &[ImportRow],
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<(usize, ImportOutcome)>> {
        let insert = "INSERT INTO users (id, username, email, password_hash, created_at, \
                      updated_at, email_verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                      ON CONFLICT DO NOTHING";
        // Already there: the same id, or the same username and email (a line with
        // no id gets a new one each run).
        let there = "SELECT COUNT(*) FROM users \
                     WHERE id = $1 OR (username = $2 AND email = $3)";
        let outcomes: sqlx::Result<Vec<(usize, ImportOutcome)>> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let mut outcomes = Vec::with_capacity(rows.len());
            for row in rows {
                let inserted = sqlx::query(insert)
                    .bind(pool.id(row.id))
                    .bind(row.username.as_str())
                    .bind(row.email.as_str())
                    .bind(&row.password_hash)
                    .bind(pool.time(row.created_at))
                    .bind(pool.time(now))
                    .bind(row.email_verified_at.map(|t| pool.time(t)))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                let outcome = if inserted {
                    let user = PublicUser {
                        id: row.id,
                        username: row.username.to_string(),
                        email: row.email.to_string(),
                        created_at: row.created_at,
                    };
                    let event = done_by(
                        user_event(UserEventKind::Imported, &user, &self.event_source, now),
                        actor,
                    );
                    insert_event!(pool, tx, &event);
                    ImportOutcome::Imported
                } else {
                    let there: i64 = sqlx::query_scalar(there)
                        .bind(pool.id(row.id))
                        .bind(row.username.as_str())
                        .bind(row.email.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                    if there == 1 { ImportOutcome::Skipped } else { ImportOutcome::Taken }
                };
                outcomes.push((row.line, outcome));
            }
            tx.commit().await?;
            Ok(outcomes)
        }.await);
        let outcomes = outcomes.context("importing users")?;
        if outcomes.iter().any(|(_, o)| *o == ImportOutcome::Imported) {
            self.wake.notify_one();
        }
        Ok(outcomes)
    }
}
