//! Email verification: at sign-up, where a required one blocks login until the
//! mailed link is used, and at an email change, which waits for the new address.

use std::time::Duration;

use authd::authn::Verification;
use reqwest::Method;
use serde_json::{json, Value};

use super::smtp::{token_of, SmtpServer};
use super::{event_types, wait_mail_outbox_empty, with_mail};
use crate::both_stores;
use crate::helpers::{claims_of, problem, Backend, TestApp, PASSWORD};

both_stores!(
    verification_required_blocks_login_until_the_mailed_link_is_used,
    a_verification_link_expires_after_its_lifetime,
    an_email_change_waits_for_the_new_address_and_tells_the_old_one,
);

async fn verification_required_blocks_login_until_the_mailed_link_is_used(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Required)).await;
    let response = app.sign_up("alice", "Alice@Example.com", PASSWORD).await;
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email_verified"], false);
    let id = user["id"].as_str().unwrap();

    let mail = &smtp.wait_for("alice@example.com", 1).await[0];
    assert_eq!(mail["subject"], "Confirm your email address");
    assert_eq!(mail["from"], "no-reply@localhost");
    let token = token_of(mail);
    assert!(mail["text"].as_str().unwrap().contains(&format!(
        "https://app.example.com/verify-email?token={token}"
    )));
    assert!(mail["text"].as_str().unwrap().contains("24 hours"));
    let stored = app
        .scalar("SELECT COUNT(*) FROM account_tokens WHERE purpose = 'verify'")
        .await;
    assert_eq!(stored, 1, "one token, kept as its hash only");

    let refused = problem(app.login("alice", PASSWORD).await, 403).await;
    assert_eq!(refused["type"], "urn:authd:problem:email-not-verified");
    let wrong = app.login("alice", "wrong password!").await;
    assert_eq!(
        wrong.status(),
        401,
        "the state shows only after the password"
    );

    let bad = app
        .post_json("/auth/verify", &json!({"token": "x".repeat(43)}))
        .await;
    assert_eq!(
        problem(bad, 401).await["type"],
        "urn:authd:problem:invalid-token"
    );
    let verified = app
        .post_json("/auth/verify", &json!({ "token": token }))
        .await;
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.unwrap();
    assert_eq!(verified["email_verified"], true);
    let again = app
        .post_json("/auth/verify", &json!({ "token": token }))
        .await;
    assert_eq!(
        problem(again, 401).await["detail"],
        "the token is unknown, expired, already used or replaced by a newer one"
    );

    let t = app.tokens("alice", PASSWORD).await;
    assert_eq!(claims_of(&t.access_token)["email_verified"], true);
    let me: Value = app.me(&t.access_token).await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);
    let refreshed: Value = app.refresh(&t.refresh_token).await.json().await.unwrap();
    let refreshed = refreshed["access_token"].as_str().unwrap();
    assert_eq!(claims_of(refreshed)["email_verified"], true);
    assert_eq!(
        event_types(&app, id).await,
        ["authd.user.created", "authd.user.verified"]
    );

    // A resend for a verified address, and for nobody: the same answer, no mail.
    let mut answers = Vec::new();
    for email in ["alice@example.com", "nobody@example.com"] {
        let r = app
            .post_json("/auth/verify/resend", &json!({ "email": email }))
            .await;
        assert_eq!(r.status(), 202);
        answers.push(r.text().await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    // Each request queued its mail row before answering, and the sender deletes a
    // row only once the server took its mail or it decided to send none: an empty
    // outbox means both were decided, so nothing more can arrive for them.
    wait_mail_outbox_empty(&app).await;
    assert_eq!(smtp.mails().len(), 1, "{:?}", smtp.mails());

    // An unverified user asks again: a new link, and the older one stops working.
    let bob = app.create_user("bob").await;
    let first = token_of(&smtp.wait_for("bob@example.com", 1).await[0]);
    let r = app
        .post_json("/auth/verify/resend", &json!({"email": "Bob@example.com"}))
        .await;
    assert_eq!(r.status(), 202);
    let second = token_of(&smtp.wait_for("bob@example.com", 2).await[1]);
    assert_ne!(first, second);
    let old = app
        .post_json("/auth/verify", &json!({ "token": first }))
        .await;
    assert_eq!(old.status(), 401, "replaced by the newer link");
    let ok = app
        .post_json("/auth/verify", &json!({ "token": second }))
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(app.login("bob", PASSWORD).await.status(), 200);
    assert!(event_types(&app, &bob)
        .await
        .contains(&"authd.user.verified".to_string()));
}

/// AUTHD_VERIFY_TOKEN_TTL_SECS at two hours: a link used a second before works, a
/// link used a second after is refused and verifies nothing.
async fn a_verification_link_expires_after_its_lifetime(backend: Backend) {
    const TTL_SECS: i64 = 2 * 3600;
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, |c| {
        with_mail(&smtp, Verification::Required)(c);
        c.mail.verify_ttl = Duration::from_secs(TTL_SECS as u64);
    })
    .await;
    app.create_user("early").await;
    let late = app.create_user("late").await;
    let early_mail = &smtp.wait_for("early@example.com", 1).await[0];
    assert!(early_mail["text"].as_str().unwrap().contains("2 hours"));
    let early_token = token_of(early_mail);
    let late_token = token_of(&smtp.wait_for("late@example.com", 1).await[0]);
    let app = &app;
    let verify = |token: String| async move {
        app.post_json("/auth/verify", &json!({ "token": token }))
            .await
    };

    app.clock.advance(chrono::Duration::seconds(TTL_SECS - 1));
    assert_eq!(verify(early_token).await.status(), 200, "still good");
    app.clock.advance(chrono::Duration::seconds(2));
    let before = app.user_state(&late).await;
    let expired = problem(verify(late_token).await, 401).await;
    assert_eq!(expired["type"], "urn:authd:problem:invalid-token");
    assert_eq!(app.user_state(&late).await, before, "nothing verified");
    let refused = problem(app.login("late", PASSWORD).await, 403).await;
    assert_eq!(refused["type"], "urn:authd:problem:email-not-verified");
    assert_eq!(app.login("early", PASSWORD).await.status(), 200);
}

