//! Attacks 3 and 7: argon2 time bought without credentials (an invalid reset token
//! cost a full hash, and 48 clients sending them slowed a real login 50-fold),
//! and imported hashes of absurd cost (4 GiB, 2^32 passes, bcrypt cost 31) that
//! one login would turn into a thread pinned for hours or memory kept for good.

use reqwest::Method;
use serde_json::json;

use super::{at_once, behind_proxy};
use crate::admin::{admin, with_admin};
use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};
use crate::mail::smtp::{token_of, SmtpServer};
use crate::mail::with_mail;

both_stores!(
    an_invalid_reset_token_costs_no_hash_and_is_throttled,
    one_good_reset_token_sent_at_once_buys_one_hash,
    hashes_of_absurd_cost_are_refused_at_import_and_never_verified,
);

async fn an_invalid_reset_token_costs_no_hash_and_is_throttled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        behind_proxy(c);
        c.throttle.client_failures = 10;
    })
    .await;
    let before = app.state.hasher.ran();
    let reset = |token: String| {
        app.client
            .post(app.url("/auth/password/reset"))
            .header("x-forwarded-for", "198.51.100.3")
            .json(&json!({ "token": token, "password": "a new long passphrase" }))
            .send()
    };
    for i in 0..10 {
        let body = problem(reset(format!("{i:0>43}")).await.unwrap(), 401).await;
        assert_eq!(body["type"], "urn:authd:problem:invalid-token");
    }
    assert_eq!(
        app.state.hasher.ran(),
        before,
        "no hash for a token that is not live"
    );
    let refused = problem(reset("x".repeat(43)).await.unwrap(), 429).await;
    assert_eq!(refused["type"], "urn:authd:problem:too-many-attempts");
    assert_eq!(app.state.hasher.ran(), before);
}

async fn hashes_of_absurd_cost_are_refused_at_import_and_never_verified(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    let absurd = [
        "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=19456,t=4294967295,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
        "$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
        "$scrypt$ln=20,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
        "$pbkdf2-sha256$4000000000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
    ];
    for (i, hash) in absurd.iter().enumerate() {
        let body = json!({ "username": format!("absurd{i}"), "email": format!("a{i}@example.com"), "password_hash": hash });
        let refused = problem(
            admin(&app, Method::POST, "/admin/users", Some(body)).await,
            422,
        )
        .await;
        let reason = refused["errors"][0]["reason"].as_str().unwrap();
        assert!(reason.contains(" over "), "{hash}: {reason}");
    }
    let lines: Vec<String> = absurd
        .iter()
        .enumerate()
        .map(|(i, hash)| {
            json!({ "username": format!("imported{i}"), "email": format!("i{i}@example.com"), "password_hash": hash })
                .to_string()
        })
        .collect();
    let url = format!("http://{}/admin/users/import", app.admin_addr.unwrap());
    let report: serde_json::Value = app
        .client
        .post(url)
        .bearer_auth(crate::admin::TOKEN)
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["imported"], 0);
    let refused: Vec<u64> = report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(refused, [1, 2, 3, 4, 5], "each by its line: {report}");
    // One put there by hand (an older import, a restored dump) is never run.
    app.create_user("planted").await;
    app.execute(&format!(
        "UPDATE users SET password_hash = '{}' WHERE username = 'planted'",
        absurd[0]
    ))
    .await;
    let before = app.state.hasher.ran();
    problem(app.login("planted", PASSWORD).await, 401).await;
    assert!(
        app.state.hasher.ran() <= before + 1,
        "refused before the work"
    );
    assert_eq!(app.state.hasher.pending(), 0);
}

/// The second review: 40 resets with one good token at once ran 28 hashes (the
/// token was checked, then each hashed, and only one could spend it).
async fn one_good_reset_token_sent_at_once_buys_one_hash(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, authd::authn::Verification::Off)).await;
    app.create_user("owner").await;
    let forgot = json!({ "email": "owner@example.com" });
    assert_eq!(
        app.post_json("/auth/password/forgot", &forgot)
            .await
            .status(),
        202
    );
    let token = token_of(&smtp.wait_for("owner@example.com", 1).await[0]);
    let before = app.state.hasher.ran();
    let body = json!({ "token": token, "password": "a new long passphrase" });
    let resets = (0..40).map(|_| app.client.post(app.url("/auth/password/reset")).json(&body));
    let statuses = at_once(resets).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 204 | 401 | 429)),
        "{statuses:?}"
    );
    let hashes = app.state.hasher.ran() - before;
    assert!(hashes <= 2, "{hashes} hashes for one token: {statuses:?}");
}
