//! The argon2 engines (AUTHD_ARGON2_ENGINE): the hashes each one stores are
//! verified by the reference C (argon2-cffi from PyPI, independent of authd), and
//! a hash made by either logs in under the other.

use authd::hashing::{Engine, HashParams};
use serde_json::json;

use crate::helpers::{child_command, pytool, Backend, TestApp, PASSWORD};

/// Whether the reference C (argon2-cffi) verifies `hash` for `password`.
fn reference_c_verifies(hash: &str, password: &str) -> bool {
    let script = "import sys\nfrom argon2 import PasswordHasher\nfrom argon2.exceptions import VerifyMismatchError\n\
                  try:\n    PasswordHasher().verify(sys.argv[1], sys.argv[2]); print('match')\n\
                  except VerifyMismatchError:\n    print('mismatch')\n";
    let out = child_command(pytool("python", "argon2-cffi"))
        .args(["-c", script, hash, password])
        .output()
        .expect("run python");
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    said == "match"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_c_verifies_what_each_engine_stores() {
    // The OWASP cost, as production hashes are made.
    let mut hashes = Vec::new();
    for engine in [Engine::Fast, Engine::Reference] {
        let app = TestApp::spawn_with(Backend::Sqlite, |c| {
            c.hash = HashParams::OWASP;
            c.hash_engine = engine;
        })
        .await;
        let name = format!("made{}", engine.name());
        app.create_user(&name).await;
        let hash = app
            .text("SELECT password_hash FROM users WHERE username = $1", &name)
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(reference_c_verifies(&hash, PASSWORD), "{engine:?}: {hash}");
        assert!(
            !reference_c_verifies(&hash, "not the password"),
            "{engine:?}"
        );
        hashes.push((engine, hash));
    }
    // A hash made by one engine logs in under the other.
    for (made_by, hash) in hashes {
        let other = match made_by {
            Engine::Fast => Engine::Reference,
            Engine::Reference => Engine::Fast,
        };
        let app = TestApp::spawn_with(Backend::Sqlite, |c| {
            c.hash = HashParams::OWASP;
            c.hash_engine = other;
        })
        .await;
        app.create_user("moved").await;
        app.execute(&format!("UPDATE users SET password_hash = '{hash}'"))
            .await;
        let login = json!({ "login": "moved", "password": PASSWORD });
        assert_eq!(
            app.post_json("/auth/login", &login).await.status(),
            200,
            "{made_by:?} -> {other:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_says_what_it_runs_on() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(
        app.state.hasher.engine(),
        Engine::Fast,
        "the fast one by default"
    );
    let metrics = app
        .client
        .get(format!("http://{}/metrics", app.metrics_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!(
        "authd_hash_engine_info{{engine=\"fast\",backend=\"{}\"}} 1",
        Engine::Fast.backend()
    );
    assert!(metrics.contains(&line), "{line} not in:\n{metrics}");
}
