//! The outbox relay against a real broker: nothing lost, order kept per user.

use authd::clock::Clock;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use authd::store::lane_of;
use serde_json::{json, Value};

use crate::both_stores;
use crate::broker::Broker;
use crate::helpers::{eventually, read_topic, relay_to, sign_up_body, Backend, Db, TestApp};

/// Every message in the topic (repeats included), up to its end as it is now.
async fn consume_all(broker: &Broker) -> Vec<Value> {
    read_topic(&broker.brokers(), 60).await
}

/// Event ids by user id, in topic order, duplicates kept.
fn by_user(messages: &[Value]) -> HashMap<String, Vec<Value>> {
    let mut users: HashMap<String, Vec<Value>> = HashMap::new();
    for m in messages {
        assert_eq!(m["key"], m["event"]["subject"], "key = user id");
        assert_eq!(m["headers"]["ce_id"], m["event"]["id"]);
        assert_eq!(m["headers"]["ce_type"], m["event"]["type"]);
        users
            .entry(m["key"].as_str().unwrap().to_string())
            .or_default()
            .push(m["event"].clone());
    }
    users
}

both_stores!(every_committed_sign_up_reaches_the_topic_once);

async fn every_committed_sign_up_reaches_the_topic_once(backend: Backend) {
    let broker = Broker::start();
    let app = TestApp::spawn_with(backend, relay_to(&broker, 500)).await;
    let mut ids = HashSet::new();
    for i in 0..40 {
        ids.insert(app.create_user(&format!("pub{i}")).await);
    }
    app.wait_outbox_empty(60).await;
    let messages = consume_all(&broker).await;
    let users = by_user(&messages);
    assert_eq!(users.keys().cloned().collect::<HashSet<_>>(), ids);
    let event_ids: HashSet<_> = messages.iter().map(|m| m["event"]["id"].clone()).collect();
    assert_eq!(event_ids.len(), 40, "one event per sign-up");
    assert_eq!(messages.len(), 40, "no repeats in the normal case");
    for m in &messages {
        assert_eq!(m["event"]["type"], "authd.user.created");
        assert!(!m["event"].to_string().contains("argon2"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_fails_no_sign_up_and_loses_no_event() {
    let mut broker = Broker::start();
    let app = TestApp::spawn_with(Backend::Postgres, relay_to(&broker, 50)).await;
    app.create_user("before").await;
    app.wait_outbox_empty(60).await;

    let mut writers = tokio::task::JoinSet::new();
    for w in 0..3 {
        let client = app.client.clone();
        let url = app.url("/auth/user");
        writers.spawn(async move {
            let mut created = Vec::new();
            for i in 0..60 {
                let name = format!("outage{w}_{i}");
                let body = sign_up_body(&name);
                let response = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .expect("sign-up answered");
                assert_eq!(
                    response.status().as_u16(),
                    201,
                    "sign-ups need only the database"
                );
                let user: Value = response.json().await.unwrap();
                created.push(user["id"].as_str().unwrap().to_string());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            created
        });
    }
    let app = &app;
    eventually(60, "30 users signed up", || async move {
        app.users().await >= 30
    })
    .await;
    broker.kill();
    // Events pile up while the broker is down (with it up, the relay keeps the
    // outbox to a batch): waiting, not dropped.
    eventually(
        60,
        "20 events waiting while the broker is down",
        || async move { app.outbox().await >= 20 },
    )
    .await;
    broker.restart();

    let mut ids: HashSet<String> = writers.join_all().await.into_iter().flatten().collect();
    assert_eq!(ids.len(), 180);
    app.wait_outbox_empty(90).await;
    let delivered = by_user(&consume_all(&broker).await);
    ids.retain(|id| !delivered.contains_key(id));
    assert!(
        ids.is_empty(),
        "{} users have no event in the topic",
        ids.len()
    );
}

/// Appends an `authd.user.updated` event numbered `n` the way a user change does:
/// in a transaction that locks the user row first.
async fn change_user(store: &Db, user_id: &str, n: u32) {
    let Db::Postgres(pool) = store else {
        unreachable!("postgres only")
    };
    let user: uuid::Uuid = user_id.parse().unwrap();
    let event_id = uuid::Uuid::now_v7();
    let payload = json!({
        "specversion": "1.0", "id": event_id, "source": "authd", "type": "authd.user.updated",
        "subject": user, "time": authd::clock::SystemClock.now(), "datacontenttype": "application/json",
        "data": { "n": n },
    });
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
        .bind(user)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at) \
         VALUES ($1, $2, $3, 'authd.user.updated', $4, now())",
    )
    .bind(event_id)
    .bind(user)
    .bind(lane_of(user))
    .bind(sqlx::types::Json(payload))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('authd_outbox', '')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_racing_keep_each_users_events_in_commit_order() {
    const USERS: usize = 30;
    const CHANGES: u32 = 9;
    let broker = Broker::start();
    // Small batches make the two relays contend for lanes on almost every pass.
    let a = TestApp::spawn_with(Backend::Postgres, relay_to(&broker, 4)).await;
    let b = a.replica(relay_to(&broker, 4)).await;
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..3 {
        let app_url = if w % 2 == 0 {
            a.url("/auth/user")
        } else {
            b.url("/auth/user")
        };
        let client = a.client.clone();
        let store = a.store.clone();
        writers.spawn(async move {
            let mut ids = Vec::new();
            for i in 0..USERS / 3 {
                let name = format!("race{w}_{i}");
                let body = sign_up_body(&name);
                let user: Value = client
                    .post(&app_url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = user["id"].as_str().unwrap().to_string();
                for n in 1..=CHANGES {
                    change_user(&store, &id, n).await;
                }
                ids.push(id);
            }
            ids
        });
    }
    let ids: Vec<String> = writers.join_all().await.into_iter().flatten().collect();
    a.wait_outbox_empty(90).await;
    let messages = consume_all(&broker).await;
    let users = by_user(&messages);
    assert_eq!(users.len(), USERS);
    let total = USERS * (CHANGES as usize + 1);
    let distinct: HashSet<_> = messages.iter().map(|m| m["event"]["id"].clone()).collect();
    assert_eq!(distinct.len(), total, "no event missing");
    assert_eq!(
        messages.len(),
        total,
        "no event relayed twice in the normal case"
    );
    for id in &ids {
        let order: Vec<u64> = users[id]
            .iter()
            .map(|e| e["data"]["n"].as_u64().unwrap_or(0))
            .collect();
        let expected: Vec<u64> = (0..=u64::from(CHANGES)).collect();
        assert_eq!(order, expected, "events of {id} out of order");
        assert_eq!(users[id][0]["type"], "authd.user.created");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_the_broker_down_is_bounded_and_keeps_the_events() {
    let mut broker = Broker::start();
    let mut app = TestApp::spawn_with(Backend::Postgres, relay_to(&broker, 50)).await;
    app.create_user("first").await;
    app.wait_outbox_empty(60).await;
    broker.kill();
    for i in 0..5 {
        app.create_user(&format!("stranded{i}")).await;
    }
    // The relay has claimed them and waits for acks that cannot come: its claim's
    // transaction holds the lanes' advisory locks.
    let held = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted";
    let waiting = &app;
    eventually(30, "the relay holds the stranded events", || async move {
        waiting.scalar(held).await > 0
    })
    .await;
    // A hang guard, not a speed target: the relay's own bound is the 10 s message
    // timeout plus a 5 s flush.
    tokio::time::timeout(Duration::from_secs(60), app.stop())
        .await
        .expect("shutdown finishes with the broker down")
        .unwrap();
    assert_eq!(
        app.outbox().await,
        5,
        "unacknowledged events stay in the outbox"
    );
}
