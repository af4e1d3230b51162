//! An accepted sign-up: its answer, its row with an argon2id hash, its one event;
//! names compared without case, so that a taken one is a 409 naming its field.

use authd::hashing::{phc_params, verify_phc, Engine, HashParams};
use serde_json::{json, Value};

use super::SIGN_UP_PASSWORD;
use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp};

both_stores!(
    sign_up_answers_201_with_location_and_the_public_user,
    stored_password_is_argon2id_with_the_configured_parameters,
    sign_up_writes_exactly_one_created_event_in_the_outbox,
    username_and_email_are_case_insensitive,
    a_taken_username_or_email_is_409_naming_the_field,
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
    assert!(verify_phc(Engine::Reference, SIGN_UP_PASSWORD, &phc).unwrap());
    assert!(!verify_phc(Engine::Reference, "correct horse battery stapler", &phc).unwrap());
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
