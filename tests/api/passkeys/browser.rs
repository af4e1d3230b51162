//! In a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven by Selenium from PyPI; `scripts/test` installs
//! them) with its virtual authenticator registers a passkey on the account page
//! and signs in with it alone on the login page, no username, no password.

use serde_json::Value;

use super::app_at;
use crate::helpers::{child_command, free_port, pytool, Backend, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_registers_a_passkey_and_signs_in_with_it_alone() {
    let port = free_port();
    let app = app_at(Backend::Postgres, port).await;
    let user = app.create_user("browser").await;
    let python = pytool("python", "selenium");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/passkeys.py");
    let base = format!("http://localhost:{port}");
    let out = tokio::task::spawn_blocking(move || {
        child_command(python)
            .args([script, &base, "browser", PASSWORD])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        said["password"], "Profile",
        "signed in with the password: {said}"
    );
    assert!(
        said["register"].as_str().unwrap().contains("laptop"),
        "{said}"
    );
    assert_eq!(
        said["credentials"],
        serde_json::json!([{ "resident": true, "rp_id": "localhost" }]),
        "one discoverable credential for authd: {said}"
    );
    assert_eq!(said["forget"], "You are signed out.", "{said}");
    assert_eq!(
        said["passkey"], "browser",
        "signed in as the user, by the passkey alone: {said}"
    );
    let kept =
        "SELECT COUNT(*) FROM mfa_factors WHERE kind = 'passkey' AND last_used_at IS NOT NULL";
    assert_eq!(app.scalar(kept).await, 1);
    // The first factor's recovery codes are shown, once.
    let codes = "SELECT COUNT(*) FROM recovery_codes";
    assert_eq!(app.scalar(codes).await, 10);
    assert_eq!(said["recovery_codes"], 10, "shown once: {said}");
    // "Sign out" ended the password login's session on the server; the passkey
    // login's is the only one left.
    let live = format!(
        "SELECT COUNT(*) FROM refresh_families WHERE revoked_at IS NULL AND user_id = '{user}'"
    );
    let live = live.as_str();
    let all = "SELECT COUNT(*) FROM refresh_families";
    assert_eq!((app.scalar(live).await, app.scalar(all).await), (1, 2));
}
