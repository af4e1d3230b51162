//! Imported users: each batch is one transaction, each row its user and its
//! `authd.user.imported` event, or nothing when it is already there. On Postgres a
//! batch is a few statements over arrays; on SQLite (in-process) a row at a time.

use std::collections::HashSet;

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, Dialect};
use super::outbox::{insert_event, lane_of, OUTBOX_CHANNEL};
use super::{Backend, Store};
use crate::domain::{Email, PublicUser, Username};
use crate::events::envelope::{done_by, user_event, OutboxEvent, UserEventKind};

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

impl ImportRow {
    /// The user as its `authd.user.imported` event shows it.
    fn public(&self) -> PublicUser {
        PublicUser {
            id: self.id,
            username: self.username.to_string(),
            email: self.email.to_string(),
            email_verified: self.email_verified_at.is_some(),
            created_at: self.created_at,
        }
    }
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
    /// Postgres: a batch in four round trips (users, events, wake-up, and what was
    /// there already) instead of three per row.
    async fn import_pg(
        &self,
        pool: &sqlx::PgPool,
        rows: &[ImportRow],
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Vec<(usize, ImportOutcome)>> {
        let mut tx = pool.begin().await?;
        let inserted = insert_users_pg(&mut tx, rows, now).await?;
        let events: Vec<_> = rows
            .iter()
            .filter(|r| inserted.contains(&r.id))
            .map(|row| {
                let user = row.public();
                done_by(
                    user_event(UserEventKind::Imported, &user, &self.event_source, now),
                    actor,
                )
            })
            .collect();
        insert_events_pg(&mut tx, &events).await?;
        // What the rows not inserted ran into: the same user (skip) or another.
        let there: Vec<(Uuid, String, String)> = if inserted.len() < rows.len() {
            let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            let usernames: Vec<&str> = rows.iter().map(|r| r.username.as_str()).collect();
            sqlx::query_as(
                "SELECT id, username, email FROM users WHERE id = ANY($1) OR username = ANY($2)",
            )
            .bind(&ids)
            .bind(&usernames)
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        self.commit(tx, Queued::events_if(!events.is_empty()))
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let outcome = if inserted.contains(&row.id) {
                    ImportOutcome::Imported
                } else if there.iter().any(|(id, username, email)| {
                    *id == row.id
                        || (username == row.username.as_str() && email == row.email.as_str())
                }) {
                    ImportOutcome::Skipped
                } else {
                    ImportOutcome::Taken
                };
                (row.line, outcome)
            })
            .collect())
    }

    /// Imports `rows` in one transaction; the outcome of each, by line.
    pub async fn import_users(
        &self,
        rows: &[ImportRow],
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<(usize, ImportOutcome)>> {
        if let Backend::Postgres(pool) = &self.backend {
            return self
                .import_pg(pool, rows, actor, now)
                .await
                .context("importing users");
        }
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
                    let user = row.public();
                    let event = done_by(
                        user_event(UserEventKind::Imported, &user, &self.event_source, now),
                        actor,
                    );
                    insert_event!(self, pool, tx, &event);
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
            let imported = outcomes.iter().any(|(_, o)| *o == ImportOutcome::Imported);
            self.commit(tx, Queued::events_if(imported)).await?;
            Ok(outcomes)
        }.await);
        outcomes.context("importing users")
    }
}

/// Inserts the rows that collide with nothing; the ids inserted.
async fn insert_users_pg(
    tx: &mut sqlx::PgConnection,
    rows: &[ImportRow],
    now: DateTime<Utc>,
) -> sqlx::Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let usernames: Vec<&str> = rows.iter().map(|r| r.username.as_str()).collect();
    let emails: Vec<&str> = rows.iter().map(|r| r.email.as_str()).collect();
    let hashes: Vec<&str> = rows.iter().map(|r| r.password_hash.as_str()).collect();
    let created: Vec<DateTime<Utc>> = rows.iter().map(|r| r.created_at).collect();
    let verified: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.email_verified_at).collect();
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO users (id, username, email, password_hash, created_at, updated_at, \
                            email_verified_at) \
         SELECT i, u, e, h, c, $6, v FROM UNNEST($1::uuid[], $2::text[], $3::text[], \
             $4::text[], $5::timestamptz[], $7::timestamptz[]) AS t(i, u, e, h, c, v) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&ids)
    .bind(&usernames)
    .bind(&emails)
    .bind(&hashes)
    .bind(&created)
    .bind(now)
    .bind(&verified)
    .fetch_all(&mut *tx)
    .await?;
    Ok(inserted.into_iter().collect())
}

/// The events of a batch in one statement, and the relays' wake-up at commit.
async fn insert_events_pg(tx: &mut sqlx::PgConnection, events: &[OutboxEvent]) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&OutboxEvent) -> Uuid| events.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::smallint[], $4::text[], \
             $5::jsonb[], $6::timestamptz[])",
    )
    .bind(column(|e| e.id))
    .bind(column(|e| e.aggregate_id))
    .bind(
        events
            .iter()
            .map(|e| lane_of(e.aggregate_id))
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| e.payload.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.created_at).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(OUTBOX_CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
