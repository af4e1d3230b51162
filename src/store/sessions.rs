//! Sessions: one refresh-token family per login, its rotating tokens (their ends:
//! `revocation.rs`).

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, uuid, Dialect};
use super::revocation::revoke_sessions;
use super::Store;
use crate::events::envelope::RevokeReason;
use crate::tokens::Grant;

const INSERT_TOKEN: &str = "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, \
     expires_at) VALUES ($1, $2, $3, $4)";

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent and the new one is stored; what the
    /// new access token says (the email as verified now, the original auth_time).
    Rotated(Grant),
    /// The token had already been rotated: its whole family is now revoked.
    Reused { family_id: Uuid },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Where a login happened, as the sessions list shows it, and how it
/// authenticated (RFC 8176 values, comma-separated: `pwd`, `pwd,otp,mfa`).
#[derive(Debug, Clone)]
pub struct SessionOrigin<'a> {
    pub client_address: &'a str,
    pub user_agent: Option<&'a str>,
    pub amr: &'a str,
}

/// A live session, as its user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The last refresh (the login, before any).
    pub last_used_at: DateTime<Utc>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

type SessionRow = (
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
);

impl Store {
    /// A new refresh-token family (one login) with its first token.
    pub async fn start_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        token_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        origin: &SessionOrigin<'_>,
    ) -> anyhow::Result<()> {
        let done: sqlx::Result<()> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO refresh_families (id, user_id, created_at, last_used_at, \
                 client_address, user_agent, auth_time, amr) VALUES ($1, $2, $3, $3, $4, $5, $3, $6)",
            )
            .bind(pool.id(family_id))
            .bind(pool.id(user_id))
            .bind(pool.time(now))
            .bind(origin.client_address)
            .bind(origin.user_agent)
            .bind(origin.amr)
            .execute(&mut *tx)
            .await?;
            sqlx::query(INSERT_TOKEN)
                .bind(token_hash)
                .bind(pool.id(family_id))
                .bind(pool.time(now))
                .bind(pool.time(expires_at))
                .execute(&mut *tx)
                .await?;
            self.commit(tx, Queued::NOTHING).await
        }.await);
        done.context("storing the refresh token")
    }

    /// Spends a live refresh token and stores its successor; a token that was
    /// already spent revokes its family (someone else holds a copy). A session
    /// whose login was at or before `born_after` has outlived its absolute
    /// lifetime: its token is invalid however recently it was refreshed.
    pub async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        born_after: DateTime<Utc>,
    ) -> anyhow::Result<Rotation> {
        let rotation: sqlx::Result<Rotation> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            // Write first: the row lock settles two concurrent uses of one token.
            let spent: Option<String> = sqlx::query_scalar(
                "UPDATE refresh_tokens SET rotated_at = $2 \
                 WHERE token_hash = $1 AND rotated_at IS NULL AND expires_at > $2 \
                   AND family_id IN (SELECT f.id FROM refresh_families f JOIN users u \
                       ON u.id = f.user_id WHERE f.revoked_at IS NULL AND u.locked_at IS NULL \
                       AND f.created_at > $3) \
                 RETURNING CAST(family_id AS TEXT)",
            )
            .bind(old_hash)
            .bind(pool.time(now))
            .bind(pool.time(born_after))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(family) = spent {
                let family_id = uuid(&family)?;
                let (user, email_verified, auth_time, amr): (String, bool, Option<DateTime<Utc>>, String) =
                    sqlx::query_as(
                        "UPDATE refresh_families SET last_used_at = $2 WHERE id = $1 \
                         RETURNING CAST(user_id AS TEXT), (SELECT u.email_verified_at IS NOT NULL \
                             FROM users u WHERE u.id = refresh_families.user_id), auth_time, amr",
                    )
                    .bind(pool.id(family_id))
                    .bind(pool.time(now))
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(INSERT_TOKEN)
                    .bind(new_hash)
                    .bind(pool.id(family_id))
                    .bind(pool.time(now))
                    .bind(pool.time(expires_at))
                    .execute(&mut *tx)
                    .await?;
                self.commit(tx, Queued::NOTHING).await?;
                return Ok(Rotation::Rotated(Grant {
                    user: uuid(&user)?,
                    session: family_id,
                    email_verified,
                    auth_time: auth_time.unwrap_or(now),
                    amr: amr.split(',').map(str::to_string).collect(),
                }));
            }
            let known: Option<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
                "SELECT CAST(family_id AS TEXT), rotated_at FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((family, Some(_rotated))) = known else {
                return Ok(Rotation::Invalid);
            };
            let family_id = uuid(&family)?;
            let ended = revoke_sessions!(self, pool, tx, RevokeReason::Reuse, now, None, "id = $3", pool.id(family_id));
            self.commit(tx, Queued::events_if(!ended.is_empty())).await?;
            Ok(Rotation::Reused { family_id })
        }.await);
        rotation.context("rotating the refresh token")
    }

    /// A re-authentication in session `id`: its `auth_time` and `amr` become
    /// these, so its refreshes carry them on.
    pub async fn reauthenticate_session(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        amr: &str,
    ) -> anyhow::Result<()> {
        let sql = "UPDATE refresh_families SET auth_time = $2, amr = $3 \
                   WHERE id = $1 AND revoked_at IS NULL";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(pool.id(id)).bind(pool.time(now)).bind(amr)
                .execute(pool).await.map(drop)
        })
        .context("recording the re-authentication")?;
        Ok(())
    }

    /// Whether session `id` of `user` is live, the user not locked, and an access
    /// token of it issued at `issued_at` not older than the user's `not_before`.
    pub async fn session_live(
        &self,
        id: Uuid,
        user: Uuid,
        issued_at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let sql = "SELECT COUNT(*) FROM refresh_families f JOIN users u ON u.id = f.user_id \
                   WHERE f.id = $1 AND f.user_id = $2 AND f.revoked_at IS NULL \
                     AND u.locked_at IS NULL AND (u.not_before IS NULL OR u.not_before <= $3)";
        let live: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(pool.id(id)).bind(pool.id(user)).bind(pool.time(issued_at))
                .fetch_one(pool).await
        })
        .context("checking the session")?;
        Ok(live == 1)
    }

    /// The live sessions of `user`, newest first.
    pub async fn sessions_of(&self, user: Uuid) -> anyhow::Result<Vec<SessionInfo>> {
        let sql = "SELECT CAST(id AS TEXT), created_at, last_used_at, client_address, user_agent \
                   FROM refresh_families WHERE user_id = $1 AND revoked_at IS NULL \
                   ORDER BY created_at DESC, id DESC";
        let rows: Vec<SessionRow> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(pool.id(user)).fetch_all(pool).await
        })
        .context("listing the sessions")?;
        rows.into_iter()
            .map(
                |(id, created_at, last_used_at, client_address, user_agent)| {
                    Ok(SessionInfo {
                        id: uuid(&id)?,
                        created_at,
                        last_used_at: last_used_at.unwrap_or(created_at),
                        client_address,
                        user_agent,
                    })
                },
            )
            .collect::<sqlx::Result<_>>()
            .context("reading the sessions")
    }
}

/// `not_before` for a user: access tokens carry whole seconds (`iat`), so the
/// instant is floored to its second. A token of the same second as a password
/// change still passes this check, and is refused by its revoked session.
pub fn not_before(now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_before_is_floored_to_the_second_of_iat() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T10:00:00.750Z")
            .unwrap()
            .with_timezone(&Utc);
        let floor = not_before(now);
        assert_eq!(floor.timestamp(), now.timestamp());
        assert_eq!(floor.timestamp_subsec_micros(), 0);
    }
}
