//! Keys of requests still running, abandoned or failed: a repeat meanwhile waits up
//! to a lease for the answer, and is told so (409) past it; a lease that runs out
//! is taken over, a 5xx releases the key, and a release after an ambiguous commit
//! keeps the answer.

use authd::clock::Clock;
use authd::hashing::HashParams;
use serde_json::Value;

use super::post_keyed;
use crate::both_stores;
use crate::helpers::{eventually, problem, sign_up_body, Backend, Db, TestApp, PASSWORD};

both_stores!(
    a_repeat_while_the_first_runs_waits_for_its_answer,
    a_server_error_releases_the_key_so_a_retry_does_the_work,
    a_key_whose_lease_ran_out_unfinished_is_taken_over,
    a_key_released_during_the_wait_is_not_run_again,
    repeats_past_the_room_to_wait_get_409_at_once,
    a_short_wait_does_not_send_its_client_straight_back,
    a_holder_whose_key_was_taken_over_writes_nothing,
    a_release_after_an_ambiguous_commit_keeps_the_answer,
);

/// An app with one hashing thread at ~100 ms a hash.
async fn slow_app(backend: Backend) -> TestApp {
    let slow = HashParams {
        iterations: 10,
        ..HashParams::OWASP
    };
    TestApp::spawn_with(backend, |c| {
        c.hash = slow;
        c.hash_pool.workers = 1;
    })
    .await
}

