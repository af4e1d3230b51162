//! The admin console: an admin token signs in (the token itself is never kept),
//! and every action is the admin API's, with the admin's name on its event.

use super::Visitor;
use crate::admin::{with_admin, TOKEN};
use crate::helpers::{Backend, TestApp, PASSWORD};

async fn console(app: &TestApp) -> Visitor {
    let mut v = Visitor::new(&format!("http://{}", app.admin_addr.unwrap()));
    let page = v.get("/admin/ui/").await;
    assert!(
        page.body.contains("name=\"token\""),
        "the sign-in form: {}",
        page.body
    );
    let wrong = v
        .post(
            "/admin/ui/login",
            &[("token", "not-the-token-0123456789abcdef012345")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(!v.jar.contains_key("__Secure-authd_admin"));
    let signed_in = v.post("/admin/ui/login", &[("token", TOKEN)]).await;
    assert_eq!(signed_in.location(), "/admin/ui/");
    let line = v
        .set_cookies
        .iter()
        .find(|l| l.starts_with("__Secure-authd_admin="))
        .unwrap();
    assert!(!line.contains(TOKEN), "the token is not the cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/admin/ui;"] {
        assert!(line.contains(flag), "{line}");
    }
    v
}

async fn is_locked(app: &TestApp, id: &str) -> bool {
    let sql = format!("SELECT COUNT(*) FROM users WHERE id = '{id}' AND locked_at IS NOT NULL");
    app.scalar(&sql).await == 1
}

async fn an_admin_finds_locks_and_unlocks_a_user(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_admin).await;
    let id = app.create_user("victim").await;
    app.create_user("bystander").await;
    let mut v = console(&app).await;
    let found = v.get("/admin/ui/?q=vic").await;
    assert!(
        found.body.contains(&format!("/admin/ui/users/{id}")),
        "{}",
        found.body
    );
    assert!(!found.body.contains("bystander"));
    let page = v.get(&format!("/admin/ui/users/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("authd.user.created"),
        "the event history: {}",
        page.body
    );
    // Without the CSRF field, nothing happens.
    let path = format!("/admin/ui/users/{id}/lock");
    let forged = v.post_raw(&path, &[], &[]).await;
    assert_eq!(forged.status, 403);
    assert!(!is_locked(&app, &id).await);
    let locked = v.post(&path, &[]).await;
    assert_eq!(
        locked.location(),
        format!("/admin/ui/users/{id}?notice=user_locked")
    );
    assert!(is_locked(&app, &id).await);
    let refused = app.login("victim", PASSWORD).await;
    assert_eq!(refused.status(), 403);
    let page = v.get(&format!("/admin/ui/users/{id}")).await;
    assert!(
        page.body.contains("admin:ops"),
        "the admin's name on the event: {}",
        page.body
    );
    let unlocked = v.post(&format!("/admin/ui/users/{id}/unlock"), &[]).await;
    assert_eq!(unlocked.status, 303);
    assert!(!is_locked(&app, &id).await);
    // A made-up action or id is refused.
    assert_eq!(
        v.post(&format!("/admin/ui/users/{id}/delete"), &[])
            .await
            .status,
        404
    );
    assert_eq!(
        v.post("/admin/ui/users/..%2F..%2Fx/lock", &[]).await.status,
        404
    );
    // Signed out, the console asks for a token again.
    v.post("/admin/ui/logout", &[]).await;
    assert!(v
        .get(&format!("/admin/ui/users/{id}"))
        .await
        .body
        .contains("name=\"token\""));
    let after = v.post(&format!("/admin/ui/users/{id}/lock"), &[]).await;
    assert_eq!(after.status, 401);
    assert!(!is_locked(&app, &id).await);
}

crate::both_stores!(an_admin_finds_locks_and_unlocks_a_user);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_only_on_the_admin_listener() {
    let app = TestApp::spawn_with(Backend::Sqlite, with_admin).await;
    let mut public = Visitor::new(&app.url(""));
    assert_eq!(public.get("/admin/ui/").await.status, 404);
    assert_eq!(
        public
            .post("/admin/ui/login", &[("token", TOKEN)])
            .await
            .status,
        404
    );
}
