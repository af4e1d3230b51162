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
    // The fuzzer's user has a second factor, so its token is aal2 and the
    // sensitive routes answer; the hooks give /auth/login/mfa real mfa_tokens of
    // this user (AUTHD_MFA_LOGIN), so the fuzzer reaches the second step.
    let app = TestApp::spawn(backend).await;
    let enrolled = crate::mfa::enrolled_now(&app, "fuzzer").await;
    let token = crate::mfa::mfa_token(&app, "fuzzer").await;
    let code = serde_json::json!({ "recovery_code": enrolled.recovery_codes[0] });
    let tokens: Tokens = crate::mfa::second_step(&app, &token, code)
        .await
        .json()
        .await
        .unwrap();
    let env = [
        ("AUTHD_MFA_LOGIN", "fuzzer".to_string()),
        ("AUTHD_MFA_PASSWORD", PASSWORD.to_string()),
        ("AUTHD_BASE_URL", app.url("")),
    ];
    fuzz(
        app.url("/openapi.json"),
        "schemathesis.toml",
        tokens.access_token,
        &env,
    )
    .await;
    // The second step was reached: the fuzzer's codes were checked against live
    // mfa_tokens (only a live one, from its own client, gets as far as the code's
    // throttle counters; the setup's right code above left them at 0).
    let checked = app
        .scalar("SELECT CAST(COALESCE(SUM(failures), 0) AS BIGINT) FROM login_throttle WHERE key LIKE 'otp:%'")
        .await;
    assert!(checked > 0, "the fuzzer never reached the second step");
}

/// The admin API's document, with an admin token; its users are the fuzzer's to
/// change (it creates, locks and deletes them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_in_the_admin_api() {
    let app = TestApp::spawn_with(Backend::Postgres, crate::admin::with_admin).await;
    app.create_user("fuzzed").await;
    let url = format!("http://{}/admin/openapi.json", app.admin_addr.unwrap());
    fuzz(url, "admin.toml", crate::admin::TOKEN.to_string(), &[]).await;
}

/// Runs schemathesis on the document at `url` with the auth of `config` and the
/// hooks' settings `env`.
async fn fuzz(url: String, config: &'static str, token: String, env: &[(&str, String)]) {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let work = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        child_command(pytool("schemathesis", "schemathesis"))
            .arg("--config-file")
            .arg(dir.join(config))
            .args(["run", &url, "--checks", "all", "--max-examples", "30"])
            .args(["--seed", "1", "--request-timeout", "10", "--no-color"])
            .env("AUTHD_TOKEN", &token)
            .envs(env)
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
