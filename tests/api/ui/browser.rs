//! The pages in a real browser, on both stores: headless Chromium (Debian's
//! `chromium` and `chromium-driver`, driven by Selenium; `scripts/test` installs
//! them) walks sign-up, the mail's verification link, login, ending a session,
//! an authenticator, a code login, a forgotten password, a recovery code, and an
//! admin locking the user in the console (tests/browser/pages.py). axe-core (npm,
//! installed by `scripts/test`) checks each page; the screenshots land in
//! target/ui-screenshots/{store}/ (the README's come from there).

use authd::authn::Verification;
use authd::clock::Clock;
use serde_json::{json, Value};

use crate::admin::{with_admin, TOKEN};
use crate::helpers::{child_command, free_port, pytool, target_dir, Backend, TestApp, PASSWORD};
use crate::mail::smtp::SmtpServer;

fn axe_script() -> String {
    let path = target_dir().join("npmtools/node_modules/axe-core/axe.min.js");
    assert!(
        path.exists(),
        "axe-core is missing: scripts/test installs it ({})",
        path.display()
    );
    path.display().to_string()
}

async fn a_person_and_an_admin_use_the_pages_in_chromium(backend: Backend) {
    let smtp = SmtpServer::start();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (url, public) = (smtp.url(), base.clone());
    let app = TestApp::spawn_with(backend, move |c| {
        with_admin(c);
        c.listen = ([127, 0, 0, 1], port).into();
        c.public_url = public.clone();
        c.mail.app_url = format!("{public}/ui");
        c.mail.delivery = authd::mail::Delivery::Smtp { url };
        c.mail.verification = Verification::Required;
    })
    .await;
    let store = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let config = json!({
        "base": base,
        "admin": format!("http://{}", app.admin_addr.unwrap()),
        "admin_token": TOKEN,
        "mails": smtp.log(),
        "shots": target_dir().join("ui-screenshots").join(store),
        "axe": axe_script(),
        "server_unix": app.clock.now().timestamp(),
        "username": "walker",
        "email": "walker@example.com",
        "password": PASSWORD,
    });
    let python = pytool("python", "selenium");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/pages.py");
    let out = tokio::task::spawn_blocking(move || {
        child_command(python)
            .args([script, &config.to_string()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap_or(json!({}));
    assert!(
        out.status.success(),
        "the browser run failed after {:?}: {stdout}\n{}",
        said["steps"],
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(said["steps"].as_array().unwrap().len(), 9, "{said}");
    // axe-core ran in 13 pages and found no serious or critical violation.
    assert_eq!(said["checked"].as_array().unwrap().len(), 13, "{said}");
    for (page, violations) in said["axe"].as_object().unwrap() {
        assert_eq!(violations, &json!([]), "{page}: {violations}");
    }
    assert_eq!(
        said["console"],
        json!([]),
        "no console error (a CSP violation is one)"
    );
    // What the walk did, on the server.
    let id = app
        .text(
            "SELECT CAST(id AS TEXT) FROM users WHERE username = $1",
            "walker",
        )
        .await
        .unwrap();
    let events: Vec<String> = app
        .events_of(&id)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    for event in [
        "authd.user.created",
        "authd.user.verified",
        "authd.user.mfa_enabled",
        "authd.user.password_reset",
        "authd.user.recovery_code_used",
        "authd.user.locked",
    ] {
        assert!(events.iter().any(|e| e == event), "{event} in {events:?}");
    }
    let locked_by = app
        .events_of(&id)
        .await
        .into_iter()
        .find(|e| e["type"] == "authd.user.locked")
        .unwrap();
    assert_eq!(locked_by["authdactor"], "admin:ops", "{locked_by}");
}

crate::both_stores!(a_person_and_an_admin_use_the_pages_in_chromium);
