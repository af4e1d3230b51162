//! The account lifecycle on /auth/user/{id}: each change writes exactly its event,
//! and bad input changes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{problem, revocations, Backend, TestApp, PASSWORD};

both_stores!(
    a_user_reads_itself_and_nobody_else,
    another_users_password_change_is_refused_and_changes_nothing,
    patch_changes_username_and_email_with_one_updated_event,
    bad_or_conflicting_patches_change_nothing,
    password_change_needs_the_current_password_and_ends_every_session,
    delete_needs_the_password_and_removes_user_and_sessions,
);

/// The user's own events (`authd.user.*`), in order.
async fn event_types(app: &TestApp, id: &str) -> Vec<String> {
    app.events_of(id)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .filter(|t| t.starts_with("authd.user."))
        .collect()
}

async fn a_user_reads_itself_and_nobody_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    let t = app.tokens("alice", PASSWORD).await;
    let path = |id: &str| format!("/auth/user/{id}");
    let me = app
        .authed(Method::GET, &path(&alice), &t.access_token, None)
        .await;
    assert_eq!(me.status().as_u16(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        (me["id"].as_str(), me["username"].as_str()),
        (Some(alice.as_str()), Some("alice"))
    );
    assert!(me.get("password_hash").is_none());

    app.tokens("bob", PASSWORD).await;
    let bob_before = app.user_state(&bob).await;
    let other = app
        .authed(Method::GET, &path(&bob), &t.access_token, None)
        .await;
    assert_eq!(
        problem(other, 403).await["type"],
        "urn:authd:problem:forbidden"
    );
    for method in [Method::PATCH, Method::DELETE] {
        let body = Some(json!({ "email": "x@example.com", "password": PASSWORD }));
        problem(
            app.authed(method, &path(&bob), &t.access_token, body).await,
            403,
        )
        .await;
    }
    assert_eq!(
        app.user_state(&bob).await,
        bob_before,
        "bob's row, sessions and events are as they were"
    );
    let anonymous = app.get(&path(&alice)).await;
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        r#"Bearer realm="authd""#
    );
    problem(anonymous, 401).await;
    problem(
        app.authed(Method::GET, "/auth/user/not-a-uuid", &t.access_token, None)
            .await,
        400,
    )
    .await;
}

/// Alice's token on bob's password, with bob's right current password (a thief
/// who knows it but holds only another account's session): 403, and bob keeps
/// his hash, his sessions and his events.
async fn another_users_password_change_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    let t = app.tokens("alice", PASSWORD).await;
    let bobs = app.tokens("bob", PASSWORD).await;
    let (alice_before, bob_before) = (app.user_state(&alice).await, app.user_state(&bob).await);
    let body = json!({ "current_password": PASSWORD, "new_password": "brand new password" });
    let refused = app
        .authed(
            Method::PUT,
            &format!("/auth/user/{bob}/password"),
            &t.access_token,
            Some(body),
        )
        .await;
    assert_eq!(
        problem(refused, 403).await["type"],
        "urn:authd:problem:forbidden"
    );
    assert_eq!(
        app.user_state(&bob).await,
        bob_before,
        "bob's hash, sessions, events"
    );
    assert_eq!(app.user_state(&alice).await, alice_before);
    assert_eq!(app.me(&bobs.access_token).await.status().as_u16(), 200);
    assert_eq!(
        app.refresh(&bobs.refresh_token).await.status().as_u16(),
        200
    );
    problem(app.login("bob", "brand new password").await, 401).await;
}

async fn patch_changes_username_and_email_with_one_updated_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("carol").await;
    let t = app.tokens("carol", PASSWORD).await;
    let path = format!("/auth/user/{id}");
    let body = json!({ "username": "Caroline", "email": "CAROLINE@Example.com" });
    let response = app
        .authed(Method::PATCH, &path, &t.access_token, Some(body))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["username"], "caroline");
    assert_eq!(user["email"], "caroline@example.com");
    assert_eq!(
        event_types(&app, &id).await,
        ["authd.user.created", "authd.user.updated"]
    );
    let updated = app.events_of(&id).await.pop().unwrap();
    assert_eq!(updated["data"]["email"], "caroline@example.com");
    assert_eq!(updated["subject"], id);
    // The new names log in; the token keeps working (same user, same session).
    app.tokens("caroline", PASSWORD).await;
    assert_eq!(app.me(&t.access_token).await.status().as_u16(), 200);
    // Sending the current values again changes nothing and writes no event.
    let same = json!({ "email": "caroline@example.com" });
    let response = app
        .authed(Method::PATCH, &path, &t.access_token, Some(same))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(event_types(&app, &id).await.len(), 2);
}

