//! Access tokens: expiry without sleeping, refused forgeries, verification with the
//! JWKS alone, and keys shared and rotated across replicas.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::both_stores;
use crate::helpers::{claims_of, header_of, problem, Backend, TestApp, Tokens, PASSWORD};

both_stores!(
    expiry_is_enforced_without_sleeping,
    tampered_wrong_alg_and_wrong_audience_tokens_are_refused,
    jwks_verifies_the_access_token,
);

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
fn verify_with_jwks(token: &str, jwks: &Value) -> bool {
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
    let out = crate::helpers::child_command(env!("CARGO_BIN_EXE_authd"))
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

/// JWT middleware finds the issuer, the keys and the algorithm from the issuer's
/// discovery document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_the_issuer_the_keys_and_the_algorithm() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], app.state.tokens.config.issuer.as_str());
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    // Both from the configuration (AUTHD_PUBLIC_URL), never from the request.
    assert_eq!(doc["issuer"], &*app.state.public_url);
    let jwks_uri = doc["jwks_uri"].as_str().unwrap();
    assert_eq!(
        jwks_uri,
        format!("{}/.well-known/jwks.json", app.state.public_url)
    );
    let jwks = app.json_at(&app.url("/.well-known/jwks.json"), None).await;
    let t = {
        app.create_user("discovered").await;
        app.tokens("discovered", PASSWORD).await
    };
    assert!(verify_with_jwks(&t.access_token, &jwks));

    let public = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.public_url = "https://auth.example.com".into();
    })
    .await;
    let doc: Value = public
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
}
