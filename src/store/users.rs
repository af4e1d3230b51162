//! Users: the rows, and the look-ups of sign-up and login. Changes go through
//! `Store::apply` (`user_changes`).

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dialect::{on_pool, uuid, Dialect};
use super::{HeldKey, Store, StoredResponse};
use crate::domain::{Email, PublicUser, Username};

/// A user about to be inserted.
#[derive(Debug)]
pub struct NewUser {
    pub id: Uuid,
    pub username: Username,
    pub email: Email,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    /// The Idempotency-Key this sign-up holds and its answer: kept in the same
    /// transaction as the user, so that a replica killed right after the commit
    /// leaves the answer for the client's retry, not a key to take over.
    pub answer: Option<(HeldKey, StoredResponse)>,
    /// Queue a verification mail in the same transaction (AUTHD_EMAIL_VERIFICATION).
    pub send_verification: bool,
}

impl NewUser {
    /// The user as the answer and the event show it.
    pub fn public(&self) -> PublicUser {
        PublicUser {
            id: self.id,
            username: self.username.to_string(),
            email: self.email.to_string(),
            email_verified: false,
            created_at: self.created_at,
        }
    }
}

/// A user with what login needs: never leaves the server.
#[derive(Clone)]
pub struct Account {
    pub user: PublicUser,
    pub password_hash: String,
    /// Set while an administrator has locked the account.
    pub locked_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .field("locked_at", &self.locked_at)
            .finish()
    }
}

/// The unique field a write collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Username,
    Email,
}

impl Taken {
    pub fn field(self) -> &'static str {
        match self {
            Taken::Username => "username",
            Taken::Email => "email",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{} is taken", .0.field())]
    Taken(Taken),
    /// The request's Idempotency-Key was taken over by a retry (this request's
    /// lease ran out: its replica hung or lost the database): nothing was written,
    /// the retry does the work.
    #[error("the idempotency key was taken over by a retry")]
    KeyLost,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(err: sqlx::Error) -> Self {
        match unique_violation(&err) {
            Some(taken) => WriteError::Taken(taken),
            None => WriteError::Other(anyhow::Error::new(err).context("database write")),
        }
    }
}

/// Maps a unique violation to its field. Postgres names the constraint; SQLite
/// only says `UNIQUE constraint failed: users.email` in its message.
fn unique_violation(err: &sqlx::Error) -> Option<Taken> {
    let db = err.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    let what = db.constraint().unwrap_or_else(|| db.message());
    if what.contains("users_username_key") || what.contains("users.username") {
        Some(Taken::Username)
    } else if what.contains("users_email_key") || what.contains("users.email") {
        Some(Taken::Email)
    } else {
        None
    }
}

pub(super) const INSERT_USER: &str =
    "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $5)";

pub(super) const ACCOUNT_COLUMNS: &str =
    "CAST(id AS TEXT), username, email, created_at, password_hash, locked_at, email_verified_at";

pub(super) type AccountRow = (
    String,
    String,
    String,
    DateTime<Utc>,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

pub(super) fn account(row: AccountRow) -> sqlx::Result<Account> {
    let (id, username, email, created_at, password_hash, locked_at, verified_at) = row;
    Ok(Account {
        user: PublicUser {
            id: uuid(&id)?,
            username,
            email,
            email_verified: verified_at.is_some(),
            created_at,
        },
        password_hash,
        locked_at,
    })
}

impl Store {
    /// Which of the two unique fields is already taken, if any (checked before hashing).
    pub async fn taken(&self, username: &Username, email: &Email) -> anyhow::Result<Option<Taken>> {
        // Two lookups on the unique indexes. `username = $1 OR email = $2` was
        // planned once per connection while the table was small, as a scan of the
        // whole table, and kept: 0.1 to 0.7 ms of Postgres CPU per sign-up at
        // 10,000 users (scripts/bench-pg-cost), and growing with the table.
        let sql = "SELECT username, email FROM users WHERE username = $1 \
                   UNION ALL SELECT username, email FROM users WHERE email = $2 LIMIT 1";
        let hit: Option<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(username.as_str()).bind(email.as_str()).fetch_optional(pool).await
        })
        .context("looking up taken username/email")?;
        Ok(hit.map(|(name, _)| {
            if name == username.as_str() {
                Taken::Username
            } else {
                Taken::Email
            }
        }))
    }

    /// The account whose username or (case-folded) email is `login`, and whether it
    /// has had a session from `client` (the address as sessions record it).
    pub async fn account_by_login(
        &self,
        login: &str,
        client: &str,
    ) -> anyhow::Result<Option<(Account, bool)>> {
        let folded = login.to_lowercase();
        // Two look-ups on the unique indexes, as in `taken` (an OR can be planned as
        // a scan of the whole table and kept so). A username has no '@' and an
        // email has one, so at most one of them matches.
        let known = "EXISTS (SELECT 1 FROM refresh_families f \
                     WHERE f.user_id = users.id AND f.client_address = $2)";
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, {known} FROM users WHERE username = $1 \
             UNION ALL SELECT {ACCOUNT_COLUMNS}, {known} FROM users WHERE email = $1 LIMIT 1"
        );
        type Row = (
            String,
            String,
            String,
            DateTime<Utc>,
            String,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            bool,
        );
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(&folded).bind(client).fetch_optional(pool).await
        })
        .context("looking up the login")?;
        let Some((id, username, email, created_at, hash, locked_at, verified_at, known)) = row
        else {
            return Ok(None);
        };
        let row = (
            id,
            username,
            email,
            created_at,
            hash,
            locked_at,
            verified_at,
        );
        Ok(Some((account(row)?, known)))
    }

    /// The account whose email is `email` (case-folded).
    pub async fn account_by_email(&self, email: &str) -> anyhow::Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE email = $1");
        let row: Option<AccountRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(email.to_lowercase()).fetch_optional(pool).await
        })
        .context("looking up the email")?;
        Ok(row.map(account).transpose()?)
    }

    pub async fn account(&self, id: Uuid) -> anyhow::Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1");
        let row: Option<AccountRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(pool.id(id)).fetch_optional(pool).await
        })
        .context("reading the account")?;
        Ok(row.map(account).transpose()?)
    }

    /// Whether the account has had a session from `client` (as `account_by_login`
    /// says it).
    pub async fn known_client(&self, id: Uuid, client: &str) -> anyhow::Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM refresh_families \
                   WHERE user_id = $1 AND client_address = $2)";
        let known: bool = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(pool.id(id)).bind(client).fetch_one(pool).await
        })
        .context("looking up the client's sessions")?;
        Ok(known)
    }

    /// Replaces a hash made with old parameters; `false` when the hash changed
    /// meanwhile. Not a change anyone is told about: no event.
    pub async fn rehash(&self, id: Uuid, old: &str, new: &str) -> anyhow::Result<bool> {
        let sql = "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2";
        let done = on_pool!(self, pool => {
            sqlx::query(sql).bind(pool.id(id)).bind(old).bind(new).execute(pool).await
                .map(|r| r.rows_affected() == 1)
        })
        .context("storing the rehashed password")?;
        Ok(done)
    }
}
