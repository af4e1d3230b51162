//! Whose key it is: a key is scoped to the client address (behind a trusted
//! proxy, the forwarded one) and, on routes that need a token, to the bearer.

use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{problem, sign_up_body, Backend, TestApp, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_answer_is_replayed_only_to_the_same_bearer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let id = app.create_user("owner").await;
    let login = |name: &'static str| {
        let app = &app;
        async move {
            let tokens: crate::helpers::Tokens =
                app.login(name, PASSWORD).await.json().await.unwrap();
            tokens.access_token
        }
    };
    let token = login("owner").await;
    app.create_user("other").await;
    let other = login("other").await;
    let patch = |token: Option<String>| {
        let mut request = app
            .client
            .patch(app.url(&format!("/auth/user/{id}")))
            .header("idempotency-key", "profile")
            .json(&json!({ "email": "owner2@example.com" }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(
        patch(Some(token.clone())).await.unwrap().status().as_u16(),
        200
    );
    let replayed = patch(Some(token)).await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    // No token: the route's own 401, not a replay nor a key error.
    problem(patch(None).await.unwrap(), 401).await;
    // Another token with the same key and body is another request.
    let stolen = problem(patch(Some(other)).await.unwrap(), 422).await;
    assert_eq!(stolen["type"], "urn:authd:problem:idempotency-key-reused");
}

both_stores!(a_key_from_another_client_address_is_another_key);

/// Behind a trusted proxy each client is its forwarded address: the same key from
/// another address is that client's own key, never a replay of the first client's
/// answer (which names the first client's user) nor a "reused key" refusal.
async fn a_key_from_another_client_address_is_another_key(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let send = |from: &'static str, body: Value| {
        app.client
            .post(app.url("/auth/user"))
            .header("x-forwarded-for", from)
            .header("idempotency-key", "same-key")
            .json(&body)
            .send()
    };
    let first = send("198.51.100.1", sign_up_body("first")).await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();

    // Another address, the same key and another body: its own sign-up.
    let other = send("198.51.100.2", sign_up_body("second")).await.unwrap();
    assert_eq!(other.status().as_u16(), 201, "not 422 for another's key");
    assert!(other.headers().get("idempotent-replayed").is_none());
    let other: Value = other.json().await.unwrap();
    assert_ne!(other["id"], first["id"]);
    // Another address, the same key and the first body: done again (so refused
    // as taken), not the first client's answer replayed.
    let copy = send("198.51.100.3", sign_up_body("first")).await.unwrap();
    assert!(copy.headers().get("idempotent-replayed").is_none());
    problem(copy, 409).await;

    // Each client's own repeat is still replayed its own answer.
    let again = send("198.51.100.1", sign_up_body("first")).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let again = send("198.51.100.2", sign_up_body("second")).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), other);
    assert_eq!(app.users().await, 2);
    let scopes = "SELECT COUNT(DISTINCT scope) FROM idempotency_keys WHERE key = 'same-key'";
    assert_eq!(app.scalar(scopes).await, 2, "one key per client address");
}
