//! Also found: signing keys stored as plain seeds (a copy of the database signs
//! tokens), retired keys never deleted, and no way to stop publishing a leaked key.

use std::time::{Duration, Instant};

use authd::authn::enrolment;
use authd::clock::Clock;
use authd::startup::Application;
use authd::tokens::{Keys, SecretsKey, SecretsSource};
use serde_json::Value;

use crate::helpers::{problem, test_config, Backend, TestApp, PASSWORD};

const OLD: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const NEW: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";

fn key_file(dir: &tempfile::TempDir, name: &str, lines: &[&str]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_are_sealed_and_the_secrets_key_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let old = key_file(&dir, "old.key", &[OLD]);
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.tokens.secrets = SecretsSource::File(old.clone());
    })
    .await;
    app.create_user("holder").await;
    let token = app.tokens("holder", PASSWORD).await.access_token;
    let guarded = crate::mfa::enrolled(&app, "guarded").await;
    let stored = app
        .scalar("SELECT CAST(length(private_key) AS BIGINT) FROM signing_keys")
        .await;
    assert_ne!(stored, 32, "not the seed itself");
    // A copy of the database with another key (or none) opens nothing.
    for secrets in [
        SecretsSource::File(key_file(&dir, "other.key", &[NEW])),
        SecretsSource::None,
    ] {
        let mut config = test_config(app.store_config.clone());
        config.tokens.secrets = secrets;
        let refused = Application::build(config)
            .await
            .err()
            .expect("no start")
            .to_string();
        assert!(refused.contains("signing key"), "{refused}");
    }
    // Rotation: the new key first, the old below it; reseal; then the old goes.
    let both = SecretsKey::load(&key_file(&dir, "both.key", &[NEW, OLD])).unwrap();
    assert_eq!(Keys::reseal(&app.state.store, &both).await.unwrap(), 1);
    assert_eq!(
        Keys::reseal(&app.state.store, &both).await.unwrap(),
        0,
        "done once"
    );
    let store = &app.state.store;
    assert_eq!(
        enrolment::reseal(store, &both).await.unwrap(),
        1,
        "the TOTP secret"
    );
    assert_eq!(
        enrolment::reseal(store, &both).await.unwrap(),
        0,
        "done once"
    );
    let new = key_file(&dir, "new.key", &[NEW]);
    let replica = app
        .replica(|c| c.tokens.secrets = SecretsSource::File(new))
        .await;
    assert_eq!(
        replica.me(&token).await.status(),
        200,
        "the same key, sealed anew"
    );
    // The authenticator's secret opens with the new key alone: its code logs in.
    let code = crate::mfa::code_now(&replica, &guarded.secret, 0);
    crate::mfa::login_with_code(&replica, "guarded", &code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_key_is_revoked_at_once_and_retired_keys_are_deleted() {
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.tokens.keys_refresh = Duration::from_millis(200);
    })
    .await;
    app.create_user("holder").await;
    let token = app.tokens("holder", PASSWORD).await.access_token;
    let leaked = crate::helpers::header_of(&token)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let now = app.clock.now();
    // A normal rotation keeps the old key as long as its tokens live, then prunes it.
    Keys::rotate(&app.state.store, None, now, false)
        .await
        .unwrap();
    assert_eq!(app.scalar("SELECT COUNT(*) FROM signing_keys").await, 2);
    app.clock.advance(chrono::Duration::minutes(16));
    let window = app.state.throttle.window.as_millis() as i64;
    app.state
        .store
        .prune(app.clock.now(), window)
        .await
        .unwrap();
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM signing_keys").await,
        1,
        "retired and gone"
    );
    // An emergency: the current key leaked (once the replica signs with it).
    let deadline = Instant::now() + Duration::from_secs(10);
    let (token, leaked_now) = loop {
        let token = app.tokens("holder", PASSWORD).await.access_token;
        let kid = crate::helpers::header_of(&token)["kid"]
            .as_str()
            .unwrap()
            .to_string();
        if kid != leaked {
            break (token, kid);
        }
        assert!(
            Instant::now() < deadline,
            "the replica never signed with the new key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Keys::rotate(&app.state.store, None, app.clock.now(), true)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jwks: Value = app.json_at(&app.url("/.well-known/jwks.json"), None).await;
        let listed = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == leaked_now.as_str());
        let me = app.me(&token).await.status();
        if !listed && me == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still published ({listed}) or accepted ({me})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    problem(app.me(&token).await, 401).await;
    let fresh = app.tokens("holder", PASSWORD).await.access_token;
    assert_eq!(app.me(&fresh).await.status(), 200);
}
