//! Idempotency-Key: a retry gets the first answer, never a second user or a
//! confusing 409; a key reused for another request is refused; a key whose request
//! is still running says so; every replica sees the same keys; a key belongs to
//! one client (its address, and its bearer where the route needs one).
//!
//! Replays: replay.rs; keys of requests still running or that failed: running.rs;
//! whose key it is: scope.rs; a replica that hangs holding a key: hung.rs. The
//! keyed request they all send is here.

mod hung;
mod replay;
mod running;
mod scope;

use serde_json::Value;

use crate::helpers::TestApp;

async fn post_keyed(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/auth/user"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}
