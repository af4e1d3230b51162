//! Login, tokens and sessions: the flows of issue 5, over both stores and across
//! replicas. Time moves by the application's clock, never by sleeping.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use authd::clock::Clock;

use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, Tokens};

const PASSWORD: &str = "correct horse battery";

both_stores!(
    sign_up_login_me_refresh_reuse_logout,
    unknown_user_and_wrong_password_answer_the_same_401,
    login_input_errors_are_422,
    expiry_is_enforced_without_sleeping,
    tampered_wrong_alg_and_wrong_audience_tokens_are_refused,
    jwks_verifies_the_access_token,
    a_failed_login_threshold_gives_429_with_growing_retry_after,
    forwarded_for_counts_only_behind_a_trusted_proxy,
    a_login_rehashes_a_password_stored_with_other_parameters,
);

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

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
    assert_eq!(claims["iss"], "authd");
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
    // The dummy hash that unknown logins are verified against costs what a real one does.
    let dummy = app.state.dummy_hash.to_string();
    assert_eq!(
        authd::hashing::phc_params(&dummy),
        Some(app.state.hasher.params())
    );
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

async fn expiry_is_enforced_without_sleeping(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("carol").await;
    let t = app.tokens("carol", PASSWORD).await;
    app.clock.advance(Duration::seconds(899));
    assert_eq!(app.me(&t.access_token).await.status().as_u16(), 200);
    app.clock.advance(Duration::seconds(1));
    let expired = app.me(&t.access_token).await;
    let challenge = expired.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer") && challenge.contains(r#"error="invalid_token""#));
    let body = problem(expired, 401).await;
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    // The refresh token outlives the access token, then expires too.
    let r = app.refresh(&t.refresh_token).await;
    assert_eq!(r.status().as_u16(), 200);
    let t2: Tokens = r.json().await.unwrap();
    assert_eq!(app.me(&t2.access_token).await.status().as_u16(), 200);
    app.clock.advance(Duration::days(30));
    problem(app.refresh(&t2.refresh_token).await, 401).await;
}

/// HMAC-SHA256 (RFC 2104), to forge an HS256 token keyed with the public key.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

async fn tampered_wrong_alg_and_wrong_audience_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("dave").await;
    let other = app.create_user("erin").await;
    let t = app.tokens("dave", PASSWORD).await;
    let parts: Vec<&str> = t.access_token.split('.').collect();

    // Tampered: the claims now name another user; the signature no longer matches.
    let mut claims = claims_of(&t.access_token);
    claims["sub"] = json!(other);
    let forged_claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    let body = problem(app.me(&tampered).await, 401).await;
    assert!(
        body["detail"].as_str().unwrap().contains("signature"),
        "{body}"
    );

    // alg "none", and HS256 keyed with the published public key.
    let kid = header_of(&t.access_token)["kid"].clone();
    let none =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json!({"alg": "none", "kid": kid})).unwrap());
    problem(app.me(&format!("{none}.{forged_claims}.")).await, 401).await;
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let public = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let hs =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json!({"alg": "HS256", "kid": kid})).unwrap());
    let input = format!("{hs}.{forged_claims}");
    let mac = URL_SAFE_NO_PAD.encode(hmac_sha256(&public, input.as_bytes()));
    let body = problem(app.me(&format!("{input}.{mac}")).await, 401).await;
    assert!(
        body["detail"].as_str().unwrap().contains("algorithm"),
        "{body}"
    );

    // A token for another audience, signed with the very same shared keys.
    let stranger = app.replica(|c| c.tokens.audience = "billing".into()).await;
    let foreign = stranger.tokens("dave", PASSWORD).await;
    assert_eq!(claims_of(&foreign.access_token)["aud"], "billing");
    assert_eq!(
        stranger.me(&foreign.access_token).await.status().as_u16(),
        200
    );
    let body = problem(app.me(&foreign.access_token).await, 401).await;
    assert!(
        body["detail"].as_str().unwrap().contains("audience"),
        "{body}"
    );

    // Not a bearer token at all.
    let basic = app
        .client
        .get(app.url("/auth/me"))
        .header("authorization", "Basic ZGF2ZTpwdw==")
        .send()
        .await
        .unwrap();
    problem(basic, 401).await;
    // The genuine token still works.
    let me: Value = app.me(&t.access_token).await.json().await.unwrap();
    assert_eq!(me["id"], id);
}

/// Verifies a token the way another service does: with the JWKS alone.
pub fn verify_with_jwks(token: &str, jwks: &Value) -> bool {
    let kid = header_of(token)["kid"].as_str().unwrap().to_string();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
    else {
        return false;
    };
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    key.verify_strict(signed.as_bytes(), &signature).is_ok()
}

async fn jwks_verifies_the_access_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("frank").await;
    let t = app.tokens("frank", PASSWORD).await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cache.contains("max-age="), "{cache}");
    let jwks: Value = response.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "never the private part");
    assert!(verify_with_jwks(&t.access_token, &jwks));
    let mut forged = t.access_token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert!(!verify_with_jwks(&forged, &jwks));
}