async fn bad_or_conflicting_patches_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("dave").await;
    app.create_user("erin").await;
    let t = app.tokens("dave", PASSWORD).await;
    let before = app.user_state(&id).await;
    let path = format!("/auth/user/{id}");
    let patch = |body: Value| app.authed(Method::PATCH, &path, &t.access_token, Some(body));

    let taken = problem(patch(json!({ "email": "erin@example.com" })).await, 409).await;
    assert_eq!(taken["errors"][0]["field"], "email");
    let taken = problem(patch(json!({ "username": "ERIN" })).await, 409).await;
    assert_eq!(taken["errors"][0]["field"], "username");
    let invalid = problem(
        patch(json!({ "username": "x", "email": "nope" })).await,
        422,
    )
    .await;
    assert_eq!(invalid["errors"].as_array().unwrap().len(), 2);
    problem(patch(json!({})).await, 422).await;
    let sneaky = problem(
        patch(json!({ "email": "d2@example.com", "password": "new password" })).await,
        422,
    )
    .await;
    assert!(sneaky["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("password"));
    problem(patch(json!({ "email": 7 })).await, 422).await;

    let me: Value = app.me(&t.access_token).await.json().await.unwrap();
    assert_eq!(
        (me["username"].as_str(), me["email"].as_str()),
        (Some("dave"), Some("dave@example.com"))
    );
    assert_eq!(event_types(&app, &id).await, ["authd.user.created"]);
    assert_eq!(app.user_state(&id).await, before, "the row is as it was");
}

async fn password_change_needs_the_current_password_and_ends_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("frank").await;
    let t = app.tokens("frank", PASSWORD).await;
    let other_session = app.tokens("frank", PASSWORD).await;
    let path = format!("/auth/user/{id}/password");
    let change = |current: &str, new: &str| {
        let body = json!({ "current_password": current, "new_password": new });
        app.authed(Method::PUT, &path, &t.access_token, Some(body))
    };

    let before = app.user_state(&id).await;
    let wrong = problem(change("wrong password", "brand new password").await, 403).await;
    assert_eq!(wrong["type"], "urn:authd:problem:wrong-password");
    assert_eq!(
        app.user_state(&id).await,
        before,
        "a wrong password changes nothing"
    );
    let short = problem(change(PASSWORD, "short").await, 422).await;
    assert_eq!(short["errors"][0]["field"], "new_password");
    assert_eq!(event_types(&app, &id).await, ["authd.user.created"]);
    assert_eq!(
        app.user_state(&id).await,
        before,
        "hash, sessions, events as they were"
    );
    app.tokens("frank", PASSWORD).await;

    let done = change(PASSWORD, "brand new password").await;
    assert_eq!(done.status().as_u16(), 204);
    assert_eq!(
        event_types(&app, &id).await,
        ["authd.user.created", "authd.user.password_changed"]
    );
    let event = app.events_of(&id).await.pop().unwrap().to_string();
    assert!(
        !event.contains("brand new password") && !event.contains("argon2"),
        "{event}"
    );
    // One authd.session.revoked per session (three logins), in the same transaction.
    assert_eq!(revocations(&app, &id).await, ["password_change"; 3]);

    // Every refresh token is revoked, and authd refuses the sessions' access tokens.
    problem(app.refresh(&t.refresh_token).await, 401).await;
    problem(app.refresh(&other_session.refresh_token).await, 401).await;
    problem(app.me(&other_session.access_token).await, 401).await;
    problem(app.login("frank", PASSWORD).await, 401).await;
    let fresh = app.tokens("frank", "brand new password").await;
    assert_eq!(app.me(&fresh.access_token).await.status().as_u16(), 200);
}

async fn delete_needs_the_password_and_removes_user_and_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("grace").await;
    let t = app.tokens("grace", PASSWORD).await;
    let path = format!("/auth/user/{id}");
    let delete = |password: &str| {
        app.authed(
            Method::DELETE,
            &path,
            &t.access_token,
            Some(json!({ "password": password })),
        )
    };
    let before = app.user_state(&id).await;
    problem(delete("wrong password").await, 403).await;
    problem(
        app.authed(Method::DELETE, &path, &t.access_token, Some(json!({})))
            .await,
        422,
    )
    .await;
    assert_eq!(app.users().await, 1);
    assert_eq!(event_types(&app, &id).await, ["authd.user.created"]);
    assert_eq!(
        app.user_state(&id).await,
        before,
        "row, sessions and events kept"
    );

    assert_eq!(delete(PASSWORD).await.status().as_u16(), 204);
    assert_eq!(app.users().await, 0);
    assert_eq!(
        event_types(&app, &id).await,
        ["authd.user.created", "authd.user.deleted"]
    );
    let deleted = app.events_of(&id).await.pop().unwrap();
    assert_eq!(deleted["data"]["id"], id);
    assert_eq!(revocations(&app, &id).await, ["delete"], "its one session");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM refresh_tokens").await, 0);
    problem(app.refresh(&t.refresh_token).await, 401).await;
    problem(app.me(&t.access_token).await, 401).await;
    problem(app.login("grace", PASSWORD).await, 401).await;
    // The name is free again.
    app.create_user("grace").await;
}
