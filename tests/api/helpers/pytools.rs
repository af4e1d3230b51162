//! Tools from PyPI in scripts/test's venv (target/pytools): its python, and the
//! OpenAPI validator that both the service's and the admin API's documents pass.

use std::path::PathBuf;

use serde_json::Value;

use super::process::target_dir;

/// The python of scripts/test's venv (target/pytools), which has `what` (PyPI
/// packages scripts/test installs).
pub fn pytools_python(what: &str) -> PathBuf {
    let path = target_dir().join("pytools/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs {what} from PyPI)",
        path.display()
    );
    path
}

/// The validator from PyPI that scripts/test installs into target/pytools.
fn validator() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let path = std::env::var_os("AUTHD_OPENAPI_VALIDATOR").map_or_else(
        || target.join("pytools/bin/openapi-spec-validator"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs openapi-spec-validator from PyPI into target/pytools)",
        path.display()
    );
    path
}

/// Fails unless openapi-spec-validator accepts `doc`.
pub fn assert_valid_openapi(doc: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = std::process::Command::new(validator())
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
