//! Users: look-ups for sign-up and login, and `apply`, the one way a user changes:
//! the row, its event in the outbox and the relays' wake-up, in one transaction.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dialect::{on_pool, uuid, Dialect};
use super::outbox::insert_event;
use super::{postgres, sqlite, Backend, Store};
use crate::domain::{Email, PublicUser, Username};
use crate::events::envelope::{user_event, OutboxEvent, UserEventKind};

/// A user about to be inserted.
#[derive(Debug)]
pub struct NewUser {
    pub id: Uuid,
    pub username: Username,
    pub email: Email,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A user with what login needs: never leaves the server.
#[derive(Clone)]
pub struct Account {
    pub user: PublicUser,
    pub password_hash: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

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

const ACCOUNT_COLUMNS: &str = "CAST(id AS TEXT), username, email, created_at, password_hash";

type AccountRow = (String, String, String, DateTime<Utc>, String);

fn account(row: AccountRow) -> sqlx::Result<Account> {
    let (id, username, email, created_at, password_hash) = row;
    Ok(Account {
        user: PublicUser {
            id: uuid(&id)?,
            username,
            email,
            created_at,
        },
        password_hash,
    })
}

impl Store {
    /// Which of the two unique fields is already taken, if any (checked before hashing).
    pub async fn taken(&self, username: &Username, email: &Email) -> anyhow::Result<Option<Taken>> {
        let sql = "SELECT username, email FROM users WHERE username = $1 OR email = $2 LIMIT 1";
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

    /// The account whose username or (case-folded) email is `login`.
    pub async fn account_by_login(&self, login: &str) -> anyhow::Result<Option<Account>> {
        let folded = login.to_lowercase();
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE username = $1 OR email = $1");
        let row: Option<AccountRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(&folded).fetch_optional(pool).await
        })
        .context("looking up the login")?;
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

    /// Writes `change` and its event in one transaction, then wakes this replica's
    /// relay. Returns the user as it now is (as it was, for a delete); `None` when
    /// the user is gone or its hash is no longer the expected one.
    pub async fn apply(
        &self,
        change: UserChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<PublicUser>, WriteError> {
        let written = match change {
            UserChange::Create(user) => self.create(user).await.map(Some),
            UserChange::Update {
                id,
                username,
                email,
            } => {
                let sql = format!(
                    "UPDATE users SET username = COALESCE($2, username), \
                     email = COALESCE($3, email), updated_at = $4 \
                     WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}"
                );
                let kind = UserEventKind::Updated;
                on_pool!(self, pool => {
                    let mut tx = pool.begin().await?;
                    let row: Option<AccountRow> = sqlx::query_as(&sql)
                        .bind(pool.id(id))
                        .bind(username.map(Username::as_str))
                        .bind(email.map(Email::as_str))
                        .bind(pool.time(now))
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else { return Ok(None) };
                    let user = account(row)?.user;
                    insert_event!(pool, tx, &self.event(kind, &user, now));
                    tx.commit().await?;
                    Ok::<_, WriteError>(Some(user))
                })
            }
            UserChange::ChangePassword {
                id,
                expected,
                new_hash,
            } => {
                let sql = format!(
                    "UPDATE users SET password_hash = $3, updated_at = $4 \
                     WHERE id = $1 AND password_hash = $2 RETURNING {ACCOUNT_COLUMNS}"
                );
                let kind = UserEventKind::PasswordChanged;
                on_pool!(self, pool => {
                    let mut tx = pool.begin().await?;
                    let row: Option<AccountRow> = sqlx::query_as(&sql)
                        .bind(pool.id(id))
                        .bind(expected)
                        .bind(new_hash)
                        .bind(pool.time(now))
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else { return Ok(None) };
                    let user = account(row)?.user;
                    sqlx::query(super::sessions::REVOKE_ALL_OF_USER)
                        .bind(pool.id(id))
                        .bind(pool.time(now))
                        .execute(&mut *tx)
                        .await?;
                    insert_event!(pool, tx, &self.event(kind, &user, now));
                    tx.commit().await?;
                    Ok::<_, WriteError>(Some(user))
                })
            }
            UserChange::Delete { id, expected } => {
                let sql = format!(
                    "DELETE FROM users WHERE id = $1 AND password_hash = $2 \
                     RETURNING {ACCOUNT_COLUMNS}"
                );
                let kind = UserEventKind::Deleted;
                on_pool!(self, pool => {
                    let mut tx = pool.begin().await?;
                    let row: Option<AccountRow> = sqlx::query_as(&sql)
                        .bind(pool.id(id))
                        .bind(expected)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else { return Ok(None) };
                    let user = account(row)?.user;
                    insert_event!(pool, tx, &self.event(kind, &user, now));
                    tx.commit().await?;
                    Ok::<_, WriteError>(Some(user))
                })
            }
        }?;
        if written.is_some() {
            self.wake.notify_one();
        }
        Ok(written)
    }

    async fn create(&self, user: NewUser) -> Result<PublicUser, WriteError> {
        let public = PublicUser {
            id: user.id,
            username: user.username.to_string(),
            email: user.email.to_string(),
            created_at: user.created_at,
        };
        let event = self.event(UserEventKind::Created, &public, user.created_at);
        match &self.backend {
            Backend::Postgres(pool) => postgres::create_user(pool, &user, &event).await?,
            Backend::Sqlite(pool) => sqlite::create_user(pool, &user, &event).await?,
        }
        Ok(public)
    }

    fn event(&self, kind: UserEventKind, user: &PublicUser, now: DateTime<Utc>) -> OutboxEvent {
        user_event(kind, user, &self.event_source, now)
    }
}