async fn a_failed_login_threshold_gives_429_with_growing_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.throttle.account_failures = 3;
        c.throttle.base_lockout = std::time::Duration::from_secs(10);
    })
    .await;
    app.create_user("grace").await;
    for _ in 0..3 {
        problem(app.login("grace", "wrong password").await, 401).await;
    }
    // Locked: even the right password is refused until the lock ends.
    let locked = app.login("grace", PASSWORD).await;
    assert_eq!(locked.headers()["retry-after"], "10");
    let body = problem(locked, 429).await;
    assert_eq!(body["type"], "urn:authd:problem:too-many-attempts");
    app.clock.advance(Duration::seconds(10));
    problem(app.login("grace", "wrong password").await, 401).await;
    let longer = app.login("grace", "wrong password").await;
    assert_eq!(longer.headers()["retry-after"], "20", "the lock doubles");
    app.clock.advance(Duration::seconds(20));
    // A success resets the account's count.
    app.tokens("grace", PASSWORD).await;
    for _ in 0..2 {
        problem(app.login("grace", "wrong password").await, 401).await;
    }
    // Unknown logins are throttled alike, so a 429 does not reveal an account.
    for _ in 0..3 {
        problem(app.login("nobody", "wrong password").await, 401).await;
    }
    problem(app.login("nobody", "wrong password").await, 429).await;
}

async fn forwarded_for_counts_only_behind_a_trusted_proxy(backend: Backend) {
    let trusted = TestApp::spawn_with(backend, |c| {
        c.throttle.client_failures = 3;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let untrusted = trusted.replica(|c| c.throttle.client_failures = 3).await;
    let attempt = |app: &TestApp, login: String, xff: &'static str| {
        let request = app
            .client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", xff)
            .json(&json!({ "login": login, "password": "wrong password" }));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for i in 0..3 {
        assert_eq!(
            attempt(&trusted, format!("u{i}"), "198.51.100.1").await,
            401
        );
    }
    assert_eq!(attempt(&trusted, "u9".into(), "198.51.100.1").await, 429);
    assert_eq!(
        attempt(&trusted, "u9".into(), "198.51.100.2").await,
        401,
        "another client"
    );
    // Without a trusted proxy the header is ignored: the peer (127.0.0.1) counts,
    // whatever address each request claims.
    for (i, xff) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(attempt(&untrusted, format!("v{i}"), xff).await, 401);
    }
    assert_eq!(attempt(&untrusted, "v9".into(), "203.0.113.4").await, 429);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_one_replica_is_accepted_by_another_and_survives_key_rotation() {
    let a = TestApp::spawn_with(Backend::Postgres, |c| {
        c.tokens.keys_refresh = Default::default()
    })
    .await;
    let b = a
        .replica(|c| c.tokens.keys_refresh = Default::default())
        .await;
    a.create_user("ivan").await;
    let old = a.tokens("ivan", PASSWORD).await;
    assert_eq!(b.me(&old.access_token).await.status().as_u16(), 200);
    let jwks_b: Value = b.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert!(verify_with_jwks(&old.access_token, &jwks_b));
    let old_kid = header_of(&old.access_token)["kid"].clone();

    // `authd keys rotate`, as an operator runs it.
    let url = a.pg.as_ref().unwrap().url.clone();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &url)
        .env("AUTHD_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_kid = rotated["kid"].clone();
    assert_ne!(new_kid, old_kid);

    let new = a.tokens("ivan", PASSWORD).await;
    assert_eq!(header_of(&new.access_token)["kid"], new_kid);
    for app in [&a, &b] {
        assert_eq!(
            app.me(&old.access_token).await.status().as_u16(),
            200,
            "old key still verifies"
        );
        assert_eq!(app.me(&new.access_token).await.status().as_u16(), 200);
        let jwks: Value = app
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        let kids: Vec<Value> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].clone())
            .collect();
        assert_eq!(kids, [new_kid.clone(), old_kid.clone()]);
        assert!(
            verify_with_jwks(&old.access_token, &jwks)
                && verify_with_jwks(&new.access_token, &jwks)
        );
    }
    // Once every token the old key signed has expired, it is no longer published.
    a.clock.advance(Duration::seconds(900 + 60));
    let jwks: Value = b.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], new_kid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_spread_over_two_replicas_are_counted_together() {
    let a = TestApp::spawn_with(Backend::Postgres, |c| c.throttle.account_failures = 4).await;
    let b = a.replica(|c| c.throttle.account_failures = 4).await;
    a.create_user("judy").await;
    for app in [&a, &b, &a, &b] {
        problem(app.login("judy", "wrong password").await, 401).await;
    }
    problem(a.login("judy", PASSWORD).await, 429).await;
    problem(b.login("judy", PASSWORD).await, 429).await;
    a.clock.advance(Duration::seconds(1));
    b.tokens("judy", PASSWORD).await;
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

    // Past the failure window the counters go (the account's and the address's),
    // and the sessions stay.
    app.clock.advance(Duration::minutes(16));
    assert_eq!(prune().await.unwrap(), 2);
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
}
