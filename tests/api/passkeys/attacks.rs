//! What a hostile client tries with passkeys: a finish sent twice, a ceremony
//! finished late, an answer made for another origin (a phishing page relaying
//! the challenge), a cloned authenticator, the last factor removed under
//! `AUTHD_MFA=required`, ceremonies started by the thousand, and a passkey
//! registered on an account made with someone else's email address.

use authd::authn::Verification;
use reqwest::Method;
use serde_json::{json, Value};
use webauthn_authenticator_rs::WebauthnAuthenticator;

use super::finish_login;
use super::{
    app, authenticator, credential_id, discoverable_answer, event_types, login_options,
    register_from, registered, ORIGIN,
};
use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};
use crate::mail::smtp::{token_of, SmtpServer};
use crate::mail::with_mail;

both_stores!(
    a_finish_sent_twice_logs_in_once,
    a_ceremony_finished_late_is_refused,
    an_answer_for_another_origin_is_refused,
    a_counter_that_goes_back_is_refused_and_reported,
    the_last_factor_stays_under_required,
    ceremonies_per_client_network_are_bounded,
    a_password_reset_removes_the_passkeys,
    a_second_factor_checks_the_counter_as_it_is_at_the_finish,
);

async fn a_finish_sent_twice_logs_in_once(backend: Backend) {
    let app = app(backend).await;
    let mut key = authenticator();
    let (user, _, _) = registered(&app, "alice", &mut key).await;
    let (ceremony, options) = login_options(&app).await;
    let credential = credential_id(&app, &user).await;
    let answer = discoverable_answer(&mut key, options, &credential, &user, ORIGIN);
    let (first, second) = tokio::join!(
        finish_login(&app, &ceremony, &answer),
        finish_login(&app, &ceremony, &answer)
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "one finish, one replay refused");
    let replay = problem(finish_login(&app, &ceremony, &answer).await, 401).await;
    assert_eq!(replay["type"], "urn:authd:problem:invalid-ceremony");
}

async fn a_ceremony_finished_late_is_refused(backend: Backend) {
    let app = app(backend).await;
    let mut key = authenticator();
    let (user, _, _) = registered(&app, "bob", &mut key).await;
    let (ceremony, options) = login_options(&app).await;
    let credential = credential_id(&app, &user).await;
    let answer = discoverable_answer(&mut key, options, &credential, &user, ORIGIN);
    app.clock.advance(chrono::Duration::seconds(301));
    let late = problem(finish_login(&app, &ceremony, &answer).await, 401).await;
    assert_eq!(late["type"], "urn:authd:problem:invalid-ceremony");
}

async fn an_answer_for_another_origin_is_refused(backend: Backend) {
    let app = app(backend).await;
    let mut key = authenticator();
    // A registration answered on another page (another port is another origin).
    let id = app.create_user("carol").await;
    let token = app.tokens("carol", PASSWORD).await.access_token;
    let elsewhere = register_from(&app, &token, &mut key, "http://localhost:8443").await;
    let refused = problem(elsewhere, 401).await;
    assert_eq!(refused["type"], "urn:authd:problem:passkey-refused");
    // A phishing page that relays authd's challenge under its own RP ID: the
    // authenticator signs for the phisher's site, which authd refuses.
    let done = register_from(&app, &token, &mut key, ORIGIN).await;
    assert_eq!(done.status(), 201);
    let (ceremony, options) = login_options(&app).await;
    let mut relayed = serde_json::to_value(&options).unwrap();
    relayed["publicKey"]["rpId"] = "evil.localhost".into();
    let relayed = serde_json::from_value(relayed).unwrap();
    let credential = credential_id(&app, &id).await;
    let answer = discoverable_answer(
        &mut key,
        relayed,
        &credential,
        &id,
        "https://evil.localhost",
    );
    let phished = problem(finish_login(&app, &ceremony, &answer).await, 401).await;
    assert_eq!(phished["type"], "urn:authd:problem:passkey-refused");
}

