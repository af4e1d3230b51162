//! The sign-up write: the user row, its `authd.user.created` event, a
//! verification mail when asked, and the answer kept with its Idempotency-Key,
//! all in one commit.

use uuid::Uuid;

use super::commit::Queued;
use super::dialect::Dialect;
use super::idempotency::KEEP_ANSWER;
use super::mail::{insert_mail, MailKind, NewMail};
use super::outbox::{insert_event, lane_of, OUTBOX_CHANNEL};
use super::users::{NewUser, WriteError, INSERT_USER};
use super::{Backend, HeldKey, Store};
use crate::domain::PublicUser;
use crate::events::envelope::{done_by, OutboxEvent, UserEventKind};

/// What a sign-up writes beside the user: its event, and its kept answer.
struct Extras {
    event: OutboxEvent,
    /// (status, headers as JSON, body) of the kept answer.
    answer: (Option<i32>, Option<String>, Option<Vec<u8>>),
    key: Option<HeldKey>,
}

impl Store {
    pub(super) async fn create(
        &self,
        mut user: NewUser,
        actor: Option<&str>,
    ) -> Result<PublicUser, WriteError> {
        let public = user.public();
        let event = done_by(
            self.event(UserEventKind::Created, &public, user.created_at),
            actor,
        );
        let (key, answer) = user.answer.take().unzip();
        let headers = answer
            .as_ref()
            .map(|a| serde_json::to_string(&a.headers))
            .transpose()
            .map_err(|err| WriteError::Other(err.into()))?;
        let (status, body) = answer.map(|a| (i32::from(a.status), a.body)).unzip();
        let extras = Extras {
            event,
            answer: (status, headers, body),
            key,
        };
        match &self.backend {
            Backend::Postgres(pool) => self.create_pg(pool, &user, &extras).await?,
            Backend::Sqlite(pool) => self.create_sqlite(pool, &user, &extras).await?,
        }
        Ok(public)
    }

    /// The user row, its outbox event, the kept answer, the mail and the relays'
    /// wake-up in one statement: a single statement is its own transaction, so this
    /// is atomic in one round trip (and one commit) instead of six. Without a key
    /// the UPDATE matches nothing.
    async fn create_pg(
        &self,
        pool: &sqlx::PgPool,
        user: &NewUser,
        extras: &Extras,
    ) -> sqlx::Result<()> {
        let (status, headers, body) = &extras.answer;
        let key = extras.key.as_ref();
        let event = &extras.event;
        sqlx::query(
            "WITH new_user AS ( \
                 INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)), \
             new_event AS ( \
                 INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at) \
                 VALUES ($6, $1, $7, $8, $9, $5)), \
             kept AS ( \
                 UPDATE idempotency_keys SET status = $11, response_headers = $12, \
                        response_body = $13, lease_until = NULL \
                 WHERE scope = $14 AND key = $15 AND claim = $16), \
             new_mail AS ( \
                 INSERT INTO mail_outbox (id, kind, user_id, recipient, next_attempt_at, created_at) \
                 SELECT $17, $18, $1, $3, $5, $5 WHERE $19) \
             SELECT pg_notify($10, '') WHERE $20",
        )
        .bind(user.id)
        .bind(user.username.as_str())
        .bind(user.email.as_str())
        .bind(&user.password_hash)
        .bind(user.created_at)
        .bind(event.id)
        .bind(lane_of(event.aggregate_id))
        .bind(&event.event_type)
        .bind(pool.json(&event.payload))
        .bind(OUTBOX_CHANNEL)
        .bind(status)
        .bind(headers)
        .bind(body)
        .bind(key.map(|k| k.scope.as_str()))
        .bind(key.map(|k| k.key.as_str()))
        .bind(key.map(|k| k.claim.as_str()))
        .bind(Uuid::now_v7())
        .bind(MailKind::Verify.as_str())
        .bind(user.send_verification)
        .bind(self.notify_commits)
        .execute(pool)
        .await?;
        self.committed(Queued::EVENTS.and_mail_if(user.send_verification));
        Ok(())
    }

    /// SQLite has no INSERT inside WITH: statements in a `BEGIN IMMEDIATE`
    /// transaction of their own rather than sqlx's, so that a failed COMMIT (a full
    /// disk) ends here (`commit_immediate`).
    async fn create_sqlite(
        &self,
        pool: &sqlx::SqlitePool,
        user: &NewUser,
        extras: &Extras,
    ) -> sqlx::Result<()> {
        let mut tx = pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *tx).await?;
        let written: sqlx::Result<()> = async {
            sqlx::query(INSERT_USER)
                .bind(pool.id(user.id))
                .bind(user.username.as_str())
                .bind(user.email.as_str())
                .bind(&user.password_hash)
                .bind(pool.time(user.created_at))
                .execute(&mut *tx)
                .await?;
            insert_event!(self, pool, tx, &extras.event);
            if user.send_verification {
                let mail = NewMail {
                    kind: MailKind::Verify,
                    user_id: Some(user.id),
                    recipient: Some(user.email.to_string()),
                    new_email: None,
                };
                insert_mail!(pool, tx, &mail, user.created_at);
            }
            if let Some(key) = &extras.key {
                let (status, headers, body) = &extras.answer;
                sqlx::query(KEEP_ANSWER)
                    .bind(status)
                    .bind(headers)
                    .bind(body)
                    .bind(&key.scope)
                    .bind(&key.key)
                    .bind(&key.claim)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        }
        .await;
        let queued = Queued::EVENTS.and_mail_if(user.send_verification);
        self.commit_immediate(&mut tx, written, queued).await
    }
}
