//! A user's event history outlives the outbox: published events stay in it.

use reqwest::Method;

use super::{admin, ok_json, with_admin};
use crate::broker::Broker;
use crate::helpers::{relay_to, Backend, TestApp, PASSWORD};

/// Published events leave the outbox for the history, which keeps them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_keeps_published_events() {
    let broker = Broker::start();
    let relay = relay_to(&broker, 100);
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        with_admin(c);
        relay(c);
    })
    .await;
    let id = app.create_user("audited").await;
    app.tokens("audited", PASSWORD).await;
    ok_json(
        admin(&app, Method::POST, &format!("/admin/users/{id}/lock"), None).await,
        200,
    )
    .await;
    app.wait_outbox_empty(60).await;
    let history = ok_json(
        admin(
            &app,
            Method::GET,
            &format!("/admin/users/{id}/events"),
            None,
        )
        .await,
        200,
    )
    .await;
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(history.iter().all(|e| e["published_at"].is_string()));
    assert_eq!(history[2]["type"], "authd.user.locked");
}
