//! The changes of a user's second factors that its events report (a factor
//! confirmed or removed, recovery codes regenerated or used): `UserChange`s,
//! written through `change!` and `commit` like every other.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, Dialect};
use super::mfa::CODES_WITHOUT_FACTOR;
use super::outbox::insert_event;
use super::user_changes::change;
use super::users::{account, AccountRow, WriteError, ACCOUNT_COLUMNS};
use super::Store;
use crate::domain::PublicUser;
use crate::events::envelope::{done_by, UserEventKind};

/// Deletes the user's recovery codes and inserts `$codes` (digests), on `$tx`.
macro_rules! replace_recovery_codes {
    ($pool:ident, $tx:ident, $id:expr, $codes:expr, $now:expr) => {{
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind($pool.id($id))
            .execute(&mut *$tx)
            .await?;
        for code in $codes {
            sqlx::query(
                "INSERT INTO recovery_codes (code_hash, user_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(&code[..])
            .bind($pool.id($id))
            .bind($pool.time($now))
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

pub(super) use replace_recovery_codes;

impl Store {
    /// `UserChange::ConfirmTotp`: the factor counts from now, its first code's step
    /// is the replay guard's, and `codes` replace the user's recovery codes.
    pub(super) async fn confirm_totp(
        &self,
        id: Uuid,
        factor: Uuid,
        step: i64,
        codes: &[[u8; 32]],
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::MfaEnabled, now, actor,
            before {
                let confirmed = sqlx::query(
                    "UPDATE mfa_factors SET confirmed_at = $3, last_step = $4, last_used_at = $3 \
                     WHERE id = $1 AND user_id = $2 AND confirmed_at IS NULL \
                       AND (last_step IS NULL OR last_step < $4)",
                )
                .bind(pool.id(factor))
                .bind(pool.id(id))
                .bind(pool.time(now))
                .bind(step)
                .execute(&mut *tx)
                .await?;
                if confirmed.rows_affected() == 0 {
                    return Ok(None);
                }
                replace_recovery_codes!(pool, tx, id, codes, now);
                false
            },
            sqlx::query_as(&touch_user()).bind(pool.id(id)).bind(pool.time(now)),
            {}))
    }

    /// `UserChange::RemoveFactors`: the user's factors (one, or all) and, once none
    /// is left, the recovery codes. Nothing when there was no confirmed factor.
    pub(super) async fn remove_factors(
        &self,
        id: Uuid,
        factor: Option<Uuid>,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::MfaDisabled, now, actor,
            before {
                let removed = sqlx::query(
                    "DELETE FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL \
                     AND ($2 IS NULL OR id = $2)",
                )
                .bind(pool.id(id))
                .bind(factor.map(|f| pool.id(f)))
                .execute(&mut *tx)
                .await?;
                if removed.rows_affected() == 0 {
                    return Ok(None);
                }
                sqlx::query(
                    "DELETE FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NULL",
                )
                .bind(pool.id(id))
                .execute(&mut *tx)
                .await?;
                sqlx::query(CODES_WITHOUT_FACTOR)
                .bind(pool.id(id))
                .execute(&mut *tx)
                .await?;
                false
            },
            sqlx::query_as(&touch_user()).bind(pool.id(id)).bind(pool.time(now)),
            {}))
    }

    /// `UserChange::RegenerateRecoveryCodes`: `codes` replace the user's recovery
    /// codes. Nothing when the user has no confirmed factor.
    pub(super) async fn regenerate_recovery_codes(
        &self,
        id: Uuid,
        codes: &[[u8; 32]],
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::RecoveryCodesRegenerated, now, actor,
            before {
                let active: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
                )
                .bind(pool.id(id))
                .fetch_one(&mut *tx)
                .await?;
                if active == 0 {
                    return Ok(None);
                }
                replace_recovery_codes!(pool, tx, id, codes, now);
                false
            },
            sqlx::query_as(&touch_user()).bind(pool.id(id)).bind(pool.time(now)),
            {}))
    }

    /// `UserChange::UseRecoveryCode`: the DELETE that finds the code spends it, so
    /// one code serves one request however many replicas receive it.
    pub(super) async fn use_recovery_code(
        &self,
        id: Uuid,
        code: &[u8; 32],
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::RecoveryCodeUsed, now, actor,
            before {
                let spent = sqlx::query("DELETE FROM recovery_codes WHERE code_hash = $1 AND user_id = $2")
                    .bind(&code[..])
                    .bind(pool.id(id))
                    .execute(&mut *tx)
                    .await?;
                if spent.rows_affected() == 0 {
                    return Ok(None);
                }
                // The owner proved the account: an authenticator blocked by wrong
                // codes in a row works again.
                sqlx::query("UPDATE mfa_factors SET wrong_codes = 0 WHERE user_id = $1")
                    .bind(pool.id(id))
                    .execute(&mut *tx)
                    .await?;
                false
            },
            sqlx::query_as(&touch_user()).bind(pool.id(id)).bind(pool.time(now)),
            {}))
    }
}

/// The UPDATE that an MFA change makes of the user's row: it takes the row lock
/// (serializing the user's changes) and returns the account for the event.
pub(super) fn touch_user() -> String {
    format!("UPDATE users SET updated_at = $2 WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}")
}
