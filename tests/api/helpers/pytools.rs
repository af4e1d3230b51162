//! Tools from PyPI in scripts/test's venv (target/pytools): where each one is, and
//! the OpenAPI validator that both the service's and the admin API's documents pass.

use std::path::PathBuf;

use serde_json::Value;

use super::process::target_dir;

/// `bin/<name>` of scripts/test's venv, which has `what` (the PyPI packages
/// scripts/test installs there). Found the way scripts/test places it: under
/// CARGO_TARGET_DIR when set, so a shared target directory finds it too.
pub fn pytool(name: &str, what: &str) -> PathBuf {
    let path = target_dir().join("pytools/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs {what} from PyPI into target/pytools)",
        path.display()
    );
    path
}

/// openapi-spec-validator: AUTHD_OPENAPI_VALIDATOR names another one.
fn validator() -> PathBuf {
    match std::env::var_os("AUTHD_OPENAPI_VALIDATOR") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.exists(),
                "{} (AUTHD_OPENAPI_VALIDATOR) is missing",
                path.display()
            );
            path
        }
        None => pytool("openapi-spec-validator", "openapi-spec-validator"),
    }
}

/// Fails unless openapi-spec-validator accepts `doc`.
pub fn assert_valid_openapi(doc: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = super::process::child_command(validator())
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