/// The passkey of `user` was refused as a clone: reported, and kept (an honest
/// race looks the same; the owner must not be shut out).
async fn clone_reported(app: &TestApp, user: &str) {
    let types = event_types(app, user).await;
    let has = |t: &str| types.iter().any(|x| x == t);
    assert!(has("authd.user.passkey_clone_suspected"), "{types:?}");
    assert!(!has("authd.user.passkey_removed"), "{types:?}");
    let left = "SELECT COUNT(*) FROM mfa_factors WHERE kind = 'passkey'";
    assert_eq!(app.scalar(left).await, 1, "the passkey stays");
}

/// Sets the counter authd keeps for the user's passkey (in its credential and its
/// column) to `count`, as if an earlier clone had used it that often.
async fn set_counter(app: &TestApp, backend: Backend, user: &str, count: u32) {
    let sql = format!(
        "SELECT secret FROM mfa_factors WHERE kind = 'passkey' AND CAST(user_id AS TEXT) = '{user}'"
    );
    let mut credential: Value = serde_json::from_slice(&app.bytes(&sql).await).unwrap();
    let counter = &mut credential["cred"]["counter"];
    assert!(
        counter.is_u64(),
        "the credential keeps its counter: {credential}"
    );
    *counter = count.into();
    let hex: String = serde_json::to_vec(&credential)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let literal = match backend {
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
        Backend::Sqlite => format!("X'{hex}'"),
    };
    app.execute(&format!(
        "UPDATE mfa_factors SET secret = {literal}, sign_count = {count} \
         WHERE kind = 'passkey' AND CAST(user_id AS TEXT) = '{user}'"
    ))
    .await;
}

async fn a_counter_that_goes_back_is_refused_and_reported(backend: Backend) {
    let app = app(backend).await;
    let mut key = authenticator();
    let (user, _, _) = registered(&app, "dave", &mut key).await;
    set_counter(&app, backend, &user, 1000).await;
    let (ceremony, options) = login_options(&app).await;
    let credential = credential_id(&app, &user).await;
    let answer = discoverable_answer(&mut key, options, &credential, &user, ORIGIN);
    let cloned = problem(finish_login(&app, &ceremony, &answer).await, 401).await;
    assert_eq!(cloned["type"], "urn:authd:problem:passkey-refused");
    clone_reported(&app, &user).await;
}

async fn the_last_factor_stays_under_required(backend: Backend) {
    let app = app(backend).await;
    let mut key = authenticator();
    let (user, _, done) = registered(&app, "erin", &mut key).await;
    let id = done["passkey"]["id"].as_str().unwrap();
    // A fresh login at the user's level (the passkey), as the step-up asks.
    let (ceremony, options) = login_options(&app).await;
    let credential = credential_id(&app, &user).await;
    let answer = discoverable_answer(&mut key, options, &credential, &user, ORIGIN);
    let tokens: Value = finish_login(&app, &ceremony, &answer)
        .await
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let required = app
        .replica(|c| {
            c.mfa.policy = authd::authn::MfaPolicy::Required;
            let rp = authd::authn::passkey::relying_party("localhost", ORIGIN).unwrap();
            c.mfa.webauthn = Some(std::sync::Arc::new(rp));
        })
        .await;
    let path = format!("/auth/passkeys/{id}");
    let kept = required.authed(Method::DELETE, &path, token, None).await;
    let kept = problem(kept, 409).await;
    assert_eq!(kept["type"], "urn:authd:problem:factor-state");
    // Where a factor is optional, it goes (with the recovery codes).
    let gone = app.authed(Method::DELETE, &path, token, None).await;
    assert_eq!(gone.status(), 204);
    let left = "SELECT COUNT(*) FROM recovery_codes";
    assert_eq!(app.scalar(left).await, 0);
}