/// A keyed sign-up of `name` that has claimed its key and waits for the hashing
/// thread behind three sign-ups queued ahead (returned too, to be awaited).
async fn held_in_the_pool(
    app: &TestApp,
    key: &'static str,
    name: &'static str,
) -> (
    tokio::task::JoinHandle<reqwest::Response>,
    tokio::task::JoinSet<reqwest::StatusCode>,
) {
    let hasher = &app.state.hasher;
    let base = hasher.ran() + hasher.pending();
    let mut ahead = tokio::task::JoinSet::new();
    for i in 0..3 {
        let (client, url) = (app.client.clone(), app.url("/auth/user"));
        ahead.spawn(async move {
            client
                .post(url)
                .json(&sign_up_body(&format!("ahead{i}")))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    // All three in the pool (queued or hashed) before the keyed one is sent.
    eventually(
        10,
        "the three sign-ups reach the hashing pool",
        || async move { hasher.ran() + hasher.pending() >= base + 3 },
    )
    .await;
    let first = {
        let (client, url) = (app.client.clone(), app.url("/auth/user"));
        tokio::spawn(async move {
            client
                .post(url)
                .header("idempotency-key", key)
                .json(&sign_up_body(name))
                .send()
                .await
                .unwrap()
        })
    };
    eventually(
        10,
        "the keyed sign-up holds its key, unfinished",
        || async move {
            let running = format!(
                "SELECT COUNT(*) FROM idempotency_keys WHERE key = '{key}' AND status IS NULL"
            );
            app.scalar(&running).await == 1 && hasher.ran() + hasher.pending() >= base + 4
        },
    )
    .await;
    (first, ahead)
}

async fn a_repeat_while_the_first_runs_waits_for_its_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = post_keyed(&app, "slow", &sign_up_body("slow")).await;
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    // As if the first were still running, its lease renewed 0.1 s ago.
    let lease = app.clock.now() + chrono::Duration::milliseconds(900);
    let lease = lease.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    app.execute(&format!(
        "UPDATE idempotency_keys SET status = NULL, claim = 'running', lease_until = '{lease}'"
    ))
    .await;
    let repeat = {
        let (client, url) = (app.client.clone(), app.url("/auth/user"));
        tokio::spawn(async move {
            client
                .post(url)
                .header("idempotency-key", "slow")
                .json(&sign_up_body("slow"))
                .send()
                .await
                .unwrap()
        })
    };
    // The first answers while the repeat waits (its stored body was kept above).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.execute("UPDATE idempotency_keys SET status = 201, lease_until = NULL")
        .await;
    let repeat = repeat.await.unwrap();
    assert_eq!(
        repeat.status().as_u16(),
        201,
        "the repeat waits for the answer"
    );
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    assert_eq!(repeat.json::<Value>().await.unwrap(), first);
    assert_eq!(app.users().await, 1);
}

async fn a_server_error_releases_the_key_so_a_retry_does_the_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The outbox is gone: the sign-up's transaction fails (500) and writes nothing.
    app.execute("ALTER TABLE outbox RENAME TO outbox_away")
        .await;
    let failed = post_keyed(&app, "retry-me", &sign_up_body("retried")).await;
    assert_eq!(failed.status().as_u16(), 500);
    app.execute("ALTER TABLE outbox_away RENAME TO outbox")
        .await;
    let retried = post_keyed(&app, "retry-me", &sign_up_body("retried")).await;
    assert_eq!(retried.status().as_u16(), 201, "the key was released");
    assert!(retried.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.users().await, 1);
}

async fn a_key_whose_lease_ran_out_unfinished_is_taken_over(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = post_keyed(&app, "orphan", &sign_up_body("orphan")).await;
    assert_eq!(first.status().as_u16(), 201);
    // As if the replica that claimed the key had been killed before it did the
    // work: no user, the key unfinished and leased to a claim that will never end.
    app.execute("DELETE FROM outbox").await;
    app.execute("DELETE FROM users").await;
    app.execute(
        "UPDATE idempotency_keys SET status = NULL, response_headers = NULL, \
         response_body = NULL, claim = 'killed', lease_until = '2999-01-01T00:00:00.000000Z'",
    )
    .await;
    let held = post_keyed(&app, "orphan", &sign_up_body("orphan")).await;
    // It waited a lease for the holder already: its client may retry at once.
    assert_eq!(held.headers()["retry-after"], "0");
    let held = problem(held, 409).await;
    assert_eq!(
        held["type"], "urn:authd:problem:idempotency-key-in-progress",
        "the lease still runs"
    );
    assert_eq!(app.users().await, 0);
    // Its last renewal left 0.9 s: the retry waits for the lease to run out (the
    // clock moves on meanwhile) and takes the key over, instead of a 409 and its
    // client's 1 s Retry-After.
    let soon = app.clock.now() + chrono::Duration::milliseconds(900);
    let soon = soon.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    app.execute(&format!(
        "UPDATE idempotency_keys SET lease_until = '{soon}'"
    ))
    .await;
    let retry = {
        let (client, url) = (app.client.clone(), app.url("/auth/user"));
        tokio::spawn(async move {
            client
                .post(url)
                .header("idempotency-key", "orphan")
                .json(&sign_up_body("orphan"))
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.clock.advance(chrono::Duration::seconds(1));
    let taken_over = retry.await.unwrap();
    assert_eq!(
        taken_over.status().as_u16(),
        201,
        "the lease ran out during the wait: the work is done"
    );
    assert!(taken_over.headers().get("idempotent-replayed").is_none());
    let replayed = post_keyed(&app, "orphan", &sign_up_body("orphan")).await;
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(app.users().await, 1);
}

/// 60 copies of a request that fails fast ran it 60 times, one after another: each
/// waiting copy found the key released by the failed one before it and ran the
/// request itself. A waiting repeat never runs it: a released key is 409.
async fn a_key_released_during_the_wait_is_not_run_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = post_keyed(&app, "failing", &sign_up_body("failing")).await;
    assert_eq!(first.status().as_u16(), 201);
    let soon = app.clock.now() + chrono::Duration::milliseconds(900);
    let soon = soon.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    app.execute(&format!(
        "UPDATE idempotency_keys SET status = NULL, response_headers = NULL, \
         response_body = NULL, claim = 'failing', lease_until = '{soon}'"
    ))
    .await;
    let repeat = {
        let (client, url) = (app.client.clone(), app.url("/auth/user"));
        tokio::spawn(async move {
            client
                .post(url)
                .header("idempotency-key", "failing")
                .json(&sign_up_body("failing"))
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The holder failed (a 5xx): it lets the key go.
    app.execute("DELETE FROM idempotency_keys").await;
    let repeat = problem(repeat.await.unwrap(), 409).await;
    assert_eq!(
        repeat["type"], "urn:authd:problem:idempotency-key-in-progress",
        "the waiting repeat did not run the sign-up again (that is 409 taken)"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM idempotency_keys").await, 0);
}

/// Copies of a running keyed request each wait up to a second for its holder,
/// reading the key every 100 ms: past 128 waiting on a replica, a copy gets 409 at
/// once and costs the database nothing more. A copy that waited is told to retry
/// at once (`Retry-After: 0`: its retry waits on the server again); one turned
/// away without a wait, in a second.
async fn repeats_past_the_room_to_wait_get_409_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = post_keyed(&app, "crowd", &sign_up_body("crowd")).await;
    assert_eq!(first.status().as_u16(), 201);
    app.execute(
        "UPDATE idempotency_keys SET status = NULL, response_headers = NULL, \
         response_body = NULL, claim = 'running', lease_until = '2999-01-01T00:00:00.000000Z'",
    )
    .await;
    let mut copies = tokio::task::JoinSet::new();
    for _ in 0..160 {
        let (client, url) = (app.client.clone(), app.url("/auth/user"));
        copies.spawn(async move {
            let answer = client
                .post(url)
                .header("idempotency-key", "crowd")
                .json(&sign_up_body("crowd"))
                .send()
                .await
                .unwrap();
            let retry_after = answer.headers()["retry-after"].to_str().unwrap().to_owned();
            (answer.status().as_u16(), retry_after)
        });
    }
    let answers = copies.join_all().await;
    assert!(answers.iter().all(|(s, _)| *s == 409), "{answers:?}");
    let waited = answers.iter().filter(|(_, after)| after == "0").count();
    let turned_away = answers.iter().filter(|(_, after)| after == "1").count();
    assert_eq!(waited + turned_away, 160, "{answers:?}");
    assert!((1..=128).contains(&waited), "{waited} waited: {answers:?}");
    assert!(turned_away >= 32, "{turned_away} turned away: {answers:?}");
    let metrics = app
        .client
        .get(format!("http://{}/metrics", app.metrics_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let no_room = metrics
        .lines()
        .find(|l| l.starts_with("authd_idempotency_waits_total{outcome=\"no_room\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(no_room >= 1.0, "no copy was turned away:\n{metrics}");
}

/// A sign-up keeps its answer in its own transaction. When the commit succeeds but
/// the replica sees an error (the database went away at that moment), it answers
/// 503 and releases the key: the release must leave the kept answer, so that the
/// client's retry is replayed its 201 instead of redoing the sign-up (409 "taken"
/// for its own user, as a Postgres restart under load once showed in CI).
async fn a_release_after_an_ambiguous_commit_keeps_the_answer(backend: Backend) {
    use authd::clock::Clock;
    use authd::store::{Claimed, KeyLease, Store};
    let app = TestApp::spawn(backend).await;
    let store = Store::connect(&app.store_config, 1).await.unwrap();
    let now = app.clock.now();
    let lease = KeyLease {
        claim: "first".into(),
        until: now + chrono::Duration::seconds(15),
    };
    let claim = |lease| {
        let store = store.clone();
        async move {
            store
                .claim_idempotency_key(
                    ("client", "k"),
                    b"fp",
                    now,
                    now + chrono::Duration::hours(24),
                    &lease,
                    1_000,
                )
                .await
                .unwrap()
        }
    };
    assert!(matches!(claim(lease.clone()).await, Claimed::Started));
    // What the sign-up's transaction wrote before the connection broke.
    app.execute("UPDATE idempotency_keys SET status = 201, response_headers = '[]'")
        .await;
    store
        .release_idempotency_key("client", "k", "first")
        .await
        .unwrap();
    let retry = KeyLease {
        claim: "retry".into(),
        ..lease.clone()
    };
    match claim(retry).await {
        Claimed::Done(answer) => assert_eq!(answer.status, 201),
        other => panic!("the kept answer was released: {other:?}"),
    }
    // A key without an answer is released as before.
    app.execute("DELETE FROM idempotency_keys").await;
    assert!(matches!(claim(lease.clone()).await, Claimed::Started));
    store
        .release_idempotency_key("client", "k", "first")
        .await
        .unwrap();
    assert_eq!(app.scalar("SELECT COUNT(*) FROM idempotency_keys").await, 0);
    store.close().await;
}

/// A sign-up still running when a retry took its key over (its lease ran out: the
/// replica hung, or could not renew while the database was away) writes nothing:
/// only the retry's user counts, and the late holder says "in progress", so its
/// client retries into the retry's answer instead of getting "taken".
async fn a_holder_whose_key_was_taken_over_writes_nothing(backend: Backend) {
    let app = &slow_app(backend).await;
    let (first, ahead) = held_in_the_pool(app, "late", "late").await;
    // As a retry on another replica does once the lease ran out: a claim of its own.
    app.execute("UPDATE idempotency_keys SET claim = 'the-retry' WHERE key = 'late'")
        .await;
    let late = problem(first.await.unwrap(), 409).await;
    assert_eq!(
        late["type"], "urn:authd:problem:idempotency-key-in-progress",
        "{late}"
    );
    ahead.join_all().await;
    let late_users = "SELECT COUNT(*) FROM users WHERE username = 'late'";
    assert_eq!(
        app.scalar(late_users).await,
        0,
        "the late holder wrote its user"
    );
    assert_eq!(
        app.users().await,
        3,
        "the three sign-ups ahead, nothing else"
    );
}

/// The same for a keyed change of a user (PATCH): a holder whose key a retry took
/// over while it waited (here on the user's row, locked by the test; in life a
/// hang or a slow database) writes nothing when it goes on. Without that, the
/// late holder would write its change again after the retry did, and after any
/// later change of the client: the older value would win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_key_was_taken_over_writes_nothing() {
    let app = &TestApp::spawn(Backend::Postgres).await;
    let created: Value = post_keyed(app, "signed-up", &sign_up_body("patched"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let token = app.tokens("patched", PASSWORD).await.access_token;
    let Db::Postgres(db) = &app.store else {
        unreachable!("a Postgres app")
    };
    let mut gate = db.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM users WHERE username = 'patched' FOR UPDATE")
        .execute(&mut *gate)
        .await
        .unwrap();
    let change = {
        let request = app
            .client
            .patch(app.url(&format!("/auth/user/{id}")))
            .bearer_auth(&token)
            .header("idempotency-key", "renamed")
            .json(&serde_json::json!({ "username": "renamed" }));
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    eventually(30, "the change waits on the user's row", || async move {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE 'UPDATE users SET username%'",
        )
        .fetch_one(db)
        .await
        .unwrap();
        waiting == 1
    })
    .await;
    app.execute("UPDATE idempotency_keys SET claim = 'the-retry' WHERE key = 'renamed'")
        .await;
    gate.commit().await.unwrap();
    let late = problem(change.await.unwrap(), 409).await;
    assert_eq!(
        late["type"], "urn:authd:problem:idempotency-key-in-progress",
        "{late}"
    );
    let renamed = "SELECT COUNT(*) FROM users WHERE username = 'renamed'";
    assert_eq!(
        app.scalar(renamed).await,
        0,
        "the late holder wrote its change"
    );
}

/// A repeat whose holder's lease was near its end waits only that long; when the
/// holder still holds the key then, the 409 says `Retry-After: 1`, not 0: a
/// client told to retry at once after a few milliseconds would loop.
async fn a_short_wait_does_not_send_its_client_straight_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = post_keyed(&app, "short", &sign_up_body("short")).await;
    assert_eq!(first.status().as_u16(), 201);
    // As if the first still ran, its lease 0.15 s from its end (and renewed
    // meanwhile: the test clock does not reach it).
    let lease = app.clock.now() + chrono::Duration::milliseconds(150);
    let lease = lease.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    app.execute(&format!(
        "UPDATE idempotency_keys SET status = NULL, response_headers = NULL, \
         response_body = NULL, claim = 'running', lease_until = '{lease}'"
    ))
    .await;
    let repeat = post_keyed(&app, "short", &sign_up_body("short")).await;
    assert_eq!(repeat.headers()["retry-after"], "1");
    let repeat = problem(repeat, 409).await;
    assert_eq!(
        repeat["type"],
        "urn:authd:problem:idempotency-key-in-progress"
    );
}
