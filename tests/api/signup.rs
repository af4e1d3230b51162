//! Sign-up: validation, duplicates, hashing, rows and events, over both stores.

use std::time::Duration;

use authd::hashing::{phc_params, verify_phc, HashParams};
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{problem, unique, Backend, TestApp, PASSWORD};

/// The sign-ups here send their own password, one word longer than the shared
/// PASSWORD: they never log in with it, and one checks that a near miss of it
/// does not verify.
const SIGN_UP_PASSWORD: &str = "correct horse battery staple";

/// OWASP memory with ten passes: ~100 ms a hash, long enough to overlap requests.
const SLOW_HASH: HashParams = HashParams {
    iterations: 10,
    ..HashParams::OWASP
};

both_stores!(
    sign_up_answers_201_with_location_and_the_public_user,
    stored_password_is_argon2id_with_the_configured_parameters,
    sign_up_writes_exactly_one_created_event_in_the_outbox,
    username_and_email_are_case_insensitive,
    a_taken_username_or_email_is_409_naming_the_field,
    malformed_json_is_400_and_changes_nothing,
    a_wrong_content_type_is_415,
    a_body_over_16_kib_is_413,
    every_invalid_field_is_reported_at_once_with_422,
    fields_of_the_wrong_type_are_422,
    concurrent_sign_ups_for_one_email_give_exactly_one_201,
    a_full_hashing_queue_answers_503_with_retry_after_and_no_timeouts,
    shutdown_drains_a_sign_up_in_flight,
);

async fn sign_up_answers_201_with_location_and_the_public_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .sign_up("alice", "alice@example.com", SIGN_UP_PASSWORD)
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let raw = response.text().await.unwrap();
    assert!(
        !raw.contains(SIGN_UP_PASSWORD) && !raw.contains("argon2"),
        "secret in {raw}"
    );
    let body: Value = serde_json::from_str(&raw).unwrap();
    let id = body["id"].as_str().unwrap();
    let uuid: uuid::Uuid = id.parse().unwrap();
    assert_eq!(uuid.get_version_num(), 7, "ids are UUIDv7");
    assert_eq!(location, format!("/auth/user/{id}"));
    assert_eq!(body["username"], "alice");
    assert_eq!(body["email"], "alice@example.com");
    assert!(chrono::DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).is_ok());
    let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["created_at", "email", "email_verified", "id", "username"]
    );
    assert_eq!(body["email_verified"], false);
    assert_eq!(app.users().await, 1);
}

async fn stored_password_is_argon2id_with_the_configured_parameters(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.hash = HashParams::OWASP).await;
    assert_eq!(
        app.sign_up("bob", "bob@example.com", SIGN_UP_PASSWORD)
            .await
            .status()
            .as_u16(),
        201
    );
    let phc = app
        .text("SELECT password_hash FROM users WHERE username = $1", "bob")
        .await
        .unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert_eq!(phc_params(&phc), Some(HashParams::OWASP));
    assert!(verify_phc(SIGN_UP_PASSWORD, &phc).unwrap());
    assert!(!verify_phc("correct horse battery stapler", &phc).unwrap());
}

async fn sign_up_writes_exactly_one_created_event_in_the_outbox(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body: Value = app
        .sign_up("carol", "carol@example.com", SIGN_UP_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let id = body["id"].as_str().unwrap();
    let events = app.events_of(id).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "authd.user.created");
    assert_eq!(event["subject"], id);
    assert_eq!(event["data"], body, "the event carries the public user");
    let raw = event.to_string();
    assert!(
        !raw.contains(SIGN_UP_PASSWORD) && !raw.contains("argon2"),
        "secret in {raw}"
    );
    assert_eq!(app.outbox().await, 1);
}

async fn username_and_email_are_case_insensitive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body: Value = app
        .sign_up("Dave.X", "Dave@Example.COM", SIGN_UP_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["username"], "dave.x");
    assert_eq!(body["email"], "dave@example.com");
    let again = app
        .sign_up("other", "DAVE@example.com", SIGN_UP_PASSWORD)
        .await;
    let p = problem(again, 409).await;
    assert_eq!(p["errors"][0]["field"], "email");
    let again = app
        .sign_up("DAVE.x", "new@example.com", SIGN_UP_PASSWORD)
        .await;
    let p = problem(again, 409).await;
    assert_eq!(p["errors"][0]["field"], "username");
    assert_eq!(app.users().await, 1);
}

