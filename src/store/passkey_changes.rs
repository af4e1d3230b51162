//! The changes of a user's passkeys that its events report (a passkey added or
//! removed, a counter that went back): `UserChange`s, written through `change!`
//! and `commit` like every other.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, Dialect};
use super::mfa::CODES_WITHOUT_FACTOR;
use super::mfa_changes::{replace_recovery_codes, touch_user};
use super::outbox::insert_event;
use super::passkeys::NewPasskey;
use super::user_changes::change;
use super::users::{account, AccountRow, WriteError};
use super::Store;
use crate::domain::PublicUser;
use crate::events::envelope::{done_by, UserEventKind};

impl Store {
    /// `UserChange::AddPasskey`: the passkey counts from now; `codes` become the
    /// recovery codes when the user has none. Nothing when its credential is
    /// registered already (to anyone).
    pub(super) async fn add_passkey(
        &self,
        id: Uuid,
        passkey: NewPasskey<'_>,
        codes: &[[u8; 32]],
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::PasskeyAdded, now, actor,
            before {
                let added = sqlx::query(
                    "INSERT INTO mfa_factors (id, user_id, kind, secret, created_at, confirmed_at, \
                     credential_id, name, sign_count) \
                     VALUES ($1, $2, 'passkey', $3, $4, $4, $5, $6, $7) \
                     ON CONFLICT (credential_id) DO NOTHING",
                )
                .bind(pool.id(passkey.factor))
                .bind(pool.id(id))
                .bind(passkey.credential.as_bytes())
                .bind(pool.time(now))
                .bind(passkey.credential_id)
                .bind(passkey.name)
                .bind(passkey.sign_count)
                .execute(&mut *tx)
                .await?;
                if added.rows_affected() == 0 {
                    return Ok(None);
                }
                let codes_left: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
                        .bind(pool.id(id))
                        .fetch_one(&mut *tx)
                        .await?;
                if codes_left == 0 {
                    replace_recovery_codes!(pool, tx, id, codes, now);
                }
                false
            },
            sqlx::query_as(&touch_user()).bind(pool.id(id)).bind(pool.time(now)),
            {}))
    }

    /// `UserChange::RemovePasskey`: one passkey, and the recovery codes once no
    /// factor is left. Nothing when the user has no such passkey, or when it is
    /// the last factor and `keep_one`.
    pub(super) async fn remove_passkey(
        &self,
        id: Uuid,
        (passkey, keep_one): (Uuid, bool),
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::PasskeyRemoved, now, actor,
            before {
                // The user's row lock first: two removals at once cannot each see
                // the other's factor left.
                sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1")
                    .bind(pool.id(id))
                    .bind(pool.time(now))
                    .execute(&mut *tx)
                    .await?;
                let removed = sqlx::query(
                    "DELETE FROM mfa_factors WHERE id = $1 AND user_id = $2 AND kind = 'passkey' \
                     AND ($3 = 0 OR EXISTS (SELECT 1 FROM mfa_factors WHERE user_id = $2 \
                       AND confirmed_at IS NOT NULL AND id <> $1))",
                )
                .bind(pool.id(passkey))
                .bind(pool.id(id))
                .bind(i64::from(keep_one))
                .execute(&mut *tx)
                .await?;
                if removed.rows_affected() == 0 {
                    return Ok(None);
                }
                sqlx::query(CODES_WITHOUT_FACTOR)
                .bind(pool.id(id))
                .execute(&mut *tx)
                .await?;
                false
            },
            sqlx::query_as(&touch_user()).bind(pool.id(id)).bind(pool.time(now)),
            {}))
    }

    /// `UserChange::PasskeyCloneSuspected`: the event only.
    pub(super) async fn passkey_clone_suspected(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::PasskeyCloneSuspected, now, actor,
            sqlx::query_as(&touch_user()).bind(pool.id(id)).bind(pool.time(now)),
            {}))
    }
}
