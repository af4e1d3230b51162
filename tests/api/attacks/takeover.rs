//! Attack 1: a stolen access token becomes the account. The thief changes the
//! email (the recovery address) with the token alone; a password change by the
//! victim left the thief's pending email-change link working; with verification
//! off the old address was never told.

use authd::authn::Verification;
use authd::clock::Clock;
use authd::store::UserChange;
use chrono::Duration;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};
use crate::mail::smtp::{token_of, SmtpServer};
use crate::mail::with_mail;

both_stores!(
    a_stolen_token_cannot_change_the_email_without_a_recent_login,
    a_password_change_a_reset_and_a_lock_void_what_a_thief_started,
    the_old_address_is_told_of_an_email_change_in_every_mode,
);

async fn patch_email(
    app: &TestApp,
    id: &str,
    token: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    app.authed(
        Method::PATCH,
        &format!("/auth/user/{id}"),
        token,
        Some(body),
    )
    .await
}

async fn email_of(app: &TestApp, id: &str) -> String {
    app.text("SELECT email FROM users WHERE CAST(id AS TEXT) = $1", id)
        .await
        .unwrap()
}

async fn a_stolen_token_cannot_change_the_email_without_a_recent_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("victim").await;
    let tokens = app.tokens("victim", PASSWORD).await;
    // The thief holds a token whose login is 6 minutes old (it lives 15).
    app.clock.advance(Duration::minutes(6));
    let thief = json!({ "email": "thief@evil.example" });
    let refused = patch_email(&app, &id, &tokens.access_token, thief.clone()).await;
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains(r#"error="insufficient_user_authentication""#)
            && challenge.contains("max_age=300"),
        "{challenge}"
    );
    let body = problem(refused, 401).await;
    assert_eq!(body["type"], "urn:authd:problem:reauthentication-required");
    // A refresh keeps the login's time: refreshing does not make the theft fresh.
    let refreshed: crate::helpers::Tokens = app
        .refresh(&tokens.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    problem(
        patch_email(&app, &id, &refreshed.access_token, thief.clone()).await,
        401,
    )
    .await;
    // Guessing the password through this endpoint is a login attempt.
    let guess = json!({ "email": "thief@evil.example", "current_password": "not the password" });
    let wrong = problem(
        patch_email(&app, &id, &refreshed.access_token, guess).await,
        403,
    )
    .await;
    assert_eq!(wrong["type"], "urn:authd:problem:wrong-password");
    assert_eq!(
        email_of(&app, &id).await,
        "victim@example.com",
        "nothing changed"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mail_outbox").await, 0);
    let events = app.events_of(&id).await;
    assert!(events.iter().all(|e| e["type"] != "authd.user.updated"));
    // A username needs the step-up too; the owner with the password changes both.
    let name = patch_email(
        &app,
        &id,
        &refreshed.access_token,
        json!({ "username": "victim2" }),
    )
    .await;
    problem(name, 401).await;
    let owner =
        json!({ "username": "victim2", "email": "new@example.com", "current_password": PASSWORD });
    assert_eq!(
        patch_email(&app, &id, &refreshed.access_token, owner)
            .await
            .status(),
        200
    );
    assert_eq!(email_of(&app, &id).await, "new@example.com");
    // And a fresh login may, without the password.
    let fresh = app.tokens("victim2", PASSWORD).await;
    let again = patch_email(
        &app,
        &id,
        &fresh.access_token,
        json!({ "email": "again@example.com" }),
    );
    assert_eq!(again.await.status(), 200);
}

async fn a_password_change_a_reset_and_a_lock_void_what_a_thief_started(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Optional)).await;
    let id = app.create_user("victim").await;
    smtp.wait_for("victim@example.com", 1).await;
    let mut thief_links = Vec::new();
    let new_password = "a new long passphrase";
    let mut password = PASSWORD;
    for (round, end) in ["password change", "reset", "lock"].into_iter().enumerate() {
        // The thief, with a fresh token, asks for the email to move to them.
        let stolen = app.tokens("victim", password).await.access_token;
        let to = format!("thief{round}@evil.example");
        let asked = patch_email(&app, &id, &stolen, json!({ "email": to })).await;
        assert_eq!(asked.status(), 202, "{end}");
        let link = token_of(&smtp.wait_for(&to, 1).await[0]);
        // The victim ends it: each of these voids every pending mailed token.
        match end {
            "password change" => {
                let body = json!({ "current_password": password, "new_password": new_password });
                let path = format!("/auth/user/{id}/password");
                let own = app.tokens("victim", password).await.access_token;
                assert_eq!(
                    app.authed(Method::PUT, &path, &own, Some(body))
                        .await
                        .status(),
                    204
                );
                password = new_password;
            }
            "reset" => {
                let forgot = json!({ "email": "victim@example.com" });
                let asked = app.post_json("/auth/password/forgot", &forgot).await;
                assert_eq!(asked.status(), 202);
                let mails = smtp.wait_for("victim@example.com", 2).await;
                let reset = token_of(mails.last().unwrap());
                let body = json!({ "token": reset, "password": PASSWORD });
                assert_eq!(
                    app.post_json("/auth/password/reset", &body).await.status(),
                    204
                );
                password = PASSWORD;
            }
            _ => {
                let user = Uuid::parse_str(&id).unwrap();
                let now = app.clock.now();
                app.state
                    .store
                    .apply(UserChange::Lock { id: user }, now)
                    .await
                    .unwrap()
                    .unwrap();
                app.state
                    .store
                    .apply(UserChange::Unlock { id: user }, now)
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
        thief_links.push((end, link));
    }
    for (end, link) in thief_links {
        let used = app
            .post_json("/auth/verify", &json!({ "token": link }))
            .await;
        let body = problem(used, 401).await;
        assert_eq!(
            body["type"], "urn:authd:problem:invalid-token",
            "after a {end}"
        );
    }
    assert_eq!(
        email_of(&app, &id).await,
        "victim@example.com",
        "the account stayed"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM account_tokens").await,
        0,
        "no mailed token of the victim is left"
    );
}

async fn the_old_address_is_told_of_an_email_change_in_every_mode(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Off)).await;
    let id = app.create_user("victim").await;
    let fresh = app.tokens("victim", PASSWORD).await.access_token;
    let changed = patch_email(&app, &id, &fresh, json!({ "email": "new@example.com" })).await;
    assert_eq!(changed.status(), 200, "verification off: at once");
    let notice = &smtp.wait_for("victim@example.com", 1).await[0];
    assert_eq!(notice["subject"], "Your email address was changed");
    assert!(notice["text"].as_str().unwrap().contains("new@example.com"));
}