async fn ceremonies_per_client_network_are_bounded(backend: Backend) {
    let app = app(backend).await;
    for _ in 0..100 {
        let started = app
            .post_json("/auth/login/passkey/options", &json!({}))
            .await;
        assert_eq!(started.status(), 200);
    }
    let flood = app
        .post_json("/auth/login/passkey/options", &json!({}))
        .await;
    assert!(flood.headers().contains_key("retry-after"));
    problem(flood, 429).await;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webauthn_ceremonies").await,
        100
    );
    // They expire: the network may start again.
    app.clock.advance(chrono::Duration::seconds(301));
    let later = app
        .post_json("/auth/login/passkey/options", &json!({}))
        .await;
    assert_eq!(later.status(), 200);
}

/// Account pre-hijacking: someone signs up with another's email address (with
/// verification off or optional, nobody proves it) and registers a passkey; the
/// owner of the address resets the password and has the account. The passkey
/// goes with the reset, or it would log the squatter in alone ever after.
async fn a_password_reset_removes_the_passkeys(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, |c| {
        with_mail(&smtp, Verification::Optional)(c);
        let rp = authd::authn::passkey::relying_party("localhost", ORIGIN).unwrap();
        c.mfa.webauthn = Some(std::sync::Arc::new(rp));
    })
    .await;
    let mut key = authenticator();
    let (user, _, _) = registered(&app, "squatted", &mut key).await;
    let credential = credential_id(&app, &user).await;
    smtp.wait_for("squatted@example.com", 1).await;
    let forgot = json!({ "email": "squatted@example.com" });
    let asked = app.post_json("/auth/password/forgot", &forgot).await;
    assert_eq!(asked.status(), 202);
    let mails = smtp.wait_for("squatted@example.com", 2).await;
    let owners = "the owner's own passphrase";
    let body = json!({ "token": token_of(mails.last().unwrap()), "password": owners });
    let reset = app.post_json("/auth/password/reset", &body).await;
    assert_eq!(reset.status(), 204);
    // The squatter's passkey logs in no more.
    let (ceremony, options) = login_options(&app).await;
    let answer = discoverable_answer(&mut key, options, &credential, &user, ORIGIN);
    let refused = problem(finish_login(&app, &ceremony, &answer).await, 401).await;
    assert_eq!(refused["type"], "urn:authd:problem:passkey-refused");
    // The owner's password is the only way in, with no second factor left over.
    let login: Value = app.login("squatted", owners).await.json().await.unwrap();
    assert!(login["access_token"].is_string(), "{login}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM recovery_codes").await, 0);
    let types = event_types(&app, &user).await;
    let removed = types.iter().position(|t| t == "authd.user.passkey_removed");
    let reset = types.iter().position(|t| t == "authd.user.password_reset");
    assert!(removed.is_some() && removed < reset, "{types:?}");
}

/// A second factor's ceremony keeps the credential as it was at its start: a
/// clone that answers after the real authenticator moved the counter on must be
/// checked against the counter of the finish, not that copy.
async fn a_second_factor_checks_the_counter_as_it_is_at_the_finish(backend: Backend) {
    let app = app(backend).await;
    let mut key = authenticator();
    let (user, _, _) = registered(&app, "frank", &mut key).await;
    let step: Value = app.login("frank", PASSWORD).await.json().await.unwrap();
    let mfa_token = step["mfa_token"].as_str().unwrap();
    let started = app
        .post_json(
            "/auth/login/mfa/passkey",
            &json!({ "mfa_token": mfa_token }),
        )
        .await;
    assert_eq!(started.status(), 200);
    let started: Value = started.json().await.unwrap();
    let options = serde_json::from_value(started["options"].clone()).unwrap();
    // Meanwhile the real authenticator is used 1,000 times.
    set_counter(&app, backend, &user, 1000).await;
    let answer = key
        .do_authentication(webauthn_rs::prelude::Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    let body = json!({ "mfa_token": mfa_token, "passkey": answer });
    let cloned = app.post_json("/auth/login/mfa", &body).await;
    assert_eq!(cloned.status(), 401, "{:?}", cloned.text().await);
    clone_reported(&app, &user).await;
}
