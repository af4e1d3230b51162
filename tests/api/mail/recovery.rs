//! Password recovery by mail: the same answer for known and unknown addresses, one
//! live link at a time, good for an hour, and a reset that ends every session.

use authd::authn::Verification;
use reqwest::Method;
use serde_json::{json, Value};

use super::smtp::{token_of, SmtpServer};
use super::{event_types, wait_mail_outbox_empty, with_mail};
use crate::both_stores;
use crate::helpers::{problem, revocations, unique, Backend, TestApp, PASSWORD};

both_stores!(
    a_password_reset_by_mail_sets_the_password_and_ends_every_session,
    a_locked_user_who_resets_the_password_stays_locked,
);

async fn a_password_reset_by_mail_sets_the_password_and_ends_every_session(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Off)).await;
    let id = app.create_user("erin").await;
    let t = app.tokens("erin", PASSWORD).await;
    let other = app.tokens("erin", PASSWORD).await;

    // Known and unknown addresses: the same status and body.
    let known = app
        .post_json(
            "/auth/password/forgot",
            &json!({"email": "ERIN@example.com"}),
        )
        .await;
    let unknown = app
        .post_json(
            "/auth/password/forgot",
            &json!({"email": unique("x") + "@example.com"}),
        )
        .await;
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.status(), 202);
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    let invalid = app
        .post_json("/auth/password/forgot", &json!({"email": "not an address"}))
        .await;
    assert_eq!(problem(invalid, 422).await["errors"][0]["field"], "email");

    let first = &smtp.wait_for("erin@example.com", 1).await[0];
    assert_eq!(first["subject"], "Reset your password");
    assert!(first["text"].as_str().unwrap().contains("1 hour"));
    let first = token_of(first);
    wait_mail_outbox_empty(&app).await;
    assert_eq!(smtp.mails().len(), 1, "no mail for the unknown address");

    // A newer request: the older link stops working.
    app.post_json(
        "/auth/password/forgot",
        &json!({"email": "erin@example.com"}),
    )
    .await;
    let second = token_of(&smtp.wait_for("erin@example.com", 2).await[1]);
    let weak = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": second, "password": "password123"}),
        )
        .await;
    assert_eq!(problem(weak, 422).await["errors"][0]["field"], "password");
    let before = app.user_state(&id).await;
    let stale = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": first, "password": "a brand new secret"}),
        )
        .await;
    assert_eq!(
        problem(stale, 401).await["type"],
        "urn:authd:problem:invalid-token"
    );
    assert_eq!(
        app.user_state(&id).await,
        before,
        "a refused token changes no hash, session or event"
    );
    let done = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": second, "password": "a brand new secret"}),
        )
        .await;
    assert_eq!(done.status(), 204);
    let reused = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": second, "password": "another new secret"}),
        )
        .await;
    assert_eq!(reused.status(), 401, "single use");

    assert_eq!(app.refresh(&t.refresh_token).await.status(), 401);
    assert_eq!(app.refresh(&other.refresh_token).await.status(), 401);
    assert_eq!(app.me(&t.access_token).await.status(), 401);
    assert_eq!(app.login("erin", PASSWORD).await.status(), 401);
    assert_eq!(app.login("erin", "a brand new secret").await.status(), 200);
    assert_eq!(revocations(&app, &id).await, ["password_reset"; 2]);
    assert!(event_types(&app, &id)
        .await
        .contains(&"authd.user.password_reset".to_string()));
    let me: Value = app
        .me(&app.tokens("erin", "a brand new secret").await.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true, "the link reached the address");

    // A link is good for an hour.
    app.post_json(
        "/auth/password/forgot",
        &json!({"email": "erin@example.com"}),
    )
    .await;
    let late = token_of(&smtp.wait_for("erin@example.com", 3).await[2]);
    app.clock.advance(chrono::Duration::seconds(3601));
    let before = app.user_state(&id).await;
    let expired = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": late, "password": "yet another secret"}),
        )
        .await;
    assert_eq!(expired.status(), 401);
    assert_eq!(
        app.user_state(&id).await,
        before,
        "an expired link changes nothing"
    );
    assert_eq!(
        app.login("erin", "a brand new secret").await.status(),
        200,
        "the password is the one set before"
    );

    // The throttle counts requests per address, known or not.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = app
            .post_json(
                "/auth/password/forgot",
                &json!({"email": "nobody@example.com"}),
            )
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [202, 202, 202, 202, 202, 429]);
}

/// A lock outlasts a reset: a link asked for before the lock dies with it, and the
/// locked user who resets the password by a later link is still locked, so the
/// new password does not log in either.
async fn a_locked_user_who_resets_the_password_stays_locked(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, |c| {
        with_mail(&smtp, Verification::Off)(c);
        crate::admin::with_admin(c);
    })
    .await;
    let id = app.create_user("ivy").await;
    let app = &app;
    let forgot = || async move {
        let body = json!({"email": "ivy@example.com"});
        app.post_json("/auth/password/forgot", &body).await
    };
    let reset = |token: String| async move {
        let body = json!({"token": token, "password": "a brand new secret"});
        app.post_json("/auth/password/reset", &body).await
    };
    assert_eq!(forgot().await.status(), 202);
    let before_lock = token_of(&smtp.wait_for("ivy@example.com", 1).await[0]);
    let lock = format!("/admin/users/{id}/lock");
    let locked = crate::admin::admin(app, Method::POST, &lock, None).await;
    assert_eq!(locked.status(), 200);
    problem(reset(before_lock).await, 401).await;

    assert_eq!(forgot().await.status(), 202);
    let after_lock = token_of(&smtp.wait_for("ivy@example.com", 2).await[1]);
    assert_eq!(reset(after_lock).await.status(), 204);
    let refused = problem(app.login("ivy", "a brand new secret").await, 403).await;
    assert_eq!(refused["type"], "urn:authd:problem:account-locked");
    problem(app.login("ivy", PASSWORD).await, 401).await;
    let still = "SELECT COUNT(*) FROM users WHERE username = 'ivy' AND locked_at IS NOT NULL";
    assert_eq!(app.scalar(still).await, 1);
    let types = event_types(app, &id).await;
    assert!(types.contains(&"authd.user.password_reset".to_string()));
    assert!(
        !types.contains(&"authd.user.unlocked".to_string()),
        "{types:?}"
    );
}
