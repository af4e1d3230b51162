//! The logs say what happened and never carry a secret: no password, no hash, no
//! access or refresh token, not even a token's signature.

use serde_json::{json, Value};

use crate::helpers::Replica;
use crate::pg::PgServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_login_and_account_changes_leave_no_secret_in_the_logs() {
    let pg = PgServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let authd = Replica::start_with("logs", &pg.url, None, dir.path(), &[("RUST_LOG", "debug")]);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", authd.port);
    let (first, second) = ("first secret passphrase", "second secret passphrase");
    let created: Value = client
        .post(url("/auth/user"))
        .json(&json!({ "username": "lena", "email": "lena@example.com", "password": first }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let wrong = client
        .post(url("/auth/login"))
        .json(&json!({ "login": "lena", "password": "guessed secret" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let tokens: Value = client
        .post(url("/auth/login"))
        .json(&json!({ "login": "lena", "password": first }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refreshed: Value = client
        .post(url("/auth/token"))
        .json(&json!({ "refresh_token": tokens["refresh_token"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = refreshed["access_token"].as_str().unwrap();
    let changed = client
        .put(url(&format!("/auth/user/{id}/password")))
        .bearer_auth(access)
        .json(&json!({ "current_password": first, "new_password": second }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status().as_u16(), 204);
    let hash = {
        let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
        let h: String = sqlx::query_scalar("SELECT password_hash FROM users")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        h
    };
    drop(authd); // SIGKILL: everything written so far is in the file
    let log = std::fs::read_to_string(dir.path().join("logs.log")).unwrap();

    // The log is there and says what happened...
    let finished: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "request finished")
        .collect();
    assert!(finished.len() >= 5, "{log}");
    let line = &finished[0];
    assert!(
        line["status"].is_number() && line["latency_ms"].is_number(),
        "{line}"
    );
    let span = &line["spans"][0];
    for field in ["request_id", "route", "replica", "method"] {
        assert!(span[field].is_string(), "{field} in {line}");
    }
    // ...and never a password, a hash, an access token or a refresh token.
    let signature = |t: &str| t.rsplit('.').next().unwrap().to_string();
    let secrets = [
        first.to_string(),
        second.to_string(),
        "guessed secret".to_string(),
        hash.clone(),
        "$argon2id$".to_string(),
        tokens["access_token"].as_str().unwrap().to_string(),
        signature(tokens["access_token"].as_str().unwrap()),
        signature(access),
        tokens["refresh_token"].as_str().unwrap().to_string(),
        refreshed["refresh_token"].as_str().unwrap().to_string(),
    ];
    for secret in secrets {
        assert!(!log.contains(&secret), "a secret in the log: {secret}");
    }
}
