//! Records the git commit for `authd_build_info`: $GIT_SHA when set (the
//! Docker build passes it, having no .git), else `git rev-parse`, else "unknown".

use std::process::Command;

fn main() {
    let given = std::env::var("GIT_SHA")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let sha = given
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=AUTHD_GIT_SHA={sha}");
    // Only paths that exist: a missing one would rerun this (and rebuild) every time.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-env-changed=GIT_SHA");
}
