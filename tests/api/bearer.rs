//! What authd's own endpoints check of an access token besides its signature and
//! expiry, each check alone. A lock and a password change also end every session,
//! so the tests of those flows pass on the revoked session whatever `locked_at` and
//! `not_before` do; here each is set alone through SQL, the session still live.

use chrono::{DateTime, Utc};
use reqwest::Method;

use authd::clock::Clock;

use crate::both_stores;
use crate::helpers::{claims_of, problem, Backend, TestApp, PASSWORD};

both_stores!(
    a_locked_user_is_refused_while_its_session_is_still_live,
    a_token_issued_before_not_before_is_refused_while_its_session_is_still_live,
);

/// A time as both stores take it in SQL text: RFC 3339, UTC, microseconds (how
/// authd writes it to SQLite, so that text comparisons order it).
fn sql_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

async fn set_user(app: &TestApp, id: &str, assignment: &str) {
    app.execute(&format!(
        "UPDATE users SET {assignment} WHERE CAST(id AS TEXT) = '{id}'"
    ))
    .await;
}

async fn live_sessions(app: &TestApp, id: &str) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM refresh_families \
         WHERE CAST(user_id AS TEXT) = '{id}' AND revoked_at IS NULL"
    ))
    .await
}

async fn a_locked_user_is_refused_while_its_session_is_still_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("lockee").await;
    let t = app.tokens("lockee", PASSWORD).await;
    assert_eq!(app.me(&t.access_token).await.status().as_u16(), 200);

    let at = sql_time(app.clock.now());
    set_user(&app, &id, &format!("locked_at = '{at}'")).await;
    assert_eq!(live_sessions(&app, &id).await, 1, "only the lock was set");
    problem(app.me(&t.access_token).await, 401).await;
    problem(
        app.authed(Method::GET, "/auth/sessions", &t.access_token, None)
            .await,
        401,
    )
    .await;

    // The lock was the only reason: lifted alone, the same token works again.
    set_user(&app, &id, "locked_at = NULL").await;
    assert_eq!(app.me(&t.access_token).await.status().as_u16(), 200);
}

async fn a_token_issued_before_not_before_is_refused_while_its_session_is_still_live(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("stale").await;
    let t = app.tokens("stale", PASSWORD).await;
    let iat = claims_of(&t.access_token)["iat"].as_i64().unwrap();
    let second = |s: i64| sql_time(DateTime::from_timestamp(s, 0).unwrap());

    // A token of the very second of not_before still passes (iat has whole seconds).
    set_user(&app, &id, &format!("not_before = '{}'", second(iat))).await;
    assert_eq!(app.me(&t.access_token).await.status().as_u16(), 200);

    // One second later: the token is older than not_before, its session still live.
    set_user(&app, &id, &format!("not_before = '{}'", second(iat + 1))).await;
    assert_eq!(live_sessions(&app, &id).await, 1, "only not_before was set");
    problem(app.me(&t.access_token).await, 401).await;

    // A token issued since is accepted, and the old one again once not_before goes.
    app.clock.advance(chrono::Duration::seconds(2));
    let fresh = app.tokens("stale", PASSWORD).await;
    assert_eq!(app.me(&fresh.access_token).await.status().as_u16(), 200);
    set_user(&app, &id, "not_before = NULL").await;
    assert_eq!(app.me(&t.access_token).await.status().as_u16(), 200);
}
