//! What admins do to users: create them (with a password or a hash made
//! elsewhere, one by one or in bulk), end their sessions, delete them, and page
//! through them; every event names the admin.

use std::collections::HashSet;

use authd::hashing::hash_blocking;
use reqwest::Method;
use serde_json::{json, Value};

use super::{admin, admin_app, admin_as, ok_json, OTHER, TOKEN};
use crate::both_stores;
use crate::helpers::{problem, revocations, Backend, PASSWORD, TEST_HASH};

both_stores!(
    admins_create_delete_and_end_sessions_and_every_event_names_them,
    pages_are_stable_while_users_sign_up,
);

async fn admins_create_delete_and_end_sessions_and_every_event_names_them(backend: Backend) {
    let app = admin_app(backend).await;
    // With a password.
    let made = admin(
        &app,
        Method::POST,
        "/admin/users",
        Some(json!({ "username": "Imported", "email": "I@Example.com", "password": PASSWORD })),
    )
    .await;
    assert_eq!(made.status().as_u16(), 201);
    let made: Value = made.json().await.unwrap();
    assert_eq!(made["username"], "imported");
    assert_eq!(made["email"], "i@example.com");
    assert!(made["locked_at"].is_null());
    assert!(made.get("password_hash").is_none());
    let id = made["id"].as_str().unwrap().to_string();
    // With a hash made elsewhere: its password logs in.
    let hash = hash_blocking(authd::hashing::Engine::Fast, TEST_HASH, "imported password").unwrap();
    let hashed = admin(
        &app,
        Method::POST,
        "/admin/users",
        Some(json!({ "username": "hashed", "email": "h@example.com", "password_hash": hash })),
    )
    .await;
    assert_eq!(hashed.status().as_u16(), 201);
    app.tokens("hashed", "imported password").await;
    // Not both, not neither, not a hash authd cannot verify; nothing written.
    for body in [
        json!({ "username": "x1", "email": "x1@example.com", "password": PASSWORD, "password_hash": hash }),
        json!({ "username": "x2", "email": "x2@example.com" }),
        json!({ "username": "x3", "email": "x3@example.com", "password_hash": "$2b$10$abcdefghijklmnopqrstuv" }),
    ] {
        problem(
            admin(&app, Method::POST, "/admin/users", Some(body)).await,
            422,
        )
        .await;
    }
    let taken = json!({ "username": "imported", "email": "new@example.com", "password": PASSWORD });
    problem(
        admin(&app, Method::POST, "/admin/users", Some(taken)).await,
        409,
    )
    .await;
    assert_eq!(app.users().await, 2);

    // Two sessions, seen by the admin, ended by the admin.
    let a = app.tokens("imported", PASSWORD).await;
    let b = app.tokens("imported", PASSWORD).await;
    let detail = ok_json(
        admin(&app, Method::GET, &format!("/admin/users/{id}"), None).await,
        200,
    )
    .await;
    assert_eq!(detail["live_sessions"], 2);
    let sessions = ok_json(
        admin(
            &app,
            Method::GET,
            &format!("/admin/users/{id}/sessions"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    let ended = ok_json(
        admin(
            &app,
            Method::POST,
            &format!("/admin/users/{id}/logout"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ended["ended"], 2);
    for t in [&a, &b] {
        problem(app.me(&t.access_token).await, 401).await;
        problem(app.refresh(&t.refresh_token).await, 401).await;
    }
    assert_eq!(revocations(&app, &id).await, ["admin", "admin"]);

    // Delete, then the history says who did what.
    app.tokens("imported", PASSWORD).await;
    let path = format!("/admin/users/{id}");
    assert_eq!(
        admin_as(&app, OTHER, Method::DELETE, &path, None)
            .await
            .status()
            .as_u16(),
        204
    );
    problem(admin(&app, Method::DELETE, &path, None).await, 404).await;
    problem(admin(&app, Method::GET, &path, None).await, 404).await;
    problem(
        admin(&app, Method::POST, &format!("{path}/logout"), None).await,
        404,
    )
    .await;
    problem(
        admin(&app, Method::GET, "/admin/users/not-a-uuid", None).await,
        400,
    )
    .await;
    let history = ok_json(
        admin(&app, Method::GET, &format!("{path}/events"), None).await,
        200,
    )
    .await;
    let seen: Vec<(String, String)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["event"]["authdactor"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("authd.user.created", "admin:ops"),
        ("authd.session.revoked", "admin:ops"),
        ("authd.session.revoked", "admin:ops"),
        ("authd.session.revoked", "admin:auditor"),
        ("authd.user.deleted", "admin:auditor"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, want);
    assert!(
        history[0]["published_at"].is_null(),
        "no broker: still in the outbox"
    );
    assert_eq!(history[3]["event"]["data"]["reason"], "delete");
    let text = history.to_string();
    assert!(
        !text.contains("argon2") && !text.contains(PASSWORD),
        "{text}"
    );
}

async fn pages_are_stable_while_users_sign_up(backend: Backend) {
    let app = admin_app(backend).await;
    let mut before = Vec::new();
    for i in 0..23 {
        before.push(app.create_user(&format!("page{i:02}")).await);
    }
    app.create_user("zed").await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut late = 0;
    loop {
        let mut path = "/admin/users?q=PAGE&limit=5".to_string();
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let page = ok_json(admin(&app, Method::GET, &path, None).await, 200).await;
        for user in page["users"].as_array().unwrap() {
            assert!(user["username"].as_str().unwrap().starts_with("page"));
            seen.push(user["id"].as_str().unwrap().to_string());
        }
        // Sign-ups between pages land after every page already read.
        app.create_user(&format!("pagelate{late}")).await;
        late += 1;
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
        assert!(late < 50, "the cursor never ended");
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no user twice");
    assert_eq!(&seen[..23], &before[..], "sign-up order, none skipped");
    assert!(seen[23..].iter().all(|id| !before.contains(id)));
    // The prefix is a prefix, not a pattern.
    let none = ok_json(
        admin(&app, Method::GET, "/admin/users?q=pag_", None).await,
        200,
    )
    .await;
    assert_eq!(none["users"].as_array().unwrap().len(), 0);
    let by_email = ok_json(
        admin(&app, Method::GET, "/admin/users?q=zed%40", None).await,
        200,
    )
    .await;
    assert_eq!(by_email["users"].as_array().unwrap().len(), 1);
    let bad = problem(
        admin(&app, Method::GET, "/admin/users?limit=0&after=nope", None).await,
        422,
    )
    .await;
    assert_eq!(bad["errors"].as_array().unwrap().len(), 2, "{bad}");
}

/// The bulk import of the admin API: the same checks as `authd users import`, and
/// every imported user's event names the admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_import_reports_bad_lines_and_names_its_admin() {
    let app = admin_app(Backend::Sqlite).await;
    let hash = hash_blocking(authd::hashing::Engine::Fast, TEST_HASH, "bulk password").unwrap();
    let body = format!(
        "{}\n{{\"username\":\"x\",\"email\":\"bad\"}}\n",
        json!({ "username": "bulk", "email": "bulk@example.com", "password_hash": hash })
    );
    let url = format!("http://{}/admin/users/import", app.admin_addr.unwrap());
    let send = || {
        app.client
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/x-ndjson")
            .body(body.clone())
            .send()
    };
    let report = ok_json(send().await.unwrap(), 200).await;
    assert_eq!(report["imported"], 1);
    assert_eq!(report["refused"][0]["line"], 2);
    let again = ok_json(send().await.unwrap(), 200).await;
    assert_eq!(
        (again["imported"].clone(), again["skipped"].clone()),
        (json!(0), json!(1))
    );
    app.tokens("bulk", "bulk password").await;
    let events = app
        .scalar("SELECT COUNT(*) FROM outbox WHERE event_type = 'authd.user.imported'")
        .await;
    assert_eq!(events, 1);
    let id = app
        .text(
            "SELECT CAST(id AS TEXT) FROM users WHERE username = $1",
            "bulk",
        )
        .await
        .unwrap();
    let first = app.events_of(&id).await.remove(0);
    assert_eq!(first["authdactor"], "admin:ops");
    problem(
        app.client
            .post(&url)
            .body(body.clone())
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    for empty in ["", "\n  \n"] {
        let refused = app
            .client
            .post(&url)
            .bearer_auth(TOKEN)
            .body(empty)
            .send()
            .await
            .unwrap();
        let body = problem(refused, 400).await;
        assert!(
            body["detail"].as_str().unwrap().contains("no users"),
            "{body}"
        );
    }
}
