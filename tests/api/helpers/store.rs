//! The test's own look at the application's database, beside the application's
//! `Store`: rows, the outbox, and a user's events in it.

use std::time::Duration;

use authd::config::StoreConfig;
use serde_json::Value;

use super::app::TestApp;

/// The test's own connection to the application's database: tests look at rows
/// directly, beside the application's `Store`.
#[derive(Clone)]
pub enum Db {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl Db {
    pub async fn connect(config: &StoreConfig) -> Db {
        match config {
            StoreConfig::Postgres { url } => Db::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .unwrap(),
            ),
            StoreConfig::Sqlite { path } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10));
                Db::Sqlite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(2)
                        .connect_with(options)
                        .await
                        .unwrap(),
                )
            }
        }
    }
}

impl TestApp {
    /// Runs a query that returns one integer, on whichever store backs the app.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.store {
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    /// The first column of the first row, as bytes (a BLOB or bytea).
    pub async fn bytes(&self, sql: &str) -> Vec<u8> {
        match &self.store {
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    pub async fn text(&self, sql: &str, arg: &str) -> Option<String> {
        match &self.store {
            Db::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_optional(pool)
                .await
                .unwrap(),
            Db::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_optional(pool)
                .await
                .unwrap(),
        }
    }

    /// Runs a query that returns text rows, with one text argument.
    pub async fn texts(&self, sql: &str, arg: &str) -> Vec<String> {
        match &self.store {
            Db::Postgres(pool) => sqlx::query_scalar(sql).bind(arg).fetch_all(pool).await,
            Db::Sqlite(pool) => sqlx::query_scalar(sql).bind(arg).fetch_all(pool).await,
        }
        .unwrap()
    }

    /// What authd keeps about user `id`, to compare before and after a request
    /// that must change nothing.
    pub async fn user_state(&self, id: &str) -> UserState {
        let row = "SELECT username || '|' || email || '|' || password_hash || '|' || \
                   COALESCE(CAST(locked_at AS TEXT), '-') || '|' || \
                   COALESCE(CAST(not_before AS TEXT), '-') || '|' || \
                   COALESCE(CAST(email_verified_at AS TEXT), '-') || '|' || \
                   CAST(updated_at AS TEXT) \
                   FROM users WHERE CAST(id AS TEXT) = $1";
        let sessions =
            "SELECT CAST(f.id AS TEXT) || '|' || COALESCE(CAST(f.revoked_at AS TEXT), 'live') \
                        || '|' || COALESCE(CAST(t.rotated_at AS TEXT), 'unspent') \
                        FROM refresh_families f JOIN refresh_tokens t ON t.family_id = f.id \
                        WHERE CAST(f.user_id AS TEXT) = $1 ORDER BY 1";
        let account_tokens =
            "SELECT purpose || '|' || CAST(expires_at AS TEXT) FROM account_tokens \
                              WHERE CAST(user_id AS TEXT) = $1 ORDER BY 1";
        UserState {
            row: self.texts(row, id).await,
            sessions: self.texts(sessions, id).await,
            account_tokens: self.texts(account_tokens, id).await,
            events: self.events_of(id).await,
        }
    }

    pub async fn execute(&self, sql: &str) {
        match &self.store {
            Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap()
    }

    /// Waits until the relay has emptied the outbox (panics after `secs`).
    pub async fn wait_outbox_empty(&self, secs: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let waiting = self.outbox().await;
            if waiting == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{waiting} events still in the outbox after {secs} s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub async fn users(&self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM users").await
    }

    pub async fn outbox(&self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM outbox").await
    }

    /// The outbox payloads of one user, in order, as JSON.
    pub async fn events_of(&self, user_id: &str) -> Vec<Value> {
        let sql = "SELECT CAST(payload AS TEXT) FROM outbox WHERE CAST(aggregate_id AS TEXT) = $1 ORDER BY seq";
        let rows: Vec<String> = match &self.store {
            Db::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(user_id)
                .fetch_all(pool)
                .await
                .unwrap(),
            Db::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(user_id)
                .fetch_all(pool)
                .await
                .unwrap(),
        };
        rows.iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect()
    }
}

/// A user's row (with its password hash), sessions and their refresh tokens,
/// mailed tokens and events: what a refused request must leave as it was.
#[derive(Debug, PartialEq)]
pub struct UserState {
    pub row: Vec<String>,
    pub sessions: Vec<String>,
    pub account_tokens: Vec<String>,
    pub events: Vec<Value>,
}

/// The reasons of the user's `authd.session.revoked` events, in order.
pub async fn revocations(app: &TestApp, id: &str) -> Vec<String> {
    app.events_of(id)
        .await
        .iter()
        .filter(|e| e["type"] == "authd.session.revoked")
        .map(|e| e["data"]["reason"].as_str().unwrap().to_string())
        .collect()
}
