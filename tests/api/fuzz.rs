//! The API document is the contract: schemathesis (PyPI) generates requests from
//! /openapi.json, every check on, with a real bearer token, through its coverage,
//! fuzzing and stateful phases, on both stores. Valid data must be accepted,
//! invalid data refused with a documented status, and nothing may answer 5xx.

use std::path::PathBuf;

use crate::both_stores;
use crate::helpers::{child_command, pytool, Backend, TestApp, Tokens, PASSWORD};

both_stores!(schemathesis_finds_no_failure_and_no_5xx);

async fn schemathesis_finds_no_failure_and_no_5xx(backend: Backend) {
    // The default configuration, the built-in denylist on: the document states
    // what it refuses (a `not: {pattern}`), so the fuzzer's "00000000" is invalid
    // data there, and its 422 expected.
    let app = TestApp::spawn(backend).await;
    app.create_user("fuzzer").await;
    let tokens: Tokens = app.login("fuzzer", PASSWORD).await.json().await.unwrap();
    fuzz(
        app.url("/openapi.json"),
        "schemathesis.toml",
        tokens.access_token,
    )
    .await;
}

/// The admin API's document, with an admin token; its users are the fuzzer's to
/// change (it creates, locks and deletes them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_in_the_admin_api() {
    let app = TestApp::spawn_with(Backend::Postgres, crate::admin::with_admin).await;
    app.create_user("fuzzed").await;
    let url = format!("http://{}/admin/openapi.json", app.admin_addr.unwrap());
    fuzz(url, "admin.toml", crate::admin::TOKEN.to_string()).await;
}

/// Runs schemathesis on the document at `url` with the auth of `config`.
async fn fuzz(url: String, config: &'static str, token: String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let work = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        child_command(pytool("schemathesis", "schemathesis"))
            .arg("--config-file")
            .arg(dir.join(config))
            .args(["run", &url, "--checks", "all", "--max-examples", "30"])
            .args(["--seed", "1", "--request-timeout", "10", "--no-color"])
            .env("AUTHD_TOKEN", &token)
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", &dir)
            .current_dir(work.path())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(" passed"), "{report}");
}
