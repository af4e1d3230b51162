//! Login and sessions: the flows of issue 5, over both stores. Time moves by the
//! application's clock, never by sleeping. Tokens: tokens.rs; throttling: throttle.rs.

use chrono::Duration;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use authd::clock::Clock;

use crate::both_stores;
use crate::helpers::{
    claims_of, header_of, problem, Backend, TestApp, Tokens, PASSWORD, TEST_HASH,
};

both_stores!(
    sign_up_login_me_refresh_reuse_logout,
    unknown_user_and_wrong_password_answer_the_same_401,
    login_input_errors_are_422,
    a_login_rehashes_a_password_stored_with_other_parameters,
);

async fn sign_up_login_me_refresh_reuse_logout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("alice").await;

    // Login by username, and by email in any case.
    let t1 = app.tokens("alice", PASSWORD).await;
    assert_eq!(t1.token_type, "Bearer");
    assert_eq!(t1.expires_in, 900);
    assert_eq!(t1.refresh_token.len(), 43, "256 bits, base64url");
    let by_email = app.login("ALICE@example.com", PASSWORD).await;
    assert_eq!(by_email.status().as_u16(), 200);
    assert_eq!(by_email.headers()["cache-control"], "no-store");

    let claims = claims_of(&t1.access_token);
    assert_eq!(claims["sub"], id);
    assert_eq!(
        claims["iss"], &*app.state.public_url,
        "where clients reach authd"
    );
    assert_eq!(claims["aud"], "authd");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(claims["jti"].is_string());
    let header = header_of(&t1.access_token);
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());

    let me = app.me(&t1.access_token).await;
    assert_eq!(me.status().as_u16(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], id);
    assert_eq!(me["username"], "alice");

    // Refresh rotates: a new pair, and the old refresh token is spent.
    let r = app.refresh(&t1.refresh_token).await;
    assert_eq!(r.status().as_u16(), 200);
    let t2: Tokens = r.json().await.unwrap();
    assert_ne!(t2.refresh_token, t1.refresh_token);
    assert_eq!(app.me(&t2.access_token).await.status().as_u16(), 200);
    let stored: i64 = app.scalar("SELECT COUNT(*) FROM refresh_tokens").await;
    assert_eq!(stored, 3, "two logins, one rotation");
    // Stored as its SHA-256, never as itself.
    let hash = Sha256::digest(t1.refresh_token.as_bytes()).to_vec();
    let sql = "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $1";
    let found: i64 = match &app.store {
        crate::helpers::Db::Postgres(p) => sqlx::query_scalar(sql).bind(&hash).fetch_one(p).await,
        crate::helpers::Db::Sqlite(p) => sqlx::query_scalar(sql).bind(&hash).fetch_one(p).await,
    }
    .unwrap();
    assert_eq!(found, 1);

    // Reusing the spent token revokes the whole family: the live successor too,
    // and access tokens of that session at authd's own endpoints.
    problem(app.refresh(&t1.refresh_token).await, 401).await;
    let body = problem(app.refresh(&t2.refresh_token).await, 401).await;
    assert_eq!(body["type"], "urn:authd:problem:invalid-refresh-token");
    problem(app.me(&t2.access_token).await, 401).await;

    // Logout revokes a fresh session's family.
    let t3 = app.tokens("alice", PASSWORD).await;
    let out = app
        .post_json(
            "/auth/logout",
            &json!({ "refresh_token": t3.refresh_token }),
        )
        .await;
    assert_eq!(out.status().as_u16(), 204);
    problem(app.refresh(&t3.refresh_token).await, 401).await;
    problem(app.me(&t3.access_token).await, 401).await;
    // Logout of an unknown token is 204 too (RFC 7009): it reveals nothing.
    let unknown = app
        .post_json("/auth/logout", &json!({ "refresh_token": "x".repeat(43) }))
        .await;
    assert_eq!(unknown.status().as_u16(), 204);
}

