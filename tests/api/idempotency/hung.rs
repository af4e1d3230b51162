//! A replica that hangs (SIGSTOP) while it runs a keyed sign-up: once its lease
//! on the key runs out, a retry of the same key on another replica does the work;
//! when the hung replica wakes, it keeps nothing and writes nothing: one user,
//! one event, and A answers "in progress".

use std::time::{Duration, Instant};

use crate::helpers::{eventually, sign_up_body, Replica};
use crate::pg::PgServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_replica_that_wakes_keeps_nothing() {
    let pg = PgServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A has one hashing thread and the costliest hash it accepts (64 MiB, 4 passes);
    // 30 sign-ups queued ahead of the keyed one keep it waiting for seconds, with
    // its key claimed: long enough to stop A in the middle of the request.
    let slow = [
        ("AUTHD_ARGON2_MEMORY_KIB", "65536"),
        ("AUTHD_ARGON2_ITERATIONS", "4"),
        ("AUTHD_HASH_WORKERS", "1"),
        ("AUTHD_HASH_QUEUE", "1000"),
        ("AUTHD_HASH_QUEUE_WAIT_MS", "60000"),
    ];
    let a = Replica::start_with("hung-a", &pg.url, None, dir.path(), &slow);
    let b = Replica::start("hung-b", &pg.url, None, dir.path());
    let db = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let ahead: Vec<_> = (0..30)
        .map(|i| {
            let request = client
                .post(a.url("/auth/user"))
                .json(&sign_up_body(&format!("ahead{i}")));
            tokio::spawn(async move { request.send().await.map(|answer| answer.status().as_u16()) })
        })
        .collect();
    let body = sign_up_body("hung");
    let send = |url: String| {
        let (client, body) = (client.clone(), body.clone());
        async move {
            let answer = client
                .post(url)
                .header("idempotency-key", "k-hung")
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                answer.status().as_u16(),
                answer.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let db_ref = &db;
    eventually(30, "the sign-ups ahead reached A", || async move {
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(db_ref)
            .await
            .unwrap();
        users >= 1
    })
    .await;
    let first = tokio::spawn(send(a.url("/auth/user")));
    // A holds the key (its request is waiting for the hashing thread) ...
    eventually(30, "A claimed the key", || async move {
        let running: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys WHERE status IS NULL")
                .fetch_one(db_ref)
                .await
                .unwrap();
        running == 1
    })
    .await;
    // ... and hangs before it finishes.
    a.signal("STOP");
    let hung = "SELECT COUNT(*) FROM users WHERE username = 'hung'";
    let users: i64 = sqlx::query_scalar(hung).fetch_one(&db).await.unwrap();
    assert_eq!(users, 0, "A was stopped before it wrote the user");
    // The retry on B: 409 "in progress" while A's lease lasts, then B does it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let created = loop {
        let (status, answer) = send(b.url("/auth/user")).await;
        match status {
            201 => break answer,
            409 => {}
            other => panic!("the retry on B got {other}: {answer}"),
        }
        assert!(Instant::now() < deadline, "B never took the key over");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // A wakes and finishes what it started.
    a.signal("CONT");
    // A's sign-up writes nothing (its key is B's now) and says "in progress": its
    // client, retrying, would get B's answer, not a 409 "taken" for its own user.
    let (status, answer) = first.await.unwrap();
    assert_eq!(
        (status, answer["type"].as_str()),
        (409, Some("urn:authd:problem:idempotency-key-in-progress")),
        "A answered {answer}"
    );
    let users: i64 = sqlx::query_scalar(hung).fetch_one(&db).await.unwrap();
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox o JOIN users u ON u.id = o.aggregate_id \
         WHERE u.username = 'hung' AND o.event_type = 'authd.user.created'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((users, events), (1, 1), "A answered {status} {answer}");
    // The key keeps B's answer: a replay on either replica gets B's user.
    for replica in [&a, &b] {
        let (status, replay) = send(replica.url("/auth/user")).await;
        assert_eq!(
            (status, &replay["id"]),
            (201, &created["id"]),
            "A answered {status} {answer} when it woke"
        );
    }
    for request in ahead {
        assert_eq!(
            request.await.unwrap().unwrap(),
            201,
            "a sign-up queued on A before it hung"
        );
    }
}

/// A replica that hangs in the middle of a transaction (here: its key claimed,
/// its COMMIT not yet sent) holds that transaction's locks while it sleeps:
/// without a limit, the retry of the same key on any other replica waits for it
/// to wake. Postgres ends a transaction idle for 1 s (`store::postgres`), so the
/// retry on B goes through while A is still stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_hung_inside_a_transaction_does_not_hold_up_the_retry() {
    let pg = PgServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Replica::start("txn-a", &pg.url, None, dir.path());
    let b = Replica::start("txn-b", &pg.url, None, dir.path());
    let db = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let body = sign_up_body("stuck");
    let send = |url: String| {
        let request = client
            .post(url)
            .header("idempotency-key", "k-stuck")
            .json(&body);
        async move { request.send().await.map(|answer| answer.status().as_u16()) }
    };
    // The key's row written by another transaction, not yet committed: A's claim
    // (the first statement of its transaction) waits for it ...
    let mut gate = db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at, expires_at) \
         VALUES ('127.0.0.1', 'k-stuck', '\\x00', now(), now() + interval '1 day')",
    )
    .execute(&mut *gate)
    .await
    .unwrap();
    let first = tokio::spawn(send(a.url("/auth/user")));
    let db_ref = &db;
    eventually(
        30,
        "A's claim waits for the other transaction",
        || async move {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'authd' \
             AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO idempotency_keys%'",
            )
            .fetch_one(db_ref)
            .await
            .unwrap();
            waiting == 1
        },
    )
    .await;
    // ... A hangs, then that transaction rolls back: A's INSERT claims the key in
    // Postgres, and A's transaction stays open with nobody to end it.
    a.signal("STOP");
    gate.rollback().await.unwrap();
    eventually(30, "A's transaction holds the key, idle", || async move {
        let idle: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'authd' \
             AND state = 'idle in transaction' AND backend_xid IS NOT NULL \
             AND query LIKE 'INSERT INTO idempotency_keys%'",
        )
        .fetch_one(db_ref)
        .await
        .unwrap();
        idle == 1
    })
    .await;
    // A stays stopped until B answered: without the limit, B waits for A (its
    // client gives up after 20 s).
    let sent = Instant::now();
    let retried = send(b.url("/auth/user")).await;
    let waited = sent.elapsed();
    assert_eq!(retried.ok(), Some(201), "B answered after {waited:?}");
    a.signal("CONT");
    // A's transaction was ended for it: it wrote nothing, whatever it answers.
    let _ = first.await.unwrap();
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = 'stuck'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(users, 1);
}