async fn an_email_change_waits_for_the_new_address_and_tells_the_old_one(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Optional)).await;
    let id = app.create_user("carol").await;
    let verify = token_of(&smtp.wait_for("carol@example.com", 1).await[0]);
    assert_eq!(
        app.post_json("/auth/verify", &json!({ "token": verify }))
            .await
            .status(),
        200
    );
    let t = app.tokens("carol", PASSWORD).await;
    let path = format!("/auth/user/{id}");
    let taken = app.create_user("dave").await;
    assert!(!taken.is_empty());
    let conflict = app
        .authed(
            Method::PATCH,
            &path,
            &t.access_token,
            Some(json!({"email": "dave@example.com"})),
        )
        .await;
    assert_eq!(conflict.status(), 409);

    let pending = app
        .authed(
            Method::PATCH,
            &path,
            &t.access_token,
            Some(json!({"email": "Carol@New.example", "username": "carol2"})),
        )
        .await;
    assert_eq!(pending.status(), 202);
    let pending: Value = pending.json().await.unwrap();
    assert_eq!(
        pending["username"], "carol2",
        "the username applies at once"
    );
    assert_eq!(pending["email"], "carol@example.com", "the email waits");
    assert_eq!(pending["email_verified"], true);

    let mail = &smtp.wait_for("carol@new.example", 1).await[0];
    assert_eq!(mail["subject"], "Confirm your new email address");
    let token = token_of(mail);
    let changed = app
        .post_json("/auth/verify", &json!({ "token": token }))
        .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["email"], "carol@new.example");
    assert_eq!(changed["email_verified"], true);

    let notice = &smtp.wait_for("carol@example.com", 2).await[1];
    assert_eq!(notice["subject"], "Your email address was changed");
    assert!(notice["text"]
        .as_str()
        .unwrap()
        .contains("carol@new.example"));
    assert!(!notice["text"].as_str().unwrap().contains("token"));
    assert_eq!(
        event_types(&app, &id).await,
        [
            "authd.user.created",
            "authd.user.verified",
            "authd.user.updated",
            "authd.user.email_changed"
        ]
    );
    assert_eq!(app.login("carol@new.example", PASSWORD).await.status(), 200);
}
