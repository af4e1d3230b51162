//! The second review's floods: one address flooding sign-ups filled the hashing
//! queue so that others' logins got 503 (42 of 56 at 80 flooders), and created
//! users and verification mails to any address without limit; a signed-in user
//! sent unlimited email-change mails and grew the outbox without bound.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::authn::Verification;
use authd::hashing::{HashParams, PoolConfig};
use reqwest::Method;
use serde_json::json;

use super::{behind_proxy, login_from};
use crate::both_stores;
use crate::helpers::{problem, Backend, TestApp, PASSWORD};
use crate::mail::smtp::SmtpServer;
use crate::mail::with_mail;

both_stores!(
    a_sign_up_flood_from_one_address_does_not_refuse_others_logins,
    sign_ups_that_mail_are_limited_per_client,
    profile_changes_and_their_mails_are_bounded_per_user,
);

async fn a_sign_up_flood_from_one_address_does_not_refuse_others_logins(backend: Backend) {
    // One thread and 15 places: the flooder may hold 12, each other client 1.
    let app = TestApp::spawn_with(backend, |c| {
        behind_proxy(c);
        c.hash = HashParams::OWASP;
        c.hash_pool = PoolConfig {
            workers: 1,
            queue_bound: Some(15),
            max_wait: Duration::from_secs(30),
        };
    })
    .await;
    for i in 0..3 {
        app.create_user(&format!("owner{i}")).await;
    }
    let (stop, refused) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let flood: Vec<_> = (0..40)
        .map(|worker| {
            let (client, url) = (app.client.clone(), app.url("/auth/user"));
            let (stop, refused) = (Arc::clone(&stop), Arc::clone(&refused));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let name = format!("flood{worker}x{n}");
                    let body = json!({ "username": name, "email": format!("{name}@spam.example"), "password": PASSWORD });
                    let sent = client.post(&url).header("x-forwarded-for", "198.51.100.66");
                    let status = sent.json(&body).send().await.unwrap().status();
                    if status == 503 {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // The pool is busy with the flood (and refusing some of it) ...
    let deadline = Instant::now() + Duration::from_secs(30);
    while refused.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the flood never filled the pool");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ... and the owners, each from an address of their own, still log in.
    let login = |i: usize| {
        let app = &app;
        async move {
            let client = format!("203.0.113.{}", 10 + i);
            login_from(app, &client, &format!("owner{i}"), PASSWORD).await
        }
    };
    let statuses = tokio::join!(login(0), login(1), login(2));
    stop.store(true, Ordering::Relaxed);
    for worker in flood {
        worker.await.unwrap();
    }
    assert_eq!(
        statuses,
        (200, 200, 200),
        "the flood refused others' logins"
    );
}

async fn sign_ups_that_mail_are_limited_per_client(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, |c| {
        with_mail(&smtp, Verification::Optional)(c);
        behind_proxy(c);
        c.throttle.client_failures = 5;
    })
    .await;
    let sign_up = |i: usize, client: &'static str| {
        let body = json!({ "username": format!("spam{i}"), "email": format!("target{i}@victims.example"), "password": PASSWORD });
        app.client
            .post(app.url("/auth/user"))
            .header("x-forwarded-for", client)
            .json(&body)
            .send()
    };
    for i in 0..5 {
        assert_eq!(sign_up(i, "198.51.100.5").await.unwrap().status(), 201);
    }
    let refused = problem(sign_up(5, "198.51.100.5").await.unwrap(), 429).await;
    assert_eq!(refused["type"], "urn:authd:problem:too-many-attempts");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM users").await,
        5,
        "no user, no mail for it"
    );
    assert_eq!(
        sign_up(6, "192.0.2.6").await.unwrap().status(),
        201,
        "another client is not held back"
    );
}

async fn profile_changes_and_their_mails_are_bounded_per_user(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, |c| {
        with_mail(&smtp, Verification::Optional)(c);
        c.throttle.client_failures = 5;
    })
    .await;
    let id = app.create_user("spammer").await;
    let token = app.tokens("spammer", PASSWORD).await.access_token;
    let path = format!("/auth/user/{id}");
    let patch = |body| app.authed(Method::PATCH, &path, &token, Some(body));
    for i in 0..3 {
        let body = json!({ "username": format!("spammer{i}") });
        assert_eq!(patch(body).await.status(), 200, "rename {i}");
    }
    for i in 0..2 {
        let body = json!({ "email": format!("target{i}@victims.example") });
        assert_eq!(patch(body).await.status(), 202, "email change {i}");
    }
    problem(
        patch(json!({ "email": "target5@victims.example" })).await,
        429,
    )
    .await;
    problem(patch(json!({ "username": "renamed" })).await, 429).await;
    // Refused before anything was queued: not waiting, not sent.
    let waiting = app
        .scalar("SELECT COUNT(*) FROM mail_outbox WHERE new_email = 'target5@victims.example'")
        .await;
    assert_eq!(waiting, 0);
    assert!(smtp
        .mails()
        .iter()
        .all(|m| m["to"] != json!(["target5@victims.example"])));
    smtp.wait_for("target1@victims.example", 1).await;
    let updates = app
        .events_of(&id)
        .await
        .iter()
        .filter(|e| e["type"] == "authd.user.updated")
        .count();
    assert_eq!(updates, 3, "no event past the bound");
}
