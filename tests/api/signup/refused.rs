//! A refused sign-up changes nothing: bad JSON, a wrong content type, a body too
//! large, invalid or mistyped fields, and a common password.

use serde_json::json;

use super::SIGN_UP_PASSWORD;
use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};

both_stores!(
    malformed_json_is_400_and_changes_nothing,
    a_wrong_content_type_is_415,
    a_body_over_16_kib_is_413,
    every_invalid_field_is_reported_at_once_with_422,
    fields_of_the_wrong_type_are_422,
);

async fn malformed_json_is_400_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for body in ["{\"username\": \"frank\",", "not json", ""] {
        let response = app.post_raw("/auth/user", "application/json", body).await;
        let p = problem(response, 400).await;
        assert!(p["detail"].as_str().unwrap().contains("not valid JSON"));
    }
    assert_eq!((app.users().await, app.outbox().await), (0, 0));
}

async fn a_wrong_content_type_is_415(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body =
        json!({ "username": "gina", "email": "gina@example.com", "password": SIGN_UP_PASSWORD })
            .to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = app.post_raw("/auth/user", content_type, body.clone()).await;
        problem(response, 415).await;
    }
    let no_type = app
        .client
        .post(app.url("/auth/user"))
        .body(body)
        .send()
        .await
        .unwrap();
    problem(no_type, 415).await;
    assert_eq!(app.users().await, 0);
}

async fn a_body_over_16_kib_is_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let padding = "x".repeat(16 * 1024);
    let body = json!({ "username": "hank", "email": "hank@example.com", "password": SIGN_UP_PASSWORD, "pad": padding });
    problem(app.post_json("/auth/user", &body).await, 413).await;
    assert_eq!(app.users().await, 0);
    // just under the limit is read (and refused for its content, not its size)
    let body = json!({ "username": "hank", "email": "hank@example.com", "password": "x".repeat(1025), "pad": "x".repeat(14 * 1024) });
    problem(app.post_json("/auth/user", &body).await, 422).await;
}

async fn every_invalid_field_is_reported_at_once_with_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let p = problem(app.sign_up("x", "not-an-email", "short").await, 422).await;
    let fields: Vec<_> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["reason"].as_str().unwrap().is_empty());
            e["field"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(fields, ["username", "email", "password"]);
    let p = problem(app.post_json("/auth/user", &json!({})).await, 422).await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 3);
    assert!(p["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("required"));
    let long = "p".repeat(1025);
    let p = problem(
        app.sign_up("valid_name", "ok@example.com", &long).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "password");
    assert_eq!((app.users().await, app.outbox().await), (0, 0));
}

async fn fields_of_the_wrong_type_are_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({ "username": 42, "email": ["a@b.co"], "password": null });
    let p = problem(app.post_json("/auth/user", &body).await, 422).await;
    assert_eq!(p["errors"][0]["reason"], "must be a string");
    assert_eq!(p["errors"][2]["reason"], "is required");
    let p = problem(app.post_json("/auth/user", &json!(["a", "b"])).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "body");
    assert_eq!(app.users().await, 0);
}

/// Breached and common passwords are a field error at sign-up and password change,
/// unless the denylist is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_common_password_is_refused_unless_the_denylist_is_off() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = serde_json::json!({
        "username": "common", "email": "common@example.com", "password": "Password123"
    });
    let refused = problem(app.post_json("/auth/user", &body).await, 422).await;
    assert_eq!(refused["errors"][0]["field"], "password");
    assert!(
        refused["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("breached or common"),
        "{refused}"
    );
    assert_eq!(app.users().await, 0);
    let id = app.create_user("careful").await;
    let t = app.tokens("careful", PASSWORD).await;
    let change = serde_json::json!({
        "current_password": PASSWORD, "new_password": "qwertyuiop"
    });
    let path = format!("/auth/user/{id}/password");
    let refused = app
        .authed(reqwest::Method::PUT, &path, &t.access_token, Some(change))
        .await;
    let refused = problem(refused, 422).await;
    assert_eq!(refused["errors"][0]["field"], "new_password");

    let open = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.denylist = std::sync::Arc::new(authd::domain::Denylist::default());
    })
    .await;
    assert_eq!(
        open.post_json("/auth/user", &body).await.status().as_u16(),
        201
    );
}
