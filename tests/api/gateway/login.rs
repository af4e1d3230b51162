//! Logging in through nginx: a token from one replica is good on the other, and
//! failed logins count against the address nginx saw, not what the client claims.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::Gateway;
use crate::helpers::{sign_up_body, Replica, PASSWORD};
use crate::pg::PgServer;

/// A client whose connections come from `source` (any 127/8 address is loopback).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_nginx_works_on_every_replica_and_counts_the_real_client() {
    let pg = PgServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // nginx (127.0.0.1) is the trusted proxy; clients connect from 127.0.0.2/3.
    let env = [
        ("AUTHD_TRUSTED_PROXIES", "127.0.0.1"),
        ("AUTHD_LOGIN_MAX_FAILURES", "100"),
        ("AUTHD_LOGIN_MAX_FAILURES_PER_CLIENT", "3"),
    ];
    let a = Replica::start_with("replica-a", &pg.url, None, dir.path(), &env);
    let b = Replica::start_with("replica-b", &pg.url, None, dir.path(), &env);
    let gateway = Gateway::start(&[&a, &b], dir.path());
    let client = client_from("127.0.0.2");
    let created = client
        .post(gateway.url("/auth/user"))
        .json(&sign_up_body("nina"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let login = json!({ "login": "nina", "password": PASSWORD });
    let tokens: Value = client
        .post(gateway.url("/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let mut served = HashSet::new();
    for _ in 0..6 {
        let me = client
            .get(gateway.url("/auth/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status().as_u16(), 200);
        served.insert(
            me.headers()["x-authd-instance"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        served.len(),
        2,
        "both replicas accept the token: {served:?}"
    );
    let jwks = client
        .get(gateway.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status().as_u16(), 200);

    // Failed logins count against the address nginx saw, whatever X-Forwarded-For
    // the client sends along.
    let attempt = |client: &reqwest::Client, i: usize| {
        client
            .post(gateway.url("/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({ "login": format!("ghost{i}"), "password": "wrong password" }))
            .send()
    };
    for i in 0..3 {
        assert_eq!(attempt(&client, i).await.unwrap().status().as_u16(), 401);
    }
    let locked = attempt(&client, 9).await.unwrap();
    assert_eq!(locked.status().as_u16(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    let other = client_from("127.0.0.3");
    assert_eq!(attempt(&other, 9).await.unwrap().status().as_u16(), 401);
}
