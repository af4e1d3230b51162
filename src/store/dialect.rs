//! The seam between the two backends. One SQL text serves both stores: statements
//! avoid backend-specific syntax (no `FOR UPDATE`: an `UPDATE` or `DELETE` that
//! comes first takes the row lock), ids are read back through `CAST(.. AS TEXT)`,
//! and `Dialect` converts what is bound: Postgres takes uuid, timestamptz and jsonb,
//! SQLite takes text.
//!
//! How the store's macros work (they exist because sqlx's pools and connections of
//! the two backends are different types, so one function body cannot take both):
//! - `on_pool!(store, pool => body)` writes `body` once and compiles it twice, with
//!   `pool` bound to the Postgres pool in one arm and the SQLite pool in the other.
//!   Inside it, `pool.id(..)`, `pool.time(..)` and `pool.json(..)` bind values in
//!   the backend's types. Every method of `impl Store` that runs SQL on both
//!   backends is written this way.
//! - `insert_event!` (outbox.rs), `insert_mail!` (mail.rs) and `revoke_sessions!`
//!   (revocation.rs) are statements used inside such a body, on its transaction `tx`;
//!   `change!` (user_changes.rs) is the shape of the six user changes. They expand
//!   where they are used, so the function that uses one is the one that commits it,
//!   through `Store::commit` (commit.rs).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgPool, SqlitePool};
use uuid::Uuid;

/// How values are bound for each store.
pub(super) trait Dialect {
    type Id;
    type Time;
    type Json;
    fn id(&self, id: Uuid) -> Self::Id;
    fn time(&self, t: DateTime<Utc>) -> Self::Time;
    fn json(&self, v: &Value) -> Self::Json;
    /// A statement that wakes every replica's relay at commit, when the store has one.
    fn notify(&self) -> Option<&'static str>;
}

impl Dialect for PgPool {
    type Id = Uuid;
    type Time = DateTime<Utc>;
    type Json = Json<Value>;
    fn id(&self, id: Uuid) -> Uuid {
        id
    }
    fn time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }
    fn json(&self, v: &Value) -> Json<Value> {
        Json(v.clone())
    }
    fn notify(&self) -> Option<&'static str> {
        Some("SELECT pg_notify($1, '')")
    }
}

impl Dialect for SqlitePool {
    type Id = String;
    type Time = String;
    type Json = String;
    fn id(&self, id: Uuid) -> String {
        id.to_string()
    }
    fn time(&self, t: DateTime<Utc>) -> String {
        text_time(t)
    }
    fn json(&self, v: &Value) -> String {
        v.to_string()
    }
    fn notify(&self) -> Option<&'static str> {
        None
    }
}

/// RFC 3339 in UTC with microseconds: sorts as text and matches Postgres' precision.
pub(super) fn text_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(super) fn uuid(text: &str) -> sqlx::Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Runs `$body` with `$pool` bound to whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Postgres($pool) => $body,
            $crate::store::Backend::Sqlite($pool) => $body,
        }
    };
}
pub(super) use on_pool;
