//! `Store::apply`, the one way a user's row changes: the row, its event in the
//! outbox and the relay's wake-up, in one transaction that ends in `commit`.
//! (Spending a mailed token changes a user too: `account_tokens`; so does an
//! import: `user_import`. Both end in the same `commit`.)

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::account_tokens::void_account_tokens;
use super::commit::Queued;
use super::dialect::{on_pool, Dialect};
use super::outbox::insert_event;
use super::revocation::revoke_sessions;
use super::sessions::{not_before, DELETE_TOKENS};
use super::users::{account, AccountRow, NewUser, WriteError, ACCOUNT_COLUMNS};
use super::{passkeys::NewPasskey, HeldKey, Store};
use crate::domain::{Email, PublicUser, Username};
use crate::events::envelope::{done_by, user_event, OutboxEvent, RevokeReason, UserEventKind};

/// A change to a user; `Store::apply` writes it with its event.
#[derive(Debug)]
pub enum UserChange<'a> {
    /// Sign-up: `authd.user.created`.
    Create(NewUser),
    /// New username and/or email: `authd.user.updated`.
    Update {
        id: Uuid,
        username: Option<&'a Username>,
        email: Option<&'a Email>,
        /// The Idempotency-Key the request holds: the change is written only while
        /// it is still held (a retry may have taken it over while this one hung).
        key: Option<&'a HeldKey>,
    },
    /// A new hash, if the stored one is still `expected` (the one the current
    /// password was verified against); every refresh-token family is revoked:
    /// `authd.user.password_changed`.
    ChangePassword {
        id: Uuid,
        expected: &'a str,
        new_hash: &'a str,
    },
    /// The user and its sessions (by cascade), if the hash is still `expected`:
    /// `authd.user.deleted`.
    Delete { id: Uuid, expected: &'a str },
    /// The user and its sessions, whatever its hash (the admin API):
    /// `authd.user.deleted`.
    Remove { id: Uuid },
    /// No login, no refresh; every session ends and older access tokens are void
    /// (`not_before`): `authd.user.locked`. Nothing when already locked.
    Lock { id: Uuid },
    /// `authd.user.unlocked`. Nothing when not locked.
    Unlock { id: Uuid },
    /// The first code of a TOTP factor proved it (`step`, the replay guard's
    /// start); `codes` (digests) replace the recovery codes:
    /// `authd.user.mfa_enabled`. Nothing when the factor is not pending.
    ConfirmTotp {
        id: Uuid,
        factor: Uuid,
        step: i64,
        codes: &'a [[u8; 32]],
    },
    /// One confirmed factor, or all (`None`); the recovery codes go with the last:
    /// `authd.user.mfa_disabled`. Nothing when there was none.
    RemoveFactors { id: Uuid, factor: Option<Uuid> },
    /// `codes` (digests) replace the recovery codes:
    /// `authd.user.recovery_codes_regenerated`. Nothing without a factor.
    RegenerateRecoveryCodes { id: Uuid, codes: &'a [[u8; 32]] },
    /// A recovery code (digest) spent: `authd.user.recovery_code_used`. Nothing
    /// when the user has no such code.
    UseRecoveryCode { id: Uuid, code: &'a [u8; 32] },
    /// A passkey (`codes`, the recovery codes if none): `authd.user.passkey_added`.
    AddPasskey {
        id: Uuid,
        passkey: NewPasskey<'a>,
        codes: &'a [[u8; 32]],
    },
    /// One passkey: `authd.user.passkey_removed`. Nothing when there is none, or it
    /// is the last factor and `keep_one` (the recovery codes go with the last).
    RemovePasskey {
        id: Uuid,
        passkey: Uuid,
        keep_one: bool,
    },
    /// A passkey whose counter went back: `authd.user.passkey_clone_suspected`.
    PasskeyCloneSuspected { id: Uuid },
}

/// The statements of one change, in one transaction of `$pool` (see `dialect`):
/// `$before` (with `$tx`; it evaluates to whether it queued mail), `$query` (an
/// UPDATE or DELETE that returns the account row), then `$then` (with `$tx`), then
/// the event of `$kind` done by `$actor`, and the commit. Returns early with `Ok(None)`, rolling back, when no row
/// matched. Written once for the changes that differ only in their SQL (here and in
/// `mfa.rs`).
macro_rules! change {
    ($store:ident, $pool:ident, $tx:ident, $kind:expr, $now:expr, $actor:expr, before $before:block, $query:expr, $then:block) => {{
        let mut $tx = $pool.begin().await?;
        let mail: bool = $before;
        let row: Option<AccountRow> = $query.fetch_optional(&mut *$tx).await?;
        let Some(row) = row else { return Ok(None) };
        let user = account(row)?.user;
        $then
        insert_event!($store, $pool, $tx, &done_by($store.event($kind, &user, $now), $actor));
        $store.commit($tx, Queued::EVENTS.and_mail_if(mail)).await?;
        Ok::<_, WriteError>(Some(user))
    }};
    ($store:ident, $pool:ident, $tx:ident, $kind:expr, $now:expr, $actor:expr, $query:expr, $then:block) => {
        change!($store, $pool, $tx, $kind, $now, $actor, before { false }, $query, $then)
    };
}

pub(super) use change;

/// Whether a running request still holds its Idempotency-Key (`$1` scope, `$2`
/// key, `$3` its claim), locking the key's row for the rest of the transaction.
const STILL_HELD: &str = "UPDATE idempotency_keys SET claim = claim \
     WHERE scope = $1 AND key = $2 AND claim = $3 AND status IS NULL";

/// A notice to the old address of an email change (`$2` the user, `$3` the new
/// address); nothing when the address does not change.
const NOTIFY_OLD_EMAIL: &str = "INSERT INTO mail_outbox \
     (id, kind, user_id, recipient, new_email, next_attempt_at, created_at) \
     SELECT $1, 'email_changed', id, email, $3, $4, $4 FROM users WHERE id = $2 AND email <> $3";

impl Store {
    /// Writes `change` and its event in one transaction, then wakes this replica's
    /// relay. Returns the user as it now is (as it was, for a delete); `None` when
    /// the user is gone or its hash is no longer the expected one.
    pub async fn apply(
        &self,
        change: UserChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<PublicUser>, WriteError> {
        self.apply_as(change, now, None).await
    }

    /// `apply`, done by `actor` (`admin:<name>`), which every event it writes names.
    pub async fn apply_as(
        &self,
        change: UserChange<'_>,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        match change {
            UserChange::Create(user) => self.create(user, actor).await.map(Some),
            UserChange::Update {
                id,
                username,
                email,
                key,
            } => self.update(id, (username, email), key, now, actor).await,
            UserChange::ChangePassword {
                id,
                expected,
                new_hash,
            } => {
                self.change_password(id, expected, new_hash, now, actor)
                    .await
            }
            UserChange::Delete { id, expected } => {
                self.delete(id, Some(expected), now, actor).await
            }
            UserChange::Remove { id } => self.delete(id, None, now, actor).await,
            UserChange::Lock { id } => self.lock(id, now, actor).await,
            UserChange::Unlock { id } => self.unlock(id, now, actor).await,
            UserChange::ConfirmTotp {
                id,
                factor,
                step,
                codes,
            } => self.confirm_totp(id, factor, step, codes, now, actor).await,
            UserChange::RemoveFactors { id, factor } => {
                self.remove_factors(id, factor, now, actor).await
            }
            UserChange::RegenerateRecoveryCodes { id, codes } => {
                self.regenerate_recovery_codes(id, codes, now, actor).await
            }
            UserChange::UseRecoveryCode { id, code } => {
                self.use_recovery_code(id, code, now, actor).await
            }
            UserChange::AddPasskey { id, passkey, codes } => {
                self.add_passkey(id, passkey, codes, now, actor).await
            }
            UserChange::RemovePasskey {
                id,
                passkey,
                keep_one,
            } => {
                self.remove_passkey(id, (passkey, keep_one), now, actor)
                    .await
            }
            UserChange::PasskeyCloneSuspected { id } => {
                self.passkey_clone_suspected(id, now, actor).await
            }
        }
    }

    async fn update(
        &self,
        id: Uuid,
        (username, email): (Option<&Username>, Option<&Email>),
        key: Option<&HeldKey>,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        let sql = format!(
            "UPDATE users SET username = COALESCE($2, username), \
             email = COALESCE($3, email), updated_at = $4, \
             email_verified_at = CASE WHEN $3 IS NULL THEN email_verified_at END \
             WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}"
        );
        // A new email: the old address is told, whatever the verification mode (it
        // is read before the UPDATE, in the same transaction), and every link
        // mailed to the old address is void (a reset link there would otherwise
        // still take the account).
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Updated, now, actor,
        before {
            match email {
                Some(email) => {
                    void_account_tokens!(pool, tx, id);
                    sqlx::query(NOTIFY_OLD_EMAIL)
                        .bind(pool.id(Uuid::now_v7()))
                        .bind(pool.id(id))
                        .bind(email.as_str())
                        .bind(pool.time(now))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1
                }
                None => false,
            }
        },
        sqlx::query_as(&sql)
            .bind(pool.id(id))
            .bind(username.map(Username::as_str))
            .bind(email.map(Email::as_str))
            .bind(pool.time(now)),
        {
            if let Some(key) = key {
                // Locks the key's row until the commit: a takeover waits for it.
                let held = sqlx::query(STILL_HELD)
                    .bind(&key.scope)
                    .bind(&key.key)
                    .bind(&key.claim)
                    .execute(&mut *tx)
                    .await?;
                if held.rows_affected() == 0 {
                    return Err(WriteError::KeyLost);
                }
            }
        }))
    }

    async fn change_password(
        &self,
        id: Uuid,
        expected: &str,
        new_hash: &str,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        let sql = format!(
            "UPDATE users SET password_hash = $3, updated_at = $4, not_before = $5 \
             WHERE id = $1 AND password_hash = $2 RETURNING {ACCOUNT_COLUMNS}"
        );
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::PasswordChanged, now, actor,
        sqlx::query_as(&sql)
            .bind(pool.id(id))
            .bind(expected)
            .bind(new_hash)
            .bind(pool.time(now))
            .bind(pool.time(not_before(now))),
        {
            revoke_sessions!(self, pool, tx, RevokeReason::PasswordChange, now, actor,
                "user_id = $3", pool.id(id));
            void_account_tokens!(pool, tx, id);
        }))
    }

    /// The user and its sessions; with `expected`, only while its hash is still
    /// that one (the user's own delete, after its password was checked).
    async fn delete(
        &self,
        id: Uuid,
        expected: Option<&str>,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        let sql = format!(
            "DELETE FROM users WHERE id = $1 AND ($2 IS NULL OR password_hash = $2) \
             RETURNING {ACCOUNT_COLUMNS}"
        );
        // Sessions end (and say so), tokens go, the rest by cascade; or none of it.
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Deleted, now, actor,
            before {
                revoke_sessions!(self, pool, tx, RevokeReason::Delete, now, actor,
                    "user_id = $3", pool.id(id));
                sqlx::query(DELETE_TOKENS).bind(pool.id(id)).execute(&mut *tx).await?;
                false
            },
            sqlx::query_as(&sql).bind(pool.id(id)).bind(expected),
            {}))
    }

    async fn lock(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        let sql = format!(
            "UPDATE users SET locked_at = $2, not_before = $3, updated_at = $2 \
             WHERE id = $1 AND locked_at IS NULL RETURNING {ACCOUNT_COLUMNS}"
        );
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Locked, now, actor,
        sqlx::query_as(&sql)
            .bind(pool.id(id))
            .bind(pool.time(now))
            .bind(pool.time(not_before(now))),
        {
            revoke_sessions!(self, pool, tx, RevokeReason::Admin, now, actor,
                "user_id = $3", pool.id(id));
            void_account_tokens!(pool, tx, id);
        }))
    }

    async fn unlock(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Option<PublicUser>, WriteError> {
        let sql = format!(
            "UPDATE users SET locked_at = NULL, updated_at = $2 \
             WHERE id = $1 AND locked_at IS NOT NULL RETURNING {ACCOUNT_COLUMNS}"
        );
        on_pool!(self, pool => change!(self, pool, tx, UserEventKind::Unlocked, now, actor,
            sqlx::query_as(&sql).bind(pool.id(id)).bind(pool.time(now)),
            {}))
    }

    pub(super) fn event(
        &self,
        kind: UserEventKind,
        user: &PublicUser,
        now: DateTime<Utc>,
    ) -> OutboxEvent {
        user_event(kind, user, &self.event_source, now)
    }
}
