//! The end of sessions: a logout, one session, all of a user's but one, and the
//! `revoke_sessions!` that every change ending sessions uses. Every end of a session
//! writes `authd.session.revoked` in the same transaction.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, Dialect};
use super::Store;
use crate::events::envelope::RevokeReason;

/// In transaction `$tx` of `$pool`: ends every live session that `$filter` selects
/// (SQL over refresh_families whose own binds start at `$3`), each with its
/// `authd.session.revoked` event (done by `$actor`, an `Option<&str>`). Evaluates
/// to the ended session ids.
macro_rules! revoke_sessions {
    ($store:expr, $pool:ident, $tx:ident, $reason:expr, $now:expr, $actor:expr, $filter:expr $(, $bind:expr)*) => {{
        let sql = format!(
            "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
             WHERE revoked_at IS NULL AND {} RETURNING CAST(id AS TEXT), CAST(user_id AS TEXT)",
            $filter
        );
        let reason: $crate::events::envelope::RevokeReason = $reason;
        let ended: Vec<(String, String)> = sqlx::query_as(&sql)
            .bind($pool.time($now))
            .bind(reason.as_str())
            $(.bind($bind))*
            .fetch_all(&mut *$tx)
            .await?;
        let mut ids = Vec::with_capacity(ended.len());
        for (session, user) in ended {
            let (session, user) = ($crate::store::dialect::uuid(&session)?, $crate::store::dialect::uuid(&user)?);
            let event = $crate::events::envelope::done_by(
                $crate::events::envelope::session_revoked(
                    session, user, reason, &$store.event_source, $now,
                ),
                $actor,
            );
            $crate::store::outbox::insert_event!($store, $pool, $tx, &event);
            ids.push(session);
        }
        ids
    }};
}
pub(super) use revoke_sessions;

impl Store {
    /// Revokes the family of a refresh token (logout); `false` when nothing was live.
    pub async fn revoke_family_of(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        self.revoke_where(
            RevokeReason::Logout,
            now,
            None,
            RevokeFilter::TokenFamily(token_hash),
        )
        .await
        .map(|ended| !ended.is_empty())
        .context("revoking the refresh-token family")
    }

    /// Ends session `id` of `user`; `false` when it was not a live session of theirs.
    pub async fn revoke_session(
        &self,
        user: Uuid,
        id: Uuid,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        self.revoke_where(reason, now, None, RevokeFilter::One { user, id })
            .await
            .map(|ended| !ended.is_empty())
            .context("revoking the session")
    }

    /// Ends every live session of `user` but `keep` (all of them when `None`), done
    /// by `actor` (None: the user); returns how many ended.
    pub async fn revoke_sessions_of(
        &self,
        user: Uuid,
        keep: Option<Uuid>,
        reason: RevokeReason,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> anyhow::Result<usize> {
        let filter = match keep {
            Some(keep) => RevokeFilter::AllBut { user, keep },
            None => RevokeFilter::All { user },
        };
        self.revoke_where(reason, now, actor, filter)
            .await
            .map(|ended| ended.len())
            .context("revoking the sessions")
    }

    async fn revoke_where(
        &self,
        reason: RevokeReason,
        now: DateTime<Utc>,
        actor: Option<&str>,
        filter: RevokeFilter<'_>,
    ) -> sqlx::Result<Vec<Uuid>> {
        let ended = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let ended = match filter {
                RevokeFilter::TokenFamily(hash) => revoke_sessions!(self, pool, tx, reason, now, actor,
                    "id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $3)", hash),
                RevokeFilter::One { user, id } => revoke_sessions!(self, pool, tx, reason, now, actor,
                    "id = $3 AND user_id = $4", pool.id(id), pool.id(user)),
                RevokeFilter::AllBut { user, keep } => revoke_sessions!(self, pool, tx, reason, now, actor,
                    "user_id = $3 AND id <> $4", pool.id(user), pool.id(keep)),
                RevokeFilter::All { user } => revoke_sessions!(self, pool, tx, reason, now, actor,
                    "user_id = $3", pool.id(user)),
            };
            // Ending all of a user's sessions (but one) ends the logins still
            // waiting for their second step too.
            if let RevokeFilter::AllBut { user, .. } | RevokeFilter::All { user } = filter {
                sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1")
                    .bind(pool.id(user))
                    .execute(&mut *tx)
                    .await?;
            }
            self.commit(tx, Queued::events_if(!ended.is_empty())).await?;
            Ok::<_, sqlx::Error>(ended)
        }.await)?;
        Ok(ended)
    }
}

#[derive(Clone, Copy)]
enum RevokeFilter<'a> {
    TokenFamily(&'a [u8]),
    One { user: Uuid, id: Uuid },
    AllBut { user: Uuid, keep: Uuid },
    All { user: Uuid },
}
