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
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let work = tempfile::tempdir().unwrap();
    let url = app.url("/openapi.json");
    let out = tokio::task::spawn_blocking(move || {
        child_command(pytool("schemathesis", "schemathesis"))
            .arg("--config-file")
            .arg(config.join("schemathesis.toml"))
            .args(["run", &url, "--checks", "all", "--max-examples", "30"])
            .args(["--seed", "1", "--request-timeout", "10", "--no-color"])
            .env("AUTHD_TOKEN", &tokens.access_token)
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", &config)
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
