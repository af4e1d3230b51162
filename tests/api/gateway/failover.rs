//! A replica SIGKILLed in the middle of a run: nginx sends later requests to the
//! other one, and every 201, before or after the kill, has its row and its event.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Gateway;
use crate::broker::Broker;
use crate::helpers::{eventually, read_topic, sign_up_body, Replica};
use crate::pg::PgServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_run_costs_later_requests_nothing() {
    let pg = PgServer::start().await;
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Replica::start("replica-a", &pg.url, Some(&broker.brokers()), dir.path());
    let b = Replica::start("replica-b", &pg.url, Some(&broker.brokers()), dir.path());
    let gateway = Gateway::start(&[&a, &b], dir.path());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (client, url) = (client.clone(), gateway.url("/auth/user"));
        workers.spawn(async move {
            let mut results = Vec::new();
            for i in 0..60 {
                let sent = started.elapsed();
                let outcome = client
                    .post(&url)
                    .json(&sign_up_body(&format!("fail{w}_{i}")))
                    .send()
                    .await;
                let outcome = match outcome {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        Ok((status, body["id"].as_str().map(str::to_string)))
                    }
                    Err(e) => Err(e.to_string()),
                };
                results.push((sent, outcome));
            }
            results
        });
    }
    let users = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let pool = &users;
    eventually(
        60,
        "40 users signed up through the gateway",
        || async move {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await
                .unwrap_or(0);
            n >= 40
        },
    )
    .await;
    a.kill();
    let killed = started.elapsed();
    let results: Vec<_> = workers.join_all().await.into_iter().flatten().collect();

    let after: Vec<_> = results.iter().filter(|(sent, _)| *sent > killed).collect();
    assert!(
        after.len() >= 50,
        "the run went on after the kill ({} requests)",
        after.len()
    );
    for (sent, outcome) in &after {
        match outcome {
            Ok((201, Some(_))) => {}
            other => panic!(
                "request sent {:?} after the kill got {other:?}",
                *sent - killed
            ),
        }
    }
    // every 201, before or after the kill, has its row and its event
    let created: HashSet<String> = results
        .iter()
        .filter_map(|(_, o)| match o {
            Ok((201, Some(id))) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id::text = ANY($1)")
        .bind(created.iter().cloned().collect::<Vec<_>>())
        .fetch_one(&users)
        .await
        .unwrap();
    assert_eq!(rows as usize, created.len());
    eventually(60, "every event left the outbox", || async move {
        let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(pool)
            .await
            .unwrap();
        waiting == 0
    })
    .await;
    let published: HashSet<String> = read_topic(&broker.brokers(), 60)
        .await
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<_> = created.difference(&published).collect();
    assert!(
        missing.is_empty(),
        "{} users have no event: {missing:?}",
        missing.len()
    );
}
