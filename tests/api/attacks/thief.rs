//! The second review's thief: an access token older than the step-up window still
//! ended the owner's other sessions and renamed the account (then signed up a new
//! account under the old name); and a reset link mailed to the old address still
//! set the password after the email had moved. And 60 copies of one refresh
//! token racing on two replicas.

use authd::authn::Verification;
use chrono::Duration;
use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, Tokens, PASSWORD};
use crate::mail::smtp::{token_of, SmtpServer};
use crate::mail::with_mail;

both_stores!(
    a_stale_token_cannot_evict_the_owner_nor_rename_the_account,
    a_reset_link_to_the_old_address_dies_with_the_email_change,
);

async fn a_stale_token_cannot_evict_the_owner_nor_rename_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("cfo").await;
    let phone: Tokens = app.tokens("cfo", PASSWORD).await;
    let stolen = app.tokens("cfo", PASSWORD).await;
    // The stolen token's login is 6 minutes old (the step-up window is 5).
    app.clock.advance(Duration::minutes(6));
    let sessions: serde_json::Value = app
        .authed(Method::GET, "/auth/sessions", &stolen.access_token, None)
        .await
        .json()
        .await
        .unwrap();
    let phone_session = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let one = format!("/auth/sessions/{phone_session}");
    for (method, path) in [
        (Method::DELETE, "/auth/sessions"),
        (Method::DELETE, one.as_str()),
    ] {
        let refused = app.authed(method, path, &stolen.access_token, None).await;
        let body = problem(refused, 401).await;
        assert_eq!(
            body["type"], "urn:authd:problem:reauthentication-required",
            "{path}"
        );
    }
    let rename = json!({ "username": "cfo-old" });
    let path = format!("/auth/user/{id}");
    let refused = app
        .authed(Method::PATCH, &path, &stolen.access_token, Some(rename))
        .await;
    problem(refused, 401).await;
    // The owner's phone still refreshes, and the name is still theirs.
    assert_eq!(app.refresh(&phone.refresh_token).await.status(), 200);
    assert_eq!(
        app.sign_up("cfo", "thief@evil.example", PASSWORD)
            .await
            .status(),
        409
    );
    // The thief may still end their own session (a logout needs no step-up).
    let own = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap();
    let own = format!("/auth/sessions/{}", own["id"].as_str().unwrap());
    let ended = app
        .authed(Method::DELETE, &own, &stolen.access_token, None)
        .await;
    assert_eq!(ended.status(), 204);
    // The owner, freshly logged in, may do all of it.
    let fresh = app.tokens("cfo", PASSWORD).await.access_token;
    let ended = app
        .authed(Method::DELETE, "/auth/sessions", &fresh, None)
        .await;
    assert_eq!(ended.status(), 200);
}

async fn a_reset_link_to_the_old_address_dies_with_the_email_change(backend: Backend) {
    for mode in [Verification::Off, Verification::Optional] {
        let smtp = SmtpServer::start();
        let app = TestApp::spawn_with(backend, with_mail(&smtp, mode)).await;
        let id = app.create_user("mover").await;
        let forgot = json!({ "email": "mover@example.com" });
        assert_eq!(
            app.post_json("/auth/password/forgot", &forgot)
                .await
                .status(),
            202
        );
        // (With verification on, the sign-up's verification mail came first.)
        let before = usize::from(mode != Verification::Off);
        let mails = smtp.wait_for("mover@example.com", before + 1).await;
        let old_link = token_of(
            mails
                .iter()
                .find(|m| m["subject"].as_str().unwrap().contains("eset"))
                .unwrap(),
        );
        let token = app.tokens("mover", PASSWORD).await.access_token;
        let moved = json!({ "email": "mover-new@example.com" });
        let changed = app
            .authed(
                Method::PATCH,
                &format!("/auth/user/{id}"),
                &token,
                Some(moved),
            )
            .await;
        if mode == Verification::Optional {
            assert_eq!(changed.status(), 202);
            let confirm = token_of(&smtp.wait_for("mover-new@example.com", 1).await[0]);
            let verified = app
                .post_json("/auth/verify", &json!({ "token": confirm }))
                .await;
            assert_eq!(verified.status(), 200);
        } else {
            assert_eq!(changed.status(), 200);
        }
        let body = json!({ "token": old_link, "password": "the old mailbox's password" });
        let used = app.post_json("/auth/password/reset", &body).await;
        let refused = problem(used, 401).await;
        assert_eq!(
            refused["type"], "urn:authd:problem:invalid-token",
            "{mode:?}"
        );
        assert_eq!(app.login("mover", PASSWORD).await.status(), 200, "{mode:?}");
    }
}

/// A thief and the owner (or a client retrying) send one refresh token 60 times at
/// once, half to each replica: one copy rotates it, every other finds it spent, and
/// that reuse ends the session, so the one new token dies with it. (On Postgres a
/// rotation is one statement: the spend's row lock settles the race.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_copies_of_one_refresh_token_on_two_replicas_rotate_it_once() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.replica(|_| {}).await;
    a.create_user("hydra").await;
    let stolen = a.tokens("hydra", PASSWORD).await.refresh_token;
    let mut copies = tokio::task::JoinSet::new();
    for i in 0..60 {
        let app = if i % 2 == 0 { &a } else { &b };
        let (client, url) = (app.client.clone(), app.url("/auth/token"));
        let body = json!({ "refresh_token": stolen });
        copies.spawn(async move {
            let response = client.post(url).json(&body).send().await.expect("answered");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        });
    }
    let answers = copies.join_all().await;
    let rotated: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(rotated.len(), 1, "one rotation: {answers:?}");
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 401).count(),
        59,
        "{answers:?}"
    );
    let sql = "SELECT COUNT(*) FROM refresh_tokens";
    assert_eq!(a.scalar(sql).await, 2, "the token and one successor");
    let revoked = "SELECT COUNT(*) FROM refresh_families WHERE revoked_reason = 'reuse'";
    assert_eq!(a.scalar(revoked).await, 1);
    let successor = rotated[0].1["refresh_token"].as_str().unwrap();
    problem(a.refresh(successor).await, 401).await;
}