async fn unknown_user_and_wrong_password_answer_the_same_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("bob").await;
    let wrong = app.login("bob", "not the password").await;
    let wrong_headers = wrong.headers().clone();
    let wrong = problem(wrong, 401).await;
    let unknown = problem(app.login("nobody", "not the password").await, 401).await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["type"], "urn:authd:problem:invalid-credentials");
    assert!(!wrong_headers.contains_key("retry-after"));
    // The dummy hash that unknown logins are verified against costs what a real one
    // does: the parameters this app was configured with, and those of the hash it
    // stored for bob.
    let dummy = app.state.dummy_hash.to_string();
    assert_eq!(authd::hashing::phc_params(&dummy), Some(TEST_HASH));
    let stored = app
        .text("SELECT password_hash FROM users WHERE username = $1", "bob")
        .await
        .unwrap();
    assert_eq!(authd::hashing::phc_params(&stored), Some(TEST_HASH));
}

async fn login_input_errors_are_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = problem(app.post_json("/auth/login", &json!({})).await, 422).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["login", "password"]);
    problem(
        app.post_json("/auth/login", &json!({"login": "a", "password": 5}))
            .await,
        422,
    )
    .await;
    problem(
        app.post_raw("/auth/login", "text/plain", "login=a").await,
        415,
    )
    .await;
    problem(app.post_json("/auth/token", &json!({})).await, 422).await;
    let body = problem(app.refresh("not-a-token").await, 401).await;
    assert_eq!(body["type"], "urn:authd:problem:invalid-refresh-token");
}

async fn a_login_rehashes_a_password_stored_with_other_parameters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("heidi").await;
    let stronger = authd::hashing::HashParams {
        memory_kib: 512,
        iterations: 2,
        parallelism: 1,
    };
    let replica = app.replica(|c| c.hash = stronger).await;
    let sql = "SELECT password_hash FROM users WHERE CAST(id AS TEXT) = $1";
    let before = app.text(sql, &id).await.unwrap();
    replica.tokens("heidi", PASSWORD).await;
    let after = app.text(sql, &id).await.unwrap();
    assert_ne!(before, after);
    assert_eq!(authd::hashing::phc_params(&after), Some(stronger));
    // Same parameters: no further rehash; the password still logs in everywhere.
    replica.tokens("heidi", PASSWORD).await;
    assert_eq!(app.text(sql, &id).await.unwrap(), after);
    app.tokens("heidi", PASSWORD).await;
}

both_stores!(pruning_removes_only_what_can_no_longer_decide_anything);

async fn pruning_removes_only_what_can_no_longer_decide_anything(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.throttle.account_failures = 2).await;
    app.create_user("kate").await;
    let old = app.tokens("kate", PASSWORD).await;
    assert_eq!(app.refresh(&old.refresh_token).await.status().as_u16(), 200);
    problem(app.login("kate", "wrong password").await, 401).await;
    let window = 900_000;
    let prune = || app.state.store.prune(app.clock.now(), window);
    // Nothing has expired: the spent token stays, so that its reuse is still caught.
    assert_eq!(prune().await.unwrap(), 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM refresh_tokens").await, 2);

    // Past the failure window the counters go (the account's from this address,
    // the address's, and the account's total, which the first login reserved in
    // before the address was known), and the sessions stay.
    app.clock.advance(Duration::minutes(16));
    assert_eq!(prune().await.unwrap(), 3);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM refresh_tokens").await, 2);
    // Past the refresh lifetime: both tokens (issued at the same instant of the
    // test's clock), then their family.
    app.clock.advance(Duration::days(30));
    assert_eq!(prune().await.unwrap(), 2 + 1);
    for table in ["refresh_tokens", "refresh_families", "login_throttle"] {
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    // Postgres holds no foreign key from a token to its family (the refresh's
    // insert would check it): a live token left without one (issued while its
    // user was being deleted) goes at the next prune.
    if let Backend::Postgres = backend {
        app.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) \
             VALUES ('\\x01', gen_random_uuid(), now(), now() + interval '90 days')",
        )
        .await;
        assert_eq!(prune().await.unwrap(), 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM refresh_tokens").await, 0);
    }
}
