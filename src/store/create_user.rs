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
    /// the UPDATE matches nothing and the rest is written.
    async fn create_pg(
        &self,
        pool: &sqlx::PgPool,
        user: &NewUser,
        extras: &Extras,
    ) -> Result<(), WriteError> {
        let (status, headers, body) = &extras.answer;
        let key = extras.key.as_ref();
        let event = &extras.event;
        // `kept` goes first and everything else is written only beside it: a request
        // whose key a retry took over (its lease ran out while it hung) writes
        // nothing, and the retry's own sign-up is the one that counts.
        let went: bool = sqlx::query_scalar(
            "WITH kept AS ( \
                 UPDATE idempotency_keys SET status = $11, response_headers = $12, \
                        response_body = $13, lease_until = NULL \
                 WHERE scope = $14 AND key = $15 AND claim = $16 RETURNING 1), \
             go AS (SELECT 1 WHERE $14::text IS NULL UNION ALL SELECT 1 FROM kept), \
             new_user AS ( \
                 INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
                 SELECT $1, $2, $3, $4, $5, $5 FROM go), \
             new_event AS ( \
                 INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at) \
                 SELECT $6, $1, $7, $8, $9, $5 FROM go), \
             new_mail AS ( \
                 INSERT INTO mail_outbox (id, kind, user_id, recipient, next_attempt_at, created_at) \
                 SELECT $17, $18, $1, $3, $5, $5 FROM go WHERE $19) \
             SELECT EXISTS (SELECT 1 FROM go), \
                    (SELECT pg_notify($10, '') WHERE $20 AND EXISTS (SELECT 1 FROM go)) IS NULL",
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
        .fetch_one(pool)
        .await?;
        if !went {
            return Err(WriteError::KeyLost);
        }
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
    ) -> Result<(), WriteError> {
        let mut tx = pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *tx).await?;
        // Ok(false): the key was taken over by a retry, nothing is written.
        let written: sqlx::Result<bool> = async {
            if let Some(key) = &extras.key {
                let (status, headers, body) = &extras.answer;
                let kept = sqlx::query(KEEP_ANSWER)
                    .bind(status)
                    .bind(headers)
                    .bind(body)
                    .bind(&key.scope)
                    .bind(&key.key)
                    .bind(&key.claim)
                    .execute(&mut *tx)
                    .await?;
                if kept.rows_affected() == 0 {
                    return Ok(false);
                }
            }
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
            Ok(true)
        }
        .await;
        if matches!(written, Ok(false)) {
            let _ = sqlx::query("ROLLBACK").execute(&mut *tx).await;
            return Err(WriteError::KeyLost);
        }
        let queued = Queued::EVENTS.and_mail_if(user.send_verification);
        Ok(self
            .commit_immediate(&mut tx, written.map(drop), queued)
            .await?)
    }
}
