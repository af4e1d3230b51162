//! Sessions people can see and end: the list, ending one, ending the others, and
//! one `authd.session.revoked` per ended session, for every reason.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{problem, revocations, Backend, TestApp, Tokens, PASSWORD};

both_stores!(
    the_list_shows_each_login_and_which_is_current,
    last_used_at_moves_once_a_minute_however_often_the_session_refreshes,
    ending_one_session_voids_its_tokens_and_says_so,
    ending_the_others_keeps_the_current_one,
    reuse_and_logout_each_write_one_revocation,
);

async fn login_as(app: &TestApp, name: &str, agent: &str) -> Tokens {
    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("user-agent", agent)
        .json(&json!({ "login": name, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.authed(Method::GET, "/auth/sessions", token, None).await;
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

async fn the_list_shows_each_login_and_which_is_current(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("ann").await;
    app.create_user("other").await;
    let laptop = login_as(&app, "ann", "Laptop/1.0").await;
    let phone = login_as(&app, "ann", "Phone/2.0").await;
    login_as(&app, "other", "Elsewhere/1.0").await;

    let list = sessions(&app, &phone.access_token).await;
    assert_eq!(list.len(), 2, "only ann's own sessions: {list:?}");
    assert_eq!(list[0]["user_agent"], "Phone/2.0", "newest first");
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[1]["user_agent"], "Laptop/1.0");
    assert_eq!(list[1]["current"], false);
    assert_eq!(list[0]["client_address"], "127.0.0.1");
    assert_eq!(list[1]["created_at"], list[1]["last_used_at"]);

    // A refresh moves last_used_at and keeps the session (and its id).
    app.clock.advance(chrono::Duration::seconds(60));
    let refreshed: Tokens = app
        .refresh(&laptop.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let list = sessions(&app, &refreshed.access_token).await;
    let laptop_row = list
        .iter()
        .find(|s| s["user_agent"] == "Laptop/1.0")
        .unwrap();
    assert_eq!(laptop_row["current"], true);
    assert_ne!(laptop_row["last_used_at"], laptop_row["created_at"]);
    problem(
        app.client
            .get(app.url("/auth/sessions"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

/// A refresh within a minute of the recorded use leaves `last_used_at` (no
/// write of the session's row); the first one a minute or more later moves it.
async fn last_used_at_moves_once_a_minute_however_often_the_session_refreshes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("cyd").await;
    let mut tokens = login_as(&app, "cyd", "Laptop/1.0").await;
    let created = sessions(&app, &tokens.access_token).await[0]["created_at"].clone();
    let mut seen = Vec::new();
    for seconds in [20, 20, 19, 1, 30] {
        app.clock.advance(chrono::Duration::seconds(seconds));
        let response = app.refresh(&tokens.refresh_token).await;
        assert_eq!(response.status().as_u16(), 200);
        tokens = response.json().await.unwrap();
        let list = sessions(&app, &tokens.access_token).await;
        assert_eq!(list.len(), 1, "{list:?}");
        seen.push(list[0]["last_used_at"].clone());
    }
    // At 20, 40 and 59 s: still the login; at 60 s: moved; at 90 s: kept.
    assert_eq!(
        seen[..3],
        [created.clone(), created.clone(), created.clone()]
    );
    assert_ne!(seen[3], created);
    assert_eq!(seen[4], seen[3]);
}

async fn ending_one_session_voids_its_tokens_and_says_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("bea").await;
    let stays = login_as(&app, "bea", "A").await;
    let ends = login_as(&app, "bea", "B").await;
    let list = sessions(&app, &stays.access_token).await;
    let target = list.iter().find(|s| s["user_agent"] == "B").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/auth/sessions/{target}");

    let done = app
        .authed(Method::DELETE, &path, &stays.access_token, None)
        .await;
    assert_eq!(done.status().as_u16(), 204);
    problem(app.me(&ends.access_token).await, 401).await;
    problem(app.refresh(&ends.refresh_token).await, 401).await;
    assert_eq!(app.me(&stays.access_token).await.status().as_u16(), 200);
    assert_eq!(revocations(&app, &id).await, ["logout"]);
    let event = app.events_of(&id).await.pop().unwrap();
    assert_eq!(event["data"]["session_id"], target);
    assert_eq!(event["data"]["user_id"], id);
    assert_eq!(event["subject"], id);

    // Gone already, someone else's, or not an id: nothing more is written.
    problem(
        app.authed(Method::DELETE, &path, &stays.access_token, None)
            .await,
        404,
    )
    .await;
    app.create_user("eve").await;
    let eve = login_as(&app, "eve", "E").await;
    let own = sessions(&app, &stays.access_token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let theirs = format!("/auth/sessions/{own}");
    problem(
        app.authed(Method::DELETE, &theirs, &eve.access_token, None)
            .await,
        404,
    )
    .await;
    problem(
        app.authed(
            Method::DELETE,
            "/auth/sessions/not-a-uuid",
            &stays.access_token,
            None,
        )
        .await,
        400,
    )
    .await;
    assert_eq!(revocations(&app, &id).await, ["logout"]);
    assert_eq!(app.me(&stays.access_token).await.status().as_u16(), 200);
}

async fn ending_the_others_keeps_the_current_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("cat").await;
    let others = [
        login_as(&app, "cat", "1").await,
        login_as(&app, "cat", "2").await,
        login_as(&app, "cat", "3").await,
    ];
    let current = login_as(&app, "cat", "here").await;
    let response = app
        .authed(
            Method::DELETE,
            "/auth/sessions",
            &current.access_token,
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["ended"], 3);
    for t in &others {
        problem(app.me(&t.access_token).await, 401).await;
        problem(app.refresh(&t.refresh_token).await, 401).await;
    }
    let left = sessions(&app, &current.access_token).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    assert_eq!(revocations(&app, &id).await, ["logout"; 3]);
    // Again: nothing left to end, nothing written.
    let again = app
        .authed(
            Method::DELETE,
            "/auth/sessions",
            &current.access_token,
            None,
        )
        .await;
    assert_eq!(again.json::<Value>().await.unwrap()["ended"], 0);
    assert_eq!(revocations(&app, &id).await.len(), 3);
}

async fn reuse_and_logout_each_write_one_revocation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("dan").await;
    let stolen = app.tokens("dan", PASSWORD).await;
    assert_eq!(
        app.refresh(&stolen.refresh_token).await.status().as_u16(),
        200
    );
    // The spent token again: its whole family ends, once.
    problem(app.refresh(&stolen.refresh_token).await, 401).await;
    problem(app.refresh(&stolen.refresh_token).await, 401).await;
    assert_eq!(revocations(&app, &id).await, ["reuse"]);

    let t = app.tokens("dan", PASSWORD).await;
    let body = json!({ "refresh_token": t.refresh_token });
    let logout = || app.post_json("/auth/logout", &body);
    assert_eq!(logout().await.status().as_u16(), 204);
    assert_eq!(logout().await.status().as_u16(), 204, "RFC 7009: 204 again");
    assert_eq!(revocations(&app, &id).await, ["reuse", "logout"]);
}