async fn a_taken_username_or_email_is_409_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.sign_up("erin", "erin@example.com", SIGN_UP_PASSWORD)
            .await
            .status()
            .as_u16(),
        201
    );
    let p = problem(
        app.sign_up("erin", "erin2@example.com", SIGN_UP_PASSWORD)
            .await,
        409,
    )
    .await;
    assert_eq!(
        p["errors"],
        json!([{ "field": "username", "reason": "is already taken" }])
    );
    let p = problem(
        app.sign_up("erin2", "erin@example.com", SIGN_UP_PASSWORD)
            .await,
        409,
    )
    .await;
    assert_eq!(
        p["errors"],
        json!([{ "field": "email", "reason": "is already taken" }])
    );
    assert_eq!((app.users().await, app.outbox().await), (1, 1));
}

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

async fn concurrent_sign_ups_for_one_email_give_exactly_one_201(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let client = app.client.clone();
        let url = app.url("/auth/user");
        tasks.spawn(async move {
            let body = json!({ "username": format!("racer{i}"), "email": "race@example.com", "password": SIGN_UP_PASSWORD });
            client.post(url).json(&body).send().await.unwrap().status().as_u16()
        });
    }
    let mut statuses = tasks.join_all().await;
    statuses.sort();
    assert_eq!(statuses[0], 201);
    assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");
    assert_eq!((app.users().await, app.outbox().await), (1, 1));
}

async fn a_full_hashing_queue_answers_503_with_retry_after_and_no_timeouts(backend: Backend) {
    // One worker, one waiting slot, ~100 ms a hash: 24 at once must overflow.
    let app = TestApp::spawn_with(backend, |c| {
        c.hash = SLOW_HASH;
        c.hash_pool.workers = 1;
        c.hash_pool.queue_bound = Some(1);
    })
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let client = app.client.clone();
        let url = app.url("/auth/user");
        tasks.spawn(async move {
            let body = json!({ "username": format!("load{i}"), "email": format!("load{i}@example.com"), "password": SIGN_UP_PASSWORD });
            // reqwest's 60 s timeout would surface here as an error: none is allowed.
            let response = client.post(url).json(&body).send().await.expect("no timeout, no transport error");
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            (response.status().as_u16(), retry_after)
        });
    }
    let results = tasks.join_all().await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let refused: Vec<_> = results.iter().filter(|(s, _)| *s == 503).collect();
    assert!(created >= 1, "{results:?}");
    assert!(!refused.is_empty(), "{results:?}");
    assert_eq!(created + refused.len(), 24, "only 201 and 503: {results:?}");
    assert!(refused.iter().all(|(_, r)| r.as_deref() == Some("1")));
    assert_eq!(
        app.users().await,
        created as i64,
        "a refused sign-up wrote nothing"
    );
    assert_eq!(app.outbox().await, created as i64);
}

async fn shutdown_drains_a_sign_up_in_flight(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, |c| c.hash = SLOW_HASH).await;
    let client = app.client.clone();
    let url = app.url("/auth/user");
    let in_flight = tokio::spawn(async move {
        let body = json!({ "username": "drain", "email": "drain@example.com", "password": SIGN_UP_PASSWORD });
        client
            .post(url)
            .json(&body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    // stop only once the request is inside the server, hashing
    while app.state.hasher.pending() == 0 {
        assert!(
            !in_flight.is_finished(),
            "the request ended before it was hashed"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    app.stop().await.unwrap();
    assert_eq!(in_flight.await.unwrap().unwrap(), 201);
    assert_eq!(app.users().await, 1);
    let name = unique("after");
    assert!(
        app.client
            .post(app.url("/auth/user"))
            .json(
                &json!({ "username": name, "email": "x@example.com", "password": SIGN_UP_PASSWORD })
            )
            .send()
            .await
            .is_err(),
        "a stopped server accepts nothing"
    );
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
