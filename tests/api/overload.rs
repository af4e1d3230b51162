//! Logins when hashing is saturated: what does not fit in the hashing queue is
//! refused at once with 503 and Retry-After (never left to time out), and counts as
//! no failed attempt.

use authd::hashing::HashParams;
use serde_json::json;

use crate::both_stores;
use crate::helpers::{Backend, TestApp, PASSWORD};

both_stores!(logins_beyond_the_hashing_queue_answer_503_with_retry_after);

async fn logins_beyond_the_hashing_queue_answer_503_with_retry_after(backend: Backend) {
    // One thread, one waiting slot, and a hash of 64 MiB and four passes (a
    // production-like cost): sixteen logins at once cannot all fit.
    let app = TestApp::spawn_with(backend, |c| {
        c.hash = HashParams {
            memory_kib: 65536,
            iterations: 4,
            parallelism: 1,
        };
        c.hash_pool.workers = 1;
        c.hash_pool.queue_bound = Some(1);
        // Logins in flight hold throttle reservations: thresholds above the
        // crowd, so that what refuses them here is the hashing queue alone.
        c.throttle.account_failures = 100;
        c.throttle.client_failures = 100;
    })
    .await;
    app.create_user("crowd").await;
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, url) = (app.client.clone(), app.url("/auth/login"));
        logins.spawn(async move {
            let body = json!({ "login": "crowd", "password": PASSWORD });
            let response = client.post(url).json(&body).send().await.expect("answered");
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, retry_after, body["type"].clone())
        });
    }
    let results = logins.join_all().await;
    let ok = results.iter().filter(|(s, _, _)| *s == 200).count();
    let refused: Vec<_> = results.iter().filter(|(s, _, _)| *s == 503).collect();
    assert!(ok >= 1, "{results:?}");
    assert!(
        !refused.is_empty(),
        "some logins must be refused: {results:?}"
    );
    assert_eq!(ok + refused.len(), 16, "only 200 and 503: {results:?}");
    for (_, retry_after, kind) in &refused {
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(kind, "urn:authd:problem:overloaded");
    }
    // A refused login verified nothing: its reservation was given back.
    let failures = "SELECT CAST(COALESCE(SUM(failures), 0) AS BIGINT) FROM login_throttle";
    assert_eq!(app.scalar(failures).await, 0);
}
