//! Passkeys (`authn::passkey`): the credentials, kept as factors of kind
//! `passkey` in `mfa_factors`, and the WebAuthn ceremonies between their two
//! requests. The changes a user's events report (a passkey added or removed, a
//! counter that went back) are `UserChange`s in `passkey_changes`.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dialect::{on_pool, uuid, Dialect};
use super::Store;

/// A passkey of a user.
#[derive(Debug, Clone)]
pub struct StoredPasskey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// The webauthn-rs credential, as JSON.
    pub credential: String,
    pub sign_count: i64,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A passkey to register: its factor id, the authenticator's credential id, the
/// user's label and the webauthn-rs credential (JSON).
#[derive(Debug, Clone, Copy)]
pub struct NewPasskey<'a> {
    pub factor: Uuid,
    pub credential_id: &'a [u8],
    pub name: &'a str,
    pub credential: &'a str,
    pub sign_count: i64,
}

/// A ceremony started and not finished: whose (none for a login that names no
/// user) and its state, as JSON.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub user_id: Option<Uuid>,
    pub state: String,
}

type PasskeyRow = (
    String,
    String,
    Option<String>,
    Vec<u8>,
    Option<i64>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

const PASSKEY_COLUMNS: &str = "CAST(id AS TEXT), CAST(user_id AS TEXT), name, secret, \
     sign_count, created_at, last_used_at";

fn passkey(row: PasskeyRow) -> anyhow::Result<StoredPasskey> {
    let (id, user, name, credential, sign_count, created_at, last_used_at) = row;
    Ok(StoredPasskey {
        id: uuid(&id)?,
        user_id: uuid(&user)?,
        name: name.unwrap_or_default(),
        credential: String::from_utf8(credential).context("a passkey that is not JSON")?,
        sign_count: sign_count.unwrap_or(0),
        created_at,
        last_used_at,
    })
}

impl Store {
    /// The user's passkeys, oldest first.
    pub async fn passkeys(&self, user: Uuid) -> anyhow::Result<Vec<StoredPasskey>> {
        let sql = format!(
            "SELECT {PASSKEY_COLUMNS} FROM mfa_factors WHERE user_id = $1 AND kind = 'passkey' \
             ORDER BY created_at, id"
        );
        let rows: Vec<PasskeyRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(pool.id(user)).fetch_all(pool).await
        })
        .context("reading the passkeys")?;
        rows.into_iter().map(passkey).collect()
    }

    /// The passkey with this credential id, whoever's it is.
    pub async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> anyhow::Result<Option<StoredPasskey>> {
        let sql = format!(
            "SELECT {PASSKEY_COLUMNS} FROM mfa_factors \
             WHERE credential_id = $1 AND kind = 'passkey'"
        );
        let row: Option<PasskeyRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(credential_id).fetch_optional(pool).await
        })
        .context("reading a passkey")?;
        row.map(passkey).transpose()
    }

    /// Records an assertion of passkey `id`: its new counter and credential, if
    /// the counter is still the one the assertion was checked against (two
    /// replicas accepting the same counter at once let one through). Whether it was.
    pub async fn record_passkey_use(
        &self,
        id: Uuid,
        checked_count: i64,
        new_count: i64,
        credential: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let sql = "UPDATE mfa_factors SET sign_count = $3, secret = $4, last_used_at = $5 \
             WHERE id = $1 AND COALESCE(sign_count, 0) = $2";
        let done = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(pool.id(id))
                .bind(checked_count)
                .bind(new_count)
                .bind(credential.as_bytes())
                .bind(pool.time(now))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .context("recording a passkey's use")?;
        Ok(done == 1)
    }

    /// Renames the user's passkey `id`; false when it has no such passkey.
    pub async fn rename_passkey(&self, user: Uuid, id: Uuid, name: &str) -> anyhow::Result<bool> {
        let sql = "UPDATE mfa_factors SET name = $3 \
             WHERE id = $1 AND user_id = $2 AND kind = 'passkey'";
        let done = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(pool.id(id))
                .bind(pool.id(user))
                .bind(name)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .context("renaming a passkey")?;
        Ok(done == 1)
    }

    /// Keeps a started ceremony until `expires` under `id_hash` (the digest of its
    /// id), replacing the one kept there before (a second factor's ceremony lives
    /// under its `mfa_token`'s digest: one at a time). False, and nothing kept,
    /// when the client network has `max_live` ceremonies alive.
    pub async fn keep_ceremony(
        &self,
        (id_hash, purpose): (&[u8], &str),
        (client, max_live): (&str, i64),
        user: Option<Uuid>,
        state: &str,
        (now, expires): (DateTime<Utc>, DateTime<Utc>),
    ) -> anyhow::Result<bool> {
        let sql = "INSERT INTO webauthn_ceremonies \
             (id_hash, purpose, client, user_id, state, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE (SELECT COUNT(*) FROM webauthn_ceremonies \
                    WHERE client = $3 AND expires_at > $6) < $8 \
             ON CONFLICT (id_hash) DO UPDATE SET purpose = $2, user_id = $4, state = $5, \
             created_at = $6, expires_at = $7";
        let kept = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id_hash)
                .bind(purpose)
                .bind(client)
                .bind(user.map(|u| pool.id(u)))
                .bind(state)
                .bind(pool.time(now))
                .bind(pool.time(expires))
                .bind(max_live)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .context("keeping a WebAuthn ceremony")?;
        Ok(kept == 1)
    }

    /// Spends a live ceremony for `purpose`: the DELETE that returns it lets one
    /// finish through, on any replica. None when unknown, spent or expired.
    pub async fn take_ceremony(
        &self,
        id_hash: &[u8],
        purpose: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Ceremony>> {
        let sql = "DELETE FROM webauthn_ceremonies WHERE id_hash = $1 AND purpose = $2 \
             RETURNING CAST(user_id AS TEXT), state, expires_at";
        let row: Option<(Option<String>, String, DateTime<Utc>)> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(id_hash).bind(purpose).fetch_optional(pool).await
        })
        .context("spending a WebAuthn ceremony")?;
        let Some((user, state, _)) = row.filter(|(_, _, expires)| *expires > now) else {
            return Ok(None);
        };
        Ok(Some(Ceremony {
            user_id: user.as_deref().map(uuid).transpose()?,
            state,
        }))
    }
}
